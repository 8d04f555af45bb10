-- The DB service's own role: it can do what its SQL does (dbsvc-go/internal/store) and
-- nothing else. It cannot create, alter or drop anything, delete orders or users, or
-- change a product but for its stock. Schema changes stay with the owner (POSTGRES_USER),
-- who runs these migrations. A new table the service uses needs its grants here too, in
-- its own migration (docs/migrations.md).
--
-- The role's name and password come from the environment of `goose up` (DBSVC_DB_USER,
-- DBSVC_DB_PASSWORD in .env). Roles belong to the whole PostgreSQL server, so the role
-- is created only where it is missing: on a server that has it (another database's
-- migrations made it), its password stays as it is.

-- +goose Up
-- Substituted in this one statement only: ENVSUB would also rewrite the $$ of the
-- DO block below. A quote in either value ends the string; the generated ones are hex.
-- +goose ENVSUB ON
SELECT set_config('merch.dbsvc_user', '${DBSVC_DB_USER?is not set; name the DB service role in .env (make up adds it)}', true),
       set_config('merch.dbsvc_password', '${DBSVC_DB_PASSWORD?is not set; set it in .env (make up generates it)}', true);
-- +goose ENVSUB OFF

-- +goose StatementBegin
DO $$
DECLARE
    svc text := current_setting('merch.dbsvc_user');
    secret text := current_setting('merch.dbsvc_password');
BEGIN
    IF svc = '' OR secret = '' THEN
        RAISE EXCEPTION 'DBSVC_DB_USER and DBSVC_DB_PASSWORD must not be empty; set them in .env';
    END IF;
    IF svc = current_user THEN
        RAISE EXCEPTION 'DBSVC_DB_USER is % like POSTGRES_USER, the owner that runs the migrations; the DB service needs a role of its own (e.g. merch_dbsvc)', svc;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = svc) THEN
        EXECUTE format('CREATE ROLE %I LOGIN PASSWORD %L', svc, secret);
    ELSIF EXISTS (SELECT FROM pg_roles WHERE rolname = svc AND (rolsuper OR rolbypassrls)) THEN
        RAISE EXCEPTION 'DBSVC_DB_USER is %, a superuser: grants cannot limit it; name another role', svc;
    END IF;

    -- Every role may connect and make temporary tables by default; only the service
    -- (and superusers such as the owner) may here. A further role, e.g. a metrics
    -- exporter's, needs its own GRANT CONNECT.
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), svc);
    -- PostgreSQL 15 and later have this as their default; older servers let every role
    -- create tables in public.
    REVOKE CREATE ON SCHEMA public FROM PUBLIC;
    EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', svc);

    -- Products are read, and only their stock changes (orders take and return it).
    EXECUTE format('GRANT SELECT, UPDATE (stock) ON products TO %I', svc);
    -- Users are never deleted, only deactivated; sid and created_at never change.
    EXECUTE format('GRANT SELECT, INSERT, UPDATE (username, email, password_hash, '
        'credentials_version, active, deactivated_at) ON users TO %I', svc);
    -- Orders are never deleted, only cancelled. Cancel locks the row with FOR UPDATE,
    -- which needs UPDATE on some column; status is one it updates anyway.
    EXECUTE format('GRANT SELECT, INSERT, UPDATE (status, cancelled_at) ON orders TO %I', svc);
    -- Counts of failed logins come and go.
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON login_throttle TO %I', svc);
    -- The serial ids of the rows it inserts.
    EXECUTE format('GRANT USAGE ON SEQUENCE %s, %s TO %I',
        pg_get_serial_sequence('users', 'id'), pg_get_serial_sequence('orders', 'id'), svc);
END $$;
-- +goose StatementEnd

-- +goose Down
-- The role stays: other databases on the server may use it. Only its grants here go.
-- +goose ENVSUB ON
SELECT set_config('merch.dbsvc_user', '${DBSVC_DB_USER?is not set}', true);
-- +goose ENVSUB OFF
-- +goose StatementBegin
DO $$
DECLARE
    svc text := current_setting('merch.dbsvc_user');
BEGIN
    EXECUTE format('REVOKE ALL ON products, users, orders, login_throttle FROM %I', svc);
    EXECUTE format('REVOKE ALL ON SEQUENCE %s, %s FROM %I',
        pg_get_serial_sequence('users', 'id'), pg_get_serial_sequence('orders', 'id'), svc);
    EXECUTE format('REVOKE ALL ON SCHEMA public FROM %I', svc);
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM %I', current_database(), svc);
    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO PUBLIC', current_database());
END $$;
-- +goose StatementEnd
