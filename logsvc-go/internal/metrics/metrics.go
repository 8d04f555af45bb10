// Package metrics is what the logging service adds to the Prometheus endpoint
// that it shares with the DB service (github.com/sustech-merch/store/serving:
// the gRPC server metrics, Go's runtime and process metrics): the kafka-go
// Writer's statistics.
package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

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
