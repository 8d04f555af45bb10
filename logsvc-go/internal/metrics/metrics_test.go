package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
)

// kafka-go's Writer.Stats starts counting again at every call; the counters
// must still only grow.
func TestWriterStatsAddsUpSnapshots(t *testing.T) {
	snapshots := []kafka.WriterStats{
		{Topic: "log-channel", Writes: 2, Messages: 7, Bytes: 700, Errors: 1, Retries: 3,
			WriteTime: kafka.DurationStats{Count: 2, Sum: 30 * time.Millisecond},
			BatchSize: kafka.SummaryStats{Count: 2, Sum: 7}},
		{Topic: "log-channel", Writes: 1, Messages: 5, Bytes: 500,
			WriteTime: kafka.DurationStats{Count: 1, Sum: 10 * time.Millisecond},
			BatchSize: kafka.SummaryStats{Count: 1, Sum: 5}},
	}
	next := 0
	c := WriterStats(func() kafka.WriterStats {
		s := snapshots[next]
		next++
		return s
	})
	// The first scrape reads the first snapshot, the second adds the second.
	if n := testutil.CollectAndCount(c); n != 8 {
		t.Fatalf("collected %d metrics, want 8", n)
	}
	want := `
# HELP kafka_writer_messages_total Messages the writer wrote to Kafka.
# TYPE kafka_writer_messages_total counter
kafka_writer_messages_total{topic="log-channel"} 12
# HELP kafka_writer_errors_total Writes that failed after every attempt (the caller gets UNAVAILABLE and resends).
# TYPE kafka_writer_errors_total counter
kafka_writer_errors_total{topic="log-channel"} 1
# HELP kafka_writer_write_seconds Time of each produce request, until Kafka answered.
# TYPE kafka_writer_write_seconds summary
kafka_writer_write_seconds_sum{topic="log-channel"} 0.04
kafka_writer_write_seconds_count{topic="log-channel"} 3
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"kafka_writer_messages_total", "kafka_writer_errors_total", "kafka_writer_write_seconds"); err != nil {
		t.Fatal(err)
	}
}
