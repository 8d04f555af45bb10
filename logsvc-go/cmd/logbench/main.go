// Command logbench measures the logging pipeline against a real Kafka:
// records per second through the StreamLogs RPC (a logsvc server in this
// process, reached over loopback TCP) next to a direct kafka-go producer
// with the same writer settings (the ceiling), and how long an entry takes
// from creation until a consumer of the topic sees it, at full load and at a
// steady rate. It uses its own topic, deleted afterwards, and prints a
// Markdown table.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"

	logv1 "github.com/sustech-merch/store/gen/go/merchstore/log/v1"
	"github.com/sustech-merch/store/logsvc/internal/publisher"
	"github.com/sustech-merch/store/logsvc/internal/record"
	"github.com/sustech-merch/store/logsvc/internal/server"
	"github.com/sustech-merch/store/logsvc/internal/topics"
)

type options struct {
	brokers    []string
	records    int
	streams    int
	batch      int
	partitions int
	rate       int
	paced      time.Duration
	timeout    time.Duration
}

func main() {
	defaultBrokers := os.Getenv("KAFKA_BROKERS")
	if defaultBrokers == "" {
		defaultBrokers = "127.0.0.1:9092"
	}
	var (
		o       options
		brokers string
	)
	flag.StringVar(&brokers, "brokers", defaultBrokers, "Kafka brokers, comma separated (default from KAFKA_BROKERS)")
	flag.IntVar(&o.records, "records", 100000, "records per full-load run")
	flag.IntVar(&o.streams, "streams", 4, "concurrent senders (gRPC streams, or producer goroutines for the direct run)")
	flag.IntVar(&o.batch, "batch", 200, "entries per StreamLogs call, and per WriteMessages call of the direct run")
	flag.IntVar(&o.partitions, "partitions", 1, "partitions of the benchmark topic (log-channel has 1)")
	flag.IntVar(&o.rate, "rate", 2000, "records per second of the steady-rate run")
	flag.DurationVar(&o.paced, "paced-duration", 5*time.Second, "length of the steady-rate run")
	flag.DurationVar(&o.timeout, "timeout", 3*time.Minute, "give up after this long")
	flag.Parse()
	o.brokers = strings.Split(brokers, ",")
	if o.records < o.streams || o.streams < 1 || o.batch < 1 || o.rate < 1 || o.partitions < 1 {
		fmt.Fprintln(os.Stderr, "logbench: -records >= -streams >= 1, -batch, -rate and -partitions >= 1")
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "logbench:", err)
		os.Exit(1)
	}
}

type row struct {
	path, shape string
	records     int
	elapsed     time.Duration
	delays      []time.Duration
}

func run(o options) error {
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	topic := fmt.Sprintf("logbench-%d", time.Now().UnixNano())
	if err := topics.Create(ctx, o.brokers[0], topic, o.partitions); err != nil {
		return err
	}
	defer func() {
		delCtx, delCancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer delCancel()
		if err := topics.Delete(delCtx, o.brokers[0], topic); err != nil {
			fmt.Fprintln(os.Stderr, "logbench:", err)
		}
	}()

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	pub := publisher.New(publisher.Config{Brokers: o.brokers, Topic: topic, Timeout: 10 * time.Second}, quiet)
	defer pub.Close()
	conn, stopServer, err := startServer(o.brokers, topic, quiet)
	if err != nil {
		return err
	}
	defer stopServer()

	watch := startWatching(ctx, o.brokers, topic, o.partitions)
	var rows []row
	measure := func(path, shape, phase string, send func(phase string) (int, error)) error {
		start := time.Now()
		n, err := send(phase)
		elapsed := time.Since(start)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		delays, err := watch.wait(ctx, phase, n)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		rows = append(rows, row{path: path, shape: shape, records: n, elapsed: elapsed, delays: delays})
		return nil
	}
	shape := fmt.Sprintf("%d × %d", o.streams, o.batch)
	if err := measure("direct kafka-go Writer (ceiling)", shape, "direct", func(phase string) (int, error) {
		return o.records, fullLoad(ctx, o, phase, func(ctx context.Context, batch []*logv1.LogEntry) error {
			return publishDirect(ctx, pub, batch)
		})
	}); err != nil {
		return err
	}
	if err := measure("StreamLogs RPC → logsvc → Kafka", shape, "rpc", func(phase string) (int, error) {
		client := logv1.NewLogServiceClient(conn)
		return o.records, fullLoad(ctx, o, phase, func(ctx context.Context, batch []*logv1.LogEntry) error {
			return streamBatch(ctx, client, batch)
		})
	}); err != nil {
		return err
	}
	pacedShape := fmt.Sprintf("1 × ~%d", max(1, o.rate*int(pacedTick/time.Millisecond)/1000))
	if err := measure(fmt.Sprintf("StreamLogs RPC at %d records/s", o.rate), pacedShape, "paced", func(phase string) (int, error) {
		return paced(ctx, o, phase, logv1.NewLogServiceClient(conn))
	}); err != nil {
		return err
	}
	printTable(o, topic, rows)
	return nil
}

// startServer runs logsvc's real server on a loopback port.
func startServer(brokers []string, topic string, logger *slog.Logger) (*grpc.ClientConn, func(), error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	pub := publisher.New(publisher.Config{Brokers: brokers, Topic: topic, Timeout: 10 * time.Second}, logger)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := server.Run(ctx, lis, pub, server.Options{Logger: logger}); err != nil {
			fmt.Fprintln(os.Stderr, "logbench: logsvc:", err)
		}
		pub.Close()
	}()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		cancel()
		<-done
		return nil, nil, err
	}
	return conn, func() {
		conn.Close()
		cancel()
		<-done
	}, nil
}

// newBatch creates n entries now: their ts is the start of the measured delay.
func newBatch(phase string, sender, first, n int) []*logv1.LogEntry {
	now := timestamppb.Now()
	batch := make([]*logv1.LogEntry, n)
	for i := range batch {
		seq := first + i
		batch[i] = &logv1.LogEntry{
			Ts: now, Level: logv1.Level_LEVEL_INFO, Service: "api", Instance: "bench",
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

func publishDirect(ctx context.Context, pub *publisher.Publisher, batch []*logv1.LogEntry) error {
	records := make([]record.Record, len(batch))
	for i, e := range batch {
		r, err := record.Encode(e)
		if err != nil {
			return err
		}
		records[i] = r
	}
	return pub.Publish(ctx, records)
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

// watcher consumes the topic while the runs go on and notes, per record, how
// long after its ts it became visible to a consumer.
type watcher struct {
	mu     sync.Mutex
	delays map[string][]time.Duration // by phase
	errs   chan error
}

func startWatching(ctx context.Context, brokers []string, topic string, partitions int) *watcher {
	w := &watcher{delays: map[string][]time.Duration{}, errs: make(chan error, partitions)}
	for p := range partitions {
		go func() {
			r := kafka.NewReader(kafka.ReaderConfig{
				Brokers: brokers, Topic: topic, Partition: p,
				MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 100 * time.Millisecond,
			})
			defer r.Close()
			for {
				m, err := r.ReadMessage(ctx)
				seen := time.Now()
				if err != nil {
					if ctx.Err() == nil {
						w.errs <- fmt.Errorf("consuming %s: %w", topic, err)
					}
					return
				}
				var rec struct {
					TS string `json:"ts"`
				}
				if err := json.Unmarshal(m.Value, &rec); err != nil {
					w.errs <- fmt.Errorf("record at offset %d is not JSON: %w", m.Offset, err)
					return
				}
				ts, err := time.Parse(time.RFC3339Nano, rec.TS)
				if err != nil {
					w.errs <- fmt.Errorf("record at offset %d: ts: %w", m.Offset, err)
					return
				}
				phase, _, _ := strings.Cut(string(m.Key), "-")
				w.mu.Lock()
				w.delays[phase] = append(w.delays[phase], seen.Sub(ts))
				w.mu.Unlock()
			}
		}()
	}
	return w
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
			return nil, fmt.Errorf("consumed %d of %d records: %w", got, n, ctx.Err())
		case <-deadline:
			return nil, errors.New("records did not all arrive within 30s of the run's end")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	return sorted[int(p*float64(len(sorted)-1))]
}

func printTable(o options, topic string, rows []row) {
	fmt.Printf("logbench: Kafka %s, topic %s (%d partition(s), acks=all), GOMAXPROCS %d\n\n",
		strings.Join(o.brokers, ","), topic, o.partitions, runtime.GOMAXPROCS(0))
	fmt.Println("| path | senders × batch | records | seconds | records/s | delay p50 | delay p99 |")
	fmt.Println("|---|---|--:|--:|--:|--:|--:|")
	for _, r := range rows {
		slices.Sort(r.delays)
		fmt.Printf("| %s | %s | %d | %.2f | %.0f | %s | %s |\n", r.path, r.shape, r.records, r.elapsed.Seconds(),
			float64(r.records)/r.elapsed.Seconds(), ms(percentile(r.delays, 0.50)), ms(percentile(r.delays, 0.99)))
	}
	fmt.Println("\ndelay: from the entry's ts (set when it was created) until a consumer of the topic read it;")
	fmt.Println("ts has millisecond resolution, so delays read up to 1 ms high.")
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
