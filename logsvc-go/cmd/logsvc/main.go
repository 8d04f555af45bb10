// Command logsvc serves merchstore.log.v1.LogService: it publishes log
// entries to the Kafka topic log-channel. Configuration: see README.md.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/sustech-merch/store/logsvc/internal/config"
	"github.com/sustech-merch/store/logsvc/internal/metrics"
	"github.com/sustech-merch/store/logsvc/internal/publisher"
	"github.com/sustech-merch/store/logsvc/internal/server"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("service", "logsvc")
	if err := run(logger); err != nil {
		logger.Error("logsvc stopped", "error", err)
		os.Exit(1)
	}
}

func run(logger *slog.Logger) error {
	cfg, err := config.FromEnv()
	if err != nil {
		return err
	}
	logger = logger.With("instance", cfg.Instance)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	lis, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listening on LOGSVC_LISTEN_ADDR=%s: %w", cfg.ListenAddr, err)
	}
	pub := publisher.New(publisher.Config{Brokers: cfg.Brokers, Topic: cfg.Topic, Timeout: cfg.PublishTimeout}, logger)
	logger.Info("publishing to kafka", "brokers", cfg.Brokers, "topic", cfg.Topic)
	var m *metrics.Metrics
	if cfg.MetricsListenAddr != "" {
		metricsLis, err := net.Listen("tcp", cfg.MetricsListenAddr)
		if err != nil {
			return fmt.Errorf("listening on LOGSVC_METRICS_LISTEN_ADDR=%s: %w", cfg.MetricsListenAddr, err)
		}
		m = metrics.New()
		m.Registry.MustRegister(metrics.WriterStats(pub.Stats))
		metricsCtx, stopMetrics := context.WithCancel(ctx)
		metricsDone := make(chan error, 1)
		go func() { metricsDone <- metrics.Serve(metricsCtx, metricsLis, m.Registry, logger) }()
		defer func() {
			stopMetrics()
			if err := <-metricsDone; err != nil {
				logger.Error("metrics endpoint stopped", "error", err)
			}
		}()
		logger.Info("serving metrics", "addr", metricsLis.Addr().String())
	}
	runErr := server.Run(ctx, lis, pub, server.Options{ShutdownTimeout: cfg.ShutdownTimeout, Logger: logger, Metrics: m})
	if err := pub.Close(); err != nil {
		logger.Error("flushing kafka writer", "error", err)
	}
	logger.Info("stopped")
	return runErr
}
