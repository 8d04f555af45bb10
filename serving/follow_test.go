package serving

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func TestFollowSetsEveryNameFromTheDependencyAndLogsEachChangeOnce(t *testing.T) {
	s := NewServer(nil, []string{"", "shop.v1.Orders"})
	var down atomic.Bool
	down.Store(true)
	var calls atomic.Int32
	dep := Dependency{
		Name: "the database",
		Check: func(context.Context) error {
			calls.Add(1)
			if down.Load() {
				return errors.New("connection refused")
			}
			return nil
		},
		Interval: time.Hour, // only Recheck may bring the next check
		Recheck:  10 * time.Millisecond,
	}
	var logs bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Follow(ctx, dep, slog.New(slog.NewTextHandler(&logs, nil))); close(done) }()

	status := func(name string) healthpb.HealthCheckResponse_ServingStatus {
		answer, err := s.Health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: name})
		if err != nil {
			t.Fatal(err)
		}
		return answer.GetStatus()
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	waitFor("three failed checks", func() bool { return calls.Load() >= 3 })
	if status("") != healthpb.HealthCheckResponse_NOT_SERVING || status("shop.v1.Orders") != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatal("not NOT_SERVING while the dependency fails")
	}
	down.Store(false)
	waitFor("SERVING", func() bool {
		return status("") == healthpb.HealthCheckResponse_SERVING && status("shop.v1.Orders") == healthpb.HealthCheckResponse_SERVING
	})
	cancel()
	<-done
	text := logs.String()
	if strings.Count(text, "the database does not answer") != 1 || strings.Count(text, "the database answers") != 1 {
		t.Fatalf("each change logged once, got:\n%s", text)
	}
}
