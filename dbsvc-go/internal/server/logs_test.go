package server_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/sustech-merch/store/dbsvc/internal/logship"
	dbv1 "github.com/sustech-merch/store/gen/go/merchstore/db/v1"
	logv1 "github.com/sustech-merch/store/gen/go/merchstore/log/v1"
)

// logsvc is an in-test LogService: it keeps what it receives, and fails the
// first failFirst calls with UNAVAILABLE as logsvc does when Kafka is down.
type logsvc struct {
	logv1.UnimplementedLogServiceServer
	addr string

	mu        sync.Mutex
	failFirst int
	calls     int
	entries   []*logv1.LogEntry // of the calls answered OK
	received  []*logv1.LogEntry // of every call, failed ones too
}

func startLogsvc(t *testing.T, failFirst int) *logsvc {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &logsvc{addr: lis.Addr().String(), failFirst: failFirst}
	srv := grpc.NewServer()
	logv1.RegisterLogServiceServer(srv, l)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return l
}

func (l *logsvc) StreamLogs(stream grpc.ClientStreamingServer[logv1.StreamLogsRequest, logv1.StreamLogsResponse]) error {
	var got []*logv1.LogEntry
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		got = append(got, req.GetEntries()...)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	l.received = append(l.received, got...)
	if l.calls <= l.failFirst {
		return status.Error(codes.Unavailable, "kafka did not acknowledge")
	}
	l.entries = append(l.entries, got...)
	return stream.SendAndClose(&logv1.StreamLogsResponse{AcceptedCount: int64(len(got))})
}

// waitEntry returns the first entry with this request id, failing after 5 s.
func (l *logsvc) waitEntry(t *testing.T, requestID string) *logv1.LogEntry {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		for _, e := range l.entries {
			if e.GetRequestId() == requestID {
				l.mu.Unlock()
				return e
			}
		}
		l.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no log entry with request_id %q reached logsvc within 5s", requestID)
	return nil
}

func withRequestID(id string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "x-request-id", id)
}

func TestWritesAreLoggedToLogsvc(t *testing.T) {
	// Two failed calls first: the shipper must retry, not lose the entries.
	l := startLogsvc(t, 2)
	s := startService(t, serviceOptions{logsvcAddr: l.addr})

	n := unique()
	created, err := s.users.CreateUser(withRequestID("req-create-"+n), &dbv1.CreateUserRequest{Sid: "L" + n, Username: "logged_" + n, Password: "logged-password"})
	if err != nil {
		t.Fatal(err)
	}
	e := l.waitEntry(t, "req-create-"+n)
	if e.GetService() != "db" || e.GetInstance() != "db-test" || e.GetLevel() != logv1.Level_LEVEL_INFO || e.GetMessage() == "" || e.GetTs() == nil {
		t.Errorf("entry %v, want service db, instance db-test, level INFO, a message and a time", e)
	}
	// The two failed calls and the accepted one carried the entry with one
	// event id, which is what lets a consumer drop copies of a retried entry.
	var ids []string
	l.mu.Lock()
	for _, r := range l.received {
		if r.GetRequestId() == "req-create-"+n {
			ids = append(ids, r.GetEventId())
		}
	}
	l.mu.Unlock()
	if len(ids) != 3 || ids[0] == "" || ids[1] != ids[0] || ids[2] != ids[0] {
		t.Errorf("event ids of the entry in the 2 failed calls and the accepted one: %q, want one id 3 times", ids)
	}

	order, err := s.orders.CreateOrder(withRequestID("req-order"), &dbv1.CreateOrderRequest{UserId: created.GetUser().GetId(), ProductId: 2, Quantity: 1, CredentialsVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	l.waitEntry(t, "req-order")
	if _, err := s.orders.CancelOrder(withRequestID("req-cancel"), &dbv1.CancelOrderRequest{Id: order.GetOrder().GetId(), UserId: created.GetUser().GetId(), CredentialsVersion: 1}); err != nil {
		t.Fatal(err)
	}
	l.waitEntry(t, "req-cancel")
	if _, err := s.users.DeactivateUser(withRequestID("req-deactivate"), &dbv1.DeactivateUserRequest{Id: created.GetUser().GetId(), CurrentPassword: "logged-password", CredentialsVersion: 1}); err != nil {
		t.Fatal(err)
	}
	l.waitEntry(t, "req-deactivate")
	if n := s.shipper.Dropped(); n != 0 {
		t.Errorf("%d entries dropped", n)
	}
}

// A logsvc that hangs (takes the connection, never answers) is the worst
// case for an RPC that waited for its log entry: the shipper's call to it
// lasts minutes here, so such an RPC would hang, and each must return.
func TestRPCsWorkWithLogsvcHanging(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	called := make(chan struct{})
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for first := true; ; first = false {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			if first {
				close(called)
			}
		}
	}()
	t.Cleanup(func() {
		lis.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	s := startService(t, serviceOptions{logsvcAddr: lis.Addr().String(),
		shipper: &logship.Options{Linger: 10 * time.Millisecond, CallTimeout: 10 * time.Minute}})

	// The deadlines only tell returning from hanging; they bound no speed.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	n := unique()
	created, err := s.users.CreateUser(ctx, &dbv1.CreateUserRequest{Sid: "H" + n, Username: "hangs_" + n, Password: "hanging-password"})
	cancel()
	if err != nil {
		t.Fatal(err) // its entry sends the shipper into the hanging call
	}
	u := created.GetUser()
	select {
	case <-called:
	case <-time.After(30 * time.Second):
		t.Fatal("the shipper did not call logsvc")
	}
	for i := range 20 {
		ctx, cancel := context.WithTimeout(withRequestID("logsvc-hangs"), 30*time.Second)
		_, err := s.orders.CreateOrder(ctx, &dbv1.CreateOrderRequest{UserId: u.GetId(), ProductId: 1, Quantity: 1, CredentialsVersion: 1})
		cancel()
		if err != nil {
			t.Fatalf("call %d with logsvc hanging: %v", i, err)
		}
	}
}

// An unexpected failure answers INTERNAL without the driver's text, and its
// ERROR entry reaches logsvc with the caller's request id.
func TestInternalErrorIsLoggedNotShown(t *testing.T) {
	l := startLogsvc(t, 0)
	s := startService(t, serviceOptions{logsvcAddr: l.addr})
	buyer := newUser(t, s)
	// The schema lets orders.user_id be NULL, which no RPC writes and the
	// service cannot read back. Cancelled, so that the stock invariant the
	// concurrency test checks still holds.
	ctx := context.Background()
	conn, err := testDB.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var id int32
	if err := conn.QueryRow(ctx, `INSERT INTO orders (product_id, quantity, total_price, status, cancelled_at)
		VALUES (1, 1, 49.99, 'cancelled', now()) RETURNING id`).Scan(&id); err != nil {
		t.Fatal(err)
	}

	_, err = s.orders.GetOrder(withRequestID("req-internal"), &dbv1.GetOrderRequest{Id: id, UserId: buyer.GetId()})
	wantCode(t, err, codes.Internal)
	if msg := status.Convert(err).Message(); strings.Contains(msg, "NULL") || strings.Contains(msg, "scan") || !strings.Contains(msg, "req-internal") {
		t.Errorf("detail %q: want a generic message with the request id and no driver text", msg)
	}
	e := l.waitEntry(t, "req-internal")
	if e.GetLevel() != logv1.Level_LEVEL_ERROR || !strings.Contains(e.GetMessage(), "GetOrder") {
		t.Errorf("entry %v, want an ERROR naming GetOrder", e)
	}
}
