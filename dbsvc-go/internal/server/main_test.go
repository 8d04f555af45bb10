package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/sustech-merch/store/dbsvc/internal/config"
	"github.com/sustech-merch/store/dbsvc/internal/logship"
	"github.com/sustech-merch/store/dbsvc/internal/pgtest"
	"github.com/sustech-merch/store/dbsvc/internal/server"
	"github.com/sustech-merch/store/dbsvc/internal/store"
	dbv1 "github.com/sustech-merch/store/gen/go/merchstore/db/v1"
	"github.com/sustech-merch/store/serving"
	"github.com/sustech-merch/store/serving/pki"
)

// This run's own database on the real PostgreSQL.
var testDB *pgtest.DB

func TestMain(m *testing.M) {
	pgtest.Main(m, "../../../db-init", func(db *pgtest.DB) { testDB = db })
}

type service struct {
	conn     *grpc.ClientConn
	products dbv1.ProductServiceClient
	users    dbv1.UserServiceClient
	orders   dbv1.OrderServiceClient
	health   healthpb.HealthClient
	shipper  *logship.Shipper
	store    *store.Store
}

type serviceOptions struct {
	// change adjusts the settings that point at the test database.
	change     func(*config.Config)
	logsvcAddr string // default: a port nothing listens on
	throttle   store.Throttle
	// The log shipper's; default: short linger and backoff.
	shipper *logship.Options
	metrics *serving.Metrics // nil: no metrics, as without DBSVC_METRICS_LISTEN_ADDR
	// plaintext serves without TLS (the benchmark's baseline); by default the
	// test dials over mutual TLS as the API, as the store runs.
	plaintext  bool
	reflection bool
}

// mutualTLS makes the store's certificates in a fresh directory, as make up
// does, and returns the DB service's transport and the API's way to dial it.
func mutualTLS(t testing.TB, reflection bool) (serving.Transport, grpc.DialOption) {
	t.Helper()
	dir := t.TempDir()
	ids := []pki.Identity{{Name: serving.IdentityAPI, UID: -1}, {Name: serving.IdentityDB, UID: -1}}
	if err := pki.Make(dir, ids, time.Now()); err != nil {
		t.Fatal(err)
	}
	load := func(identity string) *serving.TLS {
		loaded, err := serving.LoadTLS(filepath.Join(dir, identity))
		if err != nil {
			t.Fatal(err)
		}
		return loaded
	}
	return serving.Transport{TLS: load(serving.IdentityDB), Reflection: reflection},
		load(serving.IdentityAPI).DialOption(serving.IdentityDB)
}

// startService runs the real server on a loopback TCP port and dials it.
func startService(t testing.TB, opts serviceOptions) *service {
	t.Helper()
	pgtest.Need(t)
	cfg := testDB.Config
	if opts.change != nil {
		opts.change(&cfg)
	}
	if opts.logsvcAddr == "" {
		opts.logsvcAddr = deadAddr(t)
	}
	pc, err := cfg.PoolConfig()
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.New(pc, store.Options{AcquireTimeout: cfg.AcquireTimeout, ConnectPerCall: cfg.ConnectPerCall, Throttle: opts.throttle})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	shipperOpts := logship.Options{Linger: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
	if opts.shipper != nil {
		shipperOpts = *opts.shipper
	}
	shipper, err := logship.New(opts.logsvcAddr, "db", "db-test", shipperOpts, logger)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	transport, dial := serving.Transport{Reflection: opts.reflection}, grpc.WithTransportCredentials(insecure.NewCredentials())
	if !opts.plaintext {
		transport, dial = mutualTLS(t, opts.reflection)
	}
	go func() {
		done <- server.Run(ctx, lis, st, shipper, server.Options{HealthInterval: 100 * time.Millisecond, Logger: logger, Metrics: opts.metrics, Transport: transport})
	}()
	conn, err := grpc.NewClient(lis.Addr().String(), dial)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	t.Cleanup(func() {
		once.Do(func() {
			conn.Close()
			cancel()
			if err := <-done; err != nil {
				t.Errorf("server.Run: %v", err)
			}
			// Short: tests that need entries delivered wait for them first.
			flushCtx, flushCancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			shipper.Close(flushCtx)
			flushCancel()
			st.Close()
		})
	})
	s := &service{
		store:    st,
		conn:     conn,
		products: dbv1.NewProductServiceClient(conn),
		users:    dbv1.NewUserServiceClient(conn),
		orders:   dbv1.NewOrderServiceClient(conn),
		health:   healthpb.NewHealthClient(conn),
		shipper:  shipper,
	}
	waitHealth(t, s, healthpb.HealthCheckResponse_SERVING, 5*time.Second)
	return s
}

// deadAddr is a loopback address nothing listens on.
func deadAddr(t testing.TB) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

func waitHealth(t testing.TB, s *service, want healthpb.HealthCheckResponse_ServingStatus, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var got []healthpb.HealthCheckResponse_ServingStatus
		for _, name := range []string{"", "merchstore.db.v1.ProductService", "merchstore.db.v1.UserService", "merchstore.db.v1.OrderService"} {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			resp, err := s.health.Check(ctx, &healthpb.HealthCheckRequest{Service: name})
			cancel()
			if err == nil {
				got = append(got, resp.GetStatus())
			}
		}
		if len(got) == 4 && got[0] == want && got[1] == want && got[2] == want && got[3] == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("health %v after %s, want %v for all four names", got, within, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// wantCode fails unless err has code want (codes.OK: err is nil).
func wantCode(t testing.TB, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("code %v (%v), want %v", got, err, want)
	}
}

var seq atomic.Int64

// unique is a number no other user of this test binary gets, also with
// -count > 1, where the tests share one database.
func unique() string { return fmt.Sprint(seq.Add(1)) }

// newUser registers a fresh user with a unique username and sid.
func newUser(t testing.TB, s *service) *dbv1.User {
	t.Helper()
	n := unique()
	resp, err := s.users.CreateUser(context.Background(), &dbv1.CreateUserRequest{
		Sid: "T" + n, Username: "user_" + n, Password: "password-" + n,
	})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetUser()
}

// passwordOf is the password newUser gave u.
func passwordOf(u *dbv1.User) string {
	return "password-" + strings.TrimPrefix(u.GetUsername(), "user_")
}

// deactivate deactivates a user newUser made.
func deactivate(t testing.TB, s *service, u *dbv1.User) {
	t.Helper()
	if _, err := s.users.DeactivateUser(context.Background(), &dbv1.DeactivateUserRequest{Id: u.GetId(), CurrentPassword: passwordOf(u), CredentialsVersion: 1}); err != nil {
		t.Fatal(err)
	}
}

// newProduct inserts a product with the given stock, so that a test can
// exhaust it without disturbing the others.
func newProduct(t testing.TB, stock int32) int32 {
	t.Helper()
	ctx := context.Background()
	conn, err := testDB.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var id int32
	if err := conn.QueryRow(ctx, `INSERT INTO products (name, price, stock) VALUES ('test product', 12.34, $1) RETURNING id`, stock).Scan(&id); err != nil {
		t.Fatal(err)
	}
	initialStocks.Lock()
	initialStocks.m[id] = stock
	initialStocks.Unlock()
	return id
}

// initialStocks remembers the stock each newProduct started with.
var initialStocks = struct {
	sync.Mutex
	m map[int32]int32
}{m: map[int32]int32{}}

// initialStock is what product id started with: its newProduct stock, or the
// seeded 500.
func initialStock(id int32) int32 {
	initialStocks.Lock()
	defer initialStocks.Unlock()
	if stock, ok := initialStocks.m[id]; ok {
		return stock
	}
	return 500
}

// lockProduct holds product's row lock in a transaction of the test's own,
// so that the service's next order of it waits; the caller ends it.
func lockProduct(t *testing.T, product int32) pgx.Tx {
	t.Helper()
	ctx := context.Background()
	conn, err := testDB.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM products WHERE id = $1 FOR UPDATE`, product); err != nil {
		t.Fatal(err)
	}
	return tx
}
