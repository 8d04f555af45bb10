// Package config reads the DB service's settings from the environment.
package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sustech-merch/store/serving"
)

// Config is everything the DB service can be told from outside.
type Config struct {
	ListenAddr string // DBSVC_LISTEN_ADDR
	Instance   string // INSTANCE_NAME, in every log record
	LogsvcAddr string // LOGSVC_ADDR
	// Where GET /metrics is served for Prometheus; empty serves no metrics and
	// adds no interceptor (what bench compares against).
	MetricsListenAddr string // DBSVC_METRICS_LISTEN_ADDR

	PostgresHost string // POSTGRES_HOST
	PostgresPort int    // POSTGRES_PORT
	// The role the service logs in as: in the store, its least-privilege role
	// (DBSVC_DB_USER and DBSVC_DB_PASSWORD in .env, passed under these names by
	// deploy/local/supervisord.conf and docker-compose.yml), not the owner.
	PostgresUser     string // POSTGRES_USER
	PostgresPassword string // POSTGRES_PASSWORD
	PostgresDB       string // POSTGRES_DB
	// The database is only reachable on the internal network and the postgres
	// image serves no TLS, so "disable" saves the TLS round trip that "prefer"
	// would spend on every new connection.
	PostgresSSLMode string // POSTGRES_SSLMODE

	PoolMaxConns          int32         // DB_POOL_MAX_CONNS
	PoolMinConns          int32         // DB_POOL_MIN_CONNS
	PoolMaxConnLifetime   time.Duration // DB_POOL_MAX_CONN_LIFETIME
	PoolMaxConnIdleTime   time.Duration // DB_POOL_MAX_CONN_IDLE_TIME
	PoolHealthCheckPeriod time.Duration // DB_POOL_HEALTH_CHECK_PERIOD
	// A call that cannot get a connection within this time fails UNAVAILABLE
	// instead of queueing until its own deadline.
	AcquireTimeout time.Duration // DB_ACQUIRE_TIMEOUT
	// Every RPC opens and closes its own connection; only for the benchmark
	// that measures what the pool is worth.
	ConnectPerCall bool // DBSVC_CONNECT_PER_CALL

	// Failed logins: how many in a row (of a username from one client address, and
	// from all addresses, which then holds only the addresses that failed on it)
	// before the next attempts wait, the first wait (doubling with each further
	// failure), its ceiling, and how long after the later of the last failure and
	// the end of its wait a count is forgotten.
	LoginMaxFailures        int           // LOGIN_MAX_FAILURES
	LoginAccountMaxFailures int           // LOGIN_ACCOUNT_MAX_FAILURES
	LoginBaseWait           time.Duration // LOGIN_THROTTLE_BASE_WAIT
	LoginMaxWait            time.Duration // LOGIN_THROTTLE_MAX_WAIT
	LoginFailureWindow      time.Duration // LOGIN_FAILURE_WINDOW

	// How long an idempotency key is kept with its order; the contract asks for a
	// day at least.
	IdempotencyKeyRetention time.Duration // IDEMPOTENCY_KEY_RETENTION

	// How long SIGTERM waits for calls in flight. Below docker's 10 s stop
	// grace period, so the pool and the log shipper are closed before SIGKILL.
	ShutdownTimeout time.Duration // DBSVC_SHUTDOWN_TIMEOUT
}

// Load reads the environment; getenv is os.Getenv outside of tests.
func Load(getenv func(string) string) (Config, error) {
	env := serving.Env(getenv)
	cfg := Config{
		ListenAddr:       env.String("DBSVC_LISTEN_ADDR", ":50051"),
		Instance:         env.String("INSTANCE_NAME", "db-1"),
		LogsvcAddr:       env.String("LOGSVC_ADDR", "127.0.0.1:50052"),
		PostgresHost:     env.String("POSTGRES_HOST", "127.0.0.1"),
		PostgresUser:     getenv("POSTGRES_USER"),
		PostgresPassword: getenv("POSTGRES_PASSWORD"),
		PostgresDB:       env.String("POSTGRES_DB", "goodsstore"),
		PostgresSSLMode:  env.String("POSTGRES_SSLMODE", "disable"),
	}
	cfg.MetricsListenAddr = getenv("DBSVC_METRICS_LISTEN_ADDR")
	if cfg.PostgresUser == "" {
		return Config{}, fmt.Errorf("POSTGRES_USER is not set; set it to the database role the service logs in as (the store's .env names it DBSVC_DB_USER, and its local stack and compose file pass that as POSTGRES_USER)")
	}
	if cfg.PostgresPassword == "" {
		return Config{}, fmt.Errorf("POSTGRES_PASSWORD is not set; set it to the password of POSTGRES_USER (DBSVC_DB_PASSWORD in the store's .env)")
	}
	switch cfg.PostgresSSLMode {
	case "disable", "allow", "prefer", "require", "verify-ca", "verify-full":
	default:
		return Config{}, fmt.Errorf("POSTGRES_SSLMODE=%q is not a libpq sslmode; use disable, prefer, require, verify-ca or verify-full", cfg.PostgresSSLMode)
	}
	var err error
	if cfg.PostgresPort, err = env.Int("POSTGRES_PORT", 5432, 1, 65535); err != nil {
		return Config{}, err
	}
	maxConns, err := env.Int("DB_POOL_MAX_CONNS", 8, 1, 10000)
	if err != nil {
		return Config{}, err
	}
	minConns, err := env.Int("DB_POOL_MIN_CONNS", 2, 0, maxConns)
	if err != nil {
		return Config{}, fmt.Errorf("%w (DB_POOL_MAX_CONNS is %d)", err, maxConns)
	}
	cfg.PoolMaxConns, cfg.PoolMinConns = int32(maxConns), int32(minConns)
	if cfg.LoginMaxFailures, err = env.Int("LOGIN_MAX_FAILURES", 5, 1, 1000); err != nil {
		return Config{}, err
	}
	if cfg.LoginAccountMaxFailures, err = env.Int("LOGIN_ACCOUNT_MAX_FAILURES", 20, 1, 100000); err != nil {
		return Config{}, err
	}
	durations := []struct {
		dst      *time.Duration
		name     string
		fallback time.Duration
	}{
		{&cfg.PoolMaxConnLifetime, "DB_POOL_MAX_CONN_LIFETIME", 30 * time.Minute},
		{&cfg.PoolMaxConnIdleTime, "DB_POOL_MAX_CONN_IDLE_TIME", 5 * time.Minute},
		{&cfg.PoolHealthCheckPeriod, "DB_POOL_HEALTH_CHECK_PERIOD", 15 * time.Second},
		{&cfg.AcquireTimeout, "DB_ACQUIRE_TIMEOUT", 2 * time.Second},
		{&cfg.ShutdownTimeout, "DBSVC_SHUTDOWN_TIMEOUT", 8 * time.Second},
		{&cfg.LoginBaseWait, "LOGIN_THROTTLE_BASE_WAIT", time.Second},
		{&cfg.LoginMaxWait, "LOGIN_THROTTLE_MAX_WAIT", 15 * time.Minute},
		{&cfg.LoginFailureWindow, "LOGIN_FAILURE_WINDOW", 15 * time.Minute},
		{&cfg.IdempotencyKeyRetention, "IDEMPOTENCY_KEY_RETENTION", 24 * time.Hour},
	}
	for _, d := range durations {
		if *d.dst, err = env.Duration(d.name, d.fallback); err != nil {
			return Config{}, err
		}
	}
	if cfg.IdempotencyKeyRetention < 24*time.Hour {
		return Config{}, fmt.Errorf("IDEMPOTENCY_KEY_RETENTION=%s is under a day; clients may retry an order for 24h, so keep keys at least 24h", cfg.IdempotencyKeyRetention)
	}
	if cfg.LoginMaxWait < cfg.LoginBaseWait {
		return Config{}, fmt.Errorf("LOGIN_THROTTLE_MAX_WAIT=%s is shorter than LOGIN_THROTTLE_BASE_WAIT=%s; make it at least as long", cfg.LoginMaxWait, cfg.LoginBaseWait)
	}
	if raw := getenv("DBSVC_CONNECT_PER_CALL"); raw != "" {
		if cfg.ConnectPerCall, err = strconv.ParseBool(raw); err != nil {
			return Config{}, fmt.Errorf("DBSVC_CONNECT_PER_CALL=%q is not a boolean; use true or false", raw)
		}
	}
	return cfg, nil
}

// FromEnv is Load(os.Getenv).
func FromEnv() (Config, error) { return Load(os.Getenv) }

// PoolConfig is the pgx configuration for these settings. Connections run in
// UTC, because the schema's timestamp columns hold UTC without a zone.
func (c Config) PoolConfig() (*pgxpool.Config, error) {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(c.PostgresUser, c.PostgresPassword),
		Host:     net.JoinHostPort(c.PostgresHost, strconv.Itoa(c.PostgresPort)),
		Path:     "/" + c.PostgresDB,
		RawQuery: url.Values{"sslmode": {c.PostgresSSLMode}}.Encode(),
	}
	pc, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		return nil, fmt.Errorf("building the PostgreSQL connection settings from POSTGRES_*: %w", err)
	}
	pc.MaxConns = c.PoolMaxConns
	pc.MinConns = c.PoolMinConns
	pc.MaxConnLifetime = c.PoolMaxConnLifetime
	pc.MaxConnIdleTime = c.PoolMaxConnIdleTime
	pc.HealthCheckPeriod = c.PoolHealthCheckPeriod
	// A dead host must not hold a connect attempt longer than a call may wait
	// for a connection.
	pc.ConnConfig.ConnectTimeout = c.AcquireTimeout
	// pgx's default, made explicit because the service relies on it: each
	// statement is prepared once per connection and then only executed.
	pc.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheStatement
	pc.ConnConfig.RuntimeParams["timezone"] = "UTC"
	pc.ConnConfig.RuntimeParams["application_name"] = "dbsvc " + c.Instance
	return pc, nil
}
