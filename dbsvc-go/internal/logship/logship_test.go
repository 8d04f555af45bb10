package logship_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sustech-merch/store/dbsvc/internal/logship"
	logv1 "github.com/sustech-merch/store/gen/go/merchstore/log/v1"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// blackHole accepts connections and never answers on them: a call to it waits
// until its own deadline, as to a logsvc that hangs. accepted is closed on the
// first connection, which the client makes only for a call.
type blackHole struct {
	addr     string
	accepted chan struct{}
}

func startBlackHole(t *testing.T) *blackHole {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackHole{addr: lis.Addr().String(), accepted: make(chan struct{})}
	var (
		mu    sync.Mutex
		conns []net.Conn
		once  sync.Once
	)
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			once.Do(func() { close(b.accepted) })
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
	return b
}

// within fails the test unless done is closed in time. The time only tells
// "returns" from "hangs until the stuck call's own deadline" (minutes), so it
// is generous: it is no bound on speed.
func within(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not return", what)
	}
}

// With logsvc hanging, Send must neither block nor grow memory: what does not
// fit in the buffer is dropped and counted, and Close gives up when its
// context ends instead of waiting for the call.
func TestSendNeverBlocksAndCountsDrops(t *testing.T) {
	hole := startBlackHole(t)
	s, err := logship.New(hole.addr, "db", "db-test",
		logship.Options{Buffer: 10, MaxBatch: 5, CallTimeout: 10 * time.Minute}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	s.Send(logv1.Level_LEVEL_INFO, "r", "m")
	within(t, hole.accepted, "the shipper's call to logsvc")
	// The shipper now waits in a call that will not end for minutes.
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for range 999 {
			s.Send(logv1.Level_LEVEL_INFO, "r", "m")
		}
	}()
	within(t, sent, "Send with the shipper stuck in a call")
	if n := s.Dropped(); n != 999-10 {
		t.Errorf("dropped %d while the buffer of 10 was full, want %d", n, 999-10)
	}

	closed := make(chan struct{})
	go func() {
		defer close(closed)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		s.Close(ctx)
	}()
	within(t, closed, "Close with a 300ms deadline")
	if n := s.Dropped(); n != 1000 {
		t.Errorf("dropped %d, want all 1000 (none could be delivered)", n)
	}
}

// flakyLogsvc fails its first failFirst calls with UNAVAILABLE, as logsvc does
// when Kafka did not take the entries, and keeps the entries of every call.
type flakyLogsvc struct {
	logv1.UnimplementedLogServiceServer
	failFirst int

	mu       sync.Mutex
	calls    [][]*logv1.LogEntry
	accepted chan struct{} // closed when a call is answered OK
}

func (l *flakyLogsvc) StreamLogs(stream grpc.ClientStreamingServer[logv1.StreamLogsRequest, logv1.StreamLogsResponse]) error {
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
	l.calls = append(l.calls, got)
	if len(l.calls) <= l.failFirst {
		return status.Error(codes.Unavailable, "kafka did not acknowledge")
	}
	if len(l.calls) == l.failFirst+1 {
		close(l.accepted)
	}
	return stream.SendAndClose(&logv1.StreamLogsResponse{AcceptedCount: int64(len(got))})
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// A batch sent again after a failed call carries the same entries with the
// same event ids: the copies a consumer may see are recognisably one entry.
func TestARetriedBatchKeepsItsEventIDs(t *testing.T) {
	l := &flakyLogsvc{failFirst: 2, accepted: make(chan struct{})}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	logv1.RegisterLogServiceServer(srv, l)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	s, err := logship.New(lis.Addr().String(), "db", "db-test",
		logship.Options{Linger: 200 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	for i := range 3 {
		s.Send(logv1.Level_LEVEL_INFO, fmt.Sprint("retried-", i), "m")
	}
	within(t, l.accepted, "delivery after two failed calls")

	l.mu.Lock()
	defer l.mu.Unlock()
	var first []string
	for _, e := range l.calls[0] {
		first = append(first, e.GetEventId())
	}
	seen := map[string]bool{}
	for _, id := range first {
		if !uuidV4.MatchString(id) || seen[id] {
			t.Errorf("event ids %q: want a distinct random UUID each", first)
			break
		}
		seen[id] = true
	}
	for i, call := range l.calls {
		var ids []string
		for _, e := range call {
			ids = append(ids, e.GetEventId())
		}
		if fmt.Sprint(ids) != fmt.Sprint(first) {
			t.Errorf("call %d sent event ids %q, the first call %q", i+1, ids, first)
		}
	}
	if len(l.calls) != 3 {
		t.Errorf("%d calls, want 2 failed and 1 accepted", len(l.calls))
	}
}
