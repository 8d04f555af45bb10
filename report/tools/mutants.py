#!/usr/bin/env python3
"""Shows that the report's two checks fail when the files disagree.

Each mutant is one small edit, made to a COPY of the files in a temporary folder (the
real files are never touched). For each one the relevant test file is run on the copy
and must fail; the table it prints is in the report.

    .venv/bin/python report/tools/mutants.py
Exit status 0 when every mutant was caught (and the unmutated copy passes).
"""

# ruff: noqa: E501  (the mutant tables read best one edit per line)

import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts="]

# (what the edit means, file, old text, new text)
TYPE_MUTANTS = [
    ("quantity CHECK 1..4", "db-init/00001_schema.sql", "BETWEEN 1 AND 3", "BETWEEN 1 AND 4"),
    ("price as int32", "proto/merchstore/db/v1/product.proto", "int64 price", "int32 price"),
    ("money with 1 digit", "api-python/openapi.yaml", '[0-9]{2}$"', '[0-9]{1,2}$"'),
    ("sid varchar(20)", "db-init/00001_schema.sql", "varchar(15)", "varchar(20)"),
    ("Username maxLength 60", "api-python/openapi.yaml", "3\n      maxLength: 50", "3\n      maxLength: 60"),
    ("login username maxLength 40", "api-python/openapi.yaml", "maxLength: 50, example: alice}", "maxLength: 40, example: alice}"),
    ("status 'shipped' added", "db-init/00001_schema.sql", "'cancelled')", "'cancelled', 'shipped')"),
    ("enum value renamed", "proto/merchstore/db/v1/order.proto", "_CANCELLED = 2", "_CANCELED = 2"),
    ("created_at as string", "proto/merchstore/db/v1/order.proto", "google.protobuf.Timestamp created_at", "string created_at"),
    ("Product.id int64", "api-python/openapi.yaml", "format: int32, example: 1}", "format: int64, example: 1}"),
    ("email NOT NULL", "db-init/00001_schema.sql", "varchar(255) UNIQUE,", "varchar(255) UNIQUE NOT NULL,"),
    ("new column, no row", "db-init/00001_schema.sql", "slogan      varchar(255),", "slogan varchar(255), colour text,"),
]  # fmt: skip

WIRE_MUTANTS = [
    ("Go writes 14998 cents", "report/wire/gowire/main.go", "14997,", "14998,"),
    ("Go writes 1 ns more", "report/wire/gowire/main.go", "345678000", "345678001"),
    ("varints read big-endian", "report/wire/wire_encoding.py", "value |= (byte & 0x7F) << shift", "value = (value << 7) | (byte & 0x7F)"),
]  # fmt: skip


def _short(test_id: str) -> str:
    """test_row_agrees_across_sql_proto_and_openapi[orders.quantity] -> row `orders.quantity`"""
    name, _, param = test_id.partition("[")
    if name == "test_row_agrees_across_sql_proto_and_openapi":
        return f"row `{param.rstrip(']')}`"
    return f"`{name}`"


def run(cmd, cwd, env=None) -> tuple[bool, str]:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    failed = sorted({_short(f) for f in re.findall(r"FAILED \S+::(\S+)", result.stdout)})
    return result.returncode == 0, ", ".join(failed) or result.stdout[-300:].strip()


def type_copy(tmp: pathlib.Path) -> pathlib.Path:
    for part in ("db-init", "proto"):
        shutil.copytree(ROOT / part, tmp / part)
    (tmp / "api-python").mkdir()
    shutil.copy(ROOT / "api-python/openapi.yaml", tmp / "api-python/openapi.yaml")
    return tmp


def wire_copy(tmp: pathlib.Path) -> pathlib.Path:
    shutil.copytree(
        ROOT / "report/wire", tmp / "report/wire", ignore=shutil.ignore_patterns("__pycache__")
    )
    (tmp / "tests").mkdir()
    shutil.copy(ROOT / "tests/test_wire_encoding.py", tmp / "tests")
    for shared in ("gen", "api-python"):  # read only: linked, not copied
        (tmp / shared).symlink_to(ROOT / shared)
    return tmp


def edit(root: pathlib.Path, path: str, old: str, new: str) -> None:
    text = (root / path).read_text()
    if text.count(old) < 1:
        raise SystemExit(f"mutant out of date: {old!r} is not in {path}")
    (root / path).write_text(text.replace(old, new, 1))


def main() -> int:
    rows, missed = [], 0
    suites = [
        ("tests/test_type_table.py", TYPE_MUTANTS, type_copy, True),
        ("tests/test_wire_encoding.py", WIRE_MUTANTS, wire_copy, False),
    ]
    for test_file, mutants, make_copy, via_env in suites:
        for label, path, old, new in [("(no edit)", None, None, None), *mutants]:
            with tempfile.TemporaryDirectory() as tmp:
                root = make_copy(pathlib.Path(tmp))
                if path:
                    edit(root, path, old, new)
                if via_env:
                    env = dict(os.environ, TYPE_TABLE_ROOT=str(root))
                    ok, failed = run([*PYTEST, str(ROOT / test_file)], ROOT, env)
                else:
                    ok, failed = run([*PYTEST, test_file], root)
            expected = path is None
            if ok != expected:
                missed += 1
            verdict = "passes" if ok else "FAILS: " + failed
            rows.append(f"| {test_file} | {label} | {path or ''} | {verdict} |")
    print("| test | edit on a copy | file | result |")
    print("| --- | --- | --- | --- |")
    print("\n".join(rows))
    print(f"\n{'every edit was caught' if not missed else f'{missed} edits NOT caught'}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
