"""The schema's migrations (db-init/, run by goose) and the DB service's role, on the
store's real PostgreSQL, each in throwaway databases made and dropped here: the store's
own database is only read.

A new database and one that the old db-init made with plain psql (tests/fixtures/,
taken from git) end at the same schema and grants, the old one keeping its rows; names
that differ only in letter case stop the upgrade with a message that lists them, and
nothing changes; the DB service's role can do what its SQL does and nothing more, and
the running DB service logs in with it."""

import os
import re
import subprocess
import uuid
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import errors, sql

ROOT = Path(__file__).resolve().parents[1]
GOOSE = ROOT / ".state/bin/goose"
MIGRATIONS = ROOT / "db-init"
# db-init/ as plain psql files, before goose: 01 and 02 as every store had them until
# commit 1f08409, which added 03 and 04 (git show 1f08409:db-init/...).
OLD_DB_INIT = ROOT / "tests/fixtures/db-init-before-goose"
BEFORE_CASE_RULE = ["01-schema.sql", "02-products.sql"]
AT_1F08409 = [*BEFORE_CASE_RULE, "03-case-insensitive-names.sql", "04-login-throttle.sql"]
LATEST = max(int(p.name.split("_")[0]) for p in MIGRATIONS.glob("*.sql"))

env = os.environ


def connect(dbname, user=None, password=None):
    connection = psycopg2.connect(
        host=env.get("POSTGRES_HOST", "127.0.0.1"),
        port=env.get("POSTGRES_PORT", "5432"),
        user=user or env["POSTGRES_USER"],
        password=password or env["POSTGRES_PASSWORD"],
        dbname=dbname,
        connect_timeout=5,
    )
    connection.autocommit = True
    return connection


def as_service(dbname):
    return connect(dbname, env["DBSVC_DB_USER"], env["DBSVC_DB_PASSWORD"])


def query(dbname, text, *args):
    connection = connect(dbname)
    try:
        with connection.cursor() as cursor:
            cursor.execute(text, args or None)
            return cursor.fetchall()
    finally:
        connection.close()


def goose(dbname, *command, **changes):
    """`goose up` (or another command) as `make up` runs it: as the owner. `changes`
    sets (a string) or removes (None) variables of its environment."""
    if not GOOSE.exists():
        pytest.fail(f"{GOOSE} is missing: `make up` builds it")
    run_env = {
        **env,
        "PGHOST": env.get("POSTGRES_HOST", "127.0.0.1"),
        "PGPORT": env.get("POSTGRES_PORT", "5432"),
        "PGUSER": env["POSTGRES_USER"],
        "PGPASSWORD": env["POSTGRES_PASSWORD"],
        "GOOSE_DRIVER": "postgres",
        "GOOSE_DBSTRING": f"dbname={dbname} sslmode=disable",
        "GOOSE_MIGRATION_DIR": str(MIGRATIONS),
    }
    for name, value in changes.items():
        if value is None:
            run_env.pop(name, None)
        else:
            run_env[name] = value
    return subprocess.run(
        [str(GOOSE), "-env=none", *(command or ["up"])],
        env=run_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def goose_up(dbname):
    answer = goose(dbname)
    assert answer.returncode == 0, answer.stderr
    return answer


def applied_version(dbname):
    exists = query(dbname, "SELECT to_regclass('goose_db_version') IS NOT NULL")[0][0]
    if not exists:
        return None
    return query(dbname, "SELECT max(version_id) FROM goose_db_version WHERE is_applied")[0][0]


def apply_old_db_init(dbname, files):
    """As the old `make up` did: the files in one transaction, as the owner."""
    connection = connect(dbname)
    connection.autocommit = False
    with connection, connection.cursor() as cursor:
        for name in files:
            cursor.execute((OLD_DB_INIT / name).read_text())
    connection.close()


@pytest.fixture
def new_database():
    """Makes empty databases next to the store's; drops them after the test."""
    made = []

    def make():
        name = f"migrate_test_{uuid.uuid4().hex[:12]}"
        admin = connect("postgres")
        with admin.cursor() as cursor:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        admin.close()
        made.append(name)
        return name

    yield make
    admin = connect("postgres")
    with admin.cursor() as cursor:
        for name in made:
            cursor.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    admin.close()


@pytest.fixture(scope="module")
def migrated():
    """One database made by the migrations, for the checks that only read it or roll back."""
    name = f"migrate_test_{uuid.uuid4().hex[:12]}"
    admin = connect("postgres")
    with admin.cursor() as cursor:
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        goose_up(name)
        yield name
    finally:
        with admin.cursor() as cursor:
            cursor.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        admin.close()


# What the schema is, and what the DB service's role may do in it, as rows to compare:
# columns, constraints, indexes, the database's settings and the role's privileges.
SHAPE = """
SELECT 'column', table_name || '.' || column_name,
       concat_ws(' ', data_type, character_maximum_length, numeric_precision, numeric_scale,
                 is_nullable, column_default)
FROM information_schema.columns
WHERE table_schema = 'public' AND table_name <> 'goose_db_version'
UNION ALL
SELECT 'constraint', conrelid::regclass || '.' || conname, pg_get_constraintdef(oid)
FROM pg_constraint
WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> 'goose_db_version'
UNION ALL
SELECT 'index', indexname, indexdef FROM pg_indexes
WHERE schemaname = 'public' AND tablename <> 'goose_db_version'
UNION ALL
SELECT 'setting', 'database', array_to_string(setconfig, ',') FROM pg_db_role_setting
WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
UNION ALL
SELECT 'grant', table_name, privilege_type FROM information_schema.role_table_grants
WHERE grantee = %(role)s
UNION ALL
SELECT 'column grant', table_name || '.' || column_name, privilege_type
FROM information_schema.column_privileges WHERE grantee = %(role)s
UNION ALL
SELECT 'sequence grant', c.relname, p.privilege_type
FROM pg_class c, aclexplode(c.relacl) p
WHERE c.relkind = 'S' AND p.grantee = to_regrole(%(role)s)
UNION ALL
SELECT 'database grant', coalesce(g.rolname, 'PUBLIC'), p.privilege_type
FROM pg_database d CROSS JOIN aclexplode(d.datacl) p LEFT JOIN pg_roles g ON g.oid = p.grantee
WHERE d.datname = current_database() AND (g.rolname = %(role)s OR p.grantee = 0)
ORDER BY 1, 2, 3
"""


def shape(dbname):
    connection = connect(dbname)
    with connection.cursor() as cursor:
        cursor.execute(SHAPE, {"role": env["DBSVC_DB_USER"]})
        rows = cursor.fetchall()
    connection.close()
    return rows


def data(dbname):
    """Every row of the store's tables, in order."""
    tables = [
        name
        for (name,) in query(
            dbname,
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_name <> 'goose_db_version' ORDER BY 1",
        )
    ]
    return {
        table: query(dbname, sql.SQL("SELECT * FROM {} ORDER BY 1").format(sql.Identifier(table)))
        for table in tables
    }


def add_customers_and_orders(dbname, usernames=("olduser",)):
    """Rows such as an old store holds: users, an order, the stock it took."""
    connection = connect(dbname)
    with connection.cursor() as cursor:
        for n, username in enumerate(usernames, start=1):
            cursor.execute(
                "INSERT INTO users (sid, username, email, password_hash) VALUES (%s, %s, %s, 'h')",
                (f"1221{n:04}", username, f"{username}{n}@example.com"),
            )
        cursor.execute("UPDATE products SET stock = stock - 2 WHERE id = 3")
        cursor.execute(
            "INSERT INTO orders (user_id, product_id, quantity, total_price) "
            "VALUES (1, 3, 2, 19.98)"
        )
    connection.close()


def test_a_new_database_gets_the_schema_the_products_and_the_role(migrated):
    assert applied_version(migrated) == LATEST
    products = query(
        migrated, "SELECT id, name, category, price::text, slogan, stock FROM products ORDER BY id"
    )
    assert products == [
        (1, "SUSTech Hoodie", "Apparel", "49.99", "Stay warm, stay proud!", 500),
        (2, "SUSTech Water Bottle", "Drinkware", "19.99", "Hydrate with pride!", 500),
        (3, "SUSTech Notebook", "Stationery", "9.99", "Write your future with SUSTech.", 500),
    ]
    indexes = {name for (name,) in query(migrated, "SELECT indexname FROM pg_indexes")}
    assert {"users_username_lower_key", "users_email_lower_key", "users_sid_lower_key"} <= indexes
    assert query(migrated, "SELECT to_regclass('login_throttle') IS NOT NULL") == [(True,)]


def test_running_the_migrations_again_changes_nothing(migrated):
    before = shape(migrated), data(migrated)
    answer = goose_up(migrated)
    assert "no migrations to run" in answer.stderr + answer.stdout
    assert (shape(migrated), data(migrated)) == before


@pytest.mark.parametrize(
    "old_files", [BEFORE_CASE_RULE, AT_1F08409], ids=["before-1f08409", "at-1f08409"]
)
def test_a_database_the_old_db_init_made_upgrades_in_place(new_database, migrated, old_files):
    old = new_database()
    apply_old_db_init(old, old_files)
    add_customers_and_orders(old)
    rows = data(old)
    assert applied_version(old) is None  # plain psql: goose has never seen it

    answer = goose_up(old)

    assert "successfully migrated database to version" in answer.stderr + answer.stdout
    assert applied_version(old) == LATEST
    # The first migrations found everything there: the products are not there twice,
    # the stock is what the orders left.
    after = data(old)
    assert {table: after[table] for table in rows} == rows
    assert after["login_throttle"] == []
    # The same schema and grants as a database that the migrations made from nothing.
    assert shape(old) == shape(migrated)


def test_names_that_differ_only_in_case_stop_the_upgrade_and_change_nothing(new_database):
    old = new_database()
    apply_old_db_init(old, BEFORE_CASE_RULE)
    add_customers_and_orders(old, usernames=("Alice", "bob", "alice"))
    connection = connect(old)
    with connection.cursor() as cursor:  # an email clash too, between bob and alice
        cursor.execute("UPDATE users SET email = 'Bob@Example.com' WHERE username = 'bob'")
        cursor.execute("UPDATE users SET email = 'bob@example.COM' WHERE username = 'alice'")
    connection.close()
    before = shape(old), data(old)

    answer = goose(old)

    assert answer.returncode != 0
    out = answer.stderr + answer.stdout
    assert "00003_case_insensitive_names.sql" in out
    assert "usernames and emails must be unique regardless of letter case" in out
    assert "username 'Alice' (user 1), 'alice' (user 3)" in out
    assert "email 'Bob@Example.com' (user 2), 'bob@example.COM' (user 3)" in out
    assert "Nothing was changed" in out and "UPDATE users SET username" in out
    assert "could not create unique index" not in out
    # Schema, data and grants as they were; goose recorded only the two migrations
    # that found everything there and did nothing.
    assert (shape(old), data(old)) == before
    assert applied_version(old) == 2

    # Doing what the message says lets the upgrade through.
    connection = connect(old)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE users SET username = 'alice_2', email = NULL WHERE id = 3")
    connection.close()
    goose_up(old)
    assert applied_version(old) == LATEST


def test_sids_that_differ_only_in_case_stop_their_migration_and_change_nothing(new_database):
    old = new_database()
    apply_old_db_init(old, BEFORE_CASE_RULE)
    add_customers_and_orders(old, usernames=("alice", "bob"))
    connection = connect(old)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE users SET sid = 'S1' WHERE username = 'alice'")
        cursor.execute("UPDATE users SET sid = 's1' WHERE username = 'bob'")
    connection.close()

    answer = goose(old)

    assert answer.returncode != 0
    out = answer.stderr + answer.stdout
    assert "00008_case_insensitive_sid.sql" in out
    assert "sid 'S1' (user 1), 's1' (user 2)" in out and "Nothing was changed" in out
    assert applied_version(old) == 7
    before = shape(old), data(old)
    assert goose(old).returncode != 0 and (shape(old), data(old)) == before

    connection = connect(old)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE users SET sid = '12210002' WHERE username = 'bob'")
    connection.close()
    goose_up(old)
    assert applied_version(old) == LATEST


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"DBSVC_DB_PASSWORD": None}, "DBSVC_DB_PASSWORD: is not set"),
        ({"DBSVC_DB_USER": ""}, "DBSVC_DB_USER and DBSVC_DB_PASSWORD must not be empty"),
        ({"DBSVC_DB_USER": env.get("POSTGRES_USER", "")}, "the DB service needs a role of its own"),
    ],
    ids=["password unset", "user empty", "user is the owner"],
)
def test_the_role_migration_says_what_is_wrong_with_its_settings(new_database, changes, message):
    answer = goose(new_database(), **changes)
    assert answer.returncode != 0
    assert message in answer.stderr, answer.stderr
    assert env["DBSVC_DB_PASSWORD"] not in answer.stderr + answer.stdout


# What the DB service's role must not do: change the schema, delete what the store
# keeps, change what only the owner changes.
REFUSED = [
    "DROP TABLE orders",
    "DROP TABLE login_throttle",
    "DELETE FROM orders",
    "DELETE FROM users",
    "TRUNCATE products",
    "UPDATE products SET price = 0.01",
    "UPDATE products SET name = 'free'",
    "INSERT INTO products (name, price) VALUES ('mine', 0)",
    "UPDATE users SET sid = 'x'",
    "UPDATE orders SET total_price = 0",
    "UPDATE orders SET quantity = 3",
    "ALTER TABLE users ADD COLUMN is_admin boolean",
    "CREATE TABLE loot (id int)",
    "CREATE INDEX ON orders (quantity)",
    "CREATE ROLE intruder LOGIN SUPERUSER",
    "SELECT setval(pg_get_serial_sequence('orders', 'id'), 1)",
]


@pytest.mark.parametrize("statement", REFUSED)
def test_the_db_service_role_cannot(migrated, statement):
    connection = as_service(migrated)
    connection.autocommit = False
    try:
        with pytest.raises(errors.InsufficientPrivilege), connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.rollback()
        connection.close()


# What the DB service's SQL does (dbsvc-go/internal/store), statement by statement.
ALLOWED = [
    "SELECT id, name, description, category, price, slogan, stock, created_at FROM products",
    "UPDATE products SET stock = stock - 1 WHERE id = 1 AND stock >= 1",
    "INSERT INTO users (sid, username, email, password_hash) VALUES ('99', 'r', NULL, 'h') "
    "RETURNING id, credentials_version",
    "UPDATE users SET username = 'x', email = NULL, password_hash = 'h', "
    "credentials_version = credentials_version + 1 WHERE lower(username) = 'nobody' AND active",
    "UPDATE users SET active = false, deactivated_at = now() WHERE id = 0 AND active",
    "INSERT INTO orders (user_id, product_id, quantity, total_price) "
    "SELECT NULL, id, 1, price FROM products WHERE id = 2 RETURNING id",
    "SELECT user_id, status FROM orders WHERE id = 1 FOR UPDATE",
    "UPDATE orders SET status = 'cancelled', cancelled_at = now() WHERE id = 0",
    "INSERT INTO login_throttle VALUES ('account:x', 1, now(), NULL) "
    "ON CONFLICT (key) DO UPDATE SET failures = login_throttle.failures + 1",
    "DELETE FROM login_throttle WHERE key = 'account:x'",
]


@pytest.mark.parametrize("statement", ALLOWED)
def test_the_db_service_role_can(migrated, statement):
    connection = as_service(migrated)
    connection.autocommit = False
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.rollback()
        connection.close()


def test_the_db_service_role_has_no_powers_of_its_own(migrated):
    rows = query(
        migrated,
        "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication, rolcanlogin "
        "FROM pg_roles WHERE rolname = %s",
        env["DBSVC_DB_USER"],
    )
    assert rows == [(False, False, False, False, False, True)]
    owned = query(
        migrated,
        "SELECT count(*) FROM pg_class WHERE relowner = to_regrole(%s)",
        env["DBSVC_DB_USER"],
    )
    assert owned == [(0,)]


def test_the_store_runs_its_db_service_as_that_role_with_the_same_grants(migrated):
    """Read-only on the store's own database: who the DB service logs in as, and that the
    store's grants are those of a freshly migrated database."""
    store = env["POSTGRES_DB"]
    users = query(
        "postgres",
        "SELECT DISTINCT usename FROM pg_stat_activity "
        "WHERE datname = %s AND application_name LIKE 'dbsvc %%'",
        store,
    )
    assert users == [(env["DBSVC_DB_USER"],)], "the running DB service is not on its own role"
    assert env["DBSVC_DB_USER"] != env["POSTGRES_USER"]
    grants = [row for row in shape(store) if re.search("grant", row[0])]
    assert grants == [row for row in shape(migrated) if re.search("grant", row[0])]
    assert applied_version(store) == LATEST
