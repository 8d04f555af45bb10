-- The DB service reads which migrations this database has had: it is ready only once
-- the schema is at least at the version it was built for (store.SchemaVersion), so that
-- where it can start while the migrations still run (a Kubernetes install, whose
-- migrations are a Job) it takes no call before the tables and indexes it needs exist.
-- Reading goose's table is all it gets: goose alone writes it, as the owner.

-- +goose Up
-- +goose ENVSUB ON
SELECT set_config('merch.dbsvc_user', '${DBSVC_DB_USER?is not set; name the DB service role in .env (make up adds it)}', true);
-- +goose ENVSUB OFF
-- +goose StatementBegin
DO $$
BEGIN
    EXECUTE format('GRANT SELECT ON goose_db_version TO %I', current_setting('merch.dbsvc_user'));
END $$;
-- +goose StatementEnd

-- +goose Down
-- +goose ENVSUB ON
SELECT set_config('merch.dbsvc_user', '${DBSVC_DB_USER?is not set}', true);
-- +goose ENVSUB OFF
-- +goose StatementBegin
DO $$
BEGIN
    EXECUTE format('REVOKE SELECT ON goose_db_version FROM %I', current_setting('merch.dbsvc_user'));
END $$;
-- +goose StatementEnd
