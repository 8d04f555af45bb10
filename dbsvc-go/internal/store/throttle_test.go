package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"
)

// throttleUser registers a user for one test of the throttle and returns its
// username; its password is "correct horse".
func throttleUser(t *testing.T, s *Store, prefix string) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	suffix := hex.EncodeToString(b)
	u, err := s.CreateUser(context.Background(), NewUser{SID: "t" + suffix, Username: prefix + "_" + suffix, Password: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	return u.GetUsername()
}

// login is one VerifyCredentials, its user dropped.
func login(s *Store, username, password, client string) error {
	_, err := s.VerifyCredentials(context.Background(), username, password, client)
	return err
}

// wantLoggedIn fails the test unless err is a successful login's.
func wantLoggedIn(t *testing.T, err error, who string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: login answered %v, want a success", who, err)
	}
}

// wantWrong fails the test unless err is the answer to a checked, wrong password.
func wantWrong(t *testing.T, err error, who string) {
	t.Helper()
	if !errors.Is(err, errBadCredentials) {
		t.Fatalf("%s: login answered %v, want %q", who, err, errBadCredentials)
	}
}

// heldFor is the wait of a Throttled answer; the test fails on any other answer.
func heldFor(t *testing.T, err error, who string) time.Duration {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Kind != Throttled {
		t.Fatalf("%s: login answered %v, want Throttled", who, err)
	}
	return e.RetryAfter
}

// elapse moves username's rows of login_throttle d into the past, as if d had
// gone by: the throttle reads the time from PostgreSQL's now() only, which a test
// cannot set, so it ages the rows instead of sleeping for minutes.
func elapse(t *testing.T, username string, d time.Duration) {
	t.Helper()
	ctx := context.Background()
	conn, err := testDB.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	account := "account:" + username
	if _, err := conn.Exec(ctx, `UPDATE login_throttle SET
			last_failure_at = last_failure_at - make_interval(secs => $2),
			blocked_until = blocked_until - make_interval(secs => $2)
		WHERE key = $1 OR starts_with(key, $1 || ' from:')`, account, d.Seconds()); err != nil {
		t.Fatal(err)
	}
}

// throttleRows counts username's rows of login_throttle.
func throttleRows(t *testing.T, username string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := testDB.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	account := "account:" + username
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM login_throttle WHERE key = $1 OR starts_with(key, $1 || ' from:')`, account).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// The audit's attack (issue 25): failures spread over a few addresses reach the
// username's count from all addresses. That count holds the addresses that failed,
// and only them: the owner, from an address of their own, logs in with the right
// password, and that success frees none of the guessers.
func TestGuessesFromManyAddressesDoNotLockTheOwnerOut(t *testing.T) {
	// The thresholds are the defaults; the first wait is a minute instead of a second
	// so that every check below runs well within it.
	th := DefaultThrottle
	th.BaseWait = time.Minute
	for _, tc := range []struct {
		name                  string
		addresses, perAddress int
	}{
		// Each address also reaches its own threshold.
		{"4 addresses, 5 failures each", 4, 5},
		// No address reaches its own: only the count from all addresses holds them.
		{"5 addresses, 4 failures each", 5, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStoreWith(t, Options{Throttle: th})
			victim, bystander := throttleUser(t, s, "victim"), throttleUser(t, s, "bystander")
			var guessers []string
			for i := range tc.addresses {
				guessers = append(guessers, fmt.Sprintf("203.0.113.%d", i+1))
			}
			for range tc.perAddress {
				for _, g := range guessers {
					wantWrong(t, login(s, victim, "Winter2026!", g), "guesser "+g)
				}
			}
			if n := tc.addresses * tc.perAddress; n != th.AccountFailures {
				t.Fatalf("the test made %d failures, want the account's threshold %d", n, th.AccountFailures)
			}

			wantLoggedIn(t, login(s, victim, "correct horse", "198.51.100.7"), "the owner from a fifth address")
			wantLoggedIn(t, login(s, victim, "correct horse", "2001:db8::7"), "the owner from another fresh address")
			for _, g := range guessers {
				// The right password: a guesser that got through would log in.
				if wait := heldFor(t, login(s, victim, "correct horse", g), "guesser "+g+" after the owner's login"); wait <= th.BaseWait-5*time.Second || wait > th.BaseWait {
					t.Errorf("guesser %s waits %v, want about %v", g, wait, th.BaseWait)
				}
				wantLoggedIn(t, login(s, bystander, "correct horse", g), "another account from guesser "+g)
			}
			// A new address has its own allowance until it fails on the username; from
			// then on the count from all addresses holds it too, one failure further on.
			const newcomer = "198.51.100.8"
			wantWrong(t, login(s, victim, "Winter2027!", newcomer), "a new guesser's first try")
			if wait := heldFor(t, login(s, victim, "correct horse", newcomer), "a new guesser after its failure"); wait <= 2*th.BaseWait-5*time.Second || wait > 2*th.BaseWait {
				t.Errorf("the new guesser waits %v, want about %v (doubled)", wait, 2*th.BaseWait)
			}
			// An address the API could not tell cannot show it has not failed.
			heldFor(t, login(s, victim, "correct horse", ""), "an unknown address")
			wantLoggedIn(t, login(s, victim, "correct horse", "198.51.100.7"), "the owner again")
		})
	}
}

// A guesser that waits out its wait and fails again waits twice as long, up to
// the most; waiting out the longest wait, and more, does not start it over while
// the failures go on within the window of the wait's end. The cleanup leaves such a
// run alone; a quiet window after the last wait forgets it.
func TestWaitsGoOnDoublingAcrossWindows(t *testing.T) {
	// The guessers fail from addresses[0] once they have made threshold failures.
	for _, tc := range []struct {
		name      string
		throttle  Throttle
		addresses []string
		threshold int
	}{
		{"from one address", DefaultThrottle, []string{"192.0.2.1"}, DefaultThrottle.AddressFailures},
		{"from many addresses", Throttle{AddressFailures: 1000, AccountFailures: 20, BaseWait: time.Second, MaxWait: 15 * time.Minute, Window: 15 * time.Minute},
			[]string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"}, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			th := tc.throttle
			s := newStoreWith(t, Options{Throttle: th})
			ctx := context.Background()
			victim := throttleUser(t, s, "victim")
			guesser := tc.addresses[0]
			for i := range tc.threshold {
				a := tc.addresses[i%len(tc.addresses)]
				wantWrong(t, login(s, victim, fmt.Sprint("guess ", i), a), "guesser "+a)
			}
			want := th.BaseWait
			atMost := 0
			for step := 0; atMost < 3; step++ {
				wait := heldFor(t, login(s, victim, "correct horse", guesser), fmt.Sprint("step ", step))
				if wait <= want-time.Second/2 || wait > want {
					t.Fatalf("step %d: wait %v, want %v (doubling from %v up to %v)", step, wait, want, th.BaseWait, th.MaxWait)
				}
				quiet := time.Second
				if want == th.MaxWait {
					// Longer than the window since the last failure, but within the
					// window of the wait's end.
					quiet = th.Window - time.Minute
					atMost++
				}
				elapse(t, victim, wait+quiet)
				if _, err := s.ForgetOldLoginFailures(ctx); err != nil {
					t.Fatal(err)
				}
				wantWrong(t, login(s, victim, fmt.Sprint("guess after step ", step), guesser), fmt.Sprint("step ", step, ", the wait over"))
				want = min(2*want, th.MaxWait)
			}

			wait := heldFor(t, login(s, victim, "correct horse", guesser), "the last step")
			elapse(t, victim, wait+th.Window+time.Second)
			if _, err := s.ForgetOldLoginFailures(ctx); err != nil {
				t.Fatal(err)
			}
			if n := throttleRows(t, victim); n != 0 {
				t.Errorf("%d rows of the username after a quiet window past the wait, want none", n)
			}
			wantWrong(t, login(s, victim, "one more guess", guesser), "the first failure after the quiet")
			wantLoggedIn(t, login(s, victim, "correct horse", guesser), "the owner after the run was forgotten")
		})
	}
}

// The right password, once the wait is over, ends that address's run: its next
// failure starts a new count. The count from all addresses goes on.
func TestTheRightPasswordEndsItsAddressRun(t *testing.T) {
	th := DefaultThrottle
	s := newStoreWith(t, Options{Throttle: th})
	victim := throttleUser(t, s, "victim")
	const owner = "192.0.2.9"
	for i := range th.AddressFailures {
		wantWrong(t, login(s, victim, fmt.Sprint("typo ", i), owner), "the owner's typo")
	}
	wait := heldFor(t, login(s, victim, "correct horse", owner), "after the typos")
	elapse(t, victim, wait+time.Second)
	wantLoggedIn(t, login(s, victim, "correct horse", owner), "after the wait")
	wantWrong(t, login(s, victim, "typo again", owner), "a new typo")
	wantLoggedIn(t, login(s, victim, "correct horse", owner), "after one new typo")
	// 5 failures and a sixth: the account's run remembers them all.
	if n := throttleRows(t, victim); n != 1 {
		t.Errorf("%d rows of the username, want 1 (the account's)", n)
	}
}
