package publisher

import "github.com/segmentio/kafka-go"

// Stats is the Writer's statistics since the previous call (kafka-go resets
// them on every call): for the metrics endpoint, which must be the only caller.
func (p *Publisher) Stats() kafka.WriterStats { return p.writer.Stats() }
