// Package pgtest gives tests and benchmarks a throwaway copy of the store's
// database on the real PostgreSQL named by POSTGRES_HOST, POSTGRES_PORT,
// POSTGRES_USER and POSTGRES_PASSWORD (the owner role), migrated the way the
// store's own is, with the DB service logging in as DBSVC_DB_USER as it does in
// the store. It never touches the store's own database.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/sustech-merch/store/dbsvc/internal/config"
)

// DB is one throwaway database with the store's schema and products.
type DB struct {
	// The service's settings, pointing at this database: it logs in as
	// DBSVC_DB_USER, so every test of an RPC also checks that role's grants.
	Config config.Config
	owner  config.Config // POSTGRES_USER on this database: migrations, Connect
	admin  config.Config // POSTGRES_USER on the maintenance database "postgres"
}

// Main is a test package's TestMain: it creates the package's database with
// the migrations in migrationsDir, hands it to use, runs the tests and drops
// the database. With -short (`make unit`) it makes no database and runs the
// tests as they are: the unit tests run, those that need the database skip
// themselves with Need.
func Main(m *testing.M, migrationsDir string, use func(*DB)) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	db, err := Create(ctx, migrationsDir)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	use(db)
	code := m.Run()
	if err := db.Drop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// Need skips t under -short, where Main made no database: call it first in
// every test (or helper) that uses the database.
func Need(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL: runs without -short (make go-test)")
	}
}

// Create makes a database dbsvc_test_<random> and runs the goose migrations
// in migrationsDir on it as the owner, as `make up` and compose's db-migrate do.
func Create(ctx context.Context, migrationsDir string) (*DB, error) {
	for _, key := range []string{"POSTGRES_PASSWORD", "DBSVC_DB_USER", "DBSVC_DB_PASSWORD"} {
		if os.Getenv(key) == "" {
			return nil, fmt.Errorf("%s is not set: these tests need a real PostgreSQL; export POSTGRES_HOST, POSTGRES_PORT, POSTGRES_USER (a superuser), POSTGRES_PASSWORD, DBSVC_DB_USER and DBSVC_DB_PASSWORD, e.g. from the stack's .env", key)
		}
	}
	suffix := make([]byte, 6)
	if _, err := rand.Read(suffix); err != nil {
		return nil, err
	}
	name := "dbsvc_test_" + hex.EncodeToString(suffix)
	env := func(key string) string {
		if key == "POSTGRES_DB" {
			return name
		}
		return os.Getenv(key)
	}
	owner, err := config.Load(env)
	if err != nil {
		return nil, err
	}
	// The same mapping as deploy/local/supervisord.conf and docker-compose.yml.
	service, err := config.Load(func(key string) string {
		switch key {
		case "POSTGRES_USER":
			return os.Getenv("DBSVC_DB_USER")
		case "POSTGRES_PASSWORD":
			return os.Getenv("DBSVC_DB_PASSWORD")
		}
		return env(key)
	})
	if err != nil {
		return nil, err
	}
	db := &DB{Config: service, owner: owner, admin: owner}
	db.admin.PostgresDB = "postgres"
	if err := db.exec(ctx, db.admin, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return nil, fmt.Errorf("creating the test database on %s:%d as %s: %w", owner.PostgresHost, owner.PostgresPort, owner.PostgresUser, err)
	}
	if err := db.migrate(ctx, migrationsDir); err != nil {
		return nil, errors.Join(err, db.Drop())
	}
	return db, nil
}

func (db *DB) migrate(ctx context.Context, migrationsDir string) error {
	pc, err := db.owner.PoolConfig()
	if err != nil {
		return err
	}
	sqlDB := stdlib.OpenDB(*pc.ConnConfig)
	defer sqlDB.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, sqlDB, os.DirFS(migrationsDir))
	if err != nil {
		return fmt.Errorf("reading the migrations in %s: %w", migrationsDir, err)
	}
	if _, err := provider.Up(ctx); err != nil {
		return fmt.Errorf("migrating the test database: %w", err)
	}
	return nil
}

// Drop removes the database, ending any session still connected to it.
func (db *DB) Drop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return db.exec(ctx, db.admin, "DROP DATABASE IF EXISTS "+pgx.Identifier{db.owner.PostgresDB}.Sanitize()+" WITH (FORCE)")
}

// Connect opens a connection to the test database as the owner, for a test's
// own setup and checks (which may do what the service's role may not).
func (db *DB) Connect(ctx context.Context) (*pgx.Conn, error) {
	return connect(ctx, db.owner)
}

func (db *DB) exec(ctx context.Context, cfg config.Config, sql string) error {
	conn, err := connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	// No arguments: the simple protocol, which runs a whole script.
	_, err = conn.Exec(ctx, sql)
	return err
}

func connect(ctx context.Context, cfg config.Config) (*pgx.Conn, error) {
	pc, err := cfg.PoolConfig()
	if err != nil {
		return nil, err
	}
	return pgx.ConnectConfig(ctx, pc.ConnConfig)
}
