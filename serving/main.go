package serving

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// Main runs a service's run until it returns and exits 1 if it failed. The
// logger writes JSON to stderr tagged with the service's name, the shape the
// local stack's log files and docker's log driver both keep; ctx ends on
// SIGTERM (docker, Kubernetes, supervisord) or an interrupt, which is the
// service's cue to shut down gracefully.
func Main(service string, run func(ctx context.Context, logger *slog.Logger) error) {
	os.Exit(runMain(service, os.Stderr, run))
}

// runMain is Main without the exit, for the tests.
func runMain(service string, stderr io.Writer, run func(ctx context.Context, logger *slog.Logger) error) int {
	logger := slog.New(slog.NewJSONHandler(stderr, nil)).With("service", service)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	err := run(ctx, logger)
	stop()
	if err != nil {
		logger.Error(service+" stopped", "error", err)
		return 1
	}
	return 0
}
