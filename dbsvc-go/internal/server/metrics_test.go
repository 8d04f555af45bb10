package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sustech-merch/store/dbsvc/internal/metrics"
	dbv1 "github.com/sustech-merch/store/gen/go/merchstore/db/v1"
	"github.com/sustech-merch/store/serving"
)

// The gRPC metrics count each call under the code its caller got: the
// interceptor sits outside the one that maps store errors to status codes.
// The pool's and the log shipper's statistics are read at scrape time.
func TestMetricsCountEachCallUnderTheCodeTheCallerGot(t *testing.T) {
	m := serving.NewMetrics()
	s := startService(t, serviceOptions{metrics: m})
	m.Registry.MustRegister(metrics.PoolStats(s.store.PoolStat, s.store.PoolWaiting), metrics.ShipperStats(s.shipper))

	handled := func(code codes.Code) float64 {
		return gathered(t, m.Registry, "grpc_server_handled_total", map[string]string{
			"grpc_service": "merchstore.db.v1.ProductService", "grpc_method": "GetProduct", "grpc_code": code.String(),
		})
	}
	// InitializeMetrics: every code of every method is there before its first call.
	if got := handled(codes.NotFound); got != 0 {
		t.Fatalf("NotFound before any call = %v, want 0", got)
	}
	calls := []struct {
		id   int32
		code codes.Code
	}{{1, codes.OK}, {1, codes.OK}, {999999, codes.NotFound}, {0, codes.InvalidArgument}}
	for _, c := range calls {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := s.products.GetProduct(ctx, &dbv1.GetProductRequest{Id: c.id})
		cancel()
		if status.Code(err) != c.code {
			t.Fatalf("GetProduct(%d): %v, want %s", c.id, err, c.code)
		}
	}
	for code, want := range map[codes.Code]float64{codes.OK: 2, codes.NotFound: 1, codes.InvalidArgument: 1, codes.Unknown: 0, codes.Internal: 0} {
		if got := handled(code); got != want {
			t.Errorf("grpc_server_handled_total GetProduct %s = %v, want %v", code, got, want)
		}
	}
	if got := gathered(t, m.Registry, "grpc_server_handling_seconds", map[string]string{"grpc_method": "GetProduct"}); got != 4 {
		t.Errorf("grpc_server_handling_seconds_count GetProduct = %v, want 4", got)
	}
	if got := gathered(t, m.Registry, "pgxpool_max_conns", nil); got != float64(testDB.Config.PoolMaxConns) {
		t.Errorf("pgxpool_max_conns = %v, want DB_POOL_MAX_CONNS %d", got, testDB.Config.PoolMaxConns)
	}
	if got := gathered(t, m.Registry, "pgxpool_acquires_total", nil); got < 3 {
		t.Errorf("pgxpool_acquires_total = %v after three calls that reached the store", got)
	}
	if got := gathered(t, m.Registry, "pgxpool_waiting_acquires", nil); got != 0 {
		t.Errorf("pgxpool_waiting_acquires = %v with no call running", got)
	}
	// This test's logsvc address is dead: the entries of the calls wait or retry.
	for _, name := range []string{"merch_log_shipper_queue_depth", "merch_log_shipper_sent_records_total",
		"merch_log_shipper_retried_batches_total", "merch_log_shipper_dropped_records_total"} {
		gathered(t, m.Registry, name, nil)
	}
}

// gathered is the value of the one series of name whose labels include want
// (a histogram's or summary's count); the test fails if there is none.
func gathered(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	t.Fatalf("no series %s with %v", name, want)
	return 0
}
