// Package record turns a LogEntry into the contract's JSON record for the
// Kafka topic log-channel, after checking that the entry carries what the
// record needs.
package record

import (
	"encoding/json"
	"fmt"
	"math"

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
	rec := &jsonRecord{
		TS:        e.GetTs().AsTime().UTC().Format(tsLayout),
		Level:     level,
		Service:   e.GetService(),
		Instance:  e.GetInstance(),
		RequestID: e.GetRequestId(),
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
