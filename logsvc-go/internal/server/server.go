// Package server implements merchstore.log.v1.LogService: it validates the
// entries of each stream, publishes them to Kafka and answers once Kafka has
// acknowledged them.
package server

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	logv1 "github.com/sustech-merch/store/gen/go/merchstore/log/v1"
	"github.com/sustech-merch/store/logsvc/internal/publisher"
	"github.com/sustech-merch/store/logsvc/internal/record"
)

// chunkSize entries are published together while the stream goes on, so a
// long stream needs bounded memory and one chunk fills one Kafka batch.
const chunkSize = 500

// maxListedRejections bounds the error detail of a stream full of bad entries.
const maxListedRejections = 10

// AcceptedCountTrailer carries accepted_count when a call fails, because a
// failed call has no StreamLogsResponse.
const AcceptedCountTrailer = "accepted-count"

// LogService is the StreamLogs handler.
type LogService struct {
	logv1.UnimplementedLogServiceServer
	pub    *publisher.Publisher
	logger *slog.Logger
}

// New returns the handler; pub is shared by all streams.
func New(pub *publisher.Publisher, logger *slog.Logger) *LogService {
	return &LogService{pub: pub, logger: logger}
}

// StreamLogs publishes the stream's entries in order.
//
// A malformed entry does not stop the stream: it is skipped, the entries
// before and after it are still published, and once the client has closed
// the stream the call fails with INVALID_ARGUMENT naming each rejected
// entry by position (entries[i], 0-based) and field. The valid entries of
// that call ARE in Kafka (the accepted-count trailer says how many), so the
// client must not resend them; later calls are unaffected.
//
// If Kafka does not acknowledge a chunk, the call fails at once with
// UNAVAILABLE and the client resends every entry of the call; chunks that
// were acknowledged before the failure are then written twice
// (at-least-once). UNAVAILABLE wins over INVALID_ARGUMENT.
func (s *LogService) StreamLogs(stream grpc.ClientStreamingServer[logv1.StreamLogsRequest, logv1.StreamLogsResponse]) error {
	start := time.Now()
	res, err := s.streamLogs(stream)
	stream.SetTrailer(metadata.Pairs(AcceptedCountTrailer, strconv.FormatInt(res.accepted, 10)))
	attrs := []any{"received", res.received, "accepted", res.accepted, "rejected", res.rejected,
		"duration_ms", float64(time.Since(start).Microseconds()) / 1000}
	if err != nil {
		st := toStatus(err)
		s.logger.Warn("StreamLogs failed", append(attrs, "error", err)...)
		return st
	}
	s.logger.Debug("StreamLogs done", attrs...)
	return stream.SendAndClose(&logv1.StreamLogsResponse{AcceptedCount: res.accepted})
}

type result struct {
	received, rejected int
	accepted           int64
}

func (s *LogService) streamLogs(stream grpc.ClientStreamingServer[logv1.StreamLogsRequest, logv1.StreamLogsResponse]) (result, error) {
	var (
		res      result
		chunk    = make([]record.Record, 0, chunkSize)
		rejected []error
	)
	publish := func() error {
		if len(chunk) == 0 {
			return nil
		}
		if err := s.pub.Publish(stream.Context(), chunk); err != nil {
			return fmt.Errorf("publishing entries[%d..%d] after %d acknowledged ones: %w",
				res.received-len(chunk), res.received-1, res.accepted, err)
		}
		res.accepted += int64(len(chunk))
		// A new slice, not chunk[:0]: the writer may still hold the old one
		// when the context was cancelled.
		chunk = make([]record.Record, 0, chunkSize)
		return nil
	}
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return res, fmt.Errorf("receiving entries[%d]: %w", res.received, err)
		}
		for _, entry := range req.GetEntries() {
			rec, err := record.Encode(entry)
			res.received++
			if err != nil {
				res.rejected++
				if len(rejected) < maxListedRejections {
					rejected = append(rejected, fmt.Errorf("entries[%d].%w", res.received-1, err))
				}
				continue
			}
			chunk = append(chunk, rec)
			if len(chunk) == chunkSize {
				if err := publish(); err != nil {
					return res, err
				}
			}
		}
	}
	if err := publish(); err != nil {
		return res, err
	}
	if res.rejected > 0 {
		return res, &invalidEntriesError{res: res, listed: rejected}
	}
	return res, nil
}

// invalidEntriesError reports the rejected entries of a call whose valid
// entries were published.
type invalidEntriesError struct {
	res    result
	listed []error
}

func (e *invalidEntriesError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d entries rejected; the other %d were published to Kafka, do not send them again. ",
		e.res.rejected, e.res.received, e.res.accepted)
	for i, err := range e.listed {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(err.Error())
	}
	if more := e.res.rejected - len(e.listed); more > 0 {
		fmt.Fprintf(&b, "; and %d more", more)
	}
	return b.String()
}
