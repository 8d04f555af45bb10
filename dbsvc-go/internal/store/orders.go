package store

import (
	"context"
	"errors"
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

// CreateOrder sells quantity of a product to an active user. The stock update
// and the order row commit together or not at all. The conditional UPDATE
// takes the product's row lock, so concurrent orders queue on it and each
// sees the stock the previous one left: none is lost and the stock never
// drops below zero.
//
// credentialsVersion, when not nil, is the caller's token's: the order is
// placed only if the user is active at that version (see checkCaller).
func (s *Store) CreateOrder(ctx context.Context, userID, productID, quantity int32, credentialsVersion *int32) (*dbv1.Order, error) {
	var o *dbv1.Order
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := checkCaller(ctx, tx, userID, credentialsVersion); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE products SET stock = stock - $2 WHERE id = $1 AND stock >= $2`, productID, quantity)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return s.whyNoStock(ctx, tx, productID, quantity)
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
			RETURNING `+orderColumns, userID, productID, quantity))
		return err
	})
	return o, err
}

// checkCaller refuses a write for a user that does not exist or is
// deactivated and, when credentialsVersion is set, for a token whose version is
// no longer the user's (the password changed or the account was deactivated):
// UNAUTHENTICATED, as the API's own token check answers. It reads the user in
// the write's transaction without locking it: a write that commits just before
// a concurrent password change or deactivation is simply the token's last one.
func checkCaller(ctx context.Context, tx pgx.Tx, userID int32, credentialsVersion *int32) error {
	var (
		active  bool
		version int32
	)
	err := tx.QueryRow(ctx, `SELECT active, credentials_version FROM users WHERE id = $1`, userID).Scan(&active, &version)
	switch {
	case err != nil && !errors.Is(err, pgx.ErrNoRows):
		return err
	case credentialsVersion != nil && (err != nil || !active || version != *credentialsVersion):
		return errTokenRevoked
	case err != nil || !active:
		return refuse(NotFound, "user %d does not exist or is deactivated", userID)
	}
	return nil
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
func (s *Store) CancelOrder(ctx context.Context, id, userID int32, credentialsVersion *int32) (*dbv1.Order, error) {
	var o *dbv1.Order
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if credentialsVersion != nil {
			if err := checkCaller(ctx, tx, userID, credentialsVersion); err != nil {
				return err
			}
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
