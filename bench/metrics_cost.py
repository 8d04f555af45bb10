"""What the metrics cost (README, "Metrics"): an API replica and a DB service each run
twice beside the store, on free ports, one with its metrics endpoint and one without
(API_METRICS_PORT, DBSVC_METRICS_LISTEN_ADDR unset: no histogram, no interceptor), under
the same load: wrk `GET /products/{id}` on the replicas, ghz GetProduct on the DB
services. While they run, each endpoint is scraped every 5 s, as Prometheus does. The
budget is 5 % of throughput.

This machine is shared, and other loads come and go within seconds, so each round
measures three ways: each server alone (the two taking turns to go first), which gives
req/s as a client sees them but moves with whatever else runs; both at once, each with
half the connections, which puts the two under the same noise in the same seconds (on
shared cores a server that spends more CPU per request answers fewer); and the CPU
seconds each server's processes spent per request in its run alone (from /proc), which
the other loads move less. All three still swing by ten or twenty percent from round to
round here, far more than the metrics cost, so the verdict comes from a fourth figure
that the machine's noise cannot reach: the CPU the instrumentation itself adds to a
request, measured in isolation (bench/metrics_overhead.py: the API's middleware around a
WSGI app that does nothing, 100,000 times; serving's BenchmarkUnaryInterceptor: the
grpc-ecosystem interceptor around a handler that does nothing), set against the CPU a
whole request takes without metrics. Where the cores limit a server, its throughput is
inversely proportional to its CPU per request, so the share the metrics leave is
without / (without + added)."""

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from statistics import median

import requests
from loadgen import ENV, ROOT, STATE, free_port, run_ghz, run_wrk, wait_port
from memory import _parents

ROUNDS = 5
WARM_UP_SECONDS = 2
SCRAPE_SECONDS = 5
BUDGET = 0.05


class _Server:
    """A process of bench's own in its own process group (granian's workers too), and a
    thread that scrapes its metrics endpoint while it runs, if it has one."""

    def __init__(self, name, command, env, port, metrics_port=None, cwd=None):
        self.name, self.port, self.metrics_port = name, port, metrics_port
        # The child writes to it as long as it runs.
        log = open(STATE / "bench" / f"{name}.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._stopping = threading.Event()
        try:
            wait_port(port, timeout=30)
            if metrics_port:
                wait_port(metrics_port, timeout=30)
                threading.Thread(target=self._scrape, daemon=True).start()
        except RuntimeError:
            self.stop()
            raise

    def _scrape(self):
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        while not self._stopping.wait(SCRAPE_SECONDS):
            with contextlib.suppress(requests.RequestException):
                requests.get(url, timeout=4)

    def stop(self):
        self._stopping.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)


def cpu_seconds(root):
    """User and system CPU seconds of root and its descendants (granian's workers)."""
    parents = _parents()
    tree, grew = {root}, True
    while grew:
        more = {p for p, pp in parents.items() if pp in tree} - tree
        tree |= more
        grew = bool(more)
    ticks = 0
    for pid in tree:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _without(*names):
    return {k: v for k, v in ENV.items() if k not in names}


def replica(with_metrics):
    """The real API (merch_api.serve, .env's WEB_CONCURRENCY and API_THREADS) on the
    store's DB and logging services."""
    port = free_port()
    metrics_port = free_port() if with_metrics else None
    env = {
        **_without("API_METRICS_PORT", "PROMETHEUS_MULTIPROC_DIR"),
        "INSTANCE_NAME": "api-bench-metrics" if with_metrics else "api-bench-plain",
        "API_HOST": "127.0.0.1",
        "API_PORT": str(port),
        **({"API_METRICS_PORT": str(metrics_port)} if with_metrics else {}),
    }
    name = "api-with-metrics" if with_metrics else "api-without-metrics"
    return _Server(
        name,
        [sys.executable, "-m", "merch_api.serve"],
        env,
        port,
        metrics_port,
        cwd=ROOT / "api-python",
    )


def dbsvc(with_metrics):
    """The DB service's build, on its own role, with a pool of its own."""
    port = free_port()
    metrics_port = free_port() if with_metrics else None
    env = {
        **_without("DBSVC_METRICS_LISTEN_ADDR"),
        "DBSVC_LISTEN_ADDR": f"127.0.0.1:{port}",
        "INSTANCE_NAME": "db-bench-metrics" if with_metrics else "db-bench-plain",
        "POSTGRES_USER": ENV["DBSVC_DB_USER"],
        "POSTGRES_PASSWORD": ENV["DBSVC_DB_PASSWORD"],
        # The stack's environment carries the API's certificate; ghz asks for dbsvc's.
        "TLS_DIR": os.path.join(ENV["TLS_ROOT"], "dbsvc"),
        **({"DBSVC_METRICS_LISTEN_ADDR": f"127.0.0.1:{metrics_port}"} if with_metrics else {}),
    }
    name = "dbsvc-with-metrics" if with_metrics else "dbsvc-without-metrics"
    return _Server(name, [str(STATE / "bin" / "dbsvc")], env, port, metrics_port)


def _summary(rounds):
    """rounds: per round, {"alone": (with, without), "together": (with, without)} of the
    load generator's results, and "cpu": (with, without) CPU ms per request."""

    def ratios(key):
        return [r[key][0][0] / r[key][1][0] for r in rounds]

    return {
        "on_rps": median(r["alone"][0][0] for r in rounds),
        "off_rps": median(r["alone"][1][0] for r in rounds),
        "on_p99": median(r["alone"][0][2] for r in rounds),
        "off_p99": median(r["alone"][1][2] for r in rounds),
        "alone_ratio": median(ratios("alone")),
        "together_on_rps": median(r["together"][0][0] for r in rounds),
        "together_off_rps": median(r["together"][1][0] for r in rounds),
        "together_ratio": median(ratios("together")),
        "on_cpu_ms": median(r["cpu"][0] for r in rounds),
        "off_cpu_ms": median(r["cpu"][1] for r in rounds),
        "errors": sum(r[k][i][3] for r in rounds for k in ("alone", "together") for i in (0, 1)),
    }


def steps(levels):
    return 2 * (1 + 2 * ROUNDS * len(levels))


def _alone(load, server, c, duration):
    """The load generator's result, and the CPU ms the server spent per request."""
    before = cpu_seconds(server.proc.pid)
    result = load(server, c, duration)
    spent = cpu_seconds(server.proc.pid) - before
    return result, 1000 * spent / max(result[0] * duration, 1)


def _rounds(kind, load, servers, levels, duration, progress):
    on, off = servers
    progress.step(f"warming up the {kind} with and without metrics, {WARM_UP_SECONDS}s each")
    for server in (on, off):
        load(server, max(levels), WARM_UP_SECONDS)
    rounds = {c: [] for c in levels}
    for n in range(ROUNDS):
        for c in levels:
            progress.step(
                f"{kind} with and without metrics c={c}, round {n + 1}/{ROUNDS}: "
                f"each alone, {duration}s"
            )
            # Whichever runs second meets a machine warmer by one run: take turns.
            order = (on, off) if n % 2 == 0 else (off, on)
            alone = {server.name: _alone(load, server, c, duration) for server in order}
            progress.step(
                f"{kind} with and without metrics c={c}, round {n + 1}/{ROUNDS}: "
                f"both at once, {duration}s"
            )
            half = max(1, c // 2)
            with ThreadPoolExecutor(2) as pool:
                both = [pool.submit(load, server, half, duration) for server in (on, off)]
                together = tuple(f.result() for f in both)
            rounds[c].append(
                {
                    "alone": (alone[on.name][0], alone[off.name][0]),
                    "cpu": (alone[on.name][1], alone[off.name][1]),
                    "together": together,
                }
            )
    return {c: _summary(r) for c, r in rounds.items()}


def added_cpu_ms(kind):
    """The CPU ms the instrumentation adds to one request, measured in isolation."""
    if kind == "api":
        out = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "metrics_overhead.py")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return float(out) / 1000
    out = subprocess.run(
        [
            "go",
            "test",
            "-run",
            "^$",
            "-bench",
            "^BenchmarkUnaryInterceptor$",
            "-count",
            "5",
            ".",
        ],
        cwd=ROOT / "serving",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return median(float(ns) for ns in re.findall(r"\s([\d.]+) ns/op", out)) / 1e6


def measure(levels, duration, progress):
    """{"api": {c: summary}, "grpc": {c: summary}, "rounds", "duration"}"""

    def wrk(server, c, seconds):
        return run_wrk(f"http://127.0.0.1:{server.port}", "product.lua", c, seconds)

    def ghz(server, c, seconds):
        return run_ghz(
            f"127.0.0.1:{server.port}", "ProductService.GetProduct", {"id": 1}, c, seconds
        )

    result = {"rounds": ROUNDS, "duration": duration}
    for kind, start, load in (("api", replica, wrk), ("grpc", dbsvc, ghz)):
        servers = []
        try:
            servers = [start(True), start(False)]
            label = "API replicas" if kind == "api" else "DB services"
            result[kind] = _rounds(label, load, servers, levels, duration, progress)
        finally:
            for server in servers:
                server.stop()
        added = added_cpu_ms(kind)
        for summary in result[kind].values():
            summary["added_ms"] = added
            summary["left"] = summary["off_cpu_ms"] / (summary["off_cpu_ms"] + added)
    return result


def section(cost):
    lines = [
        "",
        "## What the metrics cost",
        "",
        f"The same server twice beside the store, with its Prometheus endpoint and without "
        f"(`bench/metrics_cost.py`): the real API (`merch_api.serve`, .env's workers and "
        f"threads) under wrk `GET /products/{{id}}` straight to the replica, and the DB "
        f"service under ghz GetProduct; each endpoint is scraped every {SCRAPE_SECONDS} s "
        f"meanwhile. {cost['rounds']} rounds of {cost['duration']} s runs, medians of the "
        f"rounds: *alone*, each server by itself, the two taking turns; *both at once*, the "
        f"two loaded in the same seconds with half the connections each; *CPU ms / "
        f"request*, what each server's processes spent per request in its run alone. On "
        f"this shared machine all of these swing by ten or twenty percent from round to "
        f"round, far more than the metrics cost. *Added by the metrics* is measured where "
        f"no other load reaches it: the API's middleware (`bench/metrics_overhead.py`) and "
        f"the gRPC interceptor (serving's `BenchmarkUnaryInterceptor`) around a handler "
        f"that does nothing. Where the cores limit a server its throughput is inversely "
        f"proportional to its CPU per request, so the **throughput left** is CPU without / "
        f"(CPU without + added): the budget is at least {100 * (1 - BUDGET):.0f} %.",
        "",
        "| server | c | alone with / without req/s | both at once with / without req/s "
        "| CPU ms / request with / without | added by the metrics, ms / request "
        "| **throughput left** | errors |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    names = {"api": "API replica", "grpc": "DB service"}
    for kind in ("api", "grpc"):
        for c, s in cost.get(kind, {}).items():
            lines.append(
                f"| {names[kind]} | {c} | {s['on_rps']:.0f} / {s['off_rps']:.0f} "
                f"({100 * s['alone_ratio']:.0f} %) | "
                f"{s['together_on_rps']:.0f} / {s['together_off_rps']:.0f} "
                f"({100 * s['together_ratio']:.0f} %) | "
                f"{s['on_cpu_ms']:.3f} / {s['off_cpu_ms']:.3f} | {s['added_ms']:.4f} | "
                f"**{100 * s['left']:.1f} %** | {s['errors']} |"
            )
    return lines
