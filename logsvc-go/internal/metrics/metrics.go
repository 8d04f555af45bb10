// Package metrics is the logging service's Prometheus endpoint: the
// grpc-ecosystem server metrics (grpc_server_handled_total,
// grpc_server_handling_seconds), the kafka-go Writer's statistics, and Go's
// own runtime and process metrics, served as text on their own HTTP port.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/segmentio/kafka-go"
	"google.golang.org/grpc"
)

// Metrics holds the registry that /metrics serves and the gRPC interceptors
// that feed it.
type Metrics struct {
	Registry *prometheus.Registry
	GRPC     *grpcprom.ServerMetrics
}

// New registers the gRPC server metrics with a latency histogram, and Go's
// runtime and process collectors, in a registry of its own.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		// prometheus.DefBuckets (5 ms to 10 s): a StreamLogs call lasts as long as
		// Kafka takes to acknowledge it, at most LOGSVC_PUBLISH_TIMEOUT (5 s).
		GRPC: grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram()),
	}
	m.Registry.MustRegister(m.GRPC, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ServerOptions put the gRPC metrics outside every other interceptor, so that
// the code they count is the one the caller gets.
func (m *Metrics) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(m.GRPC.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(m.GRPC.StreamServerInterceptor()),
	}
}

// Registered is called once the services are registered on srv: every method
// and code starts at zero, so a rate or an increase sees the first call too.
func (m *Metrics) Registered(srv *grpc.Server) { m.GRPC.InitializeMetrics(srv) }

// Serve answers GET /metrics on lis until ctx is done.
func Serve(ctx context.Context, lis net.Listener, reg *prometheus.Registry, logger *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	err := srv.Serve(lis)
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("serving metrics on %s: %w", lis.Addr(), err)
}

// WriterStats turns the kafka-go Writer's statistics into Prometheus counters.
// Writer.Stats returns what happened since its previous call and starts
// counting again, so this collector must be its only caller: it adds each
// snapshot to running totals.
func WriterStats(stats func() kafka.WriterStats) prometheus.Collector {
	return &writerCollector{stats: stats}
}

type writerCollector struct {
	stats func() kafka.WriterStats

	mu                                       sync.Mutex // scrapes may overlap
	topic                                    string
	writes, messages, bytes, errors, retries int64
	writeCount, batchCount, batchSizeCount   int64
	batchMessages                            int64
	writeSeconds, batchQueueSeconds          float64
}

var (
	labels            = []string{"topic"}
	writerWrites      = prometheus.NewDesc("kafka_writer_writes_total", "Produce requests the writer sent (each a batch).", labels, nil)
	writerMessages    = prometheus.NewDesc("kafka_writer_messages_total", "Messages the writer wrote to Kafka.", labels, nil)
	writerBytes       = prometheus.NewDesc("kafka_writer_message_bytes_total", "Bytes of the messages the writer wrote.", labels, nil)
	writerErrors      = prometheus.NewDesc("kafka_writer_errors_total", "Writes that failed after every attempt (the caller gets UNAVAILABLE and resends).", labels, nil)
	writerRetries     = prometheus.NewDesc("kafka_writer_retries_total", "Writes attempted again after a failure.", labels, nil)
	writerWriteTime   = prometheus.NewDesc("kafka_writer_write_seconds", "Time of each produce request, until Kafka answered.", labels, nil)
	writerBatchQueue  = prometheus.NewDesc("kafka_writer_batch_queue_seconds", "Time a batch waited to be sent (BatchTimeout, or a full batch).", labels, nil)
	writerBatchSize   = prometheus.NewDesc("kafka_writer_batch_messages", "Messages per batch.", labels, nil)
	writerDescriptors = []*prometheus.Desc{writerWrites, writerMessages, writerBytes, writerErrors, writerRetries, writerWriteTime, writerBatchQueue, writerBatchSize}
)

func (c *writerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range writerDescriptors {
		ch <- d
	}
}

func (c *writerCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	s := c.stats()
	c.topic = s.Topic
	c.writes += s.Writes
	c.messages += s.Messages
	c.bytes += s.Bytes
	c.errors += s.Errors
	c.retries += s.Retries
	c.writeCount += s.WriteTime.Count
	c.writeSeconds += s.WriteTime.Sum.Seconds()
	c.batchCount += s.BatchQueueTime.Count
	c.batchQueueSeconds += s.BatchQueueTime.Sum.Seconds()
	c.batchSizeCount += s.BatchSize.Count
	c.batchMessages += s.BatchSize.Sum
	topic, writes, messages, bytes, errs, retries := c.topic, c.writes, c.messages, c.bytes, c.errors, c.retries
	writeCount, writeSeconds, batchCount, batchQueueSeconds := c.writeCount, c.writeSeconds, c.batchCount, c.batchQueueSeconds
	batchSizeCount, batchMessages := c.batchSizeCount, c.batchMessages
	c.mu.Unlock()

	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), topic)
	}
	counter(writerWrites, writes)
	counter(writerMessages, messages)
	counter(writerBytes, bytes)
	counter(writerErrors, errs)
	counter(writerRetries, retries)
	ch <- prometheus.MustNewConstSummary(writerWriteTime, uint64(writeCount), writeSeconds, nil, topic)
	ch <- prometheus.MustNewConstSummary(writerBatchQueue, uint64(batchCount), batchQueueSeconds, nil, topic)
	ch <- prometheus.MustNewConstSummary(writerBatchSize, uint64(batchSizeCount), float64(batchMessages), nil, topic)
}
