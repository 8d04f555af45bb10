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

// VerifyCredentials returns the active user with this username (in any letter
// case) and password. Every failure is the same errBadCredentials after the same
// work (one argon2 hash), so neither the answer nor its timing tells whether the
// username exists; every failure counts against the username and the client
// address (see Throttle), and while this client waits the answer is Throttled,
// with no hash at all.
func (s *Store) VerifyCredentials(ctx context.Context, username, password, clientAddress string) (*dbv1.User, error) {
	rows := s.loginRows(username, clientAddress)
	var (
		u    *dbv1.User
		hash string
	)
	err := s.withConn(ctx, func(conn *pgx.Conn) error {
		if err := s.refuseIfWaiting(ctx, conn, rows); err != nil {
			return err
		}
		// A name with NUL cannot exist (PostgreSQL text cannot hold it, and would
		// refuse the query); it is looked up no further but still costs a hash.
		if strings.ContainsRune(username, 0) {
			return pgx.ErrNoRows
		}
		var err error
		u, err = scanUser(conn.QueryRow(ctx, `SELECT `+userColumns+`, password_hash FROM users WHERE lower(username) = lower($1)`, username), &hash)
		return err
	})
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
	if ok && u != nil && u.Active {
		return u, s.withConn(ctx, func(conn *pgx.Conn) error { return forgive(ctx, conn, rows) })
	}
	if err := s.withConn(ctx, func(conn *pgx.Conn) error { return s.recordFailure(ctx, conn, rows) }); err != nil {
		return nil, err
	}
	return nil, errBadCredentials
}

// reauthenticate checks that currentPassword is active user id's password before a
// change that takes it, with the throttle of the user's logins: a wrong one counts
// as a failed login from clientAddress. It returns the hash it checked, which the
// change then requires to be unchanged, so that a password changed in between is not
// overruled.
func (s *Store) reauthenticate(ctx context.Context, id int32, currentPassword, clientAddress string) (string, error) {
	var username, hash string
	err := s.withConn(ctx, func(conn *pgx.Conn) error {
		err := conn.QueryRow(ctx, `SELECT username, password_hash FROM users WHERE id = $1 AND active`, id).Scan(&username, &hash)
		if errors.Is(err, pgx.ErrNoRows) {
			return refuse(NotFound, "user %d does not exist or is deactivated", id)
		}
		if err != nil {
			return err
		}
		return s.refuseIfWaiting(ctx, conn, s.loginRows(username, clientAddress))
	})
	if err != nil {
		return "", err
	}
	ok, err := s.hasher.verify(ctx, currentPassword, hash)
	if err != nil {
		return "", err
	}
	rows := s.loginRows(username, clientAddress)
	if ok {
		return hash, s.withConn(ctx, func(conn *pgx.Conn) error { return forgive(ctx, conn, rows) })
	}
	if err := s.withConn(ctx, func(conn *pgx.Conn) error { return s.recordFailure(ctx, conn, rows) }); err != nil {
		return "", err
	}
	return "", errWrongCurrentPassword
}

// UserChanges are the fields UpdateUser sets; nil leaves a field as it is.
type UserChanges struct {
	Username *string
	Email    *string
	Password *string
	// CurrentPassword proves the change; required (by the request's rules) to
	// change Email or Password.
	CurrentPassword *string
	// ClientAddress is where the change comes from, for the throttle; may be empty.
	ClientAddress string
	// CredentialsVersion is the caller's token's: the change is made only while
	// the user is active at it (see checkCaller).
	CredentialsVersion int32
}

// UpdateUser changes an active user. A new password is hashed and bumps
// credentials_version, which retires the user's older tokens.
func (s *Store) UpdateUser(ctx context.Context, id int32, ch UserChanges) (*dbv1.User, error) {
	if err := s.withConn(ctx, func(conn *pgx.Conn) error { return checkCaller(ctx, conn, id, ch.CredentialsVersion) }); err != nil {
		return nil, err
	}
	var provenHash *string
	if ch.CurrentPassword != nil {
		h, err := s.reauthenticate(ctx, id, *ch.CurrentPassword, ch.ClientAddress)
		if err != nil {
			return nil, err
		}
		provenHash = &h
	}
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
			WHERE id = $1 AND active AND credentials_version = $6 AND ($5::varchar IS NULL OR password_hash = $5)
			RETURNING `+userColumns,
			id, ch.Username, ch.Email, hash, provenHash, ch.CredentialsVersion))
		if errors.Is(err, pgx.ErrNoRows) {
			// Deactivated or given a new password since checkCaller.
			return errCredentialsRevoked
		}
		return taken(err, "", deref(ch.Username), ch.Email)
	})
	return u, err
}

// DeactivateUser keeps the row (its username, sid and email stay taken, its
// orders keep their owner) but ends its logins and tokens. It takes the user's
// current password.
func (s *Store) DeactivateUser(ctx context.Context, id int32, currentPassword, clientAddress string, credentialsVersion int32) error {
	if err := s.withConn(ctx, func(conn *pgx.Conn) error { return checkCaller(ctx, conn, id, credentialsVersion) }); err != nil {
		return err
	}
	provenHash, err := s.reauthenticate(ctx, id, currentPassword, clientAddress)
	if err != nil {
		return err
	}
	return s.withConn(ctx, func(conn *pgx.Conn) error {
		tag, err := conn.Exec(ctx, `UPDATE users
			SET active = false, deactivated_at = now(), credentials_version = credentials_version + 1
			WHERE id = $1 AND active AND credentials_version = $3 AND password_hash = $2`, id, provenHash, credentialsVersion)
		if err == nil && tag.RowsAffected() == 0 {
			// Deactivated or given a new password since checkCaller.
			return errCredentialsRevoked
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
	// Names are taken whatever their letter case (the lower() indexes).
	switch pgErr.ConstraintName {
	case "users_username_key", "users_username_lower_key":
		return refuse(Taken, "username %q is already taken", username)
	case "users_sid_key", "users_sid_lower_key":
		return refuse(Taken, "sid %q is already taken", sid)
	case "users_email_key", "users_email_lower_key":
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
