-- Idempotency-Key on POST /orders: a key is stored with the order it placed, in the
-- order's own transaction, so a retry or a concurrent copy finds it and answers that
-- order instead of selling the stock again. `fingerprint` is what the request asked for
-- (product and quantity): the same key with another request is refused. Keys older than
-- IDEMPOTENCY_KEY_RETENTION are deleted by the DB service's cleanup (hence the index).

-- +goose Up
CREATE TABLE order_idempotency_keys (
    user_id     int NOT NULL REFERENCES users,
    key         varchar(255) NOT NULL,
    fingerprint text NOT NULL,
    -- null only inside the transaction that is placing the order
    order_id    int REFERENCES orders,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX order_idempotency_keys_created_at_idx ON order_idempotency_keys (created_at);

-- +goose ENVSUB ON
SELECT set_config('merch.dbsvc_user', '${DBSVC_DB_USER?is not set; name the DB service role in .env (make up adds it)}', true);
-- +goose ENVSUB OFF
-- +goose StatementBegin
DO $$
BEGIN
    -- Keys are claimed (INSERT), tied to their order (UPDATE order_id), looked up, and
    -- forgotten after the retention (DELETE).
    EXECUTE format('GRANT SELECT, INSERT, UPDATE (order_id), DELETE ON order_idempotency_keys TO %I',
        current_setting('merch.dbsvc_user'));
END $$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE order_idempotency_keys;
