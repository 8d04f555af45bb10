package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	dbv1 "github.com/sustech-merch/store/gen/go/merchstore/db/v1"
)

const userColumns = `id, sid, username, email, created_at, active, credentials_version`

func scanUser(row pgx.Row, extra ...any) (*dbv1.User, error) {
	u := &dbv1.User{}
	var created *time.Time
	dst := append([]any{&u.Id, &u.Sid, &u.Username, &u.Email, &created, &u.Active, &u.CredentialsVersion}, extra...)
	if err := row.Scan(dst...); err != nil {
		return nil, err
	}
	u.CreatedAt = timestamp(created)
	return u, nil
}

// NewUser is a registration.
type NewUser struct {
	SID      string
	Username string
	Email    *string // nil: no email
	Password string
}

// CreateUser stores a new, active user with the password's argon2id hash.
func (s *Store) CreateUser(ctx context.Context, nu NewUser) (*dbv1.User, error) {
	hash, err := s.hasher.hash(ctx, nu.Password)
	if err != nil {
		return nil, err
	}
	var u *dbv1.User
	err = s.withConn(ctx, func(conn *pgx.Conn) error {
		var err error
		u, err = scanUser(conn.QueryRow(ctx,
			`INSERT INTO users (sid, username, email, password_hash) VALUES ($1, $2, $3, $4) RETURNING `+userColumns,
			nu.SID, nu.Username, nu.Email, hash))
		return taken(err, nu.SID, nu.Username, nu.Email)
	})
	return u, err
}

// GetUser returns a user, deactivated ones too (active false), so that the
// API can refuse their tokens.
func (s *Store) GetUser(ctx context.Context, id int32) (*dbv1.User, error) {
	var u *dbv1.User
	err := s.withConn(ctx, func(conn *pgx.Conn) error {
		var err error
		u, err = scanUser(conn.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return refuse(NotFound, "user %d does not exist", id)
		}
		return err
	})
	return u, err
}

// VerifyCredentials returns the active user with this username and password.
// Every failure is the same errBadCredentials after the same work (one
// argon2 hash), so neither the answer nor its timing tells whether the
// username exists.
func (s *Store) VerifyCredentials(ctx context.Context, username, password string) (*dbv1.User, error) {
	var (
		u    *dbv1.User
		hash string
	)
	// A name with NUL cannot exist (PostgreSQL text cannot hold it, and would
	// refuse the query); it is looked up no further but still costs a hash.
	err := pgx.ErrNoRows
	if !strings.ContainsRune(username, 0) {
		err = s.withConn(ctx, func(conn *pgx.Conn) error {
			var err error
			u, err = scanUser(conn.QueryRow(ctx, `SELECT `+userColumns+`, password_hash FROM users WHERE username = $1`, username), &hash)
			return err
		})
	}
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		u, hash = nil, s.hasher.dummy
	case err != nil:
		return nil, err
	}
	ok, err := s.hasher.verify(ctx, password, hash)
	if err != nil {
		return nil, err
	}
	if !ok || u == nil || !u.Active {
		return nil, errBadCredentials
	}
	return u, nil
}

// UserChanges are the fields UpdateUser sets; nil leaves a field as it is.
type UserChanges struct {
	Username *string
	Email    *string
	Password *string
}

// UpdateUser changes an active user. A new password is hashed and bumps
// credentials_version, which retires the user's older tokens.
func (s *Store) UpdateUser(ctx context.Context, id int32, ch UserChanges) (*dbv1.User, error) {
	var hash *string
	if ch.Password != nil {
		h, err := s.hasher.hash(ctx, *ch.Password)
		if err != nil {
			return nil, err
		}
		hash = &h
	}
	var u *dbv1.User
	err := s.withConn(ctx, func(conn *pgx.Conn) error {
		var err error
		u, err = scanUser(conn.QueryRow(ctx, `UPDATE users SET
				username = COALESCE($2::varchar, username),
				email = COALESCE($3::varchar, email),
				password_hash = COALESCE($4::varchar, password_hash),
				credentials_version = credentials_version + CASE WHEN $4::varchar IS NULL THEN 0 ELSE 1 END
			WHERE id = $1 AND active
			RETURNING `+userColumns,
			id, ch.Username, ch.Email, hash))
		if errors.Is(err, pgx.ErrNoRows) {
			return refuse(NotFound, "user %d does not exist or is deactivated", id)
		}
		return taken(err, "", deref(ch.Username), ch.Email)
	})
	return u, err
}

// DeactivateUser keeps the row (its username, sid and email stay taken, its
// orders keep their owner) but ends its logins and tokens.
func (s *Store) DeactivateUser(ctx context.Context, id int32) error {
	return s.withConn(ctx, func(conn *pgx.Conn) error {
		tag, err := conn.Exec(ctx, `UPDATE users
			SET active = false, deactivated_at = now(), credentials_version = credentials_version + 1
			WHERE id = $1 AND active`, id)
		if err == nil && tag.RowsAffected() == 0 {
			return refuse(NotFound, "user %d does not exist or is deactivated", id)
		}
		return err
	})
}

// taken turns a unique violation into a refusal naming the field, read from
// the constraint PostgreSQL reports.
func taken(err error, sid, username string, email *string) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		return err
	}
	switch pgErr.ConstraintName {
	case "users_username_key":
		return refuse(Taken, "username %q is already taken", username)
	case "users_sid_key":
		return refuse(Taken, "sid %q is already taken", sid)
	case "users_email_key":
		return refuse(Taken, "email %q is already taken", deref(email))
	}
	return err
}

func deref(v *string) string {
	if v == nil {
		return ""
	}
	return *v
}
