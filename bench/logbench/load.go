package main

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/types/known/timestamppb"

	logv1 "github.com/sustech-merch/store/gen/go/merchstore/log/v1"
)

// newBatch creates n entries now: their ts is the start of the measured delay.
// phase begins with the run's prefix, so the watchers find these records.
func newBatch(phase string, sender, first, n int) []*logv1.LogEntry {
	now := timestamppb.Now()
	batch := make([]*logv1.LogEntry, n)
	for i := range batch {
		seq := first + i
		batch[i] = &logv1.LogEntry{
			Ts: now, Level: logv1.Level_LEVEL_INFO, Service: "api", Instance: "logbench",
			// Ten records per request id, like a request and its DB calls.
			RequestId: fmt.Sprintf("%s-%d-%d", phase, sender, seq/10),
			Message:   fmt.Sprintf("benchmark record %d of sender %d", seq, sender),
			// As the real senders do: an id of its own (logsvc derives one,
			// hashing the entry, only for senders older than the field).
			EventId: fmt.Sprintf("%s-%d-%d", phase, sender, seq),
			Http:    &logv1.HttpRequest{Method: "GET", Path: "/products", Status: 200, LatencyMs: 1.5},
		}
	}
	return batch
}

// fullLoad has o.streams senders send o.records entries in batches as fast
// as send lets them.
func fullLoad(ctx context.Context, o options, phase string, send func(context.Context, []*logv1.LogEntry) error) error {
	g, ctx := errgroup.WithContext(ctx)
	for s := range o.streams {
		share := o.records / o.streams
		if s == 0 {
			share += o.records % o.streams
		}
		g.Go(func() error {
			for first := 0; first < share; first += o.batch {
				if err := send(ctx, newBatch(phase, s, first, min(o.batch, share-first))); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// newDirectWriter is logsvc's Writer (logsvc-go/internal/publisher, which
// this module cannot import) with the settings that decide its throughput
// and delay; a change there belongs here too, or the ceiling is of another
// writer.
func newDirectWriter(brokers []string, topic string) *kafka.Writer {
	return &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond,
		BatchSize:    500,
	}
}

// tsLayout is the record's ts as logsvc writes it: RFC 3339 in UTC with
// milliseconds.
const tsLayout = "2006-01-02T15:04:05.000Z07:00"

func publishDirect(ctx context.Context, w *kafka.Writer, batch []*logv1.LogEntry) error {
	msgs := make([]kafka.Message, len(batch))
	for i, e := range batch {
		// The record logsvc writes for e, key for key (the contract,
		// logsvc-go/internal/record), so both paths move the same bytes. The
		// entries are plain ASCII, which %q quotes as JSON does.
		value := fmt.Appendf(nil, `{"ts":%q,"level":"INFO","service":%q,"instance":%q,"request_id":%q,"event_id":%q,`+
			`"message":%q,"method":%q,"path":%q,"status":%d,"latency_ms":%g,"user_id":null}`,
			e.GetTs().AsTime().UTC().Format(tsLayout), e.GetService(), e.GetInstance(), e.GetRequestId(), e.GetEventId(),
			e.GetMessage(), e.GetHttp().GetMethod(), e.GetHttp().GetPath(), e.GetHttp().GetStatus(), e.GetHttp().GetLatencyMs())
		msgs[i] = kafka.Message{Key: []byte(e.GetRequestId()), Value: value}
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return w.WriteMessages(ctx, msgs...)
}

func streamBatch(ctx context.Context, client logv1.LogServiceClient, batch []*logv1.LogEntry) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	stream, err := client.StreamLogs(ctx)
	if err != nil {
		return err
	}
	// On an error the real one comes from CloseAndRecv.
	_ = stream.Send(&logv1.StreamLogsRequest{Entries: batch})
	res, err := stream.CloseAndRecv()
	if err != nil {
		return err
	}
	if res.GetAcceptedCount() != int64(len(batch)) {
		return fmt.Errorf("accepted %d of %d entries", res.GetAcceptedCount(), len(batch))
	}
	return nil
}

// pacedTick is how often the steady-rate run sends a call.
const pacedTick = 5 * time.Millisecond

// paced sends o.rate entries per second for o.paced, one call per pacedTick
// with what "arrived" since the last one, as the API's shipper does.
func paced(ctx context.Context, o options, phase string, client logv1.LogServiceClient) (int, error) {
	ticker := time.NewTicker(pacedTick)
	defer ticker.Stop()
	start := time.Now()
	sent := 0
	for time.Since(start) < o.paced {
		select {
		case <-ctx.Done():
			return sent, ctx.Err()
		case <-ticker.C:
		}
		due := int(time.Since(start).Seconds()*float64(o.rate)) - sent
		if due <= 0 {
			continue
		}
		if err := streamBatch(ctx, client, newBatch(phase, 0, sent, due)); err != nil {
			return sent, err
		}
		sent += due
	}
	return sent, nil
}
