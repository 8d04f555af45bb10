package server_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sustech-merch/store/dbsvc/internal/config"
	dbv1 "github.com/sustech-merch/store/gen/go/merchstore/db/v1"
)

// modes are the two ways the service gets a connection, the difference
// between their results being what the pool is worth, and the pool in
// plaintext, whose difference from the first is what mutual TLS costs.
var modes = []struct {
	name      string
	change    func(*config.Config)
	plaintext bool
}{
	{"pool", nil, false},
	{"connect-per-call", func(c *config.Config) { c.ConnectPerCall = true }, false},
	{"pool-plaintext", nil, true},
}

// BenchmarkGetProduct measures one read RPC end to end: gRPC over loopback
// TCP, a connection, one prepared statement.
func BenchmarkGetProduct(b *testing.B) {
	for _, mode := range modes {
		s := startService(b, serviceOptions{change: mode.change, plaintext: mode.plaintext})
		b.Run(mode.name, func(b *testing.B) {
			measure(b, func(ctx context.Context) error {
				_, err := s.products.GetProduct(ctx, &dbv1.GetProductRequest{Id: 1})
				return err
			})
		})
	}
}

// BenchmarkPlaceAndCancelOrder measures the two write transactions: one
// iteration places an order of one item and cancels it, so the stock never
// runs out however long it runs.
func BenchmarkPlaceAndCancelOrder(b *testing.B) {
	for _, mode := range modes {
		s := startService(b, serviceOptions{change: mode.change, plaintext: mode.plaintext})
		buyer := newUser(b, s)
		product := newProduct(b, 500)
		b.Run(mode.name, func(b *testing.B) {
			measure(b, func(ctx context.Context) error {
				o, err := s.orders.CreateOrder(ctx, &dbv1.CreateOrderRequest{UserId: buyer.GetId(), ProductId: product, Quantity: 1, CredentialsVersion: 1})
				if err == nil {
					_, err = s.orders.CancelOrder(ctx, &dbv1.CancelOrderRequest{Id: o.GetOrder().GetId(), UserId: buyer.GetId(), CredentialsVersion: 1})
				}
				return err
			})
		})
	}
}

// measure runs call from parallel goroutines and reports, beside ns/op, what
// make bench prints: iterations per second and their p50 and p99 latency.
func measure(b *testing.B, call func(context.Context) error) {
	var (
		mu        sync.Mutex
		latencies []time.Duration
	)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		var mine []time.Duration
		for pb.Next() {
			began := time.Now()
			if err := call(ctx); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(began))
		}
		mu.Lock()
		latencies = append(latencies, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	if len(latencies) == 0 {
		return
	}
	slices.Sort(latencies)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(float64(len(latencies))/elapsed.Seconds(), "ops/s")
	b.ReportMetric(ms(latencies[len(latencies)/2]), "p50-ms")
	b.ReportMetric(ms(latencies[len(latencies)*99/100]), "p99-ms")
}
