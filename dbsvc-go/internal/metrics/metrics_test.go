package metrics

import (
	"context"
	"testing"

	"google.golang.org/grpc"
)

// BenchmarkUnaryInterceptor is what the gRPC metrics add to each call: the
// interceptor around a handler that does nothing (bench/metrics_cost.py
// compares it with a real call's CPU).
func BenchmarkUnaryInterceptor(b *testing.B) {
	m := New()
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
