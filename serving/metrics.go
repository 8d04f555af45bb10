package serving

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
)

// Metrics holds the registry that /metrics serves and the gRPC interceptors
// that feed it. A nil *Metrics is a service started without a metrics address:
// NewServer then adds no interceptors.
type Metrics struct {
	Registry *prometheus.Registry
	GRPC     *grpcprom.ServerMetrics
}

// NewMetrics registers the gRPC server metrics with a latency histogram, and
// Go's runtime and process collectors, in a registry of its own (not the
// global one, so tests can make as many as they like).
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		// prometheus.DefBuckets (5 ms to 10 s) suit both services: a DB call
		// takes about a millisecond, a login's argon2 tens of milliseconds, and
		// a StreamLogs call at most LOGSVC_PUBLISH_TIMEOUT (5 s).
		GRPC: grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram()),
	}
	m.Registry.MustRegister(m.GRPC, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ServerOptions put the gRPC metrics outside every other interceptor, so that
// the code they count is the one the caller gets.
func (m *Metrics) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(m.GRPC.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(m.GRPC.StreamServerInterceptor()),
	}
}

// Registered is called once the services are registered on srv: every method
// and code starts at zero, so a rate or an increase sees the first call too.
func (m *Metrics) Registered(srv *grpc.Server) { m.GRPC.InitializeMetrics(srv) }

// ServeMetrics answers GET /metrics on lis until ctx is done.
func ServeMetrics(ctx context.Context, lis net.Listener, reg *prometheus.Registry, logger *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		// A failing collector is logged and the rest still served.
		ErrorLog:      slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		// A scrape takes milliseconds; a second keeps a stuck one from holding
		// the exit past the orchestrator's grace period.
		shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	err := srv.Serve(lis)
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("serving metrics on %s: %w", lis.Addr(), err)
}

// StartMetrics serves the metrics, with the service's own collectors added,
// on addr until ctx is done or stop is called; stop waits for the endpoint to
// close. An empty addr means no metrics: a nil *Metrics and a stop that does
// nothing. env is the variable addr came from, so that a port already in use
// names the setting to change.
//
// The listener is opened here, before the caller serves gRPC, so that a taken
// port fails the start rather than leaving a service Prometheus cannot scrape.
func StartMetrics(ctx context.Context, env, addr string, logger *slog.Logger, own ...prometheus.Collector) (m *Metrics, stop func(), err error) {
	if addr == "" {
		return nil, func() {}, nil
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listening on %s=%s: %w", env, addr, err)
	}
	m = NewMetrics()
	m.Registry.MustRegister(own...)
	metricsCtx, stopMetrics := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ServeMetrics(metricsCtx, lis, m.Registry, logger) }()
	logger.Info("serving metrics", "addr", lis.Addr().String())
	return m, func() {
		stopMetrics()
		if err := <-done; err != nil {
			logger.Error("metrics endpoint stopped", "error", err)
		}
	}, nil
}
