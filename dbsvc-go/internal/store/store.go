// Package store reads and writes the store's PostgreSQL database and turns
// its rows into the merchstore.db.v1 messages. It takes its arguments as
// valid: the limits of each field are annotations of the protos, which the
// gRPC server checks before it calls the store (and PostgreSQL's constraints
// check again).
package store

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Store runs every call on one connection: borrowed from the pool, or, when
// connecting per call, opened for the call and closed after it.
type Store struct {
	pool           *pgxpool.Pool // nil when connecting per call
	connConfig     *pgx.ConnConfig
	acquireTimeout time.Duration
	hasher         *hasher
	throttle       Throttle
	waiting        atomic.Int32 // calls in pool.Acquire now (PoolWaiting)

	// afterStockUpdate runs inside CreateOrder's transaction right after the
	// stock was taken; a test sets it to fail the transaction there.
	afterStockUpdate func(ctx context.Context) error
}

// Options say how the store reaches PostgreSQL.
type Options struct {
	// AcquireTimeout bounds the wait for a connection (pool or connect);
	// after it the call fails with ErrUnavailable.
	AcquireTimeout time.Duration
	// ConnectPerCall opens a connection per call instead of using a pool.
	ConnectPerCall bool
	// Throttle of failed logins; the zero value is DefaultThrottle.
	Throttle Throttle
}

// New builds the store. It does not wait for PostgreSQL: the service starts
// while the database is down and serves once it answers.
func New(pc *pgxpool.Config, opts Options) (*Store, error) {
	h, err := newHasher()
	if err != nil {
		return nil, fmt.Errorf("preparing the password hasher: %w", err)
	}
	if opts.Throttle == (Throttle{}) {
		opts.Throttle = DefaultThrottle
	}
	s := &Store{connConfig: pc.ConnConfig, acquireTimeout: opts.AcquireTimeout, hasher: h, throttle: opts.Throttle}
	if !opts.ConnectPerCall {
		if s.pool, err = pgxpool.NewWithConfig(context.Background(), pc); err != nil {
			return nil, fmt.Errorf("creating the connection pool: %w", err)
		}
	}
	return s, nil
}

// Close closes the pool's connections, waiting for borrowed ones.
func (s *Store) Close() {
	if s.pool != nil {
		s.pool.Close()
	}
}

// SchemaVersion is the newest migration of db-init/ (docs/migrations.md) when this
// code was written: the schema it was built for. Each new migration raises it
// (TestSchemaVersionIsTheNewestMigration).
const SchemaVersion = 9

// Ping checks that PostgreSQL answers, on a connection got the way calls get
// theirs, and that its schema has had every migration up to SchemaVersion. The
// service serves only then: started beside migrations that still run (Kubernetes
// runs them in a Job), it would fail calls that need what they have not made yet.
// Migrations are additive, so a newer schema is fine.
func (s *Store) Ping(ctx context.Context) error {
	return s.withConn(ctx, func(conn *pgx.Conn) error {
		var version int64
		err := conn.QueryRow(ctx, "SELECT coalesce(max(version_id), 0) FROM goose_db_version WHERE is_applied").Scan(&version)
		if err != nil {
			return fmt.Errorf("reading the schema's version (goose_db_version): %w", err)
		}
		if version < SchemaVersion {
			return fmt.Errorf("the schema has had the migrations up to %d of db-init/, and this DB service needs %d: run them (goose up)", version, SchemaVersion)
		}
		return nil
	})
}

// withConn runs fn on a connection. A failure to get one, or a connection
// that broke under fn, becomes ErrUnavailable unless the caller's own context
// ended first.
func (s *Store) withConn(ctx context.Context, fn func(conn *pgx.Conn) error) error {
	conn, release, err := s.acquire(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer release()
	err = fn(conn)
	var refusal *Error
	if err != nil && conn.IsClosed() && ctx.Err() == nil && !errors.As(err, &refusal) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

func (s *Store) acquire(ctx context.Context) (*pgx.Conn, func(), error) {
	actx, cancel := context.WithTimeout(ctx, s.acquireTimeout)
	defer cancel()
	if s.pool != nil {
		s.waiting.Add(1)
		c, err := s.pool.Acquire(actx)
		s.waiting.Add(-1)
		if err != nil {
			return nil, nil, err
		}
		return c.Conn(), c.Release, nil
	}
	c, err := pgx.ConnectConfig(actx, s.connConfig)
	if err != nil {
		return nil, nil, err
	}
	return c, func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = c.Close(closeCtx) // the call's work is done; a failed goodbye changes nothing
	}, nil
}

// inTx runs fn in a transaction on one connection: committed if fn returns
// nil, rolled back otherwise.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return s.withConn(ctx, func(conn *pgx.Conn) error {
		return pgx.BeginFunc(ctx, conn, fn)
	})
}

// timestamp converts a nullable timestamp column; the columns hold UTC.
func timestamp(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamppb.New(*t)
}
