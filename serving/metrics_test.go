package serving

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

var quiet = slog.New(slog.DiscardHandler)

// The families every service's /metrics must have: the dashboards and the
// alert rules (deploy/prometheus/rules.yml) query them by these names.
func TestNewMetricsRegistersTheSharedFamilies(t *testing.T) {
	m := NewMetrics()
	srv := grpc.NewServer(m.ServerOptions()...)
	healthpb.RegisterHealthServer(srv, healthServerStub{})
	m.Registered(srv)
	families := gatheredNames(t, m.Registry)
	for _, name := range []string{
		"grpc_server_started_total",
		"grpc_server_handled_total",
		"grpc_server_msg_received_total",
		"grpc_server_msg_sent_total",
		"grpc_server_handling_seconds",
		"go_goroutines",
		"go_memstats_alloc_bytes",
		"process_cpu_seconds_total",
		"process_resident_memory_bytes",
	} {
		if !families[name] {
			t.Errorf("no %s among %d families", name, len(families))
		}
	}
}

func TestServeMetricsAnswersOnlyGetMetrics(t *testing.T) {
	m := NewMetrics()
	base, stop := serveForTest(t, m.Registry, quiet)
	defer stop()
	for _, tc := range []struct {
		method, path string
		status       int
		body         string // a substring; empty: not checked
	}{
		{"GET", "/metrics", http.StatusOK, "\ngo_goroutines "},
		{"HEAD", "/metrics", http.StatusOK, ""},
		{"POST", "/metrics", http.StatusMethodNotAllowed, ""},
		{"GET", "/", http.StatusNotFound, ""},
		{"GET", "/debug/pprof/", http.StatusNotFound, ""},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, base+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if !strings.Contains(string(body), tc.body) {
				t.Fatalf("body has no %q:\n%.500s", tc.body, body)
			}
		})
	}
}

// A collector that fails (the pool's, say, mid-restart) must not cost the
// scrape the other families: it is logged and the rest served.
func TestServeMetricsServesTheRestWhenACollectorFails(t *testing.T) {
	m := NewMetrics()
	m.Registry.MustRegister(failingCollector{})
	var logs bytes.Buffer
	base, stop := serveForTest(t, m.Registry, slog.New(slog.NewJSONHandler(&syncWriter{w: &logs}, nil)))
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	stop()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "\ngo_goroutines ") {
		t.Fatalf("status %d, body:\n%.500s", resp.StatusCode, body)
	}
	if !strings.Contains(logs.String(), `"level":"WARN"`) || !strings.Contains(logs.String(), "collector broke") {
		t.Fatalf("the failure was not logged as a warning: %s", logs.String())
	}
}

// A broken listener's error is returned too, once the service stops (the
// endpoint's goroutine waits for ctx either way).
func TestServeMetricsReturnsNilWhenStoppedAndTheErrorOtherwise(t *testing.T) {
	for _, tc := range []struct {
		name    string
		closed  bool
		wantErr bool
	}{
		{name: "stopped by its context"},
		{name: "a closed listener", closed: true, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lis := listen(t)
			if tc.closed {
				lis.Close()
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- ServeMetrics(ctx, lis, prometheus.NewRegistry(), quiet) }()
			time.Sleep(50 * time.Millisecond)
			cancel()
			var err error
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("ServeMetrics did not return after its context ended")
			}
			if !tc.wantErr && err != nil {
				t.Fatalf("%v, want nil", err)
			}
			if tc.wantErr && (err == nil || !strings.Contains(err.Error(), "serving metrics on "+lis.Addr().String())) {
				t.Fatalf("%v, want the listener's error", err)
			}
		})
	}
}

func TestStartMetrics(t *testing.T) {
	taken := listen(t)
	defer taken.Close()
	for _, tc := range []struct {
		name    string
		addr    string
		wantErr string // empty: starts
		off     bool   // a nil *Metrics: the variable was not set
	}{
		{name: "unset: no metrics", addr: "", off: true},
		{name: "a free port", addr: "127.0.0.1:0"},
		{name: "a taken port names the variable", addr: taken.Addr().String(),
			wantErr: "listening on SVC_METRICS_LISTEN_ADDR=" + taken.Addr().String() + ": "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&syncWriter{w: &logs}, nil))
			own := prometheus.NewCounter(prometheus.CounterOpts{Name: "svc_own_total", Help: "A service's own."})
			m, stop, err := StartMetrics(context.Background(), "SVC_METRICS_LISTEN_ADDR", tc.addr, logger, own)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			if tc.off {
				if m != nil || logs.Len() != 0 {
					t.Fatalf("metrics %v, logs %q; want none", m, logs.String())
				}
				return
			}
			if !gatheredNames(t, m.Registry)["svc_own_total"] {
				t.Fatal("the service's own collector is not registered")
			}
			if !strings.Contains(logs.String(), `"msg":"serving metrics","addr":"127.0.0.1:`) {
				t.Fatalf("no start line: %s", logs.String())
			}
		})
	}
}

// serveForTest serves reg on a free port; stop ends it and checks it ended cleanly.
func serveForTest(t *testing.T, reg *prometheus.Registry, logger *slog.Logger) (base string, stop func()) {
	t.Helper()
	lis := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeMetrics(ctx, lis, reg, logger) }()
	return "http://" + lis.Addr().String(), func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("ServeMetrics: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("ServeMetrics did not return after its context ended")
		}
	}
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return lis
}

func gatheredNames(t *testing.T, reg *prometheus.Registry) map[string]bool {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
	}
	return names
}

type failingCollector struct{}

var failingDesc = prometheus.NewDesc("svc_broken", "Always fails.", nil, nil)

func (failingCollector) Describe(ch chan<- *prometheus.Desc) { ch <- failingDesc }
func (failingCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.NewInvalidMetric(failingDesc, errors.New("collector broke"))
}

type healthServerStub struct {
	healthpb.UnimplementedHealthServer
}

// BenchmarkUnaryInterceptor is what the gRPC metrics add to each call: the
// interceptor around a handler that does nothing (bench/metrics_cost.py
// compares it with a real call's CPU).
func BenchmarkUnaryInterceptor(b *testing.B) {
	m := NewMetrics()
	intercept := m.GRPC.UnaryServerInterceptor()
	info := &grpc.UnaryServerInfo{FullMethod: "/merchstore.db.v1.ProductService/GetProduct"}
	handler := func(ctx context.Context, req any) (any, error) { return req, nil }
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := intercept(ctx, nil, info, handler); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNoInterceptor(b *testing.B) {
	handler := func(ctx context.Context, req any) (any, error) { return req, nil }
	ctx := context.Background()
	for b.Loop() {
		if _, err := handler(ctx, nil); err != nil {
			b.Fatal(err)
		}
	}
}
