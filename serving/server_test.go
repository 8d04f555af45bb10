package serving

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
)

const (
	draining = "shutting down: finishing calls in flight"
	overdue  = "calls in flight did not finish in time; cancelling them"
)

var healthNames = []string{"", "grpc.testing.TestService"}

// A fresh server answers health NOT_SERVING for each name (the dependency has
// not answered yet) and lists its services through reflection.
func TestNewServerStartsNotServingWithHealthAndReflection(t *testing.T) {
	r := start(t, nil, time.Second)
	defer r.stop(t)
	for _, name := range healthNames {
		got, err := healthpb.NewHealthClient(r.conn).Check(r.ctx(t), &healthpb.HealthCheckRequest{Service: name})
		if err != nil || got.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Errorf("health of %q: %v, %v; want NOT_SERVING", name, got.GetStatus(), err)
		}
	}
	stream, err := reflectionpb.NewServerReflectionClient(r.conn).ServerReflectionInfo(r.ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}); err != nil {
		t.Fatal(err)
	}
	answer, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, s := range answer.GetListServicesResponse().GetService() {
		listed[s.GetName()] = true
	}
	for _, want := range []string{"grpc.testing.TestService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"} {
		if !listed[want] {
			t.Errorf("reflection does not list %s: %v", want, listed)
		}
	}
}

// Run counts every method of every service registered before it from zero,
// and each call under the code its caller got.
func TestRunStartsTheMetricsOfEveryRegisteredMethodAtZero(t *testing.T) {
	m := NewMetrics()
	r := start(t, m, time.Second)
	defer r.stop(t)
	handled := func(code codes.Code, n int) string {
		return `grpc_server_handled_total{grpc_code="` + code.String() +
			`",grpc_method="EmptyCall",grpc_service="grpc.testing.TestService",grpc_type="unary"} ` + strconv.Itoa(n) + "\n"
	}
	if text := exposition(t, m); !strings.Contains(text, handled(codes.Unimplemented, 0)) {
		t.Fatalf("before any call, no %s", handled(codes.Unimplemented, 0))
	}
	r.svc.release() // EmptyCall answers at once
	if _, err := testgrpc.NewTestServiceClient(r.conn).EmptyCall(r.ctx(t), &testgrpc.Empty{}); err != nil {
		t.Fatal(err)
	}
	_, err := testgrpc.NewTestServiceClient(r.conn).UnaryCall(r.ctx(t), &testgrpc.SimpleRequest{})
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("UnaryCall: %v", err)
	}
	if text := exposition(t, m); !strings.Contains(text, handled(codes.OK, 1)) {
		t.Fatalf("after one EmptyCall, no %s", handled(codes.OK, 1))
	}
}

// The three ways a shutdown goes: nothing in flight, a call that finishes
// within the timeout, and one that does not and is cancelled at the timeout.
func TestRunShutsDownGracefullyWithinTheTimeout(t *testing.T) {
	for _, tc := range []struct {
		name        string
		inFlight    bool
		finishAfter time.Duration // when the call in flight may end; 0: never by itself
		timeout     time.Duration
		wantCode    codes.Code // of the call in flight
		wantOverdue bool
	}{
		{name: "nothing in flight", timeout: 5 * time.Second},
		{name: "a call finishes in time", inFlight: true, finishAfter: 200 * time.Millisecond,
			timeout: 5 * time.Second, wantCode: codes.OK},
		{name: "a call past the timeout is cancelled", inFlight: true,
			timeout: 300 * time.Millisecond, wantCode: codes.Unavailable, wantOverdue: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := start(t, nil, tc.timeout)
			r.srv.Health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
			callDone := make(chan error, 1)
			if tc.inFlight {
				go func() {
					_, err := testgrpc.NewTestServiceClient(r.conn).EmptyCall(context.Background(), &testgrpc.Empty{})
					callDone <- err
				}()
				<-r.svc.entered
			}

			began := time.Now()
			r.cancel()
			// Health turns NOT_SERVING as soon as the shutdown starts, while calls drain.
			waitFor(t, "health NOT_SERVING", func() bool {
				got, _ := r.srv.Health.Check(context.Background(), &healthpb.HealthCheckRequest{})
				return got.GetStatus() == healthpb.HealthCheckResponse_NOT_SERVING
			})
			if tc.finishAfter > 0 {
				time.AfterFunc(tc.finishAfter, r.svc.release)
			}
			err := r.wait(t)
			took := time.Since(began)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if tc.wantOverdue && took < tc.timeout {
				t.Fatalf("returned after %v, before the timeout %v", took, tc.timeout)
			}
			if !tc.wantOverdue && took >= tc.timeout {
				t.Fatalf("returned after %v, at the timeout %v though nothing was overdue", took, tc.timeout)
			}
			if tc.inFlight {
				if code := status.Code(<-callDone); code != tc.wantCode {
					t.Fatalf("the call in flight ended %v, want %v", code, tc.wantCode)
				}
			}
			logs := r.logs.String()
			if !strings.Contains(logs, `"msg":"`+draining+`","timeout":"`+tc.timeout.String()+`"`) {
				t.Errorf("no draining line: %s", logs)
			}
			if got := strings.Contains(logs, `"level":"WARN","msg":"`+overdue+`"`); got != tc.wantOverdue {
				t.Errorf("overdue line logged: %v, want %v: %s", got, tc.wantOverdue, logs)
			}
			r.svc.release()
		})
	}
}

// Background work runs while the server serves and drains, and has ended
// by the time Run returns.
func TestRunStopsAndWaitsForTheBackgroundWork(t *testing.T) {
	var running, finished atomic.Int32
	work := func(ctx context.Context) {
		running.Add(1)
		<-ctx.Done()
		time.Sleep(50 * time.Millisecond) // a chore's last round
		finished.Add(1)
	}
	r := start(t, nil, time.Second, work, work)
	waitFor(t, "both started", func() bool { return running.Load() == 2 })
	if finished.Load() != 0 {
		t.Fatal("background work ended while the server was serving")
	}
	r.stop(t)
	if finished.Load() != 2 {
		t.Fatalf("Run returned with %d of 2 background funcs still running", 2-finished.Load())
	}
}

func TestRunReturnsTheServeError(t *testing.T) {
	lis := listen(t)
	lis.Close()
	var stopped atomic.Bool
	err := NewServer(nil, nil).Run(context.Background(), lis, quiet, Shutdown{Timeout: time.Second},
		func(ctx context.Context) { <-ctx.Done(); stopped.Store(true) })
	if err == nil || !strings.Contains(err.Error(), "serving gRPC on "+lis.Addr().String()) {
		t.Fatalf("Run on a closed listener: %v", err)
	}
	if !stopped.Load() {
		t.Fatal("the background work outlived Run")
	}
}

// running is one Server.Run on a free port with a client connected.
type running struct {
	srv    *Server
	svc    *blockingService
	conn   *grpc.ClientConn
	cancel context.CancelFunc
	done   chan error
	logs   *syncWriter
}

func start(t *testing.T, m *Metrics, timeout time.Duration, background ...func(context.Context)) *running {
	t.Helper()
	r := &running{
		svc:  &blockingService{entered: make(chan struct{}, 10), released: make(chan struct{})},
		done: make(chan error, 1),
		logs: &syncWriter{w: &bytes.Buffer{}},
	}
	r.srv = NewServer(m, healthNames)
	r.srv.RegisterReflection()
	testgrpc.RegisterTestServiceServer(r.srv.GRPC, r.svc)
	lis := listen(t)
	var ctx context.Context
	ctx, r.cancel = context.WithCancel(context.Background())
	logger := slog.New(slog.NewJSONHandler(r.logs, nil))
	sd := Shutdown{Timeout: timeout, Draining: draining, Overdue: overdue}
	go func() { r.done <- r.srv.Run(ctx, lis, logger, sd, background...) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	r.conn = conn
	t.Cleanup(func() { conn.Close() })
	// Once health answers, Run has got as far as serving.
	if _, err := healthpb.NewHealthClient(conn).Check(r.ctx(t), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *running) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (r *running) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
		return nil
	}
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	if err := r.wait(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// blockingService's EmptyCall waits until release (or its cancellation);
// its other methods are unimplemented.
type blockingService struct {
	testgrpc.UnimplementedTestServiceServer
	entered  chan struct{}
	released chan struct{}
	once     sync.Once
}

func (s *blockingService) release() { s.once.Do(func() { close(s.released) }) }

func (s *blockingService) EmptyCall(ctx context.Context, _ *testgrpc.Empty) (*testgrpc.Empty, error) {
	s.entered <- struct{}{}
	select {
	case <-s.released:
		return &testgrpc.Empty{}, nil
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

// exposition is the registry as /metrics shows it.
func exposition(t *testing.T, m *Metrics) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "metrics.prom")
	if err := prometheus.WriteToTextfile(path, m.Registry); err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(text)
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 5 s for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// syncWriter lets the server's goroutines log while a test reads.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.(*bytes.Buffer).String()
}

func (s *syncWriter) Len() int { return len(s.String()) }

// connections counts the connections a server accepts.
type connections struct{ begun atomic.Int32 }

func (c *connections) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (c *connections) HandleRPC(context.Context, stats.RPCStats)                       {}
func (c *connections) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (c *connections) HandleConn(_ context.Context, s stats.ConnStats) {
	if _, ok := s.(*stats.ConnBegin); ok {
		c.begun.Add(1)
	}
}

// A client that keeps calling is moved to a new connection once its
// connection is maxConnectionAge old, so it resolves the service's name again
// and finds replicas added since; none of its calls fails meanwhile.
func TestConnectionsAreRenewedAfterTheirMaximumAge(t *testing.T) {
	age, grace := maxConnectionAge, maxConnectionAgeGrace
	maxConnectionAge, maxConnectionAgeGrace = 200*time.Millisecond, 200*time.Millisecond
	defer func() { maxConnectionAge, maxConnectionAgeGrace = age, grace }()

	counted := &connections{}
	srv := NewServer(nil, nil, grpc.StatsHandler(counted))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.GRPC.Serve(lis) }()
	defer srv.GRPC.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	client := healthpb.NewHealthClient(conn)
	calls := 0
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); calls++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err != nil {
			t.Fatalf("call %d failed: %v", calls, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := counted.begun.Load(); got < 3 {
		t.Fatalf("%d connections in 1.5 s of calls with a maximum age of 200 ms; want at least 3", got)
	}
}
