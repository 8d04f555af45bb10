-- Usernames and emails are one name whatever their letter case: `Alice` and `alice`
-- cannot both exist. The course's own unique constraints stay; these indexes on lower()
-- add the case-insensitive rule, and serve the lookups by name (login) too.
--
-- A database from before this rule may hold names that differ only in case. Then the
-- index cannot be built; rather than PostgreSQL's bare "could not create unique index",
-- the check below names every clash and what to do, and the whole migration rolls back.
-- IF NOT EXISTS: a database that the old db-init made at this stage already has them.

-- +goose Up
-- A function, so that goose's error quotes the one-line call, not the whole check.
-- +goose StatementBegin
CREATE FUNCTION pg_temp.refuse_names_that_differ_only_in_case() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    clashes text;
BEGIN
    SELECT string_agg(clash, E'\n' ORDER BY clash) INTO clashes
    FROM (
        SELECT 'username ' || string_agg(format('%L (user %s)', username, id), ', ' ORDER BY id) AS clash
        FROM users GROUP BY lower(username) HAVING count(*) > 1
        UNION ALL
        SELECT 'email ' || string_agg(format('%L (user %s)', email, id), ', ' ORDER BY id)
        FROM users WHERE email IS NOT NULL GROUP BY lower(email) HAVING count(*) > 1
    ) AS found;
    IF clashes IS NOT NULL THEN
        RAISE EXCEPTION E'usernames and emails must be unique regardless of letter case, and these users differ only in case:\n%\n'
            'Nothing was changed. Give all but one user of each line another username or email '
            '(deactivated users keep theirs too), e.g. UPDATE users SET username = ''alice_2'' WHERE id = <user>; '
            'then run the migrations again (make up, or goose up).', clashes;
    END IF;
END $$;
-- +goose StatementEnd
SELECT pg_temp.refuse_names_that_differ_only_in_case();
DROP FUNCTION pg_temp.refuse_names_that_differ_only_in_case();

CREATE UNIQUE INDEX IF NOT EXISTS users_username_lower_key ON users (lower(username));
CREATE UNIQUE INDEX IF NOT EXISTS users_email_lower_key ON users (lower(email));

-- +goose Down
DROP INDEX users_email_lower_key;
DROP INDEX users_username_lower_key;
