// Package record turns a LogEntry into the contract's JSON record for the
// Kafka topic log-channel, after checking that the entry carries what the
// record needs.
package record

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"regexp"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"google.golang.org/protobuf/proto"

	logv1 "github.com/sustech-merch/store/gen/go/merchstore/log/v1"
)

// Limits keep one record far below Kafka's default 1 MiB message limit, so a
// valid entry can always be published and never poisons a batch.
const (
	maxRequestIDBytes = 128
	maxInstanceBytes  = 128
	maxMessageBytes   = 32 << 10
	maxPathBytes      = 2048
	maxMethodBytes    = 16
)

// eventIDRule is LogEntry.event_id's protovalidate rule, read from log.proto's
// descriptor: the proto states the limit once, for the senders and for this
// check.
var eventIDRule = func() *validate.StringRules {
	field := (&logv1.LogEntry{}).ProtoReflect().Descriptor().Fields().ByName("event_id")
	rules, _ := proto.GetExtension(field.Options(), validate.E_Field).(*validate.FieldRules)
	if rules.GetString() == nil || rules.GetString().GetMaxLen() == 0 || rules.GetString().Pattern == nil {
		panic("log.proto: LogEntry.event_id needs (buf.validate.field).string max_len and pattern")
	}
	return rules.GetString()
}()

var eventIDPattern = regexp.MustCompile(eventIDRule.GetPattern())

// derivedPrefix marks an event id that logsvc made for an entry without one
// (see eventID); a sender's own ids are UUIDs.
const derivedPrefix = "derived-"

// tsLayout is RFC 3339 with milliseconds; times are turned to UTC first, so
// the zone is always "Z".
const tsLayout = "2006-01-02T15:04:05.000Z07:00"

var levelNames = map[logv1.Level]string{
	logv1.Level_LEVEL_DEBUG:   "DEBUG",
	logv1.Level_LEVEL_INFO:    "INFO",
	logv1.Level_LEVEL_WARNING: "WARNING",
	logv1.Level_LEVEL_ERROR:   "ERROR",
}

var services = map[string]bool{"api": true, "db": true}

// Record is one Kafka message: the key is the request id, so all records of
// one request land in the same partition, in order.
type Record struct {
	Key   []byte
	Value []byte
}

// FieldError says which field of an entry is wrong and why.
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// jsonRecord's field order is the order of the keys in the JSON text.
type jsonRecord struct {
	TS        string `json:"ts"`
	Level     string `json:"level"`
	Service   string `json:"service"`
	Instance  string `json:"instance"`
	RequestID string `json:"request_id"`
	EventID   string `json:"event_id"`
	Message   string `json:"message"`
	// Embedded through a pointer: when nil, none of its keys appear, so only
	// the API's per-request records carry them.
	*HTTP
}

// HTTP holds the keys of an API request record. UserID is a pointer so an
// anonymous request is written as "user_id": null rather than left out.
type HTTP struct {
	Method    string  `json:"method"`
	Path      string  `json:"path"`
	Status    int32   `json:"status"`
	LatencyMS float64 `json:"latency_ms"`
	UserID    *int32  `json:"user_id"`
}

// Encode validates e and returns its Kafka record, or a *FieldError naming
// the first field that is missing or wrong.
func Encode(e *logv1.LogEntry) (Record, error) {
	rec, err := convert(e)
	if err != nil {
		return Record{}, err
	}
	value, err := json.Marshal(rec)
	if err != nil {
		// convert rules out what json cannot encode (NaN, infinity) and
		// protobuf has already refused invalid UTF-8, so this is a bug.
		return Record{}, fmt.Errorf("encoding log record as JSON: %w", err)
	}
	return Record{Key: []byte(rec.RequestID), Value: value}, nil
}

func convert(e *logv1.LogEntry) (*jsonRecord, error) {
	if e == nil {
		return nil, &FieldError{"entry", "must be set"}
	}
	if e.GetTs() == nil {
		return nil, &FieldError{"ts", "must be set to when the entry was created"}
	}
	if err := e.GetTs().CheckValid(); err != nil {
		return nil, &FieldError{"ts", "is not a valid timestamp"}
	}
	level, ok := levelNames[e.GetLevel()]
	if !ok {
		return nil, &FieldError{"level", fmt.Sprintf("is %s, must be one of DEBUG, INFO, WARNING, ERROR", e.GetLevel())}
	}
	if !services[e.GetService()] {
		return nil, &FieldError{"service", fmt.Sprintf("is %q, must be \"api\" or \"db\"", e.GetService())}
	}
	if err := text("instance", e.GetInstance(), false, maxInstanceBytes); err != nil {
		return nil, err
	}
	if err := text("request_id", e.GetRequestId(), true, maxRequestIDBytes); err != nil {
		return nil, err
	}
	if err := text("message", e.GetMessage(), true, maxMessageBytes); err != nil {
		return nil, err
	}
	if err := text("event_id", e.GetEventId(), false, int(eventIDRule.GetMaxLen())); err != nil {
		return nil, err
	}
	if !eventIDPattern.MatchString(e.GetEventId()) {
		return nil, &FieldError{"event_id", "must match " + eventIDRule.GetPattern() + " (printable ASCII, no spaces)"}
	}
	id, err := eventID(e)
	if err != nil {
		return nil, err
	}
	rec := &jsonRecord{
		TS:        e.GetTs().AsTime().UTC().Format(tsLayout),
		Level:     level,
		Service:   e.GetService(),
		Instance:  e.GetInstance(),
		RequestID: e.GetRequestId(),
		EventID:   id,
		Message:   e.GetMessage(),
	}
	if e.Http != nil {
		h, err := convertHTTP(e.GetHttp())
		if err != nil {
			return nil, err
		}
		rec.HTTP = h
	}
	return rec, nil
}

// eventID is the entry's own event id, or, for an entry without one (a sender
// older than the field), one derived from everything the entry holds: a resent
// copy of such an entry gets the same id again, so consumers can still drop it,
// and two entries differ in it unless they are equal to the nanosecond. A fresh
// random id here would make every resend look new.
func eventID(e *logv1.LogEntry) (string, error) {
	if e.GetEventId() != "" {
		return e.GetEventId(), nil
	}
	// Deterministic: the same entry always marshals to the same bytes in one
	// build; a logsvc of another protobuf version might derive another id,
	// which at worst lets a duplicate of an old sender's entry through.
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(e)
	if err != nil {
		// An entry that arrived over gRPC always marshals again: a bug.
		return "", fmt.Errorf("deriving an event id: %w", err)
	}
	sum := sha256.Sum256(data)
	return derivedPrefix + hex.EncodeToString(sum[:16]), nil
}

func convertHTTP(h *logv1.HttpRequest) (*HTTP, error) {
	if err := text("http.method", h.GetMethod(), true, maxMethodBytes); err != nil {
		return nil, err
	}
	if err := text("http.path", h.GetPath(), true, maxPathBytes); err != nil {
		return nil, err
	}
	if h.GetStatus() < 100 || h.GetStatus() > 599 {
		return nil, &FieldError{"http.status", fmt.Sprintf("is %d, must be an HTTP status code (100-599)", h.GetStatus())}
	}
	latency := h.GetLatencyMs()
	if math.IsNaN(latency) || math.IsInf(latency, 0) || latency < 0 {
		return nil, &FieldError{"http.latency_ms", fmt.Sprintf("is %v, must be a finite number >= 0", latency)}
	}
	out := &HTTP{
		Method: h.GetMethod(),
		Path:   h.GetPath(),
		Status: h.GetStatus(),
		// Microsecond precision is all a reader needs and keeps records short.
		LatencyMS: math.Round(latency*1000) / 1000,
	}
	if h.UserId != nil {
		if h.GetUserId() < 1 {
			return nil, &FieldError{"http.user_id", fmt.Sprintf("is %d, must be >= 1 or unset for an anonymous request", h.GetUserId())}
		}
		id := h.GetUserId()
		out.UserID = &id
	}
	return out, nil
}

func text(field, value string, required bool, maxBytes int) error {
	switch {
	case required && value == "":
		return &FieldError{field, "must not be empty"}
	case len(value) > maxBytes:
		return &FieldError{field, fmt.Sprintf("is %d bytes long, at most %d allowed", len(value), maxBytes)}
	}
	return nil
}
