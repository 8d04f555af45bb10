package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"buf.build/go/protovalidate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/sustech-merch/store/dbsvc/internal/logship"
	"github.com/sustech-merch/store/dbsvc/internal/metrics"
	"github.com/sustech-merch/store/dbsvc/internal/store"
	dbv1 "github.com/sustech-merch/store/gen/go/merchstore/db/v1"
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
	Metrics *metrics.Metrics
}

// Run serves the DB services, health and reflection on lis until ctx is
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
	var serverOpts []grpc.ServerOption
	if opts.Metrics != nil {
		serverOpts = opts.Metrics.ServerOptions()
	}
	srv := grpc.NewServer(append(serverOpts,
		grpc.ChainUnaryInterceptor(svc.unary),
		// The API replicas keep their channel alive with pings; do not answer
		// them with GOAWAY "too_many_pings".
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	)...)
	dbv1.RegisterProductServiceServer(srv, svc)
	dbv1.RegisterUserServiceServer(srv, svc)
	dbv1.RegisterOrderServiceServer(srv, svc)
	hs := health.NewServer()
	// Not SERVING (health.NewServer's default) until PostgreSQL has answered.
	for _, name := range healthServices {
		hs.SetServingStatus(name, healthpb.HealthCheckResponse_NOT_SERVING)
	}
	healthpb.RegisterHealthServer(srv, hs)
	reflection.Register(srv)
	if opts.Metrics != nil {
		opts.Metrics.Registered(srv)
	}

	watchCtx, stopWatch := context.WithCancel(context.Background())
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		watchDatabase(watchCtx, hs, st.Ping, opts.HealthInterval, logger)
	}()
	forgetDone := make(chan struct{})
	go func() {
		defer close(forgetDone)
		forgetOldRows(watchCtx, st, time.Minute, opts.IdempotencyKeyRetention, logger)
	}()
	defer func() {
		stopWatch()
		<-watchDone
		<-forgetDone
	}()

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(lis) }()
	logger.Info("serving", "addr", lis.Addr().String())

	select {
	case err := <-serveErr:
		return fmt.Errorf("serving gRPC on %s: %w", lis.Addr(), err)
	case <-ctx.Done():
	}
	logger.Info("shutting down: finishing calls in flight", "timeout", opts.ShutdownTimeout.String())
	hs.Shutdown()
	stopped := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(opts.ShutdownTimeout):
		logger.Warn("calls in flight did not finish in time; cancelling them")
		srv.Stop()
		<-stopped
	}
	return nil
}

// watchDatabase keeps the health status in step with whether PostgreSQL
// answers, so that it recovers without a restart.
func watchDatabase(ctx context.Context, hs *health.Server, ping func(context.Context) error, interval time.Duration, logger *slog.Logger) {
	last := healthpb.HealthCheckResponse_UNKNOWN
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		pingCtx, cancel := context.WithTimeout(ctx, interval)
		err := ping(pingCtx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		now := healthpb.HealthCheckResponse_SERVING
		if err != nil {
			now = healthpb.HealthCheckResponse_NOT_SERVING
		}
		if now != last {
			if err != nil {
				logger.Warn("postgresql does not answer; health NOT_SERVING", "error", err)
			} else {
				logger.Info("postgresql answers; health SERVING")
			}
			for _, name := range healthServices {
				hs.SetServingStatus(name, now)
			}
			last = now
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
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
