package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/sustech-merch/store/dbsvc/internal/store"
	dbv1 "github.com/sustech-merch/store/gen/go/merchstore/db/v1"
)

// retryAfter is the RetryInfo delay of a RESOURCE_EXHAUSTED answer; the test fails
// on any other answer.
func retryAfter(t *testing.T, err error) time.Duration {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("answer %v, want RESOURCE_EXHAUSTED", err)
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.RetryInfo); ok {
			return info.GetRetryDelay().AsDuration()
		}
	}
	t.Fatalf("RESOURCE_EXHAUSTED without a RetryInfo detail: %v", st.Details())
	return 0
}

// After AddressFailures wrong passwords in a row from one address a username waits
// for that address, the right password included, with a wait that doubles per
// further failure; other usernames, even from the same address, are not slowed,
// and neither is the owner elsewhere. The right password after the wait ends the run.
func TestFailedLoginsOfOneUsernameFromOneAddressWait(t *testing.T) {
	base := 300 * time.Millisecond
	s := startService(t, serviceOptions{throttle: store.Throttle{AddressFailures: 3, AccountFailures: 1000, BaseWait: base, MaxWait: time.Minute, Window: time.Minute}})
	ctx := context.Background()
	victim, other := newUser(t, s), newUser(t, s)
	const guesser, owner = "192.0.2.1", "2001:db8::7"
	login := func(u *dbv1.User, password, client string) error {
		_, err := s.users.VerifyCredentials(ctx, &dbv1.VerifyCredentialsRequest{Username: u.GetUsername(), Password: password, ClientAddress: client})
		return err
	}
	for range 3 {
		wantCode(t, login(victim, "wrong password", guesser), codes.Unauthenticated)
	}
	first := retryAfter(t, login(victim, passwordOf(victim), guesser))
	if first <= 0 || first > base {
		t.Errorf("first wait %v, want in (0, %v]", first, base)
	}
	wantCode(t, login(other, passwordOf(other), guesser), codes.OK)
	wantCode(t, login(victim, passwordOf(victim), owner), codes.OK)

	time.Sleep(first + 50*time.Millisecond)
	wantCode(t, login(victim, "wrong password", guesser), codes.Unauthenticated)
	second := retryAfter(t, login(victim, passwordOf(victim), guesser))
	if second <= base || second > 2*base {
		t.Errorf("second wait %v, want in (%v, %v]: it doubles", second, base, 2*base)
	}

	time.Sleep(second + 50*time.Millisecond)
	wantCode(t, login(victim, passwordOf(victim), guesser), codes.OK)
	// A new run starts from zero: one failure does not wait.
	wantCode(t, login(victim, "wrong password", guesser), codes.Unauthenticated)
	wantCode(t, login(victim, passwordOf(victim), guesser), codes.OK)
}

// Guesses spread over many addresses add up per username: after AccountFailures of
// them the username waits for every address that failed on it, whatever it sends;
// an address that never failed on it (its owner's) and other usernames do not.
func TestFailedLoginsOfOneUsernameFromManyAddressesWait(t *testing.T) {
	s := startService(t, serviceOptions{throttle: store.Throttle{AddressFailures: 100, AccountFailures: 4, BaseWait: time.Minute, MaxWait: time.Hour, Window: time.Hour}})
	ctx := context.Background()
	victim, other := newUser(t, s), newUser(t, s)
	for i := range 4 {
		_, err := s.users.VerifyCredentials(ctx, &dbv1.VerifyCredentialsRequest{Username: victim.GetUsername(), Password: "Winter2026!", ClientAddress: fmt.Sprintf("203.0.113.%d", i+1)})
		wantCode(t, err, codes.Unauthenticated)
	}
	_, err := s.users.VerifyCredentials(ctx, &dbv1.VerifyCredentialsRequest{Username: victim.GetUsername(), Password: passwordOf(victim), ClientAddress: "203.0.113.1"})
	if wait := retryAfter(t, err); wait < 59*time.Second {
		t.Errorf("a guessing address waits %v, want about a minute", wait)
	}
	_, err = s.users.VerifyCredentials(ctx, &dbv1.VerifyCredentialsRequest{Username: victim.GetUsername(), Password: passwordOf(victim), ClientAddress: "198.51.100.99"})
	wantCode(t, err, codes.OK)
	_, err = s.users.VerifyCredentials(ctx, &dbv1.VerifyCredentialsRequest{Username: other.GetUsername(), Password: passwordOf(other), ClientAddress: "203.0.113.1"})
	wantCode(t, err, codes.OK)
	_, err = s.users.VerifyCredentials(ctx, &dbv1.VerifyCredentialsRequest{Username: other.GetUsername(), Password: passwordOf(other), ClientAddress: "not an address"})
	wantCode(t, err, codes.InvalidArgument)
}

// A wrong current password refuses the change, changes nothing and counts as a
// failed login from the caller's address: after enough of them the user's logins
// from there wait too.
func TestWrongCurrentPasswordsCountAsFailedLogins(t *testing.T) {
	s := startService(t, serviceOptions{throttle: store.Throttle{AddressFailures: 2, AccountFailures: 100, BaseWait: time.Minute, MaxWait: time.Hour, Window: time.Hour}})
	ctx := context.Background()
	u := newUser(t, s)
	const thief = "192.0.2.66"
	for range 2 {
		_, err := s.users.UpdateUser(ctx, &dbv1.UpdateUserRequest{Id: u.GetId(), Password: proto.String("stolen-token-password"), CurrentPassword: proto.String("a guess"), ClientAddress: thief, CredentialsVersion: 1})
		wantCode(t, err, codes.PermissionDenied)
	}
	_, err := s.users.DeactivateUser(ctx, &dbv1.DeactivateUserRequest{Id: u.GetId(), CurrentPassword: passwordOf(u), ClientAddress: thief, CredentialsVersion: 1})
	retryAfter(t, err)
	_, err = s.users.VerifyCredentials(ctx, &dbv1.VerifyCredentialsRequest{Username: u.GetUsername(), Password: passwordOf(u), ClientAddress: thief})
	retryAfter(t, err)
	got, err := s.users.GetUser(ctx, &dbv1.GetUserRequest{Id: u.GetId()})
	if err != nil || !proto.Equal(got.GetUser(), u) {
		t.Errorf("user after the refused changes: %v (%v), want unchanged %v", got.GetUser(), err, u)
	}
}
