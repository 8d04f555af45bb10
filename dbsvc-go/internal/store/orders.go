package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	dbv1 "github.com/sustech-merch/store/gen/go/merchstore/db/v1"
)

const orderColumns = `id, user_id, product_id, quantity, (total_price * 100)::bigint, status, created_at, cancelled_at`

var orderStatuses = map[string]dbv1.OrderStatus{
	"placed":    dbv1.OrderStatus_ORDER_STATUS_PLACED,
	"cancelled": dbv1.OrderStatus_ORDER_STATUS_CANCELLED,
}

func scanOrder(row pgx.Row) (*dbv1.Order, error) {
	o := &dbv1.Order{}
	var (
		status             string
		created, cancelled *time.Time
	)
	if err := row.Scan(&o.Id, &o.UserId, &o.ProductId, &o.Quantity, &o.TotalPriceCents, &status, &created, &cancelled); err != nil {
		return nil, err
	}
	o.Status = orderStatuses[status]
	o.CreatedAt = timestamp(created)
	o.CancelledAt = timestamp(cancelled)
	return o, nil
}

// NewOrder is an order to place.
type NewOrder struct {
	UserID, ProductID, Quantity int32
	// The caller's token's credentials version: the order is placed only if the
	// user is active at that version (see checkCaller).
	CredentialsVersion int32
	// The client's Idempotency-Key; nil: every call places a new order.
	IdempotencyKey *string
}

// fingerprint is what an idempotency key's request asked for: a repeat must ask
// for the same.
func (no NewOrder) fingerprint() string {
	return fmt.Sprintf("product_id=%d quantity=%d", no.ProductID, no.Quantity)
}

// CreateOrder sells quantity of a product to an active user. The stock update
// and the order row commit together or not at all. The conditional UPDATE
// takes the product's row lock, so concurrent orders queue on it and each
// sees the stock the previous one left: none is lost and the stock never
// drops below zero.
//
// With an idempotency key, the key is claimed first, in the same transaction:
// a concurrent copy's claim waits on the unique (user, key) until this one
// commits or rolls back, then finds the order (replayed) or places it itself.
// So a key places at most one order, and copies answer the same one.
func (s *Store) CreateOrder(ctx context.Context, no NewOrder) (o *dbv1.Order, replayed bool, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if err := checkCaller(ctx, tx, no.UserID, no.CredentialsVersion); err != nil {
			return err
		}
		if no.IdempotencyKey != nil {
			var err error
			if o, err = s.claimKey(ctx, tx, no); err != nil || o != nil {
				replayed = o != nil
				return err
			}
		}
		tag, err := tx.Exec(ctx, `UPDATE products SET stock = stock - $2 WHERE id = $1 AND stock >= $2`, no.ProductID, no.Quantity)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return s.whyNoStock(ctx, tx, no.ProductID, no.Quantity)
		}
		if s.afterStockUpdate != nil {
			if err := s.afterStockUpdate(ctx); err != nil {
				return err
			}
		}
		// The price is read in the same transaction, from the row it has just
		// locked, so the total is the price the stock was sold at.
		o, err = scanOrder(tx.QueryRow(ctx, `INSERT INTO orders (user_id, product_id, quantity, total_price)
			SELECT $1::int, id, $3::int, price * $3::int FROM products WHERE id = $2
			RETURNING `+orderColumns, no.UserID, no.ProductID, no.Quantity))
		if err != nil || no.IdempotencyKey == nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE order_idempotency_keys SET order_id = $3 WHERE user_id = $1 AND key = $2`,
			no.UserID, *no.IdempotencyKey, o.GetId())
		return err
	})
	return o, replayed, err
}

// claimKey claims no's idempotency key for this transaction. It returns the
// order an earlier request placed with the key, or nil when the key is new (and
// now this transaction's). The same key for another request is refused.
func (s *Store) claimKey(ctx context.Context, tx pgx.Tx, no NewOrder) (*dbv1.Order, error) {
	// A claim made by a transaction still in flight makes this INSERT wait for it.
	tag, err := tx.Exec(ctx, `INSERT INTO order_idempotency_keys (user_id, key, fingerprint)
		VALUES ($1, $2, $3) ON CONFLICT (user_id, key) DO NOTHING`, no.UserID, *no.IdempotencyKey, no.fingerprint())
	if err != nil || tag.RowsAffected() == 1 {
		return nil, err
	}
	var fingerprint string
	var orderID int32
	err = tx.QueryRow(ctx, `SELECT fingerprint, order_id FROM order_idempotency_keys WHERE user_id = $1 AND key = $2`,
		no.UserID, *no.IdempotencyKey).Scan(&fingerprint, &orderID)
	if err != nil {
		return nil, err
	}
	if fingerprint != no.fingerprint() {
		return nil, &Error{
			Kind:    FailedPrecondition,
			Reason:  ReasonIdempotencyKeyReused,
			Message: "this Idempotency-Key was used for another order (" + fingerprint + "); use a new key for a new order",
		}
	}
	return scanOrder(tx.QueryRow(ctx, `SELECT `+orderColumns+` FROM orders WHERE id = $1`, orderID))
}

// ForgetOldIdempotencyKeys deletes the keys older than retention: a retry that
// late places a new order.
func (s *Store) ForgetOldIdempotencyKeys(ctx context.Context, retention time.Duration) (int64, error) {
	var forgotten int64
	err := s.withConn(ctx, func(conn *pgx.Conn) error {
		tag, err := conn.Exec(ctx, `DELETE FROM order_idempotency_keys WHERE created_at < now() - make_interval(secs => $1)`, retention.Seconds())
		forgotten = tag.RowsAffected()
		return err
	})
	return forgotten, err
}

// checkCaller refuses a write for a user that does not exist, is deactivated,
// or whose credentials version is no longer the caller's token's (the password
// changed or the account was deactivated): UNAUTHENTICATED, as the API's own
// token check answers. Every write that acts for a user passes the version, so
// a caller cannot skip the check by leaving it out. It reads the user in the
// write's transaction (or connection) without locking it: a write that commits
// just before a concurrent password change or deactivation is simply the
// token's last one.
func checkCaller(ctx context.Context, q querier, userID, credentialsVersion int32) error {
	var (
		active  bool
		version int32
	)
	err := q.QueryRow(ctx, `SELECT active, credentials_version FROM users WHERE id = $1`, userID).Scan(&active, &version)
	switch {
	case err != nil && !errors.Is(err, pgx.ErrNoRows):
		return err
	case err != nil || !active || version != credentialsVersion:
		return errCredentialsRevoked
	}
	return nil
}

// querier is what checkCaller reads with: a transaction or a connection.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (s *Store) whyNoStock(ctx context.Context, tx pgx.Tx, productID, quantity int32) error {
	var stock int32
	err := tx.QueryRow(ctx, `SELECT stock FROM products WHERE id = $1`, productID).Scan(&stock)
	if errors.Is(err, pgx.ErrNoRows) {
		return refuse(NotFound, "product %d does not exist", productID)
	}
	if err != nil {
		return err
	}
	return refuse(FailedPrecondition, "not enough stock: product %d has %d left, %d requested", productID, stock, quantity)
}

// GetOrder returns an order of userID.
func (s *Store) GetOrder(ctx context.Context, id, userID int32) (*dbv1.Order, error) {
	var o *dbv1.Order
	err := s.withConn(ctx, func(conn *pgx.Conn) error {
		var err error
		o, err = scanOrder(conn.QueryRow(ctx, `SELECT `+orderColumns+` FROM orders WHERE id = $1`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return refuse(NotFound, "order %d does not exist", id)
		}
		if err == nil && o.UserId != userID {
			return refuse(Forbidden, "order %d belongs to another user", id)
		}
		return err
	})
	return o, err
}

// ListOrders returns userID's orders, newest first.
func (s *Store) ListOrders(ctx context.Context, userID int32) ([]*dbv1.Order, error) {
	var orders []*dbv1.Order
	err := s.withConn(ctx, func(conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, `SELECT `+orderColumns+` FROM orders WHERE user_id = $1 ORDER BY created_at DESC, id DESC`, userID)
		if err != nil {
			return err
		}
		orders, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*dbv1.Order, error) { return scanOrder(r) })
		return err
	})
	return orders, err
}

// CancelOrder cancels a placed order of userID and puts its quantity back in
// stock. The order's row lock makes a second, concurrent cancel wait and then
// see "cancelled", so the quantity goes back exactly once.
func (s *Store) CancelOrder(ctx context.Context, id, userID, credentialsVersion int32) (*dbv1.Order, error) {
	var o *dbv1.Order
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := checkCaller(ctx, tx, userID, credentialsVersion); err != nil {
			return err
		}
		var (
			owner  int32
			status string
		)
		err := tx.QueryRow(ctx, `SELECT user_id, status FROM orders WHERE id = $1 FOR UPDATE`, id).Scan(&owner, &status)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return refuse(NotFound, "order %d does not exist", id)
		case err != nil:
			return err
		case owner != userID:
			return refuse(Forbidden, "order %d belongs to another user", id)
		case status == "cancelled":
			return refuse(FailedPrecondition, "order %d is already cancelled", id)
		}
		o, err = scanOrder(tx.QueryRow(ctx, `UPDATE orders SET status = 'cancelled', cancelled_at = now()
			WHERE id = $1 RETURNING `+orderColumns, id))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE products SET stock = stock + $2 WHERE id = $1`, o.ProductId, o.Quantity)
		return err
	})
	return o, err
}
