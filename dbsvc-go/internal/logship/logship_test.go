package logship_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/sustech-merch/store/dbsvc/internal/logship"
	logv1 "github.com/sustech-merch/store/gen/go/merchstore/log/v1"
)

// With logsvc down, Send must neither block nor grow memory: what does not
// fit in the buffer is dropped and counted, and Close gives up in time.
func TestSendNeverBlocksAndCountsDrops(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := lis.Addr().String()
	lis.Close()
	s, err := logship.New(dead, "db", "db-test", logship.Options{Buffer: 10, MaxBatch: 5}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for range 1000 {
		s.Send(logv1.Level_LEVEL_INFO, "r", "m")
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("1000 sends took %s", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	s.Close(ctx)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %s with a 300ms deadline", d)
	}
	if n := s.Dropped(); n != 1000 {
		t.Errorf("dropped %d, want all 1000 (none could be delivered)", n)
	}
}
