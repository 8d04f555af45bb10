// Package logship sends the service's own log entries to the logging service
// over LogService.StreamLogs, off the request path: an RPC only puts an entry
// in a bounded buffer and never waits for, or fails because of, logsvc.
package logship

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	logv1 "github.com/sustech-merch/store/gen/go/merchstore/log/v1"
)

// Options tune the shipper; zero values take the defaults.
type Options struct {
	Buffer      int           // entries waiting to be sent; more are dropped. Default 4096.
	MaxBatch    int           // entries per StreamLogs call. Default 200.
	Linger      time.Duration // how long a batch waits for more entries. Default 50ms.
	CallTimeout time.Duration // deadline of one StreamLogs call. Default 5s.
	MaxBackoff  time.Duration // longest wait between retries of a failed batch. Default 5s.
	// How the shipper proves itself to the logging service and checks it
	// (serving.Transport.DialOption). Default plaintext, for tests' fake services.
	Credentials grpc.DialOption
}

// Shipper batches entries into StreamLogs calls from one goroutine.
type Shipper struct {
	service, instance string
	opts              Options
	conn              *grpc.ClientConn
	client            logv1.LogServiceClient
	logger            *slog.Logger

	entries chan *logv1.LogEntry
	dropped atomic.Int64
	sent    atomic.Int64    // entries logsvc took (Stats, for metrics)
	retried atomic.Int64    // batches sent again (Stats, for metrics)
	stop    chan struct{}   // closed by Close: send what is buffered, then end
	ctx     context.Context // cancelled when Close gives up on logsvc
	cancel  context.CancelFunc
	done    chan struct{}
}

// New starts a shipper for entries of service/instance to the logsvc at addr.
// It does not wait for logsvc: entries wait in the buffer until it answers.
func New(addr, service, instance string, opts Options, logger *slog.Logger) (*Shipper, error) {
	if opts.Buffer <= 0 {
		opts.Buffer = 4096
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 200
	}
	if opts.Linger <= 0 {
		opts.Linger = 50 * time.Millisecond
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 5 * time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Second
	}
	// addr is a gRPC target; with several logging services behind it (a list, or a
	// headless Service's DNS name) round_robin spreads the streams over them, where
	// the default, pick_first, would keep them all on one.
	if opts.Credentials == nil {
		opts.Credentials = grpc.WithTransportCredentials(insecure.NewCredentials())
	}
	conn, err := grpc.NewClient(addr, opts.Credentials,
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig": [{"round_robin": {}}]}`))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Shipper{
		service: service, instance: instance, opts: opts, conn: conn,
		client: logv1.NewLogServiceClient(conn), logger: logger,
		entries: make(chan *logv1.LogEntry, opts.Buffer),
		stop:    make(chan struct{}), ctx: ctx, cancel: cancel, done: make(chan struct{}),
	}
	go s.run()
	return s, nil
}

// Send queues one entry without blocking; when the buffer is full the entry
// is dropped and counted. The entry gets its event id here, once: every retry
// of its batch sends the same entry, id included, so the copies that
// at-least-once delivery may leave in Kafka carry one id.
func (s *Shipper) Send(level logv1.Level, requestID, message string) {
	e := &logv1.LogEntry{
		Ts: timestamppb.Now(), Level: level, Service: s.service, Instance: s.instance,
		RequestId: requestID, Message: message, EventId: newEventID(),
	}
	select {
	case s.entries <- e:
	default:
		s.dropped.Add(1)
	}
}

// newEventID is a random (version 4) UUID.
func newEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Dropped is how many entries were lost: buffer full, or
// still unsent when Close gave up.
func (s *Shipper) Dropped() int64 { return s.dropped.Load() }

// Close sends what is buffered, retrying until ctx ends, then closes the
// connection.
func (s *Shipper) Close(ctx context.Context) {
	close(s.stop)
	select {
	case <-s.done:
	case <-ctx.Done():
		s.cancel()
		<-s.done
	}
	s.cancel()
	if n := s.Dropped(); n > 0 {
		s.logger.Warn("log entries were not delivered to logsvc", "dropped", n)
	}
	_ = s.conn.Close() // nothing is left to send on it
}

func (s *Shipper) run() {
	defer close(s.done)
	for {
		var first *logv1.LogEntry
		select {
		case first = <-s.entries:
		case <-s.stop:
			for len(s.entries) > 0 && s.ctx.Err() == nil {
				s.deliver(s.collect(<-s.entries))
			}
			s.dropped.Add(int64(len(s.entries)))
			return
		}
		s.deliver(s.collect(first))
	}
}

// collect adds to first whatever arrives within Linger, up to MaxBatch, so
// that a burst becomes one call instead of many.
func (s *Shipper) collect(first *logv1.LogEntry) []*logv1.LogEntry {
	batch := []*logv1.LogEntry{first}
	linger := time.NewTimer(s.opts.Linger)
	defer linger.Stop()
	for len(batch) < s.opts.MaxBatch {
		select {
		case e := <-s.entries:
			batch = append(batch, e)
		case <-linger.C:
			return batch
		case <-s.stop:
			// Shutting down: take what is already here, wait for nothing.
			for len(batch) < s.opts.MaxBatch && len(s.entries) > 0 {
				batch = append(batch, <-s.entries)
			}
			return batch
		}
	}
	return batch
}

// deliver sends batch until logsvc takes it, backing off while it is down.
// logsvc answers UNAVAILABLE when Kafka did not take the entries and expects
// them again (at-least-once); INVALID_ARGUMENT means it published the valid
// ones and resending would duplicate them.
func (s *Shipper) deliver(batch []*logv1.LogEntry) {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := s.stream(batch)
		if err == nil {
			s.sent.Add(int64(len(batch)))
			return
		}
		if status.Code(err) == codes.InvalidArgument {
			s.logger.Error("logsvc rejected log entries", "error", err)
			return
		}
		if attempt == 1 {
			s.logger.Warn("logsvc did not take log entries; retrying", "entries", len(batch), "error", err)
		}
		select {
		case <-s.ctx.Done():
			s.dropped.Add(int64(len(batch)))
			return
		case <-time.After(backoff):
			s.retried.Add(1)
		}
		backoff = min(2*backoff, s.opts.MaxBackoff)
	}
}

func (s *Shipper) stream(batch []*logv1.LogEntry) error {
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.CallTimeout)
	defer cancel()
	stream, err := s.client.StreamLogs(ctx)
	if err != nil {
		return err
	}
	// One message for the whole batch: the server counts entries, not messages.
	if err := stream.Send(&logv1.StreamLogsRequest{Entries: batch}); err != nil && err != io.EOF {
		// On io.EOF the server ended the call early; CloseAndRecv has its status.
		return err
	}
	_, err = stream.CloseAndRecv()
	return err
}
