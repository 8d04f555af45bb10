// Command dbsvc serves merchstore.db.v1 (products, users, orders) on top of
// PostgreSQL. Configuration: see README.md.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/sustech-merch/store/dbsvc/internal/config"
	"github.com/sustech-merch/store/dbsvc/internal/logship"
	"github.com/sustech-merch/store/dbsvc/internal/metrics"
	"github.com/sustech-merch/store/dbsvc/internal/server"
	"github.com/sustech-merch/store/dbsvc/internal/store"
	"github.com/sustech-merch/store/serving"
)

func main() { serving.Main("dbsvc", run) }

// run returns when ctx ends (SIGTERM) and every call has finished or been cancelled.
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
	shipper, err := logship.New(cfg.LogsvcAddr, "db", cfg.Instance,
		logship.Options{Credentials: transport.DialOption(serving.IdentityLog)}, logger)
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
	m, stopMetrics, err := serving.StartMetrics(ctx, "DBSVC_METRICS_LISTEN_ADDR", cfg.MetricsListenAddr, logger,
		metrics.PoolStats(st.PoolStat, st.PoolWaiting), metrics.ShipperStats(shipper))
	if err != nil {
		return err
	}
	defer stopMetrics()
	logger.Info("using postgresql", "host", cfg.PostgresHost, "port", cfg.PostgresPort, "database", cfg.PostgresDB,
		"connect_per_call", cfg.ConnectPerCall, "pool_max_conns", cfg.PoolMaxConns, "logsvc", cfg.LogsvcAddr)
	runErr := server.Run(ctx, lis, st, shipper, server.Options{
		ShutdownTimeout:         cfg.ShutdownTimeout,
		IdempotencyKeyRetention: cfg.IdempotencyKeyRetention,
		Logger:                  logger,
		Metrics:                 m,
		Transport:               transport,
	})
	logger.Info("stopped")
	return runErr
}
