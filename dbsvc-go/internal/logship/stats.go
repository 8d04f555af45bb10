package logship

// Stats are the shipper's counts since it started, for the metrics endpoint.
type Stats struct {
	Queued  int   // entries in the buffer now
	Sent    int64 // entries logsvc acknowledged (so in Kafka)
	Retried int64 // batches sent again after logsvc did not take them
	Dropped int64 // entries lost: buffer full, or unsent when Close gave up
}

// Stats reads the counts; safe to call from any goroutine.
func (s *Shipper) Stats() Stats {
	return Stats{Queued: len(s.entries), Sent: s.sent.Load(), Retried: s.retried.Load(), Dropped: s.dropped.Load()}
}
