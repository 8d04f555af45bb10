package server_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	dbv1 "github.com/sustech-merch/store/gen/go/merchstore/db/v1"
)

// TestConcurrentOrdersKeepStock has 200 clients order one product (1 to 3
// at a time) until it is sold out, a quarter of them cancelling some of
// their orders meanwhile. Afterwards, for every product, initial stock =
// stock + sum of quantities of placed orders, and the rows match what the
// clients were told.
func TestConcurrentOrdersKeepStock(t *testing.T) {
	const (
		clients = 200
		initial = 500
	)
	s := startService(t, serviceOptions{})
	product := newProduct(t, initial)
	buyers := make([]*dbv1.User, 10)
	for i := range buyers {
		buyers[i] = newUser(t, s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var placed, cancelled, soldQty, refusedStock atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buyer := buyers[c%len(buyers)]
			canceller := c%4 == 0
			for {
				q := rand.Int32N(3) + 1
				resp, err := s.orders.CreateOrder(ctx, &dbv1.CreateOrderRequest{UserId: buyer.GetId(), ProductId: product, Quantity: q, CredentialsVersion: 1})
				if status.Code(err) == codes.FailedPrecondition {
					refusedStock.Add(1)
					if q == 1 {
						return // not even one left: sold out
					}
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				placed.Add(1)
				soldQty.Add(int64(q))
				if canceller && rand.IntN(2) == 0 {
					if _, err := s.orders.CancelOrder(ctx, &dbv1.CancelOrderRequest{Id: resp.GetOrder().GetId(), UserId: buyer.GetId(), CredentialsVersion: 1}); err != nil {
						errs <- err
						return
					}
					cancelled.Add(1)
					soldQty.Add(-int64(q))
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("unexpected error: %v", err)
	}
	t.Logf("%d orders placed, %d cancelled, %d refused for stock", placed.Load(), cancelled.Load(), refusedStock.Load())
	if cancelled.Load() == 0 || refusedStock.Load() == 0 {
		t.Errorf("the run did not exercise both cancelling and selling out")
	}

	conn, err := testDB.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var rows, cancelledRows, placedQty int64
	if err := conn.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE status = 'cancelled'),
			COALESCE(sum(quantity) FILTER (WHERE status = 'placed'), 0) FROM orders WHERE product_id = $1`, product).
		Scan(&rows, &cancelledRows, &placedQty); err != nil {
		t.Fatal(err)
	}
	if rows != placed.Load() || cancelledRows != cancelled.Load() || placedQty != soldQty.Load() {
		t.Errorf("rows: %d orders, %d cancelled, %d placed quantity; clients were told %d, %d, %d",
			rows, cancelledRows, placedQty, placed.Load(), cancelled.Load(), soldQty.Load())
	}

	// The invariant for every product, including the ones other tests
	// ordered from; initial stock is 500 for the seeded products and what
	// newProduct inserted for the rest.
	prods, err := conn.Query(ctx, `SELECT p.id, p.stock, COALESCE(sum(o.quantity) FILTER (WHERE o.status = 'placed'), 0)
		FROM products p LEFT JOIN orders o ON o.product_id = p.id GROUP BY p.id ORDER BY p.id`)
	if err != nil {
		t.Fatal(err)
	}
	defer prods.Close()
	for prods.Next() {
		var id, stock int32
		var placedSum int64
		if err := prods.Scan(&id, &stock, &placedSum); err != nil {
			t.Fatal(err)
		}
		want := initialStock(id)
		if stock < 0 || int64(stock)+placedSum != int64(want) {
			t.Errorf("product %d: stock %d + placed %d != initial %d", id, stock, placedSum, want)
		}
	}
	if err := prods.Err(); err != nil {
		t.Fatal(err)
	}
}
