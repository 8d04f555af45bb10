// Command dbsvc serves merchstore.db.v1 (products, users, orders) on top of
// PostgreSQL. Configuration: see README.md.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sustech-merch/store/dbsvc/internal/config"
	"github.com/sustech-merch/store/dbsvc/internal/logship"
	"github.com/sustech-merch/store/dbsvc/internal/metrics"
	"github.com/sustech-merch/store/dbsvc/internal/server"
	"github.com/sustech-merch/store/dbsvc/internal/store"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("service", "dbsvc")
	if err := run(logger); err != nil {
		logger.Error("dbsvc stopped", "error", err)
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

	poolConfig, err := cfg.PoolConfig()
	if err != nil {
		return err
	}
	st, err := store.New(poolConfig, store.Options{
		AcquireTimeout: cfg.AcquireTimeout,
		ConnectPerCall: cfg.ConnectPerCall,
		Throttle: store.Throttle{
			AddressFailures: cfg.LoginMaxFailures,
			AccountFailures: cfg.LoginAccountMaxFailures,
			BaseWait:        cfg.LoginBaseWait,
			MaxWait:         cfg.LoginMaxWait,
			Window:          cfg.LoginFailureWindow,
		},
	})
	if err != nil {
		return err
	}
	defer st.Close()
	shipper, err := logship.New(cfg.LogsvcAddr, "db", cfg.Instance, logship.Options{}, logger)
	if err != nil {
		return fmt.Errorf("LOGSVC_ADDR=%s: %w", cfg.LogsvcAddr, err)
	}
	defer func() {
		// Bounded, so a down logsvc cannot hold the exit past docker's grace period.
		flushCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		shipper.Close(flushCtx)
	}()

	lis, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listening on DBSVC_LISTEN_ADDR=%s: %w", cfg.ListenAddr, err)
	}
	var m *metrics.Metrics
	if cfg.MetricsListenAddr != "" {
		metricsLis, err := net.Listen("tcp", cfg.MetricsListenAddr)
		if err != nil {
			return fmt.Errorf("listening on DBSVC_METRICS_LISTEN_ADDR=%s: %w", cfg.MetricsListenAddr, err)
		}
		m = metrics.New()
		m.Registry.MustRegister(metrics.PoolStats(st.PoolStat, st.PoolWaiting), metrics.ShipperStats(shipper))
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
	logger.Info("using postgresql", "host", cfg.PostgresHost, "port", cfg.PostgresPort, "database", cfg.PostgresDB,
		"connect_per_call", cfg.ConnectPerCall, "pool_max_conns", cfg.PoolMaxConns, "logsvc", cfg.LogsvcAddr)
	runErr := server.Run(ctx, lis, st, shipper, server.Options{
		ShutdownTimeout:         cfg.ShutdownTimeout,
		IdempotencyKeyRetention: cfg.IdempotencyKeyRetention,
		Logger:                  logger,
		Metrics:                 m,
	})
	logger.Info("stopped")
	return runErr
}
