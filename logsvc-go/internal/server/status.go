package server

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sustech-merch/store/logsvc/internal/publisher"
)

// toStatus is the one place where errors become gRPC status codes.
func toStatus(err error) error {
	var invalid *invalidEntriesError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &invalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, publisher.ErrUnavailable):
		return status.Error(codes.Unavailable, err.Error()+"; send all entries of this call again later")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	// Errors from stream.Recv already carry a status (the client cancelled,
	// a message could not be decoded); keep its code and our context.
	if code := status.Code(err); code != codes.Unknown {
		return status.Error(code, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}
