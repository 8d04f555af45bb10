-- The PostgreSQL exporter's own role (prometheus-postgres-exporter, for the store's
-- metrics): it may connect to this database and read the server's statistics views
-- (pg_monitor: pg_stat_*, pg_settings, the sizes of databases and tables), nothing
-- else: no table of the store, no write, no DDL. 00005 revoked CONNECT from PUBLIC,
-- hence the grant here.
--
-- The role's name and password come from the environment of `goose up`
-- (POSTGRES_EXPORTER_DB_USER, POSTGRES_EXPORTER_DB_PASSWORD in .env). Roles belong to
-- the whole server, so the role is created only where it is missing; on a server that
-- has it, its password stays as it is.

-- +goose Up
-- +goose ENVSUB ON
SELECT set_config('merch.exporter_user', '${POSTGRES_EXPORTER_DB_USER?is not set; name the PostgreSQL exporter role in .env (make up adds it)}', true),
       set_config('merch.exporter_password', '${POSTGRES_EXPORTER_DB_PASSWORD?is not set; set it in .env (make up generates it)}', true);
-- +goose ENVSUB OFF

-- +goose StatementBegin
DO $$
DECLARE
    exporter text := current_setting('merch.exporter_user');
    secret text := current_setting('merch.exporter_password');
BEGIN
    IF exporter = '' OR secret = '' THEN
        RAISE EXCEPTION 'POSTGRES_EXPORTER_DB_USER and POSTGRES_EXPORTER_DB_PASSWORD must not be empty; set them in .env';
    END IF;
    IF exporter = current_user THEN
        RAISE EXCEPTION 'POSTGRES_EXPORTER_DB_USER is % like POSTGRES_USER, the owner; the exporter needs a role of its own (e.g. merch_metrics)', exporter;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = exporter) THEN
        EXECUTE format('CREATE ROLE %I LOGIN PASSWORD %L', exporter, secret);
    ELSIF EXISTS (SELECT FROM pg_roles WHERE rolname = exporter AND (rolsuper OR rolbypassrls)) THEN
        RAISE EXCEPTION 'POSTGRES_EXPORTER_DB_USER is %, a superuser: grants cannot limit it; name another role', exporter;
    END IF;
    EXECUTE format('GRANT pg_monitor TO %I', exporter);
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), exporter);
END $$;
-- +goose StatementEnd

-- +goose Down
-- The role stays: other databases on the server may use it. Only its grants here go.
-- +goose ENVSUB ON
SELECT set_config('merch.exporter_user', '${POSTGRES_EXPORTER_DB_USER?is not set}', true);
-- +goose ENVSUB OFF
-- +goose StatementBegin
DO $$
DECLARE
    exporter text := current_setting('merch.exporter_user');
BEGIN
    EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM %I', current_database(), exporter);
    EXECUTE format('REVOKE pg_monitor FROM %I', exporter);
END $$;
-- +goose StatementEnd
