package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sustech-merch/store/dbsvc/internal/pgtest"
)

var testDB *pgtest.DB

func TestMain(m *testing.M) {
	pgtest.Main(m, "../../../db-init", func(db *pgtest.DB) { testDB = db })
}

func newStore(t *testing.T) *Store {
	t.Helper()
	return newStoreWith(t, Options{})
}

// newStoreWith is newStore with opts; the acquire timeout is the tests' own.
func newStoreWith(t *testing.T, opts Options) *Store {
	t.Helper()
	pgtest.Need(t)
	pc, err := testDB.Config.PoolConfig()
	if err != nil {
		t.Fatal(err)
	}
	opts.AcquireTimeout = 2 * time.Second
	s, err := New(pc, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// A failure between the stock update and the order insert must leave
// neither: no order row and the stock as it was.
func TestCreateOrderRollsBackMidTransaction(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	n := time.Now().UnixNano() % 1e9
	u, err := s.CreateUser(ctx, NewUser{SID: fmt.Sprint(n), Username: fmt.Sprint("rollback_", n), Password: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	before, err := s.GetProduct(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("injected failure after the stock update")
	var stockSeen int32
	s.afterStockUpdate = func(ctx context.Context) error {
		// Inside the transaction the stock has already dropped.
		p, err := s.GetProduct(ctx, 2)
		if err == nil {
			stockSeen = p.GetStock()
		}
		return boom
	}
	if _, _, err := s.CreateOrder(ctx, NewOrder{UserID: u.GetId(), ProductID: 2, Quantity: 3, CredentialsVersion: 1}); !errors.Is(err, boom) {
		t.Fatalf("CreateOrder error %v, want the injected one", err)
	}
	if stockSeen != before.GetStock() {
		t.Errorf("another connection saw stock %d during the transaction, want the committed %d", stockSeen, before.GetStock())
	}
	after, err := s.GetProduct(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if after.GetStock() != before.GetStock() {
		t.Errorf("stock %d after the rollback, want %d", after.GetStock(), before.GetStock())
	}
	orders, err := s.ListOrders(ctx, u.GetId())
	if err != nil {
		t.Fatal(err)
	}
	if len(orders) != 0 {
		t.Errorf("%d orders after the rollback, want none", len(orders))
	}

	s.afterStockUpdate = nil
	o, _, err := s.CreateOrder(ctx, NewOrder{UserID: u.GetId(), ProductID: 2, Quantity: 3, CredentialsVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 * before.GetPriceCents(); o.GetTotalPriceCents() != want {
		t.Errorf("total_price_cents %d, want %d", o.GetTotalPriceCents(), want)
	}
}

func TestPasswordHash(t *testing.T) {
	ctx := context.Background()
	h, err := newHasher()
	if err != nil {
		t.Fatal(err)
	}
	encoded, err := h.hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	var salt string
	if n, _ := fmt.Sscanf(encoded, "$argon2id$v=19$m=19456,t=2,p=1$%s", &salt); n != 1 {
		t.Fatalf("hash %q is not the PHC string of argon2id m=19456,t=2,p=1", encoded)
	}
	for _, tc := range []struct {
		password string
		want     bool
	}{{"correct horse", true}, {"correct horsf", false}, {"", false}} {
		ok, err := h.verify(ctx, tc.password, encoded)
		if err != nil || ok != tc.want {
			t.Errorf("verify(%q) = %v, %v; want %v", tc.password, ok, err, tc.want)
		}
	}
	other, _ := h.hash(ctx, "correct horse")
	if other == encoded {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	if _, err := h.verify(ctx, "x", "$2b$10$notargon"); err == nil {
		t.Error("verify accepted a hash that is not argon2id")
	}
}

// Each failure beyond the threshold doubles the wait, up to the most it may be.
func TestThrottleWaitDoublesUpToTheMost(t *testing.T) {
	th := Throttle{BaseWait: time.Second, MaxWait: 15 * time.Second}
	var got []time.Duration
	for beyond := range 6 {
		got = append(got, th.wait(beyond))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 15 * time.Second, 15 * time.Second}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("waits %v, want %v", got, want)
	}
	// Far beyond: 2^1000 overflows float64 to +Inf, still the most.
	if d := th.wait(1000); d != 15*time.Second {
		t.Errorf("wait after 1000 more failures %v, want the most, 15s", d)
	}
}

// The service is ready only on a schema that has had SchemaVersion: with the newest
// migration's row of goose_db_version gone, Ping says which migrations to run.
func TestPingWaitsForTheSchemaItWasBuiltFor(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping on the migrated test database: %v", err)
	}
	owner, err := testDB.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close(ctx)
	tag, err := owner.Exec(ctx, "UPDATE goose_db_version SET is_applied = false WHERE version_id = $1", SchemaVersion)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("marking migration %d unapplied: %v (%d rows)", SchemaVersion, err, tag.RowsAffected())
	}
	defer func() {
		if _, err := owner.Exec(ctx, "UPDATE goose_db_version SET is_applied = true WHERE version_id = $1", SchemaVersion); err != nil {
			t.Error(err)
		}
	}()
	err = s.Ping(ctx)
	want := fmt.Sprintf("up to %d of db-init/, and this DB service needs %d", SchemaVersion-1, SchemaVersion)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Ping on a schema one migration short = %v, want an error saying %q", err, want)
	}
}

// A new migration of db-init/ raises SchemaVersion with it: the service then waits for it.
func TestSchemaVersionIsTheNewestMigration(t *testing.T) {
	files, err := filepath.Glob("../../../db-init/[0-9]*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations in db-init/: %v", err)
	}
	newest := 0
	for _, file := range files {
		n, err := strconv.Atoi(strings.SplitN(filepath.Base(file), "_", 2)[0])
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		newest = max(newest, n)
	}
	if SchemaVersion != newest {
		t.Fatalf("SchemaVersion is %d, the newest migration of db-init/ is %d: raise it", SchemaVersion, newest)
	}
}
