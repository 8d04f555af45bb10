package server_test

import (
	"context"
	"sync"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/sustech-merch/store/dbsvc/internal/store"
	dbv1 "github.com/sustech-merch/store/gen/go/merchstore/db/v1"
)

// An idempotency key places at most one order per user: a repeat answers the
// first order and takes no stock, another request with the key is refused with
// IDEMPOTENCY_KEY_REUSED, another user's same key is theirs, and a forgotten key
// places anew.
func TestIdempotencyKeyPlacesOneOrder(t *testing.T) {
	s := startService(t, serviceOptions{})
	ctx := context.Background()
	buyer, other := newUser(t, s), newUser(t, s)
	product := newProduct(t, 100)
	key := "retry-" + unique()
	place := func(u *dbv1.User, quantity int32) (*dbv1.CreateOrderResponse, error) {
		return s.orders.CreateOrder(ctx, &dbv1.CreateOrderRequest{UserId: u.GetId(), ProductId: product, Quantity: quantity, IdempotencyKey: proto.String(key), CredentialsVersion: 1})
	}
	stock := func() int32 {
		p, err := s.products.GetProduct(ctx, &dbv1.GetProductRequest{Id: product})
		if err != nil {
			t.Fatal(err)
		}
		return p.GetProduct().GetStock()
	}

	first, err := place(buyer, 2)
	if err != nil || first.GetReplayed() {
		t.Fatalf("first: %v (replayed %v), want a new order", err, first.GetReplayed())
	}
	again, err := place(buyer, 2)
	if err != nil || !again.GetReplayed() || !proto.Equal(again.GetOrder(), first.GetOrder()) {
		t.Fatalf("repeat: %v, replayed %v, %v; want the first order %v, replayed", err, again.GetReplayed(), again.GetOrder(), first.GetOrder())
	}
	if got := stock(); got != 98 {
		t.Errorf("stock %d after a repeat, want 98: taken once", got)
	}

	_, err = place(buyer, 3)
	st := status.Convert(err)
	if st.Code() != codes.FailedPrecondition || reason(st) != store.ReasonIdempotencyKeyReused {
		t.Errorf("the key with another quantity: %v (reason %q), want FAILED_PRECONDITION %s", err, reason(st), store.ReasonIdempotencyKeyReused)
	}
	if got := stock(); got != 98 {
		t.Errorf("stock %d after the refused request, want 98", got)
	}

	theirs, err := place(other, 2)
	if err != nil || theirs.GetReplayed() || theirs.GetOrder().GetId() == first.GetOrder().GetId() {
		t.Errorf("another user's same key: %v, %v; want their own new order", err, theirs.GetOrder())
	}

	if _, err := s.store.ForgetOldIdempotencyKeys(ctx, 0); err != nil {
		t.Fatal(err)
	}
	anew, err := place(buyer, 2)
	if err != nil || anew.GetReplayed() || anew.GetOrder().GetId() == first.GetOrder().GetId() {
		t.Errorf("after the key was forgotten: %v, %v; want a new order", err, anew.GetOrder())
	}
}

// Concurrent copies of one request with one key place one order, and every copy
// answers it.
func TestConcurrentCopiesOfAnIdempotentRequestPlaceOneOrder(t *testing.T) {
	s := startService(t, serviceOptions{})
	ctx := context.Background()
	buyer := newUser(t, s)
	product := newProduct(t, 100)
	key := "copies-" + unique()
	const copies = 50
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		ids     = map[int32]int{}
		placed  int
		refused []error
	)
	for range copies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := s.orders.CreateOrder(ctx, &dbv1.CreateOrderRequest{UserId: buyer.GetId(), ProductId: product, Quantity: 1, IdempotencyKey: proto.String(key), CredentialsVersion: 1})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				refused = append(refused, err)
				return
			}
			ids[resp.GetOrder().GetId()]++
			if !resp.GetReplayed() {
				placed++
			}
		}()
	}
	wg.Wait()
	if len(refused) != 0 || len(ids) != 1 || placed != 1 {
		t.Errorf("%d copies: order ids %v, %d placed, refused %v; want one order, placed once, answered to all", copies, ids, placed, refused)
	}
	list, err := s.orders.ListOrders(ctx, &dbv1.ListOrdersRequest{UserId: buyer.GetId()})
	if err != nil || len(list.GetOrders()) != 1 {
		t.Errorf("the buyer has %d orders (%v), want 1", len(list.GetOrders()), err)
	}
	p, err := s.products.GetProduct(ctx, &dbv1.GetProductRequest{Id: product})
	if err != nil || p.GetProduct().GetStock() != 99 {
		t.Errorf("stock %d (%v), want 99", p.GetProduct().GetStock(), err)
	}
}

func reason(st *status.Status) string {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}
