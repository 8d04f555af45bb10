"""The `.env` files the tests read (`.env.example` above all): NAME=value lines, one
reading for every test that compares the deployment's names or values with it."""

import re
from pathlib import Path

_ASSIGNMENT = re.compile(r"^(\w+)=(.*)$")


def env_file(path: Path) -> dict[str, str]:
    """{NAME: value} of path's assignments; comments and blank lines are skipped."""
    return {m[1]: m[2] for line in path.read_text().splitlines() if (m := _ASSIGNMENT.match(line))}
