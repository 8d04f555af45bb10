// Package publisher writes log records to Kafka and reports whether Kafka
// can take them.
package publisher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sustech-merch/store/logsvc/internal/record"
)

// ErrUnavailable wraps every failure to get records acknowledged: the caller
// may send the same records again later.
var ErrUnavailable = errors.New("kafka did not acknowledge the records")

// Config says where to publish.
type Config struct {
	Brokers []string
	Topic   string
	// Upper bound on one Publish call, retries included.
	Timeout time.Duration
}

// Publisher is safe for concurrent use: all calls share one kafka-go Writer,
// so records of concurrent streams travel to Kafka in the same batches.
type Publisher struct {
	cfg       Config
	writer    *kafka.Writer
	transport *kafka.Transport
}

// New makes a Publisher; it does not contact Kafka until the first call.
func New(cfg Config, logger *slog.Logger) *Publisher {
	transport := &kafka.Transport{
		ClientID:    "logsvc",
		DialTimeout: 3 * time.Second,
	}
	// bench/logbench's direct producer, the ceiling logsvc is measured
	// against, copies the settings below that decide throughput and delay.
	writer := &kafka.Writer{
		Addr:      kafka.TCP(cfg.Brokers...),
		Topic:     cfg.Topic,
		Transport: transport,
		// Same key, same partition: one request's records stay together and in
		// order. Murmur2 is the Java client's partitioner, so other producers
		// of this topic put a request id in the same partition too.
		Balancer: &kafka.Murmur2Balancer{},
		// We answer a stream only after its records are safe, so we wait for
		// every in-sync replica, not just the leader.
		RequiredAcks: kafka.RequireAll,
		// kafka-go's default BatchTimeout (1 s) holds every partial batch for up
		// to a second, and our writes are synchronous: each stream's answer,
		// and so each client's queue, would wait that long. 5 ms still lets
		// concurrent streams share a batch.
		BatchTimeout: 5 * time.Millisecond,
		// A server chunk (see server.chunkSize) fills one batch, which then
		// leaves at once instead of waiting for BatchTimeout.
		BatchSize: 500,
		// A broker that stops answering must not hold a stream for the default
		// 10 s; Timeout below bounds the whole call anyway.
		WriteTimeout: 3 * time.Second,
		ReadTimeout:  3 * time.Second,
		// Few, quick retries: the client resends a failed stream with its own
		// backoff, so long retries here only delay its UNAVAILABLE.
		MaxAttempts:     3,
		WriteBackoffMin: 50 * time.Millisecond,
		WriteBackoffMax: 500 * time.Millisecond,
		// The topic is created on purpose (deploy/local/ready.py); a typo in
		// KAFKA_TOPIC must fail loudly, not create a new topic.
		AllowAutoTopicCreation: false,
		ErrorLogger: kafka.LoggerFunc(func(format string, args ...any) {
			logger.Warn(fmt.Sprintf(format, args...), "component", "kafka-go")
		}),
	}
	return &Publisher{cfg: cfg, writer: writer, transport: transport}
}

// Publish returns nil only after Kafka acknowledged every record. On error
// some records may have been written anyway: the caller resends them all
// (at-least-once).
func (p *Publisher) Publish(ctx context.Context, records []record.Record) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	msgs := make([]kafka.Message, len(records))
	for i, r := range records {
		msgs[i] = kafka.Message{Key: r.Key, Value: r.Value}
	}
	err := p.writer.WriteMessages(ctx, msgs...)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled):
		// The caller went away; there is nobody left to tell.
		return fmt.Errorf("publishing to %s: %w", p.cfg.Topic, err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w within %s (topic %s, brokers %v)", ErrUnavailable, p.cfg.Timeout, p.cfg.Topic, p.cfg.Brokers)
	default:
		return fmt.Errorf("%w (topic %s, brokers %v): %w", ErrUnavailable, p.cfg.Topic, p.cfg.Brokers, cause(err))
	}
}

// cause picks the first error out of kafka-go's per-message WriteErrors,
// whose own text ("kafka write errors (3/500)") says nothing about why.
func cause(err error) error {
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) {
		for _, e := range werrs {
			if e != nil {
				return e
			}
		}
	}
	return err
}

// Check asks a broker, over a fresh connection, for the topic's partitions.
// It fails when no broker answers or the topic does not exist, which are the
// cases in which Publish cannot succeed.
func (p *Publisher) Check(ctx context.Context) error {
	var errs []error
	for _, broker := range p.cfg.Brokers {
		err := checkBroker(ctx, broker, p.cfg.Topic)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func checkBroker(ctx context.Context, broker, topic string) error {
	conn, err := (&kafka.Dialer{Timeout: 3 * time.Second, ClientID: "logsvc-health"}).DialContext(ctx, "tcp", broker)
	if err != nil {
		return fmt.Errorf("kafka broker %s: %w", broker, err)
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	partitions, err := conn.ReadPartitions(topic)
	if err != nil {
		return fmt.Errorf("topic %s on kafka broker %s: %w", topic, broker, err)
	}
	for _, part := range partitions {
		if part.Leader.Host == "" {
			return fmt.Errorf("topic %s partition %d has no leader", topic, part.ID)
		}
	}
	return nil
}

// Close flushes whatever is still being written and releases connections.
func (p *Publisher) Close() error {
	err := p.writer.Close()
	p.transport.CloseIdleConnections()
	if err != nil {
		return fmt.Errorf("closing kafka writer: %w", err)
	}
	return nil
}
