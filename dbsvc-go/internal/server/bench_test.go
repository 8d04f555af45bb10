package server_test

import (
	"context"
	"testing"

	"github.com/sustech-merch/store/dbsvc/internal/config"
	dbv1 "github.com/sustech-merch/store/gen/go/merchstore/db/v1"
)

// modes are the two ways the service gets a connection; the difference
// between their results is what the pool is worth.
var modes = []struct {
	name   string
	change func(*config.Config)
}{
	{"pool", nil},
	{"connect-per-call", func(c *config.Config) { c.ConnectPerCall = true }},
}

// BenchmarkGetProduct measures one read RPC end to end: gRPC over loopback
// TCP, a connection, one prepared statement.
func BenchmarkGetProduct(b *testing.B) {
	for _, mode := range modes {
		s := startService(b, serviceOptions{change: mode.change})
		b.Run(mode.name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := s.products.GetProduct(context.Background(), &dbv1.GetProductRequest{Id: 1}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkPlaceAndCancelOrder measures the two write transactions: one
// iteration places an order of one item and cancels it, so the stock never
// runs out however long it runs.
func BenchmarkPlaceAndCancelOrder(b *testing.B) {
	for _, mode := range modes {
		s := startService(b, serviceOptions{change: mode.change})
		buyer := newUser(b, s)
		product := newProduct(b, 500)
		b.Run(mode.name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					o, err := s.orders.CreateOrder(ctx, &dbv1.CreateOrderRequest{UserId: buyer.GetId(), ProductId: product, Quantity: 1})
					if err == nil {
						_, err = s.orders.CancelOrder(ctx, &dbv1.CancelOrderRequest{Id: o.GetOrder().GetId(), UserId: buyer.GetId()})
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
