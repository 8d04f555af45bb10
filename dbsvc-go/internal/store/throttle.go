package store

import (
	"context"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Throttle says when failed logins start to wait, and for how long. The counts
// live in PostgreSQL (login_throttle), so that they hold across every replica of
// the API and of this service, and its clock (now()) is the one clock they are
// measured by.
//
// Failures are counted per username from one client address, and per username from
// all addresses together, never per address alone: a successful login of another
// account is never slowed by someone else's failures, even from a shared address.
//
// The count from all addresses slows only the addresses that have failed on the
// username themselves: an address with no failures of its own keeps its own
// allowance, so that a guesser who knows a username cannot lock its owner out.
type Throttle struct {
	// Consecutive failures of one username from one address before that username
	// waits for that address; while it waits even the right password is refused,
	// so guessing costs the guesser time, not the store CPU (a refused attempt
	// hashes nothing).
	AddressFailures int
	// Failures of one username from all addresses together before it waits for
	// every address that has failed on it: guesses spread over many addresses. An
	// address with no failures on the username is not held. The owner's right
	// password does not end this run (only a quiet Window does), or logging in would
	// free the guessers.
	AccountFailures int
	// The first wait; each further failure doubles it, up to MaxWait.
	BaseWait time.Duration
	MaxWait  time.Duration
	// A run of failures is forgotten once this long has passed since the later of
	// its last failure and the end of its wait. Counted from the wait's end, not
	// the failure: a guesser who waits out even the longest wait and fails again
	// goes on doubling from where it was.
	Window time.Duration
}

// DefaultThrottle is what the contract asks for when nothing is configured.
var DefaultThrottle = Throttle{AddressFailures: 5, AccountFailures: 20, BaseWait: time.Second, MaxWait: 15 * time.Minute, Window: 15 * time.Minute}

// loginRows are the rows of login_throttle that a login of one username from one
// client adds to when it fails.
type loginRows struct {
	account string // the username's failures from every address
	client  string // its failures from this client's address; empty when unknown
}

func (s *Store) loginRows(username, clientAddress string) loginRows {
	// Usernames are one name whatever their case, and so are their failures. A NUL
	// (which no username has, and PostgreSQL text cannot hold) is written out.
	r := loginRows{account: "account:" + strings.ReplaceAll(strings.ToLower(username), "\x00", `\x00`)}
	if clientAddress != "" {
		r.client = r.account + " from:" + clientAddress
	}
	return r
}

// runGoesOn is true for a row whose run of failures still counts: a failure or
// the end of a wait within the window (seconds, parameter $n). Rows where it is
// false are as good as deleted, whether or not the cleanup has come by yet.
func runGoesOn(row, window string) string {
	return `greatest(` + row + `.last_failure_at, ` + row + `.blocked_until) > now() - make_interval(secs => ` + window + `)`
}

// refuseIfWaiting answers Throttled while this client waits: its own row waits,
// or the account's row waits and the client has failed on the account itself. A
// client of unknown address cannot show that it has not, so the account's wait
// holds it.
func (s *Store) refuseIfWaiting(ctx context.Context, conn *pgx.Conn, r loginRows) error {
	var left *float64
	err := conn.QueryRow(ctx, `SELECT extract(epoch FROM max(t.blocked_until) - now())::float8
		FROM login_throttle AS t
		WHERE t.blocked_until > now() AND (t.key = $2 OR (t.key = $1 AND ($2 = '' OR EXISTS (
			SELECT FROM login_throttle AS c WHERE c.key = $2 AND `+runGoesOn("c", "$3")+`))))`,
		r.account, r.client, s.throttle.Window.Seconds()).Scan(&left)
	if err != nil || left == nil {
		return err
	}
	return &Error{
		Kind:       Throttled,
		Message:    "too many failed logins for this username; wait before trying again",
		RetryAfter: time.Duration(*left * float64(time.Second)),
	}
}

// recordFailure counts one failed login in the account's row and the client's,
// and starts a row's wait once its count reaches the row's threshold: BaseWait,
// doubling per further failure up to MaxWait. A wait already running is never
// shortened: of two failures at once, the one with the lower count may write last.
func (s *Store) recordFailure(ctx context.Context, conn *pgx.Conn, r loginRows) error {
	keys := []string{r.account}
	if r.client != "" {
		keys = append(keys, r.client)
	}
	rows, err := conn.Query(ctx, `INSERT INTO login_throttle AS t (key, failures, last_failure_at)
		SELECT key, 1, now() FROM unnest($1::text[]) AS key
		ON CONFLICT (key) DO UPDATE SET
			failures = CASE WHEN `+runGoesOn("t", "$2")+` THEN t.failures + 1 ELSE 1 END,
			blocked_until = CASE WHEN `+runGoesOn("t", "$2")+` THEN t.blocked_until END,
			last_failure_at = now()
		RETURNING key, failures`, keys, s.throttle.Window.Seconds())
	if err != nil {
		return err
	}
	type count struct {
		key      string
		failures int
	}
	counts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (count, error) {
		var c count
		return c, row.Scan(&c.key, &c.failures)
	})
	if err != nil {
		return err
	}
	var waiting []string
	var waits []float64
	for _, c := range counts {
		threshold := s.throttle.AddressFailures
		if c.key == r.account {
			threshold = s.throttle.AccountFailures
		}
		if c.failures >= threshold {
			waiting = append(waiting, c.key)
			waits = append(waits, s.throttle.wait(c.failures-threshold).Seconds())
		}
	}
	if len(waiting) == 0 {
		return nil
	}
	_, err = conn.Exec(ctx, `UPDATE login_throttle AS t
		SET blocked_until = greatest(t.blocked_until, now() + make_interval(secs => w.secs))
		FROM unnest($1::text[], $2::float8[]) AS w(key, secs) WHERE t.key = w.key`, waiting, waits)
	return err
}

// wait is the wait after the threshold's failure and `beyond` more.
func (t Throttle) wait(beyond int) time.Duration {
	d := float64(t.BaseWait) * math.Pow(2, float64(beyond))
	if d > float64(t.MaxWait) {
		return t.MaxWait
	}
	return time.Duration(d)
}

// forgive ends this client's run of failures after its right password. The
// account's run goes on: the owner's logins must not free the guessers.
func forgive(ctx context.Context, conn *pgx.Conn, r loginRows) error {
	if r.client == "" {
		return nil
	}
	_, err := conn.Exec(ctx, `DELETE FROM login_throttle WHERE key = $1`, r.client)
	return err
}

// ForgetOldLoginFailures deletes the runs that no longer count (see Window): no
// failure and no wait within the window. It keeps the table small however many
// usernames and addresses are tried: a row lives at most Window plus MaxWait
// after its last failure.
func (s *Store) ForgetOldLoginFailures(ctx context.Context) (int64, error) {
	var forgotten int64
	err := s.withConn(ctx, func(conn *pgx.Conn) error {
		tag, err := conn.Exec(ctx, `DELETE FROM login_throttle AS t WHERE NOT (`+runGoesOn("t", "$1")+`)`,
			s.throttle.Window.Seconds())
		forgotten = tag.RowsAffected()
		return err
	})
	return forgotten, err
}
