package record_test

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	logv1 "github.com/sustech-merch/store/gen/go/merchstore/log/v1"
	"github.com/sustech-merch/store/logsvc/internal/record"
)

var ts = timestamppb.New(time.Date(2026, 3, 1, 12, 30, 45, 123456789, time.FixedZone("CST", 8*3600)))

func entry(edit func(*logv1.LogEntry)) *logv1.LogEntry {
	e := &logv1.LogEntry{
		Ts: ts, Level: logv1.Level_LEVEL_INFO, Service: "api", Instance: "api-1",
		RequestId: "req-1", Message: "GET /products 200", EventId: "0b9e3c1a-5f2d-4c47-9a51-6f0e8d2b7c11",
	}
	if edit != nil {
		edit(e)
	}
	return e
}

func TestEncodeValid(t *testing.T) {
	tests := []struct {
		name  string
		entry *logv1.LogEntry
		want  string
	}{
		{
			name:  "without http: only the common keys, ts in UTC with ms",
			entry: entry(nil),
			want:  `{"ts":"2026-03-01T04:30:45.123Z","level":"INFO","service":"api","instance":"api-1","request_id":"req-1","event_id":"0b9e3c1a-5f2d-4c47-9a51-6f0e8d2b7c11","message":"GET /products 200"}`,
		},
		{
			name: "anonymous http request: user_id null",
			entry: entry(func(e *logv1.LogEntry) {
				e.Http = &logv1.HttpRequest{Method: "GET", Path: "/products", Status: 200, LatencyMs: 1.23456}
			}),
			want: `{"ts":"2026-03-01T04:30:45.123Z","level":"INFO","service":"api","instance":"api-1","request_id":"req-1","event_id":"0b9e3c1a-5f2d-4c47-9a51-6f0e8d2b7c11","message":"GET /products 200","method":"GET","path":"/products","status":200,"latency_ms":1.235,"user_id":null}`,
		},
		{
			name: "signed-in request, db service, every level name",
			entry: entry(func(e *logv1.LogEntry) {
				e.Level = logv1.Level_LEVEL_WARNING
				e.Service = "db"
				e.Instance = ""
				e.Http = &logv1.HttpRequest{Method: "POST", Path: "/orders", Status: 409, LatencyMs: 0, UserId: proto.Int32(7)}
			}),
			want: `{"ts":"2026-03-01T04:30:45.123Z","level":"WARNING","service":"db","instance":"","request_id":"req-1","event_id":"0b9e3c1a-5f2d-4c47-9a51-6f0e8d2b7c11","message":"GET /products 200","method":"POST","path":"/orders","status":409,"latency_ms":0,"user_id":7}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := record.Encode(tt.entry)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if string(got.Value) != tt.want {
				t.Errorf("value\n got %s\nwant %s", got.Value, tt.want)
			}
			if string(got.Key) != "req-1" {
				t.Errorf("key = %q, want the request id", got.Key)
			}
		})
	}
	for level, name := range map[logv1.Level]string{
		logv1.Level_LEVEL_DEBUG: "DEBUG", logv1.Level_LEVEL_ERROR: "ERROR",
	} {
		got, err := record.Encode(entry(func(e *logv1.LogEntry) { e.Level = level }))
		if err != nil || !strings.Contains(string(got.Value), `"level":"`+name+`"`) {
			t.Errorf("level %v: got %s, %v", level, got.Value, err)
		}
	}
}

func TestEncodeRejects(t *testing.T) {
	tests := []struct {
		field string
		edit  func(*logv1.LogEntry)
	}{
		{"ts", func(e *logv1.LogEntry) { e.Ts = nil }},
		{"ts", func(e *logv1.LogEntry) { e.Ts = &timestamppb.Timestamp{Seconds: math.MaxInt64} }},
		{"level", func(e *logv1.LogEntry) { e.Level = logv1.Level_LEVEL_UNSPECIFIED }},
		{"level", func(e *logv1.LogEntry) { e.Level = 42 }},
		{"service", func(e *logv1.LogEntry) { e.Service = "" }},
		{"service", func(e *logv1.LogEntry) { e.Service = "web" }},
		{"request_id", func(e *logv1.LogEntry) { e.RequestId = "" }},
		{"request_id", func(e *logv1.LogEntry) { e.RequestId = strings.Repeat("r", 129) }},
		{"instance", func(e *logv1.LogEntry) { e.Instance = strings.Repeat("i", 129) }},
		{"message", func(e *logv1.LogEntry) { e.Message = "" }},
		{"message", func(e *logv1.LogEntry) { e.Message = strings.Repeat("m", 32<<10+1) }},
		{"event_id", func(e *logv1.LogEntry) { e.EventId = strings.Repeat("e", 65) }},
		{"event_id", func(e *logv1.LogEntry) { e.EventId = "has space" }},
		{"event_id", func(e *logv1.LogEntry) { e.EventId = "ctl\x1b" }},
		{"event_id", func(e *logv1.LogEntry) { e.EventId = "é" }},
		{"http.method", func(e *logv1.LogEntry) { e.Http = &logv1.HttpRequest{Path: "/", Status: 200} }},
		{"http.path", func(e *logv1.LogEntry) { e.Http = &logv1.HttpRequest{Method: "GET", Status: 200} }},
		{"http.status", func(e *logv1.LogEntry) { e.Http = &logv1.HttpRequest{Method: "GET", Path: "/", Status: 0} }},
		{"http.status", func(e *logv1.LogEntry) { e.Http = &logv1.HttpRequest{Method: "GET", Path: "/", Status: 600} }},
		{"http.latency_ms", func(e *logv1.LogEntry) {
			e.Http = &logv1.HttpRequest{Method: "GET", Path: "/", Status: 200, LatencyMs: math.NaN()}
		}},
		{"http.latency_ms", func(e *logv1.LogEntry) {
			e.Http = &logv1.HttpRequest{Method: "GET", Path: "/", Status: 200, LatencyMs: -1}
		}},
		{"http.user_id", func(e *logv1.LogEntry) {
			e.Http = &logv1.HttpRequest{Method: "GET", Path: "/", Status: 200, UserId: proto.Int32(0)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			_, err := record.Encode(entry(tt.edit))
			var fe *record.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Encode returned %v, want a *FieldError", err)
			}
			if fe.Field != tt.field {
				t.Errorf("field = %q (%v), want %q", fe.Field, err, tt.field)
			}
		})
	}
	if _, err := record.Encode(nil); err == nil {
		t.Error("Encode(nil) succeeded")
	}
}

func eventIDOf(t *testing.T, e *logv1.LogEntry) string {
	t.Helper()
	rec, err := record.Encode(e)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	var decoded struct {
		EventID *string `json:"event_id"`
	}
	if err := json.Unmarshal(rec.Value, &decoded); err != nil || decoded.EventID == nil {
		t.Fatalf("record %s has no event_id (%v)", rec.Value, err)
	}
	return *decoded.EventID
}

// An entry from a sender older than event_id gets an id derived from its
// content: the same entry resent keeps it, another entry gets another one.
func TestEventIDOfAnEntryWithoutOne(t *testing.T) {
	old := func(edit func(*logv1.LogEntry)) *logv1.LogEntry {
		return entry(func(e *logv1.LogEntry) {
			e.EventId = ""
			if edit != nil {
				edit(e)
			}
		})
	}
	first := eventIDOf(t, old(nil))
	if !strings.HasPrefix(first, "derived-") || len(first) > 64 {
		t.Errorf("derived event id %q: want derived-<hex>, at most 64 bytes", first)
	}
	if again := eventIDOf(t, old(nil)); again != first {
		t.Errorf("the same entry sent again got event id %q, then %q", first, again)
	}
	others := map[string]func(*logv1.LogEntry){
		"message":    func(e *logv1.LogEntry) { e.Message = "GET /products 201" },
		"ts":         func(e *logv1.LogEntry) { e.Ts = timestamppb.New(ts.AsTime().Add(time.Nanosecond)) },
		"request_id": func(e *logv1.LogEntry) { e.RequestId = "req-2" },
		"instance":   func(e *logv1.LogEntry) { e.Instance = "api-2" },
		"http":       func(e *logv1.LogEntry) { e.Http = &logv1.HttpRequest{Method: "GET", Path: "/", Status: 200} },
	}
	for field, edit := range others {
		if id := eventIDOf(t, old(edit)); id == first {
			t.Errorf("entries that differ in %s share the derived event id %q", field, id)
		}
	}
	// A sender's own id is kept as it is.
	if id := eventIDOf(t, entry(nil)); id != "0b9e3c1a-5f2d-4c47-9a51-6f0e8d2b7c11" {
		t.Errorf("event id %q, want the sender's", id)
	}
}
