package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// watcher consumes a topic while the runs go on and notes, per record of
// this run, how long after its ts it became visible to a consumer.
type watcher struct {
	topic, prefix string
	mu            sync.Mutex
	delays        map[string][]time.Duration // by phase
	errs          chan error
}

// startWatching reads every partition of topic from its end as of now, so
// that a busy log-channel's history is skipped and no record of this run is
// missed; only records whose key starts with prefix count.
func startWatching(ctx context.Context, admin *kafka.Client, brokers []string, topic string, partitions int, prefix string) (*watcher, error) {
	ends := make([]kafka.OffsetRequest, partitions)
	for p := range ends {
		ends[p] = kafka.LastOffsetOf(p)
	}
	res, err := admin.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: ends}})
	if err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	w := &watcher{topic: topic, prefix: prefix, delays: map[string][]time.Duration{}, errs: make(chan error, partitions)}
	for _, end := range res.Topics[topic] {
		if end.Error != nil {
			return nil, fmt.Errorf("end offset of %s partition %d: %w", topic, end.Partition, end.Error)
		}
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers: brokers, Topic: topic, Partition: end.Partition,
			MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 100 * time.Millisecond,
		})
		if err := r.SetOffset(end.LastOffset); err != nil {
			return nil, err
		}
		go w.read(ctx, r)
	}
	return w, nil
}

func (w *watcher) read(ctx context.Context, r *kafka.Reader) {
	defer r.Close()
	for {
		m, err := r.ReadMessage(ctx)
		seen := time.Now()
		if err != nil {
			if ctx.Err() == nil {
				w.errs <- fmt.Errorf("consuming %s: %w", w.topic, err)
			}
			return
		}
		rest, ours := strings.CutPrefix(string(m.Key), w.prefix)
		if !ours {
			continue
		}
		var rec struct {
			TS string `json:"ts"`
		}
		if err := json.Unmarshal(m.Value, &rec); err != nil {
			w.errs <- fmt.Errorf("%s: record at offset %d is not JSON: %w", w.topic, m.Offset, err)
			return
		}
		ts, err := time.Parse(time.RFC3339Nano, rec.TS)
		if err != nil {
			w.errs <- fmt.Errorf("%s: record at offset %d: ts: %w", w.topic, m.Offset, err)
			return
		}
		phase, _, _ := strings.Cut(rest, "-")
		w.mu.Lock()
		w.delays[phase] = append(w.delays[phase], seen.Sub(ts))
		w.mu.Unlock()
	}
}

// wait returns the delays of phase once n of its records were consumed.
func (w *watcher) wait(ctx context.Context, phase string, n int) ([]time.Duration, error) {
	deadline := time.After(30 * time.Second)
	for {
		w.mu.Lock()
		got := len(w.delays[phase])
		w.mu.Unlock()
		if got >= n {
			w.mu.Lock()
			defer w.mu.Unlock()
			return slices.Clone(w.delays[phase]), nil
		}
		select {
		case err := <-w.errs:
			return nil, err
		case <-ctx.Done():
			return nil, fmt.Errorf("consumed %d of %d records from %s: %w", got, n, w.topic, ctx.Err())
		case <-deadline:
			return nil, fmt.Errorf("%d of %d records reached %s within 30s of the run's end", got, n, w.topic)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
