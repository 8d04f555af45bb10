"""The type table of the report (question 3), checked against the three files that define it.

Each row names one value as the SQL schema (the migrations in db-init/), the protos
(proto/merchstore/db/v1/*.proto) and the OpenAPI file (api-python/openapi.yaml) spell it,
and a kind that says how the three must agree. The files are parsed, not imported, so a
change to any one of them that breaks the agreement fails here.

TYPE_TABLE_ROOT points the test at another copy of those files (how the report shows that
a disagreement really fails); `python tests/test_type_table.py` prints the table as
Markdown, with the types read from the files (the report includes that output).
"""

import os
import pathlib
import re
import sys

import pytest
import yaml

ROOT = pathlib.Path(os.environ.get("TYPE_TABLE_ROOT", pathlib.Path(__file__).resolve().parents[1]))
MIGRATIONS = ROOT / "db-init"
PROTOS = ROOT / "proto/merchstore/db/v1"
# The log entry the API and the DB service send to the logging service.
LOG_PROTOS = ROOT / "proto/merchstore/log/v1"
OPENAPI = ROOT / "api-python/openapi.yaml"

INT32_MAX = 2**31 - 1
MONEY_PATTERN = r"^[0-9]+\.[0-9]{2}$"

# (kind, SQL table.column, proto Message.field, OpenAPI Schema.property or None).
# An OpenAPI name may be "Schema.property|Schema.property": every one must agree;
# "parameters.Id" is the schema of a parameter (path or header) of the file's components.
ROWS = [
    ("id", "products.id", "Product.id", "Product.id"),
    ("id", "users.id", "User.id", "User.id"),
    ("id", "orders.id", "Order.id", "Order.id"),
    ("id", "orders.user_id", "Order.user_id", "Order.user_id"),
    ("id", "orders.product_id", "Order.product_id", "Order.product_id|NewOrder.product_id"),
    ("money", "products.price", "Product.price_cents", "Product.price"),
    ("money", "orders.total_price", "Order.total_price_cents", "Order.total_price"),
    ("count", "products.stock", "Product.stock", "Product.stock"),
    ("quantity", "orders.quantity", "Order.quantity", "Order.quantity|NewOrder.quantity"),
    ("time", "products.created_at", "Product.created_at", "Product.created_at"),
    ("time", "users.created_at", "User.created_at", "User.created_at"),
    ("time", "orders.created_at", "Order.created_at", "Order.created_at"),
    ("time", "orders.cancelled_at", "Order.cancelled_at", "Order.cancelled_at"),
    ("text", "products.name", "Product.name", "Product.name"),
    ("text", "products.description", "Product.description", "Product.description"),
    ("text", "products.category", "Product.category", "Product.category"),
    ("text", "products.slogan", "Product.slogan", "Product.slogan"),
    ("limited text", "users.sid", "User.sid", "User.sid|NewUser.sid"),
    (
        "limited text",
        "users.username",
        "User.username",
        "User.username|Username|LoginRequest.username",
    ),
    ("limited text", "users.email", "User.email", "User.email|Email"),
    ("status", "orders.status", "Order.status", "Order.status"),
    ("internal", "users.active", "User.active", None),
    ("internal", "users.credentials_version", "User.credentials_version", None),
]

# Each limit on what a client sends, as the DB service's protos state it (protovalidate
# annotations) and as the OpenAPI file does: (proto Request.field, OpenAPI names or None).
# None: the API fills the field itself (from the token), no client value reaches it.
LIMITS = [
    ("CreateUserRequest.sid", "NewUser.sid"),
    ("CreateUserRequest.username", "NewUser.username"),
    ("CreateUserRequest.email", "NewUser.email"),
    ("CreateUserRequest.password", "NewUser.password"),
    ("GetUserRequest.id", None),
    ("VerifyCredentialsRequest.username", "LoginRequest.username"),
    ("VerifyCredentialsRequest.password", "LoginRequest.password"),
    # client_address: set by the API from the connection (NGINX's X-Forwarded-For).
    ("VerifyCredentialsRequest.client_address", None),
    ("UpdateUserRequest.id", None),
    ("UpdateUserRequest.username", "UserUpdate.username"),
    ("UpdateUserRequest.email", "UserUpdate.email"),
    ("UpdateUserRequest.password", "UserUpdate.password"),
    ("UpdateUserRequest.current_password", "UserUpdate.current_password"),
    ("UpdateUserRequest.client_address", None),
    # credentials_version: the token's `ver`, set by the API on every write for a user.
    ("UpdateUserRequest.credentials_version", None),
    ("DeactivateUserRequest.id", None),
    ("DeactivateUserRequest.current_password", "Reauthentication.current_password"),
    ("DeactivateUserRequest.client_address", None),
    ("DeactivateUserRequest.credentials_version", None),
    ("GetProductRequest.id", "parameters.Id"),
    ("CreateOrderRequest.user_id", None),
    ("CreateOrderRequest.product_id", "NewOrder.product_id"),
    ("CreateOrderRequest.quantity", "NewOrder.quantity"),
    ("CreateOrderRequest.credentials_version", None),
    ("CreateOrderRequest.idempotency_key", "parameters.IdempotencyKey"),
    ("GetOrderRequest.id", "parameters.Id"),
    ("GetOrderRequest.user_id", None),
    ("ListOrdersRequest.user_id", None),
    ("CancelOrderRequest.id", "parameters.Id"),
    ("CancelOrderRequest.user_id", None),
    ("CancelOrderRequest.credentials_version", None),
    # Set by the API's and the DB service's log shippers, never by a client; logsvc
    # enforces the annotation (logsvc-go/internal/record).
    ("LogEntry.event_id", None),
]

# protovalidate rule -> the JSON Schema keyword that states the same limit.
_SAME_LIMIT = {
    ("string", "min_len"): "minLength",
    ("string", "max_len"): "maxLength",
    ("string", "pattern"): "pattern",
    ("int32", "gte"): "minimum",
    ("int32", "lte"): "maximum",
}

# SQL columns that are deliberately in no message: the hash never leaves the DB service,
# the two "when" columns of soft deletion are not part of the contract's User, and the
# counts of failed logins and the idempotency keys are the DB service's own bookkeeping
# (a key's limits are CreateOrderRequest.idempotency_key's, checked in LIMITS and below).
SQL_ONLY = (
    {"users.password_hash", "users.deactivated_at"}
    | {f"login_throttle.{c}" for c in ("key", "failures", "last_failure_at", "blocked_until")}
    | {
        f"order_idempotency_keys.{c}"
        for c in ("user_id", "key", "fingerprint", "order_id", "created_at")
    }
)

_SQL_TYPE = re.compile(
    r"^(serial|int|integer|bigint|text|boolean|timestamptz|timestamp|"
    r"decimal\s*\(\s*\d+\s*,\s*\d+\s*\)|varchar\s*\(\s*\d+\s*\))\s*(.*)$",
    re.IGNORECASE,
)


# --- parsers ------------------------------------------------------------------------------


def _balanced(text: str, start: int) -> str:
    """The text inside the parenthesis that opens at text[start]."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return text[start + 1 : i]
    raise ValueError(f"unbalanced parenthesis at {start}")


def parse_sql(folder=MIGRATIONS) -> dict:
    """{table: {"columns": {name: {"type", "not_null", "unique"}}, "checks": [expr, ...]}}
    from the CREATE TABLE statements of every migration. One that alters a table is refused
    rather than misread: the table would show what it was, not what it is."""
    tables = {}
    for path in sorted(folder.glob("*.sql")):
        sql = re.sub(r"--[^\n]*", "", path.read_text())
        if re.search(r"\bALTER TABLE\b", sql, re.IGNORECASE):
            raise ValueError(f"{path}: ALTER TABLE; teach parse_sql to apply it")
        tables.update(_parse_tables(path, sql))
    return tables


def _parse_tables(path, sql) -> dict:
    tables = {}
    for match in re.finditer(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)\s*\(", sql, re.IGNORECASE):
        body = _balanced(sql, match.end() - 1)
        checks = [_balanced(body, m.end() - 1) for m in re.finditer(r"CHECK\s*\(", body)]
        columns = {}
        # Split on the commas at depth 0: one column or table constraint per part.
        parts, depth, current = [], 0, ""
        for char in body:
            depth += {"(": 1, ")": -1}.get(char, 0)
            if char == "," and depth == 0:
                parts.append(current)
                current = ""
            else:
                current += char
        parts.append(current)
        for part in (" ".join(p.split()) for p in parts):
            if not part or part.upper().startswith(("CONSTRAINT", "PRIMARY KEY", "UNIQUE (")):
                continue
            name, rest = part.split(" ", 1)
            typed = _SQL_TYPE.match(rest)
            if not typed:
                raise ValueError(f"{path}: cannot read the type of {match.group(1)}.{name}")
            sql_type = re.sub(r"\s+", "", typed.group(1).lower())
            modifiers = typed.group(2).upper()
            columns[name] = {
                "type": sql_type,
                "not_null": "NOT NULL" in modifiers or "PRIMARY KEY" in modifiers,
                "unique": "UNIQUE" in modifiers or "PRIMARY KEY" in modifiers,
            }
        tables[match.group(1)] = {"columns": columns, "checks": checks}
    return tables


_PROTO_FIELD = re.compile(
    r"^(optional |repeated )?([\w.]+)\s+(\w+)\s*=\s*(\d+)\s*(?:\[(.*)\])?$", re.DOTALL
)
# (buf.validate.field).string = {min_len: 1, max_len: 15}  or  (buf.validate.field).int32.gte = 1
# (The block's strings may hold braces: a pattern's {0,61}.)
_RULE_BLOCK = re.compile(
    r'\(buf\.validate\.field\)\.(\w+)\s*=\s*\{((?:"(?:[^"\\]|\\.)*"|[^{}"])*)\}'
)
_RULE_SINGLE = re.compile(
    r"\(buf\.validate\.field\)\.(\w+)\.(\w+)\s*=\s*(\"(?:[^\"\\\\]|\\\\.)*\"|[\w.-]+)"
)
_RULE_PAIR = re.compile(r"(\w+)\s*:\s*(\"(?:[^\"\\\\]|\\\\.)*\"|[\w.-]+)")


def _proto_value(text: str):
    if text.startswith('"'):
        return text[1:-1].encode().decode("unicode_escape")  # proto's escapes, e.g. \\x00
    if text in ("true", "false"):
        return text == "true"
    return int(text)


def _statements(body: str) -> list[str]:
    """The body of a message split at its semicolons outside brackets and braces."""
    parts, depth, current = [], 0, ""
    for char in body:
        depth += {"{": 1, "[": 1, "}": -1, "]": -1}.get(char, 0)
        if char == ";" and depth == 0:
            parts.append(" ".join(current.split()))
            current = ""
        else:
            current += char
    return [p for p in parts if p]


def parse_protos(folder=PROTOS) -> tuple[dict, dict]:
    """({Message: {field: {"label", "type", "number", "rules"}}}, {Enum: {VALUE: number}});
    "rules" holds the field's protovalidate rules: {"string": {"max_len": 15}, ...}."""
    messages, enums = {}, {}
    for path in sorted(folder.glob("*.proto")):
        text = re.sub(r"//[^\n]*", "", path.read_text())
        for m in re.finditer(r"\bmessage (\w+)\s*\{", text):
            # _balanced counts parentheses: the message's extent, read with braces as such.
            extent = len(_balanced(text[m.end() - 1 :].replace("{", "(").replace("}", ")"), 0))
            fields = {}
            for statement in _statements(text[m.end() : m.end() + extent]):
                f = _PROTO_FIELD.match(statement)
                if not f:
                    continue  # an option of the message
                rules = {}
                for kind, pairs in _RULE_BLOCK.findall(f.group(5) or ""):
                    for key, value in _RULE_PAIR.findall(pairs):
                        rules.setdefault(kind, {})[key] = _proto_value(value)
                for kind, key, value in _RULE_SINGLE.findall(f.group(5) or ""):
                    rules.setdefault(kind, {})[key] = _proto_value(value)
                fields[f.group(3)] = {
                    "label": (f.group(1) or "").strip(),
                    "type": f.group(2),
                    "number": int(f.group(4)),
                    "rules": rules,
                }
            messages[m.group(1)] = fields
        for e in re.finditer(r"\benum (\w+)\s*\{([^{}]*)\}", text):
            enums[e.group(1)] = {
                v.group(1): int(v.group(2)) for v in re.finditer(r"(\w+)\s*=\s*(\d+)", e.group(2))
            }
    return messages, enums


def rpc_inputs(folders=(PROTOS, LOG_PROTOS)) -> set[str]:
    """The request message of every RPC of the protos."""
    return {
        name
        for folder in folders
        for path in folder.glob("*.proto")
        for name in re.findall(r"\brpc \w+\s*\(\s*(?:stream\s+)?(\w+)\s*\)", path.read_text())
    }


def parse_openapi(path=OPENAPI) -> dict:
    return yaml.safe_load(path.read_text())


SQL = parse_sql()
MESSAGES, ENUMS = parse_protos()
_LOG_MESSAGES, _LOG_ENUMS = parse_protos(LOG_PROTOS)
MESSAGES, ENUMS = {**MESSAGES, **_LOG_MESSAGES}, {**ENUMS, **_LOG_ENUMS}
API = parse_openapi()


def sql_column(name: str) -> dict:
    table, column = name.split(".")
    return SQL[table]["columns"][column]


def sql_checks(name: str) -> list[str]:
    return SQL[name.split(".")[0]]["checks"]


def proto_field(name: str) -> dict:
    message, field = name.split(".")
    return MESSAGES[message][field]


def _resolve(schema: dict) -> dict:
    while "$ref" in schema:
        schema = API["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def api_schemas(names: str | None) -> list[tuple[str, dict]]:
    """The OpenAPI schema of each name ("Schema.property" or "Schema"), $refs resolved;
    "nullable" is read where the property is declared."""
    found = []
    for name in (names or "").split("|") if names else []:
        if name.startswith("parameters."):
            schema = API["components"]["parameters"][name.partition(".")[2]]["schema"]
            prop = ""
        else:
            schema_name, _, prop = name.partition(".")
            schema = API["components"]["schemas"][schema_name]
        if prop:
            declared = schema["properties"][prop]
            schema = dict(_resolve(declared), nullable=declared.get("nullable", False))
        found.append((name, _resolve(schema)))
    return found


def varchar_length(sql_type: str) -> int | None:
    m = re.fullmatch(r"varchar\((\d+)\)", sql_type)
    return int(m.group(1)) if m else None


def check_bounds(checks: list[str], column: str) -> tuple[int, int] | None:
    for check in checks:
        m = re.search(rf"\b{column}\s+BETWEEN\s+(\d+)\s+AND\s+(\d+)", check, re.IGNORECASE)
        if m:
            return int(m.group(1)), int(m.group(2))
    return None


def check_minimum(checks: list[str], column: str) -> int | None:
    for check in checks:
        m = re.search(rf"\b{column}\s*>=\s*(\d+)", check)
        if m:
            return int(m.group(1))
    return None


def check_values(checks: list[str], column: str) -> list[str] | None:
    for check in checks:
        m = re.search(rf"\b{column}\s+IN\s*\(([^)]*)\)", check, re.IGNORECASE)
        if m:
            return re.findall(r"'([^']*)'", m.group(1))
    return None


# --- the rules, one per kind ---------------------------------------------------------------


def problems_of(kind: str, sql_name: str, proto_name: str, api_names: str | None) -> list[str]:
    """Every way the row disagrees with the files; empty when it agrees."""
    col = sql_column(sql_name)
    field = proto_field(proto_name)
    apis = api_schemas(api_names)
    column = sql_name.split(".")[1]
    out = []

    def want(ok, what):
        if not ok:
            out.append(what)

    if kind == "id":
        want(col["type"] in ("serial", "int", "integer"), f"SQL {col['type']}, want serial/int")
        want(field["type"] == "int32", f"proto {field['type']}, want int32")
        for name, s in apis:
            want(
                s.get("type") == "integer" and s.get("format") == "int32",
                f"OpenAPI {name} is {s.get('type')}/{s.get('format')}, want integer/int32",
            )
            if "maximum" in s:
                want(s["maximum"] == INT32_MAX, f"OpenAPI {name} maximum {s['maximum']}")
    elif kind == "money":
        m = re.fullmatch(r"decimal\((\d+),(\d+)\)", col["type"])
        want(m and m.group(2) == "2", f"SQL {col['type']}, want decimal(p,2)")
        want(col["not_null"], "SQL money must be NOT NULL")
        # decimal(10,2) reaches 9999999999 cents, more than an int32 holds: int64.
        want(field["type"] == "int64", f"proto {field['type']}, want int64 (cents)")
        want(proto_name.endswith("_cents"), f"proto {proto_name} should say it holds cents")
        for name, s in apis:
            want(s.get("type") == "string", f"OpenAPI {name} is {s.get('type')}, want string")
            want(s.get("pattern") == MONEY_PATTERN, f"OpenAPI {name} pattern {s.get('pattern')}")
    elif kind in ("count", "quantity"):
        want(col["type"] in ("int", "integer"), f"SQL {col['type']}, want int")
        want(field["type"] == "int32", f"proto {field['type']}, want int32")
        for name, s in apis:
            want(s.get("type") == "integer", f"OpenAPI {name} is {s.get('type')}, want integer")
            want(s.get("format", "int32") == "int32", f"OpenAPI {name} format {s.get('format')}")
        checks = sql_checks(sql_name)
        if kind == "count":
            low = check_minimum(checks, column)
            want(low is not None, f"SQL has no CHECK ({column} >= n)")
            for name, s in apis:
                want(
                    s.get("minimum") == low, f"OpenAPI {name} minimum {s.get('minimum')}, SQL {low}"
                )
        else:
            bounds = check_bounds(checks, column)
            want(bounds is not None, f"SQL has no CHECK ({column} BETWEEN a AND b)")
            for name, s in apis:
                got = (s.get("minimum"), s.get("maximum"))
                want(got == bounds, f"OpenAPI {name} bounds {got}, SQL CHECK {bounds}")
    elif kind == "time":
        want(col["type"] == "timestamp", f"SQL {col['type']}, want timestamp")
        want(
            field["type"] == "google.protobuf.Timestamp",
            f"proto {field['type']}, want google.protobuf.Timestamp",
        )
        for name, s in apis:
            want(
                s.get("type") == "string" and s.get("format") == "date-time",
                f"OpenAPI {name} is {s.get('type')}/{s.get('format')}, want string/date-time",
            )
            # A nullable column needs a way to say "none": null in JSON.
            if column == "cancelled_at":
                want(s.get("nullable") is True, f"OpenAPI {name} must be nullable")
    elif kind in ("text", "limited text"):
        want(
            col["type"] == "text" or col["type"].startswith("varchar("),
            f"SQL {col['type']}, want text/varchar",
        )
        want(field["type"] == "string", f"proto {field['type']}, want string")
        length = varchar_length(col["type"])
        for name, s in apis:
            want(s.get("type") == "string", f"OpenAPI {name} is {s.get('type')}, want string")
            if kind == "limited text" and name.split(".")[0] != "User":
                # The request schemas carry the limit; it must be the column's length.
                want(
                    s.get("maxLength") == length,
                    f"OpenAPI {name} maxLength {s.get('maxLength')}, SQL varchar({length})",
                )
        # NULL in SQL <=> optional in proto <=> nullable in the response.
        nullable = not col["not_null"]
        if kind == "limited text":
            want(
                (field["label"] == "optional") == nullable,
                f"SQL {'nullable' if nullable else 'NOT NULL'} but proto label "
                f"'{field['label'] or 'none'}'",
            )
            for name, s in apis:
                if name.startswith("User."):
                    want(
                        bool(s.get("nullable")) == nullable,
                        f"OpenAPI {name} nullable={s.get('nullable')}, SQL nullable={nullable}",
                    )
    elif kind == "status":
        values = check_values(sql_checks(sql_name), column)
        want(values is not None, f"SQL has no CHECK ({column} IN (...))")
        enum = ENUMS.get(field["type"])
        want(enum is not None, f"proto {field['type']} is not an enum of ours")
        if values is not None and enum is not None:
            prefix = re.sub(r"(?<!^)([A-Z])", r"_\1", field["type"]).upper() + "_"
            names = [
                n.removeprefix(prefix).lower()
                for n, number in sorted(enum.items(), key=lambda kv: kv[1])
                if number != 0
            ]
            want(names == values, f"proto enum {names}, SQL CHECK {values}")
            zero = min(enum, key=enum.get)
            want(enum[zero] == 0 and zero.endswith("UNSPECIFIED"), f"proto zero value {zero}")
            for name, s in apis:
                want(s.get("enum") == values, f"OpenAPI {name} enum {s.get('enum')}, SQL {values}")
    elif kind == "internal":
        want(
            {"boolean": "bool", "int": "int32"}.get(col["type"]) == field["type"],
            f"SQL {col['type']} vs proto {field['type']}",
        )
    else:
        out.append(f"unknown kind {kind}")
    return [f"{sql_name} / {proto_name} ({kind}): {p or 'disagree'}" for p in out]


# --- tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize("row", ROWS, ids=[row[1] for row in ROWS])
def test_row_agrees_across_sql_proto_and_openapi(row):
    found = problems_of(*row)
    assert not found, "\n".join(found)


def limit_problems(proto_name: str, api_names: str | None) -> list[str]:
    """How the protovalidate rules of a request field and the OpenAPI schemas of the same
    value disagree: every limit must be stated alike on both interfaces."""
    field = proto_field(proto_name)
    rules = field["rules"]
    out = []
    if field["type"] == "int32":
        # Every integer of a request states its lower bound (ids and counts are
        # positive); int32 itself is the upper bound.
        if "gte" not in rules.get("int32", {}):
            out.append(f"{proto_name} has no rule int32.gte")
    elif not rules.get("string", {}).get("max_len"):
        out.append(f"{proto_name} has no string.max_len: nothing bounds it")
    for name, schema in api_schemas(api_names):
        for (kind, rule), keyword in _SAME_LIMIT.items():
            proto_limit = rules.get(kind, {}).get(rule)
            api_limit = schema.get(keyword)
            if keyword == "maximum" and api_limit == INT32_MAX:
                api_limit = None  # int32's own bound, which the proto type states
            if kind == field["type"] and proto_limit != api_limit:
                out.append(
                    f"{proto_name} {kind}.{rule}={proto_limit!r}, {name} {keyword}={api_limit!r}"
                )
    return out


@pytest.mark.parametrize("row", LIMITS, ids=[row[0] for row in LIMITS])
def test_request_limits_agree_across_proto_and_openapi(row):
    found = limit_problems(*row)
    assert not found, "\n".join(found)


def test_every_request_field_has_its_limits_listed():
    """A new field of an RPC's request, or a field with a protovalidate rule, must get a
    row, and so a thought about its limits. A field that holds messages
    (StreamLogsRequest.entries) has its limits on their fields."""
    all_request_fields = {
        f"{m}.{f}"
        for m in rpc_inputs()
        for f, info in MESSAGES[m].items()
        if info["type"] not in MESSAGES
    }
    with_rules = {
        f"{m}.{f}" for m, fields in MESSAGES.items() for f, i in fields.items() if i["rules"]
    }
    assert all_request_fields | with_rules == {row[0] for row in LIMITS}


def test_every_column_and_field_is_in_the_table():
    """A new column or field must get a row (and a thought about its types)."""
    in_rows_sql = {row[1] for row in ROWS} | SQL_ONLY
    all_sql = {f"{t}.{c}" for t, info in SQL.items() for c in info["columns"]}
    assert all_sql - in_rows_sql == set(), "SQL columns without a row"
    assert in_rows_sql - all_sql == set(), "rows for SQL columns that do not exist"
    in_rows_proto = {row[2] for row in ROWS}
    all_proto = {f"{m}.{f}" for m in ("Product", "User", "Order") for f in MESSAGES[m]}
    assert all_proto == in_rows_proto, "proto fields and rows differ"


def test_no_password_hash_leaves_the_database():
    for message, fields in MESSAGES.items():
        assert "password_hash" not in fields, message
    for schema in ("User", "Product", "Order"):
        props = API["components"]["schemas"][schema]["properties"]
        assert not {"password", "password_hash"} & set(props), schema


def test_ids_in_paths_are_positive_int32():
    id_param = API["components"]["parameters"]["Id"]["schema"]
    assert id_param == {"type": "integer", "format": "int32", "minimum": 1, "maximum": INT32_MAX}


# --- the table for the report ----------------------------------------------------------------


def _api_summary(names: str | None) -> str:
    if not names:
        return "(not exposed)"
    s = {}
    for _name, schema in api_schemas(names):
        s = {**schema, **s}  # the first name wins; later ones add their limits
    words = [s.get("type", "?")]
    for key in ("format", "pattern", "minimum", "maximum", "minLength", "maxLength", "enum"):
        if key in s:
            value = code_span(s[key]) if key == "pattern" else s[key]
            words.append(f"{key} {value}")
    if s.get("nullable"):
        words.append("nullable")
    return ", ".join(str(w) for w in words)


def code_span(text: str) -> str:
    """text as one Markdown code span, whatever it holds: its fence is one backtick longer
    than the longest run of backticks in it (the email pattern has one), with a space
    inside each end when text starts or ends with a backtick. Inside a code span pandoc
    splits no table cell at `|` and makes no link of `[...](...)`; a backslash there would
    be shown as it is, so nothing is escaped (tests/test_report.py checks the table)."""
    fence = "`" * (1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    pad = " " if text.startswith("`") or text.endswith("`") or fence != "`" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def markdown_table() -> str:
    lines = [
        "| SQL column | SQL type | proto field (`merchstore.db.v1`) | OpenAPI (JSON) |",
        "| --- | --- | --- | --- |",
    ]
    for _kind, sql_name, proto_name, api_names in ROWS:
        col = sql_column(sql_name)
        sql_text = col["type"] + (" NOT NULL" if col["not_null"] else "")
        checks = sql_checks(sql_name)
        column = sql_name.split(".")[1]
        if (b := check_bounds(checks, column)) is not None:
            sql_text += f", CHECK {b[0]}..{b[1]}"
        if (low := check_minimum(checks, column)) is not None:
            sql_text += f", CHECK >= {low}"
        if (values := check_values(checks, column)) is not None:
            sql_text += ", CHECK IN (" + ", ".join(values) + ")"
        field = proto_field(proto_name)
        proto_text = f"{(field['label'] + ' ') if field['label'] else ''}{field['type']}"
        lines.append(
            f"| `{sql_name}` | {sql_text} | `{proto_name} = {field['number']}`: {proto_text} "
            f"| {_api_summary(api_names)} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(markdown_table() + "\n")


def test_an_idempotency_key_fits_its_column():
    """The longest key the header and the proto allow is one the table can store."""
    column = varchar_length(SQL["order_idempotency_keys"]["columns"]["key"]["type"])
    ((_, header),) = api_schemas("parameters.IdempotencyKey")
    assert column == header["maxLength"], (column, header["maxLength"])
