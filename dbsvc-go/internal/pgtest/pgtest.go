// Package pgtest gives tests and benchmarks a throwaway copy of the store's
// database on the real PostgreSQL named by POSTGRES_HOST, POSTGRES_PORT,
// POSTGRES_USER and POSTGRES_PASSWORD. It never touches the store's own
// database.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sustech-merch/store/dbsvc/internal/config"
)

// DB is one throwaway database with the store's schema and products.
type DB struct {
	Config config.Config // the service's settings, pointing at this database
	admin  config.Config // the same server, maintenance database "postgres"
}

// Main is a test package's TestMain: it creates the package's database from
// initDir, hands it to use, runs the tests and drops the database.
func Main(m *testing.M, initDir string, use func(*DB)) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	db, err := Create(ctx, initDir)
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

// Create makes a database dbsvc_test_<random> and applies initDir/*.sql to it
// in name order, as PostgreSQL's docker entrypoint does.
func Create(ctx context.Context, initDir string) (*DB, error) {
	if os.Getenv("POSTGRES_PASSWORD") == "" {
		return nil, fmt.Errorf("POSTGRES_PASSWORD is not set: these tests need a real PostgreSQL; export POSTGRES_HOST, POSTGRES_PORT, POSTGRES_USER (a superuser) and POSTGRES_PASSWORD, e.g. from the stack's .env")
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
	cfg, err := config.Load(env)
	if err != nil {
		return nil, err
	}
	db := &DB{Config: cfg, admin: cfg}
	db.admin.PostgresDB = "postgres"
	if err := db.exec(ctx, db.admin, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return nil, fmt.Errorf("creating the test database on %s:%d as %s: %w", cfg.PostgresHost, cfg.PostgresPort, cfg.PostgresUser, err)
	}
	if err := db.apply(ctx, initDir); err != nil {
		return nil, errors.Join(err, db.Drop())
	}
	return db, nil
}

func (db *DB) apply(ctx context.Context, initDir string) error {
	files, err := filepath.Glob(filepath.Join(initDir, "*.sql"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no *.sql in %s", initDir)
	}
	sort.Strings(files)
	for _, f := range files {
		sql, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if err := db.exec(ctx, db.Config, string(sql)); err != nil {
			return fmt.Errorf("applying %s: %w", f, err)
		}
	}
	return nil
}

// Drop removes the database, ending any session still connected to it.
func (db *DB) Drop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return db.exec(ctx, db.admin, "DROP DATABASE IF EXISTS "+pgx.Identifier{db.Config.PostgresDB}.Sanitize()+" WITH (FORCE)")
}

// Connect opens a connection to the test database, for a test's own checks.
func (db *DB) Connect(ctx context.Context) (*pgx.Conn, error) {
	return connect(ctx, db.Config)
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
