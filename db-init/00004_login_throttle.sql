-- Failed logins, counted per username from all addresses (`account:<lower(username)>`)
-- and per username from one client address (`account:<lower(username)> from:<address>`),
-- so that every DB service replica and every API replica sees the same counts. A key's row is deleted by a successful login and, once its failures
-- are older than the window and no wait is running, by the DB service's cleanup.
-- IF NOT EXISTS: a database that the old db-init made at this stage already has it.

-- +goose Up
CREATE TABLE IF NOT EXISTS login_throttle (
    key             text PRIMARY KEY,
    -- consecutive failures within the window
    failures        int NOT NULL CHECK (failures > 0),
    last_failure_at timestamptz NOT NULL,
    -- while in the future, every login for the key is refused without a password check
    blocked_until   timestamptz
);

-- +goose Down
DROP TABLE login_throttle;
