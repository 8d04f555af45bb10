-- A student id is one id whatever its letter case (`S12` and `s12` cannot both register),
-- as usernames and emails are (00003). The course's unique constraint stays; this index
-- on lower() adds the rule. New sids are ASCII letters and digits only (the API and the
-- DB service's protos say so); older rows keep theirs.
--
-- A database from before this rule may hold sids that differ only in case: then the
-- check names each clash and what to do, and the migration rolls back whole.

-- +goose Up
-- +goose StatementBegin
DO $$
DECLARE
    clashes text;
BEGIN
    SELECT string_agg(clash, E'\n' ORDER BY clash) INTO clashes
    FROM (
        SELECT 'sid ' || string_agg(format('%L (user %s)', sid, id), ', ' ORDER BY id) AS clash
        FROM users GROUP BY lower(sid) HAVING count(*) > 1
    ) AS found;
    IF clashes IS NOT NULL THEN
        RAISE EXCEPTION E'student ids must be unique regardless of letter case, and these users'' differ only in case:\n%\n'
            'Nothing was changed. Correct all but one sid of each line (deactivated users keep theirs too), '
            'e.g. UPDATE users SET sid = ''12210001'' WHERE id = <user>; then run the migrations again (make up, or goose up).', clashes;
    END IF;
END $$;
-- +goose StatementEnd

CREATE UNIQUE INDEX users_sid_lower_key ON users (lower(sid));

-- +goose Down
DROP INDEX users_sid_lower_key;
