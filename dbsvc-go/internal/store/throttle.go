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
// the API and of this service.
//
// Failures are counted per username from one client address, and per username from
// all addresses together, never per address alone: a successful login of another
// account is never slowed by someone else's failures, even from a shared address.
type Throttle struct {
	// Consecutive failures of one username from one address before that username
	// waits for that address; while it waits even the right password is refused,
	// so guessing costs the guesser time, not the store CPU (a refused attempt
	// hashes nothing).
	AddressFailures int
	// Consecutive failures of one username from all addresses together before it
	// waits for everyone: guesses spread over many addresses. Higher than
	// AddressFailures, so that one guesser cannot lock the owner out at once.
	AccountFailures int
	// The first wait; each further failure doubles it, up to MaxWait.
	BaseWait time.Duration
	MaxWait  time.Duration
	// Failures further apart than this do not add up: the count starts again.
	Window time.Duration
}

// DefaultThrottle is what the contract asks for when nothing is configured.
var DefaultThrottle = Throttle{AddressFailures: 5, AccountFailures: 20, BaseWait: time.Second, MaxWait: 15 * time.Minute, Window: 15 * time.Minute}

// throttleKey is one row of login_throttle and the failures after which it waits.
type throttleKey struct {
	key       string
	threshold int
}

// loginKeys are the counts a login of username from clientAddress (empty: unknown)
// adds to when it fails.
func (s *Store) loginKeys(username, clientAddress string) []throttleKey {
	// Usernames are one name whatever their case, and so are their failures. A NUL
	// (which no username has, and PostgreSQL text cannot hold) is written out.
	account := "account:" + strings.ReplaceAll(strings.ToLower(username), "\x00", `\x00`)
	keys := []throttleKey{{account, s.throttle.AccountFailures}}
	if clientAddress != "" {
		keys = append(keys, throttleKey{account + " from:" + clientAddress, s.throttle.AddressFailures})
	}
	return keys
}

func names(keys []throttleKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.key
	}
	return out
}

// refuseIfWaiting answers Throttled while any of keys waits.
func refuseIfWaiting(ctx context.Context, conn *pgx.Conn, keys []throttleKey) error {
	var left *float64
	err := conn.QueryRow(ctx, `SELECT extract(epoch FROM max(blocked_until) - now())::float8
		FROM login_throttle WHERE key = ANY($1) AND blocked_until > now()`, names(keys)).Scan(&left)
	if err != nil || left == nil {
		return err
	}
	wait := time.Duration(*left * float64(time.Second))
	return &Error{
		Kind:       Throttled,
		Message:    "too many failed logins for this username; wait before trying again",
		RetryAfter: wait,
	}
}

// recordFailure counts one failed login against each key and starts a key's wait
// once its count reaches the key's threshold: BaseWait, doubling per further
// failure.
func (s *Store) recordFailure(ctx context.Context, conn *pgx.Conn, keys []throttleKey) error {
	rows, err := conn.Query(ctx, `INSERT INTO login_throttle AS t (key, failures, last_failure_at)
		SELECT key, 1, now() FROM unnest($1::text[]) AS key
		ON CONFLICT (key) DO UPDATE SET
			failures = CASE WHEN t.last_failure_at > now() - make_interval(secs => $2) THEN t.failures + 1 ELSE 1 END,
			last_failure_at = now()
		RETURNING key, failures`, names(keys), s.throttle.Window.Seconds())
	if err != nil {
		return err
	}
	failures, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (struct {
		key string
		n   int
	}, error) {
		var r struct {
			key string
			n   int
		}
		return r, row.Scan(&r.key, &r.n)
	})
	if err != nil {
		return err
	}
	var waiting []string
	var waits []float64
	for _, f := range failures {
		for _, k := range keys {
			if k.key == f.key && f.n >= k.threshold {
				waiting = append(waiting, k.key)
				waits = append(waits, s.throttle.wait(f.n-k.threshold).Seconds())
			}
		}
	}
	if len(waiting) == 0 {
		return nil
	}
	_, err = conn.Exec(ctx, `UPDATE login_throttle AS t SET blocked_until = now() + make_interval(secs => w.secs)
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

// forgive ends the runs of failures of keys after a right password.
func forgive(ctx context.Context, conn *pgx.Conn, keys []throttleKey) error {
	_, err := conn.Exec(ctx, `DELETE FROM login_throttle WHERE key = ANY($1)`, names(keys))
	return err
}

// ForgetOldLoginFailures deletes the counts that no longer matter: their last
// failure is older than the window and they wait no more. It keeps the table
// small however many usernames are tried.
func (s *Store) ForgetOldLoginFailures(ctx context.Context) (int64, error) {
	var forgotten int64
	err := s.withConn(ctx, func(conn *pgx.Conn) error {
		tag, err := conn.Exec(ctx, `DELETE FROM login_throttle
			WHERE last_failure_at < now() - make_interval(secs => $1)
			AND (blocked_until IS NULL OR blocked_until < now())`, s.throttle.Window.Seconds())
		forgotten = tag.RowsAffected()
		return err
	})
	return forgotten, err
}
