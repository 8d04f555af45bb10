package store

import "github.com/jackc/pgx/v5/pgxpool"

// PoolStat is the pool's statistics now, for the metrics endpoint; nil when
// the store connects per call.
func (s *Store) PoolStat() *pgxpool.Stat {
	if s.pool == nil {
		return nil
	}
	return s.pool.Stat()
}

// PoolWaiting is how many calls are waiting for a pool connection now (pgxpool
// counts the waits that happened, not the ones going on).
func (s *Store) PoolWaiting() int32 { return s.waiting.Load() }
