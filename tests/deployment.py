"""Which deployment the end-to-end tests look at, and the few things they read
differently on each: the local stack (`make up`, supervisord) or Docker Compose
(`make compose-test`, which sets COMPOSE_TEST=1, its own project and ports)."""

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UNDER_COMPOSE = os.environ.get("COMPOSE_TEST") == "1"


def compose(*args, timeout=300, check=True):
    """`docker compose ARGS` on the store under test (its project, files and env files)."""
    result = subprocess.run(
        [str(ROOT / "deploy/compose/stack"), "compose", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"docker compose {' '.join(args)}: {result.stdout}{result.stderr}")
    return result


def nginx_access_log():
    """What NGINX wrote to its access log."""
    if UNDER_COMPOSE:
        return compose("logs", "--no-log-prefix", "nginx").stdout
    return (ROOT / ".state/nginx/logs/access.log").read_text(encoding="utf-8", errors="replace")


def api_logs():
    """{replica: what it wrote to its log (stdout and stderr)}."""
    if UNDER_COMPOSE:
        return {
            name: compose("logs", "--no-log-prefix", name).stdout for name in ("api-1", "api-2")
        }
    return {
        name: (ROOT / f".state/log/{name}.log").read_text(encoding="utf-8", errors="replace")
        for name in ("api-1", "api-2")
    }
