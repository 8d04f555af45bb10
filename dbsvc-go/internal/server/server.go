// Package server serves the merchstore.db.v1 services over gRPC on top of
// the store.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"buf.build/go/protovalidate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/sustech-merch/store/dbsvc/internal/logship"
	"github.com/sustech-merch/store/dbsvc/internal/store"
	dbv1 "github.com/sustech-merch/store/gen/go/merchstore/db/v1"
	logv1 "github.com/sustech-merch/store/gen/go/merchstore/log/v1"
)

// server implements the three services; each handler converts the request,
// calls the store once and converts the answer.
type server struct {
	dbv1.UnimplementedProductServiceServer
	dbv1.UnimplementedUserServiceServer
	dbv1.UnimplementedOrderServiceServer

	store     *store.Store
	shipper   *logship.Shipper
	logger    *slog.Logger
	validator protovalidate.Validator
}

type requestIDKey struct{}

// requestIDHeader is the metadata the API copies its X-Request-ID into.
const requestIDHeader = "x-request-id"

// unary gives every call its request id, refuses a request that breaks the
// (buf.validate) rules of its message, and turns the handler's error into a
// status.
func (s *server) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx = context.WithValue(ctx, requestIDKey{}, incomingRequestID(ctx))
	if msg, ok := req.(proto.Message); ok {
		if err := s.validator.Validate(msg); err != nil {
			return nil, invalidRequest(err)
		}
	}
	resp, err := handler(ctx, req)
	if err != nil {
		return nil, s.toStatus(ctx, info.FullMethod, err)
	}
	return resp, nil
}

// invalidRequest says which fields break which rule, e.g.
// "username: value length must be at least 3 characters", never their values.
func invalidRequest(err error) error {
	var ve *protovalidate.ValidationError
	if !errors.As(err, &ve) {
		// A rule that cannot be evaluated is a bug in the protos, not the caller's.
		return status.Error(codes.Internal, "checking the request failed; see the DB service's log")
	}
	problems := make([]string, 0, len(ve.Violations))
	for _, v := range ve.Violations {
		if field := protovalidate.FieldPathString(v.Proto.GetField()); field != "" {
			problems = append(problems, field+": "+v.Proto.GetMessage())
		} else {
			problems = append(problems, v.Proto.GetMessage())
		}
	}
	st, detailErr := status.New(codes.InvalidArgument, strings.Join(problems, "; ")).WithDetails(ve.ToProto())
	if detailErr != nil {
		return status.Error(codes.InvalidArgument, strings.Join(problems, "; "))
	}
	return st.Err()
}

func incomingRequestID(ctx context.Context) string {
	if ids := metadata.ValueFromIncomingContext(ctx, requestIDHeader); len(ids) > 0 && ids[0] != "" {
		return ids[0]
	}
	// Called without one (grpcurl, a test): a fresh id still ties this call's
	// records together.
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return "db-" + hex.EncodeToString(b)
}

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// written records a change of state: on stderr and, with the caller's request
// id, in the logging service.
func (s *server) written(ctx context.Context, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.logger.InfoContext(ctx, msg, "request_id", requestID(ctx))
	s.shipper.Send(logv1.Level_LEVEL_INFO, requestID(ctx), msg)
}

func (s *server) ListProducts(ctx context.Context, _ *dbv1.ListProductsRequest) (*dbv1.ListProductsResponse, error) {
	products, err := s.store.ListProducts(ctx)
	if err != nil {
		return nil, err
	}
	return &dbv1.ListProductsResponse{Products: products}, nil
}

func (s *server) GetProduct(ctx context.Context, req *dbv1.GetProductRequest) (*dbv1.GetProductResponse, error) {
	p, err := s.store.GetProduct(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	return &dbv1.GetProductResponse{Product: p}, nil
}

func (s *server) CreateUser(ctx context.Context, req *dbv1.CreateUserRequest) (*dbv1.CreateUserResponse, error) {
	u, err := s.store.CreateUser(ctx, store.NewUser{SID: req.GetSid(), Username: req.GetUsername(), Email: req.Email, Password: req.GetPassword()})
	if err != nil {
		return nil, err
	}
	s.written(ctx, "user %d (%s) created", u.GetId(), u.GetUsername())
	return &dbv1.CreateUserResponse{User: u}, nil
}

func (s *server) GetUser(ctx context.Context, req *dbv1.GetUserRequest) (*dbv1.GetUserResponse, error) {
	u, err := s.store.GetUser(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	return &dbv1.GetUserResponse{User: u}, nil
}

func (s *server) VerifyCredentials(ctx context.Context, req *dbv1.VerifyCredentialsRequest) (*dbv1.VerifyCredentialsResponse, error) {
	u, err := s.store.VerifyCredentials(ctx, req.GetUsername(), req.GetPassword(), req.GetClientAddress())
	if err != nil {
		return nil, err
	}
	return &dbv1.VerifyCredentialsResponse{User: u}, nil
}

func (s *server) UpdateUser(ctx context.Context, req *dbv1.UpdateUserRequest) (*dbv1.UpdateUserResponse, error) {
	u, err := s.store.UpdateUser(ctx, req.GetId(), store.UserChanges{Username: req.Username, Email: req.Email, Password: req.Password, CurrentPassword: req.CurrentPassword, ClientAddress: req.GetClientAddress(), CredentialsVersion: req.GetCredentialsVersion()})
	if err != nil {
		return nil, err
	}
	s.written(ctx, "user %d updated (username %t, email %t, password %t)", u.GetId(), req.Username != nil, req.Email != nil, req.Password != nil)
	return &dbv1.UpdateUserResponse{User: u}, nil
}

func (s *server) DeactivateUser(ctx context.Context, req *dbv1.DeactivateUserRequest) (*dbv1.DeactivateUserResponse, error) {
	if err := s.store.DeactivateUser(ctx, req.GetId(), req.GetCurrentPassword(), req.GetClientAddress(), req.GetCredentialsVersion()); err != nil {
		return nil, err
	}
	s.written(ctx, "user %d deactivated", req.GetId())
	return &dbv1.DeactivateUserResponse{}, nil
}

func (s *server) CreateOrder(ctx context.Context, req *dbv1.CreateOrderRequest) (*dbv1.CreateOrderResponse, error) {
	o, replayed, err := s.store.CreateOrder(ctx, store.NewOrder{
		UserID:             req.GetUserId(),
		ProductID:          req.GetProductId(),
		Quantity:           req.GetQuantity(),
		CredentialsVersion: req.GetCredentialsVersion(),
		IdempotencyKey:     req.IdempotencyKey,
	})
	if err != nil {
		return nil, err
	}
	if replayed {
		s.written(ctx, "order %d answered again for its idempotency key: nothing changed", o.GetId())
	} else {
		s.written(ctx, "order %d placed: user %d, product %d, quantity %d, total_price_cents %d",
			o.GetId(), o.GetUserId(), o.GetProductId(), o.GetQuantity(), o.GetTotalPriceCents())
	}
	return &dbv1.CreateOrderResponse{Order: o, Replayed: replayed}, nil
}

func (s *server) GetOrder(ctx context.Context, req *dbv1.GetOrderRequest) (*dbv1.GetOrderResponse, error) {
	o, err := s.store.GetOrder(ctx, req.GetId(), req.GetUserId())
	if err != nil {
		return nil, err
	}
	return &dbv1.GetOrderResponse{Order: o}, nil
}

func (s *server) ListOrders(ctx context.Context, req *dbv1.ListOrdersRequest) (*dbv1.ListOrdersResponse, error) {
	orders, err := s.store.ListOrders(ctx, req.GetUserId())
	if err != nil {
		return nil, err
	}
	return &dbv1.ListOrdersResponse{Orders: orders}, nil
}

func (s *server) CancelOrder(ctx context.Context, req *dbv1.CancelOrderRequest) (*dbv1.CancelOrderResponse, error) {
	o, err := s.store.CancelOrder(ctx, req.GetId(), req.GetUserId(), req.GetCredentialsVersion())
	if err != nil {
		return nil, err
	}
	s.written(ctx, "order %d cancelled: product %d, quantity %d back in stock", o.GetId(), o.GetProductId(), o.GetQuantity())
	return &dbv1.CancelOrderResponse{Order: o}, nil
}
