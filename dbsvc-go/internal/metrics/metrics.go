// Package metrics is what the DB service adds to the Prometheus endpoint that
// it shares with the logging service (github.com/sustech-merch/store/serving:
// the gRPC server metrics, Go's runtime and process metrics): the pgx pool's
// statistics and the log shipper's counts.
package metrics

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sustech-merch/store/dbsvc/internal/logship"
)

// PoolStats reads the pool's statistics when Prometheus scrapes, so the hot
// path pays nothing for them. stat returns nil when there is no pool
// (DBSVC_CONNECT_PER_CALL); waiting is how many calls are in Acquire now.
//
// Ours, not github.com/IBM/pgxpoolprometheus (v1.1.3, the maintained one for
// pgx v5, no faster to collect): it names the counters pgxpool_acquire_count
// and pgxpool_empty_acquire, which deploy/prometheus/rules.yml and the tests
// know as pgxpool_acquires_total and pgxpool_empty_acquires_total, counts
// time in nanoseconds, has no waiting gauge and panics without a pool.
func PoolStats(stat func() *pgxpool.Stat, waiting func() int32) prometheus.Collector {
	return &poolCollector{stat: stat, waiting: waiting}
}

type poolCollector struct {
	stat    func() *pgxpool.Stat
	waiting func() int32
}

var (
	poolAcquired     = prometheus.NewDesc("pgxpool_acquired_conns", "Connections borrowed by calls right now.", nil, nil)
	poolIdle         = prometheus.NewDesc("pgxpool_idle_conns", "Open connections that no call holds.", nil, nil)
	poolConstructing = prometheus.NewDesc("pgxpool_constructing_conns", "Connections being opened.", nil, nil)
	poolTotal        = prometheus.NewDesc("pgxpool_total_conns", "All connections of the pool: acquired, idle and being opened.", nil, nil)
	poolMax          = prometheus.NewDesc("pgxpool_max_conns", "The pool's ceiling (DB_POOL_MAX_CONNS).", nil, nil)
	poolWaiting      = prometheus.NewDesc("pgxpool_waiting_acquires", "Calls waiting for a connection right now.", nil, nil)
	poolAcquires     = prometheus.NewDesc("pgxpool_acquires_total", "Connections borrowed from the pool.", nil, nil)
	poolEmpty        = prometheus.NewDesc("pgxpool_empty_acquires_total", "Borrows that had to wait because every connection was taken.", nil, nil)
	poolEmptyWait    = prometheus.NewDesc("pgxpool_empty_acquire_wait_seconds_total", "Time calls spent waiting for a connection of a full pool.", nil, nil)
	poolCanceled     = prometheus.NewDesc("pgxpool_canceled_acquires_total", "Borrows given up because the call's context ended (DB_ACQUIRE_TIMEOUT or its deadline).", nil, nil)
	poolAcquireTime  = prometheus.NewDesc("pgxpool_acquire_duration_seconds_total", "Time spent borrowing connections, waits included.", nil, nil)
	poolNew          = prometheus.NewDesc("pgxpool_new_conns_total", "Connections opened.", nil, nil)
)

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolAcquired, poolIdle, poolConstructing, poolTotal, poolMax, poolWaiting,
		poolAcquires, poolEmpty, poolEmptyWait, poolCanceled, poolAcquireTime, poolNew} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stat()
	if s == nil {
		return
	}
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(poolAcquired, float64(s.AcquiredConns()))
	gauge(poolIdle, float64(s.IdleConns()))
	gauge(poolConstructing, float64(s.ConstructingConns()))
	gauge(poolTotal, float64(s.TotalConns()))
	gauge(poolMax, float64(s.MaxConns()))
	gauge(poolWaiting, float64(c.waiting()))
	counter(poolAcquires, float64(s.AcquireCount()))
	counter(poolEmpty, float64(s.EmptyAcquireCount()))
	counter(poolEmptyWait, s.EmptyAcquireWaitTime().Seconds())
	counter(poolCanceled, float64(s.CanceledAcquireCount()))
	counter(poolAcquireTime, s.AcquireDuration().Seconds())
	counter(poolNew, float64(s.NewConnsCount()))
}

// ShipperStats reads the log shipper's counts when Prometheus scrapes. The
// names are the API's log shipper's too (api-python/merch_api/metrics.py), so
// one query covers every shipper of the store.
func ShipperStats(s *logship.Shipper) prometheus.Collector { return shipperCollector{s} }

type shipperCollector struct{ s *logship.Shipper }

var (
	shipQueued  = prometheus.NewDesc("merch_log_shipper_queue_depth", "Log records waiting to be sent to the logging service.", nil, nil)
	shipSent    = prometheus.NewDesc("merch_log_shipper_sent_records_total", "Log records the logging service acknowledged (so in Kafka).", nil, nil)
	shipRetried = prometheus.NewDesc("merch_log_shipper_retried_batches_total", "Batches of log records sent again after the logging service did not acknowledge them.", nil, nil)
	shipDropped = prometheus.NewDesc("merch_log_shipper_dropped_records_total", "Log records lost: the queue was full, or they were still unsent at shutdown.", nil, nil)
)

func (c shipperCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{shipQueued, shipSent, shipRetried, shipDropped} {
		ch <- d
	}
}

func (c shipperCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	ch <- prometheus.MustNewConstMetric(shipQueued, prometheus.GaugeValue, float64(st.Queued))
	ch <- prometheus.MustNewConstMetric(shipSent, prometheus.CounterValue, float64(st.Sent))
	ch <- prometheus.MustNewConstMetric(shipRetried, prometheus.CounterValue, float64(st.Retried))
	ch <- prometheus.MustNewConstMetric(shipDropped, prometheus.CounterValue, float64(st.Dropped))
}
