package server_test

import (
	"context"
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

// After AccountFailures wrong passwords in a row a username waits, the right
// password included, with a wait that doubles per further failure; other users
// and other clients' users are not slowed; the right password after the wait
// ends the run.
func TestFailedLoginsOfOneUsernameWait(t *testing.T) {
	base := 300 * time.Millisecond
	s := startService(t, serviceOptions{throttle: store.Throttle{AccountFailures: 3, ClientFailures: 1000, BaseWait: base, MaxWait: time.Minute, Window: time.Minute}})
	ctx := context.Background()
	victim, other := newUser(t, s), newUser(t, s)
	login := func(u *dbv1.User, password, client string) error {
		_, err := s.users.VerifyCredentials(ctx, &dbv1.VerifyCredentialsRequest{Username: u.GetUsername(), Password: password, ClientAddress: client})
		return err
	}
	for range 3 {
		wantCode(t, login(victim, "wrong password", "192.0.2.1"), codes.Unauthenticated)
	}
	first := retryAfter(t, login(victim, passwordOf(victim), "198.51.100.7"))
	if first <= 0 || first > base {
		t.Errorf("first wait %v, want in (0, %v]", first, base)
	}
	wantCode(t, login(other, passwordOf(other), "192.0.2.1"), codes.OK)

	time.Sleep(first + 50*time.Millisecond)
	wantCode(t, login(victim, "wrong password", "192.0.2.1"), codes.Unauthenticated)
	second := retryAfter(t, login(victim, passwordOf(victim), "192.0.2.1"))
	if second <= base || second > 2*base {
		t.Errorf("second wait %v, want in (%v, %v]: it doubles", second, base, 2*base)
	}

	time.Sleep(second + 50*time.Millisecond)
	wantCode(t, login(victim, passwordOf(victim), "192.0.2.1"), codes.OK)
	wantCode(t, login(victim, "wrong password", "192.0.2.1"), codes.Unauthenticated)
	wantCode(t, login(victim, passwordOf(victim), "192.0.2.1"), codes.OK)
}

// After ClientFailures failures in a row from one address, over any usernames,
// the address waits; other addresses do not.
func TestFailedLoginsFromOneClientWait(t *testing.T) {
	s := startService(t, serviceOptions{throttle: store.Throttle{AccountFailures: 100, ClientFailures: 4, BaseWait: time.Minute, MaxWait: time.Hour, Window: time.Hour}})
	ctx := context.Background()
	user := newUser(t, s)
	client := "203.0.113." + unique()[len(unique())-2:]
	for range 4 {
		_, err := s.users.VerifyCredentials(ctx, &dbv1.VerifyCredentialsRequest{Username: "sprayed_" + unique(), Password: "Winter2026!", ClientAddress: client})
		wantCode(t, err, codes.Unauthenticated)
	}
	_, err := s.users.VerifyCredentials(ctx, &dbv1.VerifyCredentialsRequest{Username: user.GetUsername(), Password: passwordOf(user), ClientAddress: client})
	if wait := retryAfter(t, err); wait < 59*time.Second {
		t.Errorf("wait %v, want about a minute", wait)
	}
	_, err = s.users.VerifyCredentials(ctx, &dbv1.VerifyCredentialsRequest{Username: user.GetUsername(), Password: passwordOf(user), ClientAddress: "2001:db8::1"})
	wantCode(t, err, codes.OK)
	_, err = s.users.VerifyCredentials(ctx, &dbv1.VerifyCredentialsRequest{Username: user.GetUsername(), Password: passwordOf(user), ClientAddress: "not an address"})
	wantCode(t, err, codes.InvalidArgument)
}

// A wrong current password refuses the change, changes nothing and counts as a
// failed login: after enough of them the user's logins wait too.
func TestWrongCurrentPasswordsCountAsFailedLogins(t *testing.T) {
	s := startService(t, serviceOptions{throttle: store.Throttle{AccountFailures: 2, ClientFailures: 100, BaseWait: time.Minute, MaxWait: time.Hour, Window: time.Hour}})
	ctx := context.Background()
	u := newUser(t, s)
	for range 2 {
		_, err := s.users.UpdateUser(ctx, &dbv1.UpdateUserRequest{Id: u.GetId(), Password: proto.String("stolen-token-password"), CurrentPassword: proto.String("a guess")})
		wantCode(t, err, codes.PermissionDenied)
	}
	_, err := s.users.DeactivateUser(ctx, &dbv1.DeactivateUserRequest{Id: u.GetId(), CurrentPassword: passwordOf(u)})
	retryAfter(t, err)
	_, err = s.users.VerifyCredentials(ctx, &dbv1.VerifyCredentialsRequest{Username: u.GetUsername(), Password: passwordOf(u)})
	retryAfter(t, err)
	got, err := s.users.GetUser(ctx, &dbv1.GetUserRequest{Id: u.GetId()})
	if err != nil || !proto.Equal(got.GetUser(), u) {
		t.Errorf("user after the refused changes: %v (%v), want unchanged %v", got.GetUser(), err, u)
	}
}
