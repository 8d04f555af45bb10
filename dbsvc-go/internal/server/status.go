package server

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/sustech-merch/store/dbsvc/internal/store"
	logv1 "github.com/sustech-merch/store/gen/go/merchstore/log/v1"
)

var refusalCodes = map[store.Kind]codes.Code{
	store.Invalid:            codes.InvalidArgument,
	store.NotFound:           codes.NotFound,
	store.Taken:              codes.AlreadyExists,
	store.Forbidden:          codes.PermissionDenied,
	store.Unauthenticated:    codes.Unauthenticated,
	store.FailedPrecondition: codes.FailedPrecondition,
	store.Throttled:          codes.ResourceExhausted,
}

const unavailableMessage = "database unreachable, try again later"

// errorDomain names the service in the ErrorInfo of its refusals.
const errorDomain = "dbsvc.merchstore"

// toStatus is the one place where errors become gRPC statuses. Only a
// store.Error's message reaches the caller; every other error is described
// generically and logged here with the request id, so that SQL and driver
// messages never leave the service.
func (s *server) toStatus(ctx context.Context, method string, err error) error {
	var refusal *store.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &refusal):
		// The standard details (AIP-193): when to try again, and which refusal.
		var details []protoadapt.MessageV1
		if refusal.Kind == store.Throttled {
			details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(refusal.RetryAfter)})
		}
		if refusal.Reason != "" {
			details = append(details, &errdetails.ErrorInfo{Reason: refusal.Reason, Domain: errorDomain})
		}
		st := status.New(refusalCodes[refusal.Kind], refusal.Message)
		if withDetails, err := st.WithDetails(details...); err == nil {
			st = withDetails
		}
		return st.Err()
	// The caller's own deadline or cancellation wins over whatever it caused
	// below (a cancelled query, a connection closed mid-call).
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "the call's deadline passed before the database answered")
	case errors.Is(ctx.Err(), context.Canceled):
		return status.Error(codes.Canceled, "the call was cancelled")
	case errors.Is(err, store.ErrUnavailable) || unreachable(err):
		s.logger.WarnContext(ctx, "database unreachable", "method", method, "request_id", requestID(ctx), "error", err)
		return status.Error(codes.Unavailable, unavailableMessage)
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "cancelled")
	}
	s.logger.ErrorContext(ctx, "internal error", "method", method, "request_id", requestID(ctx), "error", err)
	s.shipper.Send(logv1.Level_LEVEL_ERROR, requestID(ctx), method+" failed with an internal error: "+err.Error())
	return status.Error(codes.Internal, "internal error in the DB service; it has been logged with request id "+requestID(ctx))
}

// unreachable reports PostgreSQL errors that say the server cannot serve
// now, rather than that the request was wrong.
func unreachable(err error) bool {
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "57P01", "57P02", "57P03", // admin_shutdown, crash_shutdown, cannot_connect_now
		"53300": // too_many_connections
		return true
	}
	return strings.HasPrefix(pgErr.Code, "08") // connection_exception
}
