package server

import (
	"context"
	"log/slog"
	"net"
	"time"

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
	// Transport: mutual TLS, where only the API and the DB service may call
	// (the zero value is plaintext, for tests), and reflection.
	Transport serving.Transport
}

// Run serves LogService and health on lis until ctx is done, then
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
	srv := serving.NewServer(opts.Metrics, healthServices, opts.Transport.ServerOptions(serving.IdentityAPI, serving.IdentityDB)...)
	if opts.Transport.Reflection {
		srv.RegisterReflection()
	}
	logv1.RegisterLogServiceServer(srv.GRPC, New(pub, logger))
	shutdown := serving.Shutdown{
		Timeout:  opts.ShutdownTimeout,
		Draining: "shutting down: finishing open streams",
		Overdue:  "open streams did not finish in time; cancelling them, their clients will resend",
	}
	// Health starts NOT_SERVING (serving.NewServer) until Kafka has answered once.
	return srv.Run(ctx, lis, logger, shutdown,
		func(ctx context.Context) {
			// A starting broker answers a few seconds after the logging service.
			kafka := serving.Dependency{Name: "kafka", Check: pub.Check, Interval: opts.HealthInterval, Recheck: 500 * time.Millisecond}
			srv.Follow(ctx, kafka, logger)
		})
}
