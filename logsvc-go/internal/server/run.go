package server

import (
	"context"
	"log/slog"
	"net"
	"time"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	logv1 "github.com/sustech-merch/store/gen/go/merchstore/log/v1"
	"github.com/sustech-merch/store/logsvc/internal/publisher"
	"github.com/sustech-merch/store/serving"
)

// healthServices are the names whose health follows Kafka's: the whole
// server ("") and LogService.
var healthServices = []string{"", logv1.LogService_ServiceDesc.ServiceName}

// Options tune Run; zero values take the defaults.
type Options struct {
	ShutdownTimeout time.Duration // default 8s
	HealthInterval  time.Duration // default 5s
	Logger          *slog.Logger
	// Metrics, when set, counts and times every call.
	Metrics *serving.Metrics
}

// Run serves LogService, health and reflection on lis until ctx is done, then
// stops gracefully: health turns NOT_SERVING, no new streams are accepted,
// open streams may finish (their entries get published) for up to
// ShutdownTimeout, after which they are cancelled. The caller closes pub
// afterwards, which flushes the writer.
func Run(ctx context.Context, lis net.Listener, pub *publisher.Publisher, opts Options) error {
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 8 * time.Second
	}
	if opts.HealthInterval <= 0 {
		opts.HealthInterval = 5 * time.Second
	}
	logger := opts.Logger
	srv := serving.NewServer(opts.Metrics, healthServices)
	logv1.RegisterLogServiceServer(srv.GRPC, New(pub, logger))
	shutdown := serving.Shutdown{
		Timeout:  opts.ShutdownTimeout,
		Draining: "shutting down: finishing open streams",
		Overdue:  "open streams did not finish in time; cancelling them, their clients will resend",
	}
	// Health starts NOT_SERVING (serving.NewServer) until Kafka has answered once.
	return srv.Run(ctx, lis, logger, shutdown,
		func(ctx context.Context) { watchKafka(ctx, srv.Health, pub.Check, opts.HealthInterval, logger) })
}

// unhealthyRecheck is how soon watchKafka looks again while Kafka does not answer.
// `make up` and the API replicas' readiness wait on this status, and a starting
// broker answers a few seconds after the logging service; checking only every
// interval (5 s) would keep the whole store waiting for up to that long after it.
const unhealthyRecheck = 500 * time.Millisecond

// watchKafka keeps the health status in step with whether Kafka answers.
func watchKafka(ctx context.Context, hs *health.Server, check func(context.Context) error, interval time.Duration, logger *slog.Logger) {
	last := healthpb.HealthCheckResponse_UNKNOWN
	for {
		checkCtx, cancel := context.WithTimeout(ctx, interval)
		err := check(checkCtx)
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
				logger.Warn("kafka does not answer; health NOT_SERVING", "error", err)
			} else {
				logger.Info("kafka answers; health SERVING")
			}
			for _, name := range healthServices {
				hs.SetServingStatus(name, now)
			}
			last = now
		}
		wait := interval
		if err != nil && unhealthyRecheck < wait {
			wait = unhealthyRecheck
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}
