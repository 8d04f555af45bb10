"""`make bench`: the store under load, next to the ceilings of each layer, in one run.

Drives registry tools and parses what they print: wrk (with bench/wrk/*.lua) through
NGINX, wrk against a second, static NGINX (the HTTP ceiling), ghz against the DB
service (the API's cost), pgbench with the DB service's own SQL (the database's
ceiling), ghz against a second DB service that connects per call (what the pool is
worth) and logsvc-go's logbench (the logging path against a direct producer).
Writes report/bench/results.md and results.png. Run it through deploy/local/stack run,
which exports .env's values.
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
STATE = ROOT / ".state"
GHZ = STATE / "bin" / "ghz"
PGBENCH = Path("/usr/lib/postgresql/15/bin/pgbench")
ENV = os.environ

# The DB service's SQL (dbsvc-go/internal/store/products.go and orders.go), for pgbench.
PRODUCT_COLUMNS = (
    "id, name, COALESCE(description, ''), COALESCE(category, ''), "
    "(price * 100)::bigint, COALESCE(slogan, ''), stock, created_at"
)
ORDER_COLUMNS = (
    "id, user_id, product_id, quantity, (total_price * 100)::bigint, status, "
    "created_at, cancelled_at"
)
SQL_SCRIPTS = {
    "GetProduct": (
        f"\\set id random(1, 3)\nSELECT {PRODUCT_COLUMNS} FROM products WHERE id = :id;\n"
    ),
    "ListProducts": f"SELECT {PRODUCT_COLUMNS} FROM products ORDER BY id;\n",
    # CreateOrder's transaction, rolled back so that no data changes (an order id of
    # the sequence is used up, as by any rolled-back insert).
    "CreateOrder (rolled back)": (
        "BEGIN;\n"
        "SELECT active FROM users WHERE id = :uid;\n"
        "UPDATE products SET stock = stock - 1 WHERE id = :pid AND stock >= 1;\n"
        "INSERT INTO orders (user_id, product_id, quantity, total_price) "
        "SELECT :uid::int, id, 1, price * 1 FROM products WHERE id = :pid "
        f"RETURNING {ORDER_COLUMNS};\n"
        "ROLLBACK;\n"
    ),
}


class Progress:
    """One line that says which step runs, rewritten in place on a terminal."""

    def __init__(self, total):
        self.total, self.done = total, 0
        self.tty = sys.stderr.isatty()

    def step(self, what):
        self.done += 1
        line = f"[bench {self.done:2d}/{self.total}] {what}"
        if self.tty:
            sys.stderr.write("\r\033[K" + line)
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def finish(self):
        if self.tty:
            sys.stderr.write("\n")


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


# ---------------------------------------------------------------- wrk


def run_wrk(url, script, conc, duration, env=None):
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


class BenchUser:
    """A registered customer whose token the order scripts use."""

    def __init__(self, base_url):
        self.base_url = base_url
        self.http = requests.Session()
        suffix = uuid.uuid4().hex[:12]
        self.username = f"bench_{suffix}"
        password = uuid.uuid4().hex
        answer = self.http.post(
            f"{base_url}/users",
            json={
                "sid": str(uuid.uuid4().int)[:15],
                "username": self.username,
                "password": password,
            },
        )
        answer.raise_for_status()
        self.id = answer.json()["id"]
        answer = self.http.post(
            f"{base_url}/auth/login", json={"username": self.username, "password": password}
        )
        answer.raise_for_status()
        self.token = answer.json()["access_token"]
        self.headers = {"Authorization": f"Bearer {self.token}"}

    def cancel_placed(self):
        """Orders the scripts placed but did not cancel before the run ended."""
        orders = self.http.get(f"{self.base_url}/orders", headers=self.headers).json()
        left = [o["id"] for o in orders if o["status"] == "placed"]
        for order_id in left:
            self.http.delete(f"{self.base_url}/orders/{order_id}", headers=self.headers)
        return len(left)

    def deactivate(self):
        self.http.delete(f"{self.base_url}/users/{self.id}", headers=self.headers)


class StaticNginx:
    """A second NGINX, started from bench/, that answers GET / from its config with
    a body the size of the store's greeting: the ceiling of one NGINX worker."""

    def __init__(self):
        self.port = free_port()
        self.prefix = STATE / "bench" / "nginx"
        for sub in ("logs", "run", "tmp"):
            (self.prefix / sub).mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.prefix / "tmp", "nobody")
        conf = (BENCH / "nginx-static.conf").read_text().replace("@PORT@", str(self.port))
        (self.prefix / "nginx.conf").write_text(conf)
        self.proc = subprocess.Popen(
            ["nginx", "-p", str(self.prefix), "-c", "nginx.conf", "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


# ---------------------------------------------------------------- ghz


def run_ghz(target, method, data, conc, duration):
    cmd = [
        str(GHZ),
        "--insecure",
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


class ConnectPerCallDbsvc:
    """A second DB service on a free port, opening a PostgreSQL connection per call."""

    def __init__(self):
        self.port = free_port()
        # The child writes to it as long as it runs.
        log = open(STATE / "bench" / "dbsvc-connect-per-call.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [str(STATE / "bin" / "dbsvc")],
            env={
                **ENV,
                "DBSVC_LISTEN_ADDR": f"127.0.0.1:{self.port}",
                "INSTANCE_NAME": "db-bench-connect-per-call",
                "DBSVC_CONNECT_PER_CALL": "true",
            },
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_port(self.port)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(15)


# ---------------------------------------------------------------- pgbench


def run_pgbench(name, conc, duration, uid):
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "script.sql"
        script.write_text(SQL_SCRIPTS[name])
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


def pct(sorted_values, p):
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(p / 100 * len(sorted_values)))]


# ---------------------------------------------------------------- Go benchmark

_GO_BENCH_LINE = re.compile(
    r"^Benchmark(\w+)/([\w-]+)-\d+\s+\d+\s+[\d.]+ ns/op\s+([\d.]+) ops/s"
    r"\s+([\d.]+) p50-ms\s+([\d.]+) p99-ms"
)


def run_go_bench(duration):
    """dbsvc-go's Go benchmarks (internal/server/bench_test.go): GetProduct and
    place+cancel, with the pool and connecting per call, from a gRPC client in the same
    process over loopback, in a throwaway database. {(benchmark, mode): (ops/s, p50, p99)}"""
    out = subprocess.run(
        [
            "go",
            "test",
            "-run",
            "^$",
            "-bench",
            ".",
            f"-benchtime={duration}s",
            "./internal/server/",
        ],
        cwd=ROOT / "dbsvc-go",
        env=ENV,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = (_GO_BENCH_LINE.match(line) for line in out.splitlines())
    return {(m[1], m[2]): tuple(float(x) for x in m.groups()[2:]) for m in found if m}


# ---------------------------------------------------------------- logbench


def run_logbench(records):
    binary = STATE / "bench" / "logbench"
    subprocess.run(
        ["go", "build", "-o", str(binary), "./cmd/logbench"], cwd=ROOT / "logsvc-go", check=True
    )
    out = subprocess.run(
        [str(binary), "-records", str(records), "-paced-duration", "3s", "-timeout", "90s"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = []
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[2].isdigit():
            rows.append(
                {
                    "path": cells[0],
                    "shape": cells[1],
                    "records": int(cells[2]),
                    "rps": float(cells[4]),
                    "p50": float(cells[5].split()[0]),
                    "p99": float(cells[6].split()[0]),
                }
            )
    if len(rows) < 2:
        raise RuntimeError(f"logbench printed no table:\n{out}")
    return rows


# ---------------------------------------------------------------- memory


def stack_memory():
    """Resident memory of every process under supervisord, by program: RSS summed
    (counts shared pages once per process, as asked) and PSS (shares them out)."""
    pid = subprocess.run(
        [
            str(ROOT / ".venv/bin/supervisorctl"),
            "-c",
            str(ROOT / "deploy/local/supervisord.conf"),
            "pid",
        ],
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not pid.isdigit():
        return None
    parent = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parent[int(entry.name)] = int(fields[1])
            except OSError:
                pass
    children = {p for p, pp in parent.items() if pp == int(pid)}

    def top_of(p):
        while p in parent and p not in children:
            p = parent[p]
        return p if p in children else None

    names = {}
    for line in subprocess.run(
        [
            str(ROOT / ".venv/bin/supervisorctl"),
            "-c",
            str(ROOT / "deploy/local/supervisord.conf"),
            "status",
        ],
        capture_output=True,
        text=True,
    ).stdout.splitlines():
        m = re.match(r"(\S+)\s+RUNNING\s+pid (\d+)", line)
        if m:
            names[int(m.group(2))] = m.group(1)
    by_program = {}
    for p in parent:
        top = top_of(p)
        if top is None:
            continue
        try:
            status = Path(f"/proc/{p}/status").read_text()
            rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
            rollup = Path(f"/proc/{p}/smaps_rollup").read_text()
            pss = int(re.search(r"^Pss:\s+(\d+)", rollup, re.M).group(1))
        except (OSError, AttributeError):
            continue
        entry = by_program.setdefault(names.get(top, str(top)), [0, 0, 0])
        entry[0] += rss
        entry[1] += pss
        entry[2] += 1
    return by_program


# ---------------------------------------------------------------- report


def fmt(x, digits=1):
    return "n/a" if x is None or x != x else f"{x:,.{digits}f}"


def ratio(a, b):
    return "n/a" if not b or b != b else f"{100 * a / b:.0f} %"


def write_report(out_dir, rows, go_bench, logbench, memory, meta):
    out_dir.mkdir(parents=True, exist_ok=True)
    by = {(r["group"], r["case"], r["c"]): r for r in rows}

    def ceiling(group, case, c):
        r = by.get((group, case, c))
        return r["rps"] if r else None

    grpc_of = {"GET /products/{id}": "GetProduct", "GET /products": "ListProducts"}
    sql_of = {**grpc_of, "place + cancel order": "CreateOrder (rolled back)"}
    lines = [
        "# Benchmark of the SUSTech Merch Store",
        "",
        f"Run {meta['when']} on {meta['cpus']} cores, {meta['duration']} s per case; "
        f"`make bench` (bench/run.py) wrote this file. req/s and latency are the load "
        f"generator's; c is the number of concurrent connections (wrk), concurrent "
        f"calls (ghz) or clients (pgbench). Errors are non-2xx answers, socket errors "
        f"or non-OK gRPC statuses.",
        "",
        "## The store through NGINX (wrk), with its ratio to each ceiling",
        "",
        "| case | c | req/s | p50 ms | p99 ms | errors | of HTTP ceiling "
        "| of gRPC (DB service) | of SQL (pgbench) |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        if r["group"] != "api":
            continue
        g = grpc_of.get(r["case"])
        s = sql_of.get(r["case"])
        lines.append(
            f"| {r['case']} | {r['c']} | {fmt(r['rps'], 0)} | {fmt(r['p50'], 2)} | "
            f"{fmt(r['p99'], 2)} | {r['errors']} | "
            f"{ratio(r['rps'], ceiling('http', 'static NGINX', r['c']))} | "
            f"{ratio(r['rps'], ceiling('grpc', g, r['c'])) if g else '-'} | "
            f"{ratio(r['rps'], ceiling('sql', s, r['c'])) if s else '-'} |"
        )
    lines += [
        "",
        "Place + cancel counts each request once (a place or a cancel), so one order "
        "is two requests; its SQL ceiling is one CreateOrder transaction.",
        "",
        "## Ceilings",
        "",
        "| layer | case | c | req/s | p50 ms | p99 ms | errors |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    names = {
        "http": "HTTP: a second NGINX answering from its config",
        "grpc": "gRPC: ghz on the DB service (pool)",
        "sql": "SQL: pgbench, the DB service's statements, prepared",
        "cpc": "gRPC: ghz on a DB service connecting per call",
    }
    for group in ("http", "grpc", "sql", "cpc"):
        for r in rows:
            if r["group"] == group:
                lines.append(
                    f"| {names[group]} | {r['case']} | {r['c']} | {fmt(r['rps'], 0)} | "
                    f"{fmt(r['p50'], 2)} | {fmt(r['p99'], 2)} | {r['errors']} |"
                )
    lines += [
        "",
        "pgbench logs each transaction's latency with a clock it reads lazily, so "
        "transactions shorter than its loop read as 0 ms: its p50 is a lower bound.",
        "",
        "## The pool against connect-per-call (ghz GetProduct)",
        "",
        "| c | pool req/s | connect-per-call req/s | pool / connect-per-call "
        "| pool p99 ms | connect-per-call p99 ms |",
        "|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        if r["group"] == "cpc":
            pool = by.get(("grpc", "GetProduct", r["c"]))
            if pool:
                lines.append(
                    f"| {r['c']} | {fmt(pool['rps'], 0)} | {fmt(r['rps'], 0)} | "
                    f"{pool['rps'] / r['rps']:.1f}x | {fmt(pool['p99'], 2)} | {fmt(r['p99'], 2)} |"
                )
    if go_bench:
        lines += [
            "",
            "## The pool against connect-per-call (dbsvc-go's Go benchmarks)",
            "",
            "A gRPC client in the benchmark's process calls a DB service on loopback, from "
            "as many goroutines as cores; one place+cancel is two RPCs, two transactions.",
            "",
            "| RPC | pool ops/s | connect-per-call ops/s | pool / connect-per-call "
            "| pool p50 / p99 ms | connect-per-call p50 / p99 ms |",
            "|---|--:|--:|--:|--:|--:|",
        ]
        for case, label in (("GetProduct", "GetProduct"), ("PlaceAndCancelOrder", "place+cancel")):
            pool, per_call = go_bench.get((case, "pool")), go_bench.get((case, "connect-per-call"))
            if pool and per_call:
                lines.append(
                    f"| {label} | {fmt(pool[0], 0)} | {fmt(per_call[0], 0)} | "
                    f"{pool[0] / per_call[0]:.1f}x | {fmt(pool[1], 2)} / {fmt(pool[2], 2)} | "
                    f"{fmt(per_call[1], 2)} / {fmt(per_call[2], 2)} |"
                )
    if logbench:
        direct = logbench[0]["rps"]
        lines += [
            "",
            "## The logging path against a direct producer (logsvc-go/cmd/logbench)",
            "",
            "| path | senders x batch | records | records/s | of direct producer "
            "| delay p50 ms | delay p99 ms |",
            "|---|---|--:|--:|--:|--:|--:|",
        ]
        for r in logbench:
            lines.append(
                f"| {r['path']} | {r['shape']} | {r['records']} | {fmt(r['rps'], 0)} | "
                f"{'paced' if ' at ' in r['path'] else ratio(r['rps'], direct)} | "
                f"{fmt(r['p50'])} | {fmt(r['p99'])} |"
            )
        lines.append("")
        lines.append(
            "Delay: from a record's creation until a consumer of the topic read it "
            "(logbench's own topic, deleted afterwards)."
        )
    if memory:
        total_rss = sum(v[0] for v in memory.values())
        total_pss = sum(v[1] for v in memory.values())
        lines += [
            "",
            "## Resident memory of the stack (every process under supervisord, after the run)",
            "",
            "| program | processes | RSS MiB | PSS MiB |",
            "|---|--:|--:|--:|",
        ]
        for name, (rss, pss, n) in sorted(memory.items()):
            lines.append(f"| {name} | {n} | {rss / 1024:.0f} | {pss / 1024:.0f} |")
        lines.append(f"| **total** | | **{total_rss / 1024:.0f}** | **{total_pss / 1024:.0f}** |")
        lines.append("")
        lines.append(
            "RSS counts pages shared between processes (PostgreSQL's shared buffers, "
            "gunicorn workers) once per process; PSS divides them among the sharers."
        )
    lines.append("")
    lines.append("![req/s and p99 per case](results.png)")
    (out_dir / "results.md").write_text("\n".join(lines) + "\n")
    draw_chart(out_dir / "results.png", rows)


_CHART_PREFIX = {
    "api": "",
    "http": "ceiling: ",
    "grpc": "gRPC: ",
    "sql": "SQL: ",
    "cpc": "gRPC per-call: ",
}


def chart_label(r):
    return _CHART_PREFIX[r["group"]] + r["case"]


def draw_chart(path, rows):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = []
    for r in rows:
        label = chart_label(r)
        if label not in series:
            series.append(label)
    levels = sorted({r["c"] for r in rows})
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(13, 9), sharex=True)
    width = 0.8 / len(levels)
    for i, c in enumerate(levels):
        xs, rps, p99 = [], [], []
        for j, label in enumerate(series):
            for r in rows:
                if chart_label(r) == label and r["c"] == c:
                    xs.append(j + (i - (len(levels) - 1) / 2) * width)
                    rps.append(r["rps"])
                    p99.append(r["p99"])
        top.bar(xs, rps, width, label=f"c={c}")
        bottom.bar(xs, p99, width, label=f"c={c}")
    top.set_yscale("log")
    top.set_ylabel("requests/s (log)")
    top.set_title("SUSTech Merch Store: the store through NGINX, and the ceilings of its layers")
    bottom.set_yscale("log")
    bottom.set_ylabel("p99 latency, ms (log)")
    bottom.set_xticks(range(len(series)))
    bottom.set_xticklabels(series, rotation=30, ha="right", fontsize=8)
    top.legend()
    top.grid(axis="y", alpha=0.3)
    bottom.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=int(ENV.get("BENCH_DURATION", "5")))
    parser.add_argument(
        "--levels", default=ENV.get("BENCH_LEVELS", "1,8,32"), help="concurrency levels"
    )
    parser.add_argument("--out", default=str(ROOT / "report" / "bench"))
    parser.add_argument("--log-records", type=int, default=20000)
    parser.add_argument(
        "--skip", default=ENV.get("BENCH_SKIP", ""), help="comma list of: api,http,grpc,sql,cpc,log"
    )
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    skip = set(filter(None, args.skip.split(",")))
    d = args.duration
    base = f"http://127.0.0.1:{ENV.get('NGINX_PORT', '8080')}"
    dbsvc = ENV.get("DBSVC_ADDR", "127.0.0.1:50051")
    (STATE / "bench").mkdir(parents=True, exist_ok=True)

    api_cases = [
        ("GET /products", "products.lua"),
        ("GET /products/{id}", "product.lua"),
        ("place + cancel order", "orders.lua"),
        ("mixed 60/25/15", "mixed.lua"),
    ]
    grpc_cases = [
        ("GetProduct", "ProductService.GetProduct", {"id": 1}),
        ("ListProducts", "ProductService.ListProducts", {}),
    ]
    steps = (
        (0 if "api" in skip else len(api_cases) * len(levels))
        + (0 if "http" in skip else len(levels))
        + (0 if "grpc" in skip else len(grpc_cases) * len(levels))
        + (0 if "sql" in skip else len(SQL_SCRIPTS) * len(levels))
        + (0 if "cpc" in skip else len(levels) + 1)
        + (0 if "log" in skip else 1)
        + 2
    )
    progress = Progress(steps)
    rows, go_bench, logbench = [], None, None

    progress.step(f"registering a bench user at {base}")
    user = BenchUser(base)
    try:
        if "api" not in skip:
            for case, script in api_cases:
                for c in levels:
                    progress.step(f"wrk {case} c={c} {d}s")
                    rps, p50, p99, err = run_wrk(base, script, c, d, {"BENCH_TOKEN": user.token})
                    rows.append(row("api", case, c, rps, p50, p99, err))
                    user.cancel_placed()
        if "http" not in skip:
            static = StaticNginx()
            try:
                for c in levels:
                    progress.step(f"wrk static NGINX c={c} {d}s")
                    rows.append(
                        row(
                            "http",
                            "static NGINX",
                            c,
                            *run_wrk(f"http://127.0.0.1:{static.port}", "static.lua", c, d),
                        )
                    )
            finally:
                static.stop()
        if "grpc" not in skip:
            for case, method, data in grpc_cases:
                for c in levels:
                    progress.step(f"ghz {case} c={c} {d}s")
                    rows.append(row("grpc", case, c, *run_ghz(dbsvc, method, data, c, d)))
        if "sql" not in skip:
            for case in SQL_SCRIPTS:
                for c in levels:
                    progress.step(f"pgbench {case} c={c} {d}s")
                    rows.append(row("sql", case, c, *run_pgbench(case, c, d, user.id)))
        if "cpc" not in skip:
            second = ConnectPerCallDbsvc()
            try:
                run_ghz(f"127.0.0.1:{second.port}", "ProductService.GetProduct", {"id": 1}, 1, 1)
                for c in levels:
                    progress.step(f"ghz GetProduct on a connect-per-call DB service c={c} {d}s")
                    rows.append(
                        row(
                            "cpc",
                            "GetProduct",
                            c,
                            *run_ghz(
                                f"127.0.0.1:{second.port}",
                                "ProductService.GetProduct",
                                {"id": 1},
                                c,
                                d,
                            ),
                        )
                    )
            finally:
                second.stop()
            progress.step(f"dbsvc-go Go benchmarks, pool and connect-per-call, {d}s each")
            go_bench = run_go_bench(d)
        if "log" not in skip:
            progress.step(f"logbench: {args.log_records} records, RPC against a direct producer")
            logbench = run_logbench(args.log_records)
    finally:
        left = user.cancel_placed()
        user.deactivate()
        if left:
            print(f"bench: cancelled {left} orders the scripts left placed", file=sys.stderr)
    progress.step("measuring the stack's memory and writing the report")
    memory = stack_memory()
    out_dir = Path(args.out)
    write_report(
        out_dir,
        rows,
        go_bench,
        logbench,
        memory,
        {
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "cpus": os.cpu_count(),
            "duration": d,
        },
    )
    progress.finish()
    print((out_dir / "results.md").read_text())
    print(f"bench: wrote {out_dir / 'results.md'} and {out_dir / 'results.png'}")


if __name__ == "__main__":
    main()
