package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	logv1 "github.com/sustech-merch/store/gen/go/merchstore/log/v1"
	"github.com/sustech-merch/store/logsvc/internal/server"
)

var created = time.Date(2026, 5, 4, 3, 2, 1, 987654321, time.UTC)

func validEntry(requestID, message string) *logv1.LogEntry {
	return &logv1.LogEntry{
		Ts: timestamppb.New(created), Level: logv1.Level_LEVEL_INFO, Service: "db",
		Instance: "db-1", RequestId: requestID, Message: message,
	}
}

func withEventID(e *logv1.LogEntry, id string) *logv1.LogEntry {
	e.EventId = id
	return e
}

// send streams entries in one call and returns its answer, error and the
// accepted-count trailer.
func send(t *testing.T, conn *grpc.ClientConn, entries []*logv1.LogEntry) (*logv1.StreamLogsResponse, error, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var trailer metadata.MD
	stream, err := logv1.NewLogServiceClient(conn).StreamLogs(ctx, grpc.Trailer(&trailer))
	if err != nil {
		t.Fatalf("opening stream: %v", err)
	}
	// Several messages of several entries each, as the shippers send them: the
	// server numbers entries across messages.
	const entriesPerMessage = 2
	for start := 0; start < len(entries); start += entriesPerMessage {
		batch := entries[start:min(start+entriesPerMessage, len(entries))]
		// A server that fails early closes the stream; Send then reports io.EOF
		// and CloseAndRecv has the real status.
		if err := stream.Send(&logv1.StreamLogsRequest{Entries: batch}); err != nil {
			break
		}
	}
	res, err := stream.CloseAndRecv()
	return res, err, strings.Join(trailer.Get(server.AcceptedCountTrailer), ",")
}

func TestRecordsArriveAsContractJSONKeyedByRequestID(t *testing.T) {
	svc := startService(t, brokers, 5*time.Second)
	p := uniquePrefix(t)
	entries := []*logv1.LogEntry{
		{
			Ts: timestamppb.New(created), Level: logv1.Level_LEVEL_INFO, Service: "api", Instance: "api-2",
			RequestId: p + "a", Message: "POST /orders 201", EventId: "ev-1",
			Http: &logv1.HttpRequest{Method: "POST", Path: "/orders", Status: 201, LatencyMs: 12.5, UserId: proto.Int32(3)},
		},
		{
			Ts: timestamppb.New(created), Level: logv1.Level_LEVEL_WARNING, Service: "api", Instance: "api-1",
			RequestId: p + "b", Message: "GET /products 200", EventId: "ev-2",
			Http: &logv1.HttpRequest{Method: "GET", Path: "/products", Status: 200, LatencyMs: 0.25},
		},
		withEventID(validEntry(p+"a", "inserted order 9"), "ev-3"),
		{
			Ts: timestamppb.New(created), Level: logv1.Level_LEVEL_ERROR, Service: "db", Instance: "db-1",
			RequestId: p + "a", Message: "third record of request a", EventId: "ev-4",
		},
	}
	res, err, _ := send(t, svc.conn, entries)
	if err != nil {
		t.Fatalf("StreamLogs: %v", err)
	}
	if res.GetAcceptedCount() != int64(len(entries)) {
		t.Fatalf("accepted_count = %d, want %d", res.GetAcceptedCount(), len(entries))
	}

	want := map[string][]string{
		p + "a": {
			`{"ts":"2026-05-04T03:02:01.987Z","level":"INFO","service":"api","instance":"api-2","request_id":"` + p + `a","event_id":"ev-1","message":"POST /orders 201","method":"POST","path":"/orders","status":201,"latency_ms":12.5,"user_id":3}`,
			`{"ts":"2026-05-04T03:02:01.987Z","level":"INFO","service":"db","instance":"db-1","request_id":"` + p + `a","event_id":"ev-3","message":"inserted order 9"}`,
			`{"ts":"2026-05-04T03:02:01.987Z","level":"ERROR","service":"db","instance":"db-1","request_id":"` + p + `a","event_id":"ev-4","message":"third record of request a"}`,
		},
		p + "b": {
			`{"ts":"2026-05-04T03:02:01.987Z","level":"WARNING","service":"api","instance":"api-1","request_id":"` + p + `b","event_id":"ev-2","message":"GET /products 200","method":"GET","path":"/products","status":200,"latency_ms":0.25,"user_id":null}`,
		},
	}
	got := map[string][]string{}
	partitionOf := map[string]int{}
	for _, r := range consume(t, p, len(entries)) {
		got[r.key] = append(got[r.key], r.value)
		if first, seen := partitionOf[r.key]; seen && first != r.partition {
			t.Errorf("records of %s are in partitions %d and %d; one key must map to one partition", r.key, first, r.partition)
		}
		partitionOf[r.key] = r.partition
		var decoded map[string]any
		if err := json.Unmarshal([]byte(r.value), &decoded); err != nil {
			t.Errorf("record is not JSON: %s", r.value)
		}
	}
	for key, values := range want {
		if fmt.Sprint(got[key]) != fmt.Sprint(values) {
			t.Errorf("records with key %s, in partition order:\n got %q\nwant %q", key, got[key], values)
		}
	}
}

// At-least-once: a client that resends an entry (its call failed after Kafka
// had taken it) makes two records, and both carry the entry's event_id, also
// for an entry of an older sender without one, so a consumer can drop the copy.
func TestAResentEntryIsTwoRecordsWithOneEventID(t *testing.T) {
	svc := startService(t, brokers, 5*time.Second)
	p := uniquePrefix(t)
	withID := withEventID(validEntry(p+"r", "sent twice"), "resent-1")
	withoutID := validEntry(p+"r", "sent twice by an old sender")
	// The same key as the copies: the sentinel lands after them in their
	// partition, so reading up to it sees every copy there is.
	sentinel := withEventID(validEntry(p+"r", "sentinel"), "sentinel-1")
	for _, call := range [][]*logv1.LogEntry{{withID, withoutID}, {withID, withoutID}, {sentinel}} {
		if _, err, _ := send(t, svc.conn, call); err != nil {
			t.Fatalf("StreamLogs: %v", err)
		}
	}
	ids := map[string][]string{}
	for _, r := range consume(t, p, 5) {
		var rec struct {
			EventID string `json:"event_id"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal([]byte(r.value), &rec); err != nil {
			t.Fatal(err)
		}
		ids[rec.Message] = append(ids[rec.Message], rec.EventID)
	}
	if got := ids["sent twice"]; fmt.Sprint(got) != "[resent-1 resent-1]" {
		t.Errorf("event ids of the entry sent twice: %q, want the sender's twice", got)
	}
	derived := ids["sent twice by an old sender"]
	if len(derived) != 2 || derived[0] != derived[1] || !strings.HasPrefix(derived[0], "derived-") {
		t.Errorf("event ids of the old sender's entry sent twice: %q, want one derived id twice", derived)
	}
	if got := ids["sentinel"]; fmt.Sprint(got) != "[sentinel-1]" {
		t.Errorf("sentinel: %q", got)
	}
}

func TestSummaryCountsEveryEntryOfALongStream(t *testing.T) {
	svc := startService(t, brokers, 5*time.Second)
	p := uniquePrefix(t)
	// Not a multiple of the server's chunk size: the last, partial chunk must
	// be published too.
	const n = 1234
	entries := make([]*logv1.LogEntry, n)
	for i := range entries {
		entries[i] = validEntry(fmt.Sprintf("%s%d", p, i%50), fmt.Sprintf("entry %d", i))
	}
	res, err, _ := send(t, svc.conn, entries)
	if err != nil {
		t.Fatalf("StreamLogs: %v", err)
	}
	if res.GetAcceptedCount() != n {
		t.Fatalf("accepted_count = %d, want %d", res.GetAcceptedCount(), n)
	}
	messages := map[string]bool{}
	for _, r := range consume(t, p, n) {
		var rec struct{ Message string }
		if err := json.Unmarshal([]byte(r.value), &rec); err != nil {
			t.Fatal(err)
		}
		messages[rec.Message] = true
	}
	if len(messages) != n {
		t.Errorf("%d distinct entries in Kafka, want %d", len(messages), n)
	}

	res, err, _ = send(t, svc.conn, nil)
	if err != nil || res.GetAcceptedCount() != 0 {
		t.Errorf("empty stream: accepted_count %d, error %v; want 0, nil", res.GetAcceptedCount(), err)
	}
}

func TestMalformedEntryIsRejectedWithoutPoisoningTheStream(t *testing.T) {
	svc := startService(t, brokers, 5*time.Second)
	tests := []struct {
		field string
		edit  func(*logv1.LogEntry)
	}{
		{"level", func(e *logv1.LogEntry) { e.Level = logv1.Level_LEVEL_UNSPECIFIED }},
		{"service", func(e *logv1.LogEntry) { e.Service = "frontend" }},
		{"request_id", func(e *logv1.LogEntry) { e.RequestId = "" }},
		{"message", func(e *logv1.LogEntry) { e.Message = "" }},
		{"ts", func(e *logv1.LogEntry) { e.Ts = nil }},
		{"http.status", func(e *logv1.LogEntry) { e.Http = &logv1.HttpRequest{Method: "GET", Path: "/", Status: 7} }},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			p := uniquePrefix(t)
			bad := validEntry(p+"bad", "bad")
			tt.edit(bad)
			_, err, accepted := send(t, svc.conn, []*logv1.LogEntry{
				validEntry(p+"ok", "first"), validEntry(p+"ok", "second"), bad, validEntry(p+"ok", "after"),
			})
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("got %v, want INVALID_ARGUMENT", err)
			}
			if msg := status.Convert(err).Message(); !strings.Contains(msg, "entries[2]."+tt.field+":") {
				t.Errorf("detail %q does not name entries[2].%s (the first of the second message)", msg, tt.field)
			}
			if accepted != "3" {
				t.Errorf("accepted-count trailer = %q, want 3", accepted)
			}
			var messages []string
			for _, r := range consume(t, p, 3) {
				var rec struct{ Message string }
				_ = json.Unmarshal([]byte(r.value), &rec)
				messages = append(messages, rec.Message)
			}
			if fmt.Sprint(messages) != "[first second after]" {
				t.Errorf("published %q, want the valid entries before and after the bad one", messages)
			}

			// The next call on the same connection works as usual.
			res, err, _ := send(t, svc.conn, []*logv1.LogEntry{validEntry(p+"next", "next call")})
			if err != nil || res.GetAcceptedCount() != 1 {
				t.Fatalf("next call: accepted %d, error %v", res.GetAcceptedCount(), err)
			}
			consume(t, p+"next", 1)
		})
	}
}

func TestKafkaUnreachableFailsQuicklyWithUnavailable(t *testing.T) {
	// A port that refuses connections: listen, note it, close it.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := lis.Addr().String()
	lis.Close()

	svc := startService(t, []string{closed}, 2*time.Second)
	// send's own deadline is 20s: UNAVAILABLE rather than DEADLINE_EXCEEDED
	// means logsvc gave up by itself (the refused connection, or at the latest
	// its 2s publish timeout), not the client.
	_, err, _ = send(t, svc.conn, []*logv1.LogEntry{validEntry("r1", "m1"), validEntry("r2", "m2")})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("got %v, want UNAVAILABLE", err)
	}
	msg := status.Convert(err).Message()
	if !strings.Contains(msg, "send all entries of this call again") || !strings.Contains(msg, closed) {
		t.Errorf("detail %q should name the broker and tell the client to resend", msg)
	}
	waitForHealth(t, svc.conn, healthpb.HealthCheckResponse_NOT_SERVING)
}

func TestHealthServingWhileKafkaAnswers(t *testing.T) {
	svc := startService(t, brokers, 5*time.Second)
	waitForHealth(t, svc.conn, healthpb.HealthCheckResponse_SERVING)
}

func waitForHealth(t *testing.T, conn *grpc.ClientConn, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	client := healthpb.NewHealthClient(conn)
	var last any
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, name := range []string{"", logv1.LogService_ServiceDesc.ServiceName} {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			res, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: name})
			cancel()
			if err != nil {
				last = err
				break
			}
			last = res.GetStatus()
			if res.GetStatus() != want {
				break
			}
			if name != "" {
				return
			}
		}
	}
	t.Fatalf("health is %v, want %v", last, want)
}

// waitForShutdown waits until the server refuses new calls: it is shutting
// down (its listener is closed, the open connection is draining).
func waitForShutdown(t *testing.T, conn *grpc.ClientConn) {
	t.Helper()
	client := healthpb.NewHealthClient(conn)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if status.Code(err) == codes.Unavailable {
			return
		}
	}
	t.Fatal("the server still took new calls 10s after it was told to stop")
}

func TestShutdownFinishesOpenStreams(t *testing.T) {
	svc := startService(t, brokers, 5*time.Second)
	p := uniquePrefix(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, err := logv1.NewLogServiceClient(svc.conn).StreamLogs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := stream.Send(&logv1.StreamLogsRequest{Entries: []*logv1.LogEntry{validEntry(p+"r", fmt.Sprint("before stop ", i))}}); err != nil {
			t.Fatal(err)
		}
	}
	// The stream is open: StreamLogs returned once the connection was up and
	// its headers were on their way. The server takes it however soon it is
	// told to stop: grpc's graceful stop first announces the drain and only
	// refuses streams the client opened after it heard of it.
	stopped := make(chan struct{})
	go func() {
		svc.stop()
		close(stopped)
	}()
	waitForShutdown(t, svc.conn)
	if err := stream.Send(&logv1.StreamLogsRequest{Entries: []*logv1.LogEntry{validEntry(p+"r", "during shutdown")}}); err != nil {
		t.Fatalf("sending on an open stream during shutdown: %v", err)
	}
	res, err := stream.CloseAndRecv()
	if err != nil || res.GetAcceptedCount() != 11 {
		t.Fatalf("open stream during shutdown: accepted %d, error %v; want 11, nil", res.GetAcceptedCount(), err)
	}
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop after its last stream ended")
	}
	consume(t, p, 11)

	// Stopped means stopped: a new call fails.
	newCtx, newCancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer newCancel()
	if s, err := logv1.NewLogServiceClient(svc.conn).StreamLogs(newCtx); err == nil {
		if _, err := s.CloseAndRecv(); status.Code(err) != codes.Unavailable {
			t.Errorf("call after shutdown: %v, want UNAVAILABLE", err)
		}
	}
}
