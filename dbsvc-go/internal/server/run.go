package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"buf.build/go/protovalidate"
	"google.golang.org/grpc"

	"github.com/sustech-merch/store/dbsvc/internal/logship"
	"github.com/sustech-merch/store/dbsvc/internal/store"
	dbv1 "github.com/sustech-merch/store/gen/go/merchstore/db/v1"
	"github.com/sustech-merch/store/serving"
)

// healthServices are the names whose health follows PostgreSQL's: the whole
// server ("") and each service.
var healthServices = []string{
	"",
	dbv1.ProductService_ServiceDesc.ServiceName,
	dbv1.UserService_ServiceDesc.ServiceName,
	dbv1.OrderService_ServiceDesc.ServiceName,
}

// Options tune Run; zero values take the defaults.
type Options struct {
	ShutdownTimeout time.Duration // default 8s
	HealthInterval  time.Duration // default 2s
	// How long idempotency keys are kept; default (and at least) 24h, the contract's.
	IdempotencyKeyRetention time.Duration
	Logger                  *slog.Logger
	// Metrics, when set, counts and times every call (outside the other interceptors).
	Metrics *serving.Metrics
	// Transport: mutual TLS, where only the API may call (the zero value is
	// plaintext, for tests and benchmarks), and reflection.
	Transport serving.Transport
}

// Run serves the DB services and health on lis until ctx is
// done, then stops gracefully: health turns NOT_SERVING, no new calls are
// accepted, calls in flight may finish for up to ShutdownTimeout, after which
// they are cancelled. The caller closes st and shipper afterwards.
func Run(ctx context.Context, lis net.Listener, st *store.Store, shipper *logship.Shipper, opts Options) error {
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 8 * time.Second
	}
	if opts.HealthInterval <= 0 {
		opts.HealthInterval = 2 * time.Second
	}
	if opts.IdempotencyKeyRetention < 24*time.Hour {
		opts.IdempotencyKeyRetention = 24 * time.Hour
	}
	logger := opts.Logger
	// Compiles each message's rules once, on its first use.
	validator, err := protovalidate.New()
	if err != nil {
		return fmt.Errorf("preparing the request validator: %w", err)
	}
	svc := &server{store: st, shipper: shipper, logger: logger, validator: validator}
	serverOpts := append(opts.Transport.ServerOptions(serving.IdentityAPI), grpc.ChainUnaryInterceptor(svc.unary))
	srv := serving.NewServer(opts.Metrics, healthServices, serverOpts...)
	if opts.Transport.Reflection {
		srv.RegisterReflection()
	}
	dbv1.RegisterProductServiceServer(srv.GRPC, svc)
	dbv1.RegisterUserServiceServer(srv.GRPC, svc)
	dbv1.RegisterOrderServiceServer(srv.GRPC, svc)
	shutdown := serving.Shutdown{
		Timeout:  opts.ShutdownTimeout,
		Draining: "shutting down: finishing calls in flight",
		Overdue:  "calls in flight did not finish in time; cancelling them",
	}
	// Health starts NOT_SERVING (serving.NewServer) until PostgreSQL has answered.
	return srv.Run(ctx, lis, logger, shutdown,
		func(ctx context.Context) {
			srv.Follow(ctx, serving.Dependency{Name: "postgresql", Check: st.Ping, Interval: opts.HealthInterval}, logger)
		},
		func(ctx context.Context) { forgetOldRows(ctx, st, time.Minute, opts.IdempotencyKeyRetention, logger) })
}

// forgetOldRows deletes, every interval, the login failures that no longer count
// and the idempotency keys past their retention, so that neither table grows
// without bound however many usernames are tried or orders placed.
func forgetOldRows(ctx context.Context, st *store.Store, interval, keyRetention time.Duration, logger *slog.Logger) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if _, err := st.ForgetOldLoginFailures(ctx); err != nil && ctx.Err() == nil {
			logger.Warn("could not delete old login failures; will try again", "error", err)
		}
		if _, err := st.ForgetOldIdempotencyKeys(ctx, keyRetention); err != nil && ctx.Err() == nil {
			logger.Warn("could not delete old idempotency keys; will try again", "error", err)
		}
	}
}
