-- The store's schema as it was before migrations were versioned (docs/migrations.md).
-- Every statement is IF NOT EXISTS: a database that the old db-init made with plain psql
-- already has all of it, and goose then only records this version as applied.
--
-- The course's three tables keep their columns and types; what the contract needs on top
-- is marked "added". Times are `timestamp` as the course had them, stored in UTC: the
-- database's time zone is UTC, so now() and the services read and write UTC.
-- How each column maps to the protos and the OpenAPI file: docs/type-mapping.md.

-- +goose Up
-- +goose StatementBegin
DO $$ BEGIN
    EXECUTE format('ALTER DATABASE %I SET timezone TO %L', current_database(), 'UTC');
END $$;
-- +goose StatementEnd
SET timezone TO 'UTC';

CREATE TABLE IF NOT EXISTS products (
    id          serial PRIMARY KEY,
    name        varchar(100) NOT NULL,
    description text,
    category    varchar(50),
    price       decimal(10, 2) NOT NULL,
    slogan      varchar(255),
    stock       int NOT NULL DEFAULT 500,
    created_at  timestamp DEFAULT now(),
    -- added: the database itself refuses to sell what it does not have.
    CONSTRAINT products_stock_not_negative CHECK (stock >= 0),
    CONSTRAINT products_price_not_negative CHECK (price >= 0)
);

CREATE TABLE IF NOT EXISTS users (
    id             serial PRIMARY KEY,
    sid            varchar(15) UNIQUE NOT NULL,
    username       varchar(50) UNIQUE NOT NULL,
    email          varchar(255) UNIQUE,
    password_hash  varchar(255) NOT NULL,
    created_at     timestamp DEFAULT now(),
    -- added: a deactivated user keeps the row (usernames, sids and emails stay taken,
    -- orders keep their owner) but can no longer log in.
    active         boolean NOT NULL DEFAULT true,
    deactivated_at timestamp,
    -- added: bumped on every password change and on deactivation; tokens carry it, so
    -- older tokens stop working.
    credentials_version int NOT NULL DEFAULT 1,
    CONSTRAINT users_deactivated_at_iff_inactive CHECK (active = (deactivated_at IS NULL))
);

CREATE TABLE IF NOT EXISTS orders (
    id           serial PRIMARY KEY,
    user_id      int REFERENCES users,
    product_id   int REFERENCES products,
    quantity     int CHECK (quantity BETWEEN 1 AND 3),
    total_price  decimal(10, 2) NOT NULL,
    created_at   timestamp DEFAULT now(),
    -- added: cancelling keeps the row and returns its quantity to stock exactly once.
    status       varchar(16) NOT NULL DEFAULT 'placed',
    cancelled_at timestamp,
    CONSTRAINT orders_status_known CHECK (status IN ('placed', 'cancelled')),
    CONSTRAINT orders_cancelled_at_iff_cancelled
        CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL))
);

-- added: list-my-orders reads one user's orders, newest first.
CREATE INDEX IF NOT EXISTS orders_user_id_created_at_idx ON orders (user_id, created_at DESC, id DESC);
