package store

import (
	"errors"
	"fmt"
	"time"
)

// Kind says what went wrong in terms a caller can act on; the server turns
// each kind into one gRPC code.
type Kind int

const (
	Invalid            Kind = iota + 1 // the request itself is wrong
	NotFound                           // no such row (or a deactivated user)
	Taken                              // a unique username, sid or email
	Forbidden                          // the row belongs to another user
	Unauthenticated                    // wrong username or password
	FailedPrecondition                 // the row's state forbids it: stock, already cancelled
	Throttled                          // too many failed logins: wait RetryAfter
)

// Error is a refusal the caller caused. Its message is safe to show to the
// caller; anything else the store returns is not.
type Error struct {
	Kind    Kind
	Message string
	// RetryAfter is how long a Throttled caller must wait.
	RetryAfter time.Duration
	// Reason tells apart refusals of one Kind that a caller answers differently;
	// it travels as a google.rpc.ErrorInfo.
	Reason string
}

// ReasonIdempotencyKeyReused: an idempotency key sent again with another request.
const ReasonIdempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED"

// ReasonCredentialsRevoked: a call made with credentials the user has since
// changed (a new password) or given up (deactivation).
const ReasonCredentialsRevoked = "CREDENTIALS_REVOKED"

func (e *Error) Error() string { return e.Message }

func refuse(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// ErrUnavailable wraps every failure to reach PostgreSQL: no connection within
// the acquire timeout, a refused connect, a connection that broke mid-call.
var ErrUnavailable = errors.New("database unreachable")

// errBadCredentials is the one answer for an unknown user, a wrong password
// and a deactivated user, so that the answer does not tell them apart.
var errBadCredentials = refuse(Unauthenticated, "username or password is incorrect")

// errCredentialsRevoked answers a write whose credentials version is no longer
// the user's. In the store's words: the caller (the API) tells its own client
// what to do about it.
var errCredentialsRevoked = &Error{
	Kind:    Unauthenticated,
	Message: "the credentials version given is no longer the user's: the password changed or the account was deactivated",
	Reason:  ReasonCredentialsRevoked,
}

// errWrongCurrentPassword answers a change that needs the current password when
// the one given is not it.
var errWrongCurrentPassword = refuse(Forbidden, "current_password is not your password; the account was not changed")
