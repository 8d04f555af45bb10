// Command logbench measures the store's logging path against a real Kafka:
// records per second through the running logging service (StreamLogs over
// gRPC at -logsvc, then logsvc's kafka-go Writer) next to a direct kafka-go
// producer with that Writer's settings (the ceiling), and how long an entry
// takes from its creation until a consumer reads it, at full load and at a
// steady rate. It prints a Markdown table.
//
// Where the records go. logsvc publishes to the one topic it was started
// with (KAFKA_TOPIC, log-channel) and a client cannot move it, so the RPC
// runs write into log-channel: their request ids start with "logbench-<run>-"
// and their instance is "logbench", which is how the watcher picks them out
// of the store's own records, and how a reader of log-channel (make logs)
// tells them apart. They stay there until Kafka's retention drops them. The
// direct producer does not write there: its records would reach the topic
// every consumer trusts without logsvc's validation, and a ceiling needs no
// shared topic. It gets a throw-away topic with log-channel's number of
// partitions, deleted afterwards.
//
// So the RPC figures include whatever else the store logs meanwhile (run it
// on an idle store), and logsvc, Kafka and this process share the cores.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"google.golang.org/grpc"

	logv1 "github.com/sustech-merch/store/gen/go/merchstore/log/v1"
	"github.com/sustech-merch/store/serving"
)

type options struct {
	logsvc   string
	brokers  []string
	logTopic string
	records  int
	streams  int
	batch    int
	rate     int
	paced    time.Duration
	timeout  time.Duration
}

func main() {
	env := serving.Env(os.Getenv)
	var (
		o       options
		brokers string
	)
	flag.StringVar(&o.logsvc, "logsvc", env.String("LOGSVC_ADDR", "127.0.0.1:50052"), "the logging service's gRPC address (default from LOGSVC_ADDR)")
	flag.StringVar(&brokers, "brokers", env.String("KAFKA_BROKERS", "127.0.0.1:9092"), "Kafka brokers, comma separated: those logsvc publishes to (default from KAFKA_BROKERS)")
	flag.StringVar(&o.logTopic, "topic", env.String("KAFKA_TOPIC", "log-channel"), "the topic logsvc publishes to (default from KAFKA_TOPIC)")
	flag.IntVar(&o.records, "records", 100000, "records per full-load run")
	flag.IntVar(&o.streams, "streams", 4, "concurrent senders (gRPC streams, or producer goroutines for the direct run)")
	flag.IntVar(&o.batch, "batch", 200, "entries per StreamLogs call, and per WriteMessages call of the direct run")
	flag.IntVar(&o.rate, "rate", 2000, "records per second of the steady-rate run")
	flag.DurationVar(&o.paced, "paced-duration", 5*time.Second, "length of the steady-rate run")
	flag.DurationVar(&o.timeout, "timeout", 3*time.Minute, "give up after this long")
	flag.Parse()
	o.brokers = strings.Split(brokers, ",")
	if o.records < o.streams || o.streams < 1 || o.batch < 1 || o.rate < 1 {
		fmt.Fprintln(os.Stderr, "logbench: -records >= -streams >= 1, -batch and -rate >= 1")
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
	admin := &kafka.Client{Addr: kafka.TCP(o.brokers...)}
	partitions, err := partitionCount(ctx, admin, o.logTopic)
	if err != nil {
		return err
	}
	runID := fmt.Sprintf("logbench-%d", time.Now().UnixNano())
	directTopic := runID
	if err := createTopic(ctx, admin, directTopic, partitions); err != nil {
		return err
	}
	defer func() {
		delCtx, delCancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer delCancel()
		if err := deleteTopic(delCtx, admin, directTopic); err != nil {
			fmt.Fprintln(os.Stderr, "logbench:", err)
		}
	}()

	// As the API calls it: over mutual TLS with the API's certificate (TLS_DIR).
	tls, err := serving.LoadTLS(os.Getenv("TLS_DIR"))
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(o.logsvc, tls.DialOption(serving.IdentityLog))
	if err != nil {
		return err
	}
	defer conn.Close()
	logsvc := logv1.NewLogServiceClient(conn)
	writer := newDirectWriter(o.brokers, directTopic)
	defer writer.Close()

	prefix := runID + "-"
	directSeen, err := startWatching(ctx, admin, o.brokers, directTopic, partitions, prefix)
	if err != nil {
		return err
	}
	logsvcSeen, err := startWatching(ctx, admin, o.brokers, o.logTopic, partitions, prefix)
	if err != nil {
		return err
	}
	var rows []row
	measure := func(path, shape, phase string, seen *watcher, send func(phase string) (int, error)) error {
		start := time.Now()
		n, err := send(prefix + phase)
		elapsed := time.Since(start)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		delays, err := seen.wait(ctx, phase, n)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		rows = append(rows, row{path: path, shape: shape, records: n, elapsed: elapsed, delays: delays})
		return nil
	}
	shape := fmt.Sprintf("%d × %d", o.streams, o.batch)
	if err := measure("direct kafka-go Writer (ceiling)", shape, "direct", directSeen, func(phase string) (int, error) {
		return o.records, fullLoad(ctx, o, phase, func(ctx context.Context, batch []*logv1.LogEntry) error {
			return publishDirect(ctx, writer, batch)
		})
	}); err != nil {
		return err
	}
	if err := measure("StreamLogs RPC → logsvc → Kafka", shape, "rpc", logsvcSeen, func(phase string) (int, error) {
		return o.records, fullLoad(ctx, o, phase, func(ctx context.Context, batch []*logv1.LogEntry) error {
			return streamBatch(ctx, logsvc, batch)
		})
	}); err != nil {
		return fmt.Errorf("%w (is the store up, and is -logsvc %s its logging service?)", err, o.logsvc)
	}
	pacedShape := fmt.Sprintf("1 × ~%d", max(1, o.rate*int(pacedTick/time.Millisecond)/1000))
	if err := measure(fmt.Sprintf("StreamLogs RPC at %d records/s", o.rate), pacedShape, "paced", logsvcSeen, func(phase string) (int, error) {
		return paced(ctx, o, phase, logsvc)
	}); err != nil {
		return err
	}
	printTable(o, directTopic, partitions, rows)
	return nil
}

// partitionCount is how many partitions topic has; the direct producer's
// topic gets as many, so both paths spread their records alike.
func partitionCount(ctx context.Context, admin *kafka.Client, topic string) (int, error) {
	md, err := admin.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, fmt.Errorf("kafka at %s is unreachable (is the store up, is KAFKA_BROKERS right?): %w", admin.Addr, err)
	}
	if len(md.Topics) != 1 {
		return 0, fmt.Errorf("kafka answered for %d topics, asked for %s", len(md.Topics), topic)
	}
	if err := md.Topics[0].Error; err != nil {
		return 0, fmt.Errorf("topic %s, which logsvc publishes to: %w", topic, err)
	}
	return len(md.Topics[0].Partitions), nil
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	return sorted[int(p*float64(len(sorted)-1))]
}

func printTable(o options, directTopic string, partitions int, rows []row) {
	fmt.Printf("logbench: logsvc %s publishing to %s; direct producer to %s; Kafka %s, %d partition(s) each, acks=all; GOMAXPROCS %d\n\n",
		o.logsvc, o.logTopic, directTopic, strings.Join(o.brokers, ","), partitions, runtime.GOMAXPROCS(0))
	fmt.Println("| path | senders × batch | records | seconds | records/s | delay p50 | delay p99 |")
	fmt.Println("|---|---|--:|--:|--:|--:|--:|")
	for _, r := range rows {
		slices.Sort(r.delays)
		fmt.Printf("| %s | %s | %d | %.2f | %.0f | %s | %s |\n", r.path, r.shape, r.records, r.elapsed.Seconds(),
			float64(r.records)/r.elapsed.Seconds(), ms(percentile(r.delays, 0.50)), ms(percentile(r.delays, 0.99)))
	}
	fmt.Println("\ndelay: from the entry's ts (set when it was created) until a consumer of its topic read it;")
	fmt.Println("ts has millisecond resolution, so delays read up to 1 ms high.")
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
