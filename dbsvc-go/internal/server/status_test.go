package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sustech-merch/store/dbsvc/internal/logship"
	"github.com/sustech-merch/store/dbsvc/internal/store"
)

// A unit test (no database): every kind of error becomes the one gRPC status
// the contract's callers act on, and only a refusal's own words reach them.
func TestToStatus(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nowhere := lis.Addr().String()
	lis.Close()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	shipper, err := logship.New(nowhere, "db", "db-test", logship.Options{}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // nothing is to be delivered
		shipper.Close(ctx)
	})
	s := &server{shipper: shipper, logger: quiet}
	ctx := context.WithValue(context.Background(), requestIDKey{}, "req-7")
	expired, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel()

	tests := []struct {
		name     string
		ctx      context.Context
		err      error
		code     codes.Code
		message  string // the whole message, or "" to check below
		contains string
	}{
		{"invalid", ctx, &store.Error{Kind: store.Invalid, Message: "bad quantity"}, codes.InvalidArgument, "bad quantity", ""},
		{"not found", ctx, &store.Error{Kind: store.NotFound, Message: "order 3 does not exist"}, codes.NotFound, "order 3 does not exist", ""},
		{"taken", ctx, &store.Error{Kind: store.Taken, Message: "username taken"}, codes.AlreadyExists, "username taken", ""},
		{"forbidden", ctx, &store.Error{Kind: store.Forbidden, Message: "not yours"}, codes.PermissionDenied, "not yours", ""},
		{"unauthenticated", ctx, &store.Error{Kind: store.Unauthenticated, Message: "wrong password"}, codes.Unauthenticated, "wrong password", ""},
		{"precondition", ctx, &store.Error{Kind: store.FailedPrecondition, Message: "not enough stock"}, codes.FailedPrecondition, "not enough stock", ""},
		{"wrapped refusal", ctx, fmt.Errorf("placing: %w", &store.Error{Kind: store.NotFound, Message: "no product 9"}), codes.NotFound, "no product 9", ""},
		{"unavailable", ctx, fmt.Errorf("acquire: %w", store.ErrUnavailable), codes.Unavailable, unavailableMessage, ""},
		{"admin shutdown", ctx, &pgconn.PgError{Code: "57P01"}, codes.Unavailable, unavailableMessage, ""},
		{"connection exception", ctx, &pgconn.PgError{Code: "08006"}, codes.Unavailable, unavailableMessage, ""},
		{"the caller's deadline wins", expired, errors.New("conn closed"), codes.DeadlineExceeded, "", "deadline"},
		{"internal: no driver text", ctx, &pgconn.PgError{Code: "42P01", Message: "relation \"orders\" does not exist"}, codes.Internal, "", "req-7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := status.Convert(s.toStatus(tt.ctx, "GetOrder", tt.err))
			if st.Code() != tt.code {
				t.Fatalf("code %v (%q), want %v", st.Code(), st.Message(), tt.code)
			}
			if tt.message != "" && st.Message() != tt.message {
				t.Errorf("message %q, want %q", st.Message(), tt.message)
			}
			if !strings.Contains(st.Message(), tt.contains) || strings.Contains(st.Message(), "relation") {
				t.Errorf("message %q: want %q in it and no driver text", st.Message(), tt.contains)
			}
		})
	}
	if s.toStatus(ctx, "GetOrder", nil) != nil {
		t.Error("no error became a status")
	}

	// A throttled login carries when to try again, as the standard RetryInfo.
	st := status.Convert(s.toStatus(ctx, "VerifyCredentials", &store.Error{Kind: store.Throttled, Message: "wait", RetryAfter: 4 * time.Second}))
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("throttled: code %v, want RESOURCE_EXHAUSTED", st.Code())
	}
	var retry *errdetails.RetryInfo
	for _, d := range st.Details() {
		if r, ok := d.(*errdetails.RetryInfo); ok {
			retry = r
		}
	}
	if retry == nil || retry.GetRetryDelay().AsDuration() != 4*time.Second {
		t.Errorf("throttled: details %v, want a RetryInfo of 4s", st.Details())
	}
}
