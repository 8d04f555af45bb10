package serving

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
)

// Server is a gRPC server with the standard health service, as both services
// run one. The caller registers its own services on GRPC,
// sets Health from whatever its health follows, then calls Run.
type Server struct {
	GRPC   *grpc.Server
	Health *health.Server

	metrics     *Metrics
	healthNames []string // what Follow sets
}

// Clients find new replicas only when they resolve the service's name again,
// and gRPC does that when a connection closes, not on a timer. So each
// connection is closed after maxConnectionAge (grpc-go adds up to 10 % jitter,
// so clients do not all reconnect at once): a client sends its next calls on a
// new connection, to the replicas the name has by then, e.g. after a
// Kubernetes scale-up, or when it resolved the name while only one replica was
// ready. 30 s, not minutes: a Kubernetes install (tests/k8s) saw an API pod
// keep calling one DB service pod of two for the five minutes this was before;
// a new connection costs one mutual TLS handshake, a millisecond, twice a
// minute. Calls in flight get maxConnectionAgeGrace to finish, more than the
// API's 3 s deadline and logsvc's 5 s publish timeout.
var (
	maxConnectionAge      = 30 * time.Second
	maxConnectionAgeGrace = 30 * time.Second
)

// NewServer makes the gRPC server: the metrics' interceptors (when m is not
// nil) outside opts, so they see the code the caller finally gets. Every name
// in healthNames starts NOT_SERVING: health.NewServer would say SERVING for
// "", and callers (`make up`, the API's readiness, Kubernetes probes) must not
// send work before the service's own dependency has answered.
func NewServer(m *Metrics, healthNames []string, opts ...grpc.ServerOption) *Server {
	var serverOpts []grpc.ServerOption
	if m != nil {
		serverOpts = m.ServerOptions()
	}
	serverOpts = append(serverOpts, opts...)
	// Clients (the API replicas, the DB service's log shipper) keep idle
	// channels alive with pings; do not answer them with GOAWAY "too_many_pings".
	serverOpts = append(serverOpts, grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}))
	serverOpts = append(serverOpts, grpc.KeepaliveParams(keepalive.ServerParameters{
		MaxConnectionAge:      maxConnectionAge,
		MaxConnectionAgeGrace: maxConnectionAgeGrace,
	}))
	s := &Server{GRPC: grpc.NewServer(serverOpts...), Health: health.NewServer(), metrics: m, healthNames: healthNames}
	for _, name := range healthNames {
		s.Health.SetServingStatus(name, healthpb.HealthCheckResponse_NOT_SERVING)
	}
	healthpb.RegisterHealthServer(s.GRPC, s.Health)
	return s
}

// RegisterReflection lets clients such as grpcurl list the services and
// their messages. Off unless GRPC_REFLECTION says so (Transport): it tells
// whoever reaches the port what it can ask.
func (s *Server) RegisterReflection() { reflection.Register(s.GRPC) }

// Shutdown says how Run stops. The messages are the service's own, because
// what is in flight differs (unary calls, or streams their clients resend).
type Shutdown struct {
	// Timeout is how long calls in flight may take to finish; it must be
	// positive (the services default it to 8 s, under docker's 10 s grace).
	Timeout time.Duration
	// Draining is logged (Info) when the shutdown starts.
	Draining string
	// Overdue is logged (Warn) when calls were still running at Timeout and
	// are being cancelled.
	Overdue string
}

// Run serves on lis until ctx is done, then stops gracefully: health turns
// NOT_SERVING, no new calls are accepted, calls in flight may finish for up
// to sd.Timeout, after which they are cancelled. Each of background runs in
// its own goroutine meanwhile (health watchers, cleanups), with a context
// that ends only once the server has stopped, and Run waits for them before
// it returns, so none outlives what it watches.
func (s *Server) Run(ctx context.Context, lis net.Listener, logger *slog.Logger, sd Shutdown, background ...func(context.Context)) error {
	// Only now is every service registered, so every method starts at zero.
	if s.metrics != nil {
		s.metrics.Registered(s.GRPC)
	}

	// Not ctx: health must keep following the dependency while calls drain.
	bgCtx, stopBackground := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, run := range background {
		wg.Go(func() { run(bgCtx) })
	}
	defer func() {
		stopBackground()
		wg.Wait()
	}()

	serveErr := make(chan error, 1)
	go func() { serveErr <- s.GRPC.Serve(lis) }()
	logger.Info("serving", "addr", lis.Addr().String())

	select {
	case err := <-serveErr:
		return fmt.Errorf("serving gRPC on %s: %w", lis.Addr(), err)
	case <-ctx.Done():
	}
	logger.Info(sd.Draining, "timeout", sd.Timeout.String())
	s.Health.Shutdown()
	stopped := make(chan struct{})
	go func() {
		s.GRPC.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(sd.Timeout):
		logger.Warn(sd.Overdue)
		s.GRPC.Stop()
		<-stopped
	}
	return nil
}
