package server_test

import (
	"context"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/sustech-merch/store/dbsvc/internal/config"
	"github.com/sustech-merch/store/dbsvc/internal/pgtest"
	dbv1 "github.com/sustech-merch/store/gen/go/merchstore/db/v1"
)

// proxy forwards TCP connections to target until cut: then it closes every
// connection it carries and closes new ones at once, as a dead network or a
// stopped database would look to the service.
type proxy struct {
	lis    net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{lis: lis, target: target, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() {
		lis.Close()
		p.setCut(true)
	})
	go p.serve()
	return p
}

func (p *proxy) serve() {
	for {
		client, err := p.lis.Accept()
		if err != nil {
			return
		}
		go p.forward(client)
	}
}

func (p *proxy) forward(client net.Conn) {
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		client.Close()
		return
	}
	p.mu.Unlock()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		client.Close()
		server.Close()
		return
	}
	p.conns[client], p.conns[server] = struct{}{}, struct{}{}
	p.mu.Unlock()
	go func() {
		_, _ = io.Copy(server, client)
		server.Close()
	}()
	_, _ = io.Copy(client, server)
	client.Close()
}

func (p *proxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

func TestDatabaseOutage(t *testing.T) {
	pgtest.Need(t)
	p := startProxy(t, net.JoinHostPort(testDB.Config.PostgresHost, strconv.Itoa(testDB.Config.PostgresPort)))
	host, port, _ := net.SplitHostPort(p.lis.Addr().String())
	s := startService(t, serviceOptions{change: func(c *config.Config) {
		c.PostgresHost = host
		c.PostgresPort, _ = strconv.Atoi(port)
		c.AcquireTimeout = 500 * time.Millisecond
	}})
	getProduct := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := s.products.GetProduct(ctx, &dbv1.GetProductRequest{Id: 1})
		return err
	}
	wantCode(t, getProduct(), codes.OK)

	p.setCut(true)
	// The first call may run on a pooled connection that has just died, the
	// next ones find no connection at all: both are UNAVAILABLE.
	for range 3 {
		err := getProduct()
		wantCode(t, err, codes.Unavailable)
		if got := status.Convert(err).Message(); got != "database unreachable, try again later" {
			t.Errorf("detail %q", got)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_, err := s.users.CreateUser(ctx, &dbv1.CreateUserRequest{Sid: "outage", Username: "outage", Password: "outage-password"})
	cancel()
	wantCode(t, err, codes.Unavailable)
	waitHealth(t, s, healthpb.HealthCheckResponse_NOT_SERVING, 5*time.Second)

	p.setCut(false)
	waitHealth(t, s, healthpb.HealthCheckResponse_SERVING, 5*time.Second)
	wantCode(t, getProduct(), codes.OK)
}

// With every connection busy, a call waits DB_ACQUIRE_TIMEOUT for one and
// then fails UNAVAILABLE instead of queueing until its own deadline.
func TestPoolExhaustedIsUnavailable(t *testing.T) {
	s := startService(t, serviceOptions{change: func(c *config.Config) {
		c.PoolMaxConns, c.PoolMinConns = 1, 0
		c.AcquireTimeout = 200 * time.Millisecond
	}})
	buyer := newUser(t, s)
	product := newProduct(t, 10)

	// The service's only connection waits on a row lock held here.
	ctx := context.Background()
	tx := lockProduct(t, product)
	defer tx.Rollback(ctx)
	blocked := make(chan error, 1)
	go func() {
		_, err := s.orders.CreateOrder(ctx, &dbv1.CreateOrderRequest{UserId: buyer.GetId(), ProductId: product, Quantity: 1, CredentialsVersion: 1})
		blocked <- err
	}()
	waitLockWaiters(t, 1) // the order has taken the connection and waits on the lock

	// Waiting for a connection until the call's own deadline would end in
	// DEADLINE_EXCEEDED; UNAVAILABLE says the acquire timeout ended it.
	callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := s.products.GetProduct(callCtx, &dbv1.GetProductRequest{Id: 1})
	wantCode(t, err, codes.Unavailable)

	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	wantCode(t, <-blocked, codes.OK)
}

// waitLockWaiters waits until n sessions of the test database wait on a lock.
func waitLockWaiters(t *testing.T, n int) {
	t.Helper()
	ctx := context.Background()
	conn, err := testDB.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var waiting int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting == n {
			return
		}
	}
	t.Fatalf("%d sessions wait on a lock after 10s, want %d", waiting, n)
}
