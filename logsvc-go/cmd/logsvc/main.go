// Command logsvc serves merchstore.log.v1.LogService: it publishes log
// entries to the Kafka topic log-channel. Configuration: see README.md.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"

	"github.com/sustech-merch/store/logsvc/internal/config"
	"github.com/sustech-merch/store/logsvc/internal/metrics"
	"github.com/sustech-merch/store/logsvc/internal/publisher"
	"github.com/sustech-merch/store/logsvc/internal/server"
	"github.com/sustech-merch/store/serving"
)

func main() { serving.Main("logsvc", run) }

// run returns when ctx ends (SIGTERM), the open streams have finished or been
// cancelled, and the writer has flushed to Kafka.
func run(ctx context.Context, logger *slog.Logger) error {
	cfg, err := config.FromEnv()
	if err != nil {
		return err
	}
	transport, err := serving.TransportFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	logger = logger.With("instance", cfg.Instance)

	lis, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listening on LOGSVC_LISTEN_ADDR=%s: %w", cfg.ListenAddr, err)
	}
	pub := publisher.New(publisher.Config{Brokers: cfg.Brokers, Topic: cfg.Topic, Timeout: cfg.PublishTimeout}, logger)
	logger.Info("publishing to kafka", "brokers", cfg.Brokers, "topic", cfg.Topic)
	m, stopMetrics, err := serving.StartMetrics(ctx, "LOGSVC_METRICS_LISTEN_ADDR", cfg.MetricsListenAddr, logger,
		metrics.WriterStats(pub.Stats))
	if err != nil {
		return err
	}
	defer stopMetrics()
	runErr := server.Run(ctx, lis, pub, server.Options{ShutdownTimeout: cfg.ShutdownTimeout, Logger: logger, Metrics: m, Transport: transport})
	if err := pub.Close(); err != nil {
		logger.Error("flushing kafka writer", "error", err)
	}
	logger.Info("stopped")
	return runErr
}
