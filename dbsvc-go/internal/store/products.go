package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	dbv1 "github.com/sustech-merch/store/gen/go/merchstore/db/v1"
)

// Money leaves the database as an exact count of cents, computed by
// PostgreSQL from decimal(10,2), so that no value passes through a float.
const productColumns = `id, name, COALESCE(description, ''), COALESCE(category, ''),
	(price * 100)::bigint, COALESCE(slogan, ''), stock, created_at`

func scanProduct(row pgx.Row) (*dbv1.Product, error) {
	p := &dbv1.Product{}
	var created *time.Time
	if err := row.Scan(&p.Id, &p.Name, &p.Description, &p.Category, &p.PriceCents, &p.Slogan, &p.Stock, &created); err != nil {
		return nil, err
	}
	p.CreatedAt = timestamp(created)
	return p, nil
}

// ListProducts returns every product, by id.
func (s *Store) ListProducts(ctx context.Context) ([]*dbv1.Product, error) {
	var products []*dbv1.Product
	err := s.withConn(ctx, func(conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, `SELECT `+productColumns+` FROM products ORDER BY id`)
		if err != nil {
			return err
		}
		products, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*dbv1.Product, error) { return scanProduct(r) })
		return err
	})
	return products, err
}

// GetProduct returns one product.
func (s *Store) GetProduct(ctx context.Context, id int32) (*dbv1.Product, error) {
	var p *dbv1.Product
	err := s.withConn(ctx, func(conn *pgx.Conn) error {
		var err error
		p, err = scanProduct(conn.QueryRow(ctx, `SELECT `+productColumns+` FROM products WHERE id = $1`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return refuse(NotFound, "product %d does not exist", id)
		}
		return err
	})
	return p, err
}
