"""The load generators every step drives (wrk, ghz, pgbench), read from what they print,
and the helpers to start a server of bench's own on a free port."""

import json
import os
import re
import socket
import subprocess
import tempfile
import time
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
STATE = ROOT / ".state"
GHZ = STATE / "bin" / "ghz"
PGBENCH = Path("/usr/lib/postgresql/15/bin/pgbench")
ENV = os.environ
# The machine is shared and noisy: rounds that alternate the cases, each compared within
# itself, are steadier than one long run of each (floor.py, cache.py).
ROUNDS = 3


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s")


def row(group, case, conc, rps, p50_ms, p99_ms, errors=0, **extra):
    return {
        "group": group,
        "case": case,
        "c": conc,
        "rps": rps,
        "p50": p50_ms,
        "p99": p99_ms,
        "errors": errors,
        **extra,
    }


def pct(sorted_values, p):
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(p / 100 * len(sorted_values)))]


def run_wrk(url, script, conc, duration, env=None):
    """(req/s, p50 ms, p99 ms, errors) of wrk with bench/wrk/<script>."""
    cmd = [
        "wrk",
        f"-t{min(2, conc)}",
        f"-c{conc}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "-s",
        str(BENCH / "wrk" / script),
        url,
    ]
    out = subprocess.run(
        cmd,
        env={**ENV, "BENCH_LUA_DIR": str(BENCH / "wrk"), **(env or {})},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"^WRK_JSON (.*)$", out, re.M)
    if not match:
        raise RuntimeError(f"wrk printed no summary:\n{out}")
    r = json.loads(match.group(1))
    return (
        r["requests"] / (r["duration_us"] / 1e6),
        r["p50_us"] / 1000,
        r["p99_us"] / 1000,
        r["non2xx"] + r["socket_errors"],
    )


@cache
def protoset():
    """The store's contracts as one descriptor set (buf build of proto/): the DB
    service's reflection is off, so ghz reads the messages from here."""
    out = STATE / "bench" / "store.binpb"
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "buf"), "build", "-o", str(out)],
        cwd=ROOT,
        check=True,
    )
    return out


def run_ghz(target, method, data, conc, duration):
    """(req/s, p50 ms, p99 ms, errors) of ghz calling merchstore.db.v1.<method>, over
    mutual TLS with the API's certificate (TLS_DIR), as the API calls it."""
    tls = Path(os.environ["TLS_DIR"])
    cmd = [
        str(GHZ),
        f"--protoset={protoset()}",
        f"--cacert={tls / 'ca.crt'}",
        f"--cert={tls / 'tls.crt'}",
        f"--key={tls / 'tls.key'}",
        "--cname=dbsvc",
        "--call",
        f"merchstore.db.v1.{method}",
        "-d",
        json.dumps(data),
        "-c",
        str(conc),
        "-z",
        f"{duration}s",
        "--connections",
        str(min(conc, 4)),
        "--format",
        "json",
        target,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    r = json.loads(out)
    pct = {int(p["percentage"]): p["latency"] / 1e6 for p in r.get("latencyDistribution") or []}
    # When -z ends, ghz closes its connections under the calls still in flight and
    # counts them as Unavailable "use of closed network connection": not the server's.
    errors = sum(
        n
        for message, n in (r.get("errorDistribution") or {}).items()
        if "use of closed network connection" not in message
    )
    return r["rps"], pct.get(50, float("nan")), pct.get(99, float("nan")), errors


def run_pgbench(sql, conc, duration, uid):
    """(transactions/s, p50 ms, p99 ms, failed) of pgbench running the script sql on the
    store's database, with :uid and :pid (product 3) defined."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "script.sql"
        script.write_text(sql)
        cmd = [
            str(PGBENCH),
            "-n",  # no vacuum: the store's tables are not pgbench's
            "-M",
            "prepared",  # like pgx's statement cache
            "-c",
            str(conc),
            "-j",
            str(min(conc, 2)),
            "-T",
            str(duration),
            "-D",
            f"uid={uid}",
            "-D",
            "pid=3",
            "-f",
            str(script),
            "-l",
            "--log-prefix",
            f"{tmp}/log",
            "-h",
            ENV.get("POSTGRES_HOST", "127.0.0.1"),
            "-p",
            ENV.get("POSTGRES_PORT", "5432"),
            "-U",
            ENV["POSTGRES_USER"],
            ENV["POSTGRES_DB"],
        ]
        out = subprocess.run(
            cmd,
            env={**ENV, "PGPASSWORD": ENV["POSTGRES_PASSWORD"]},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        tps = float(re.search(r"^tps = ([\d.]+)", out, re.M).group(1))
        failed = re.search(r"number of failed transactions: (\d+)", out)
        latencies = []
        for log in Path(tmp).glob("log*"):
            for line in log.read_text().splitlines():
                latencies.append(int(line.split()[2]) / 1000)
    latencies.sort()
    return tps, pct(latencies, 50), pct(latencies, 99), int(failed.group(1)) if failed else 0
