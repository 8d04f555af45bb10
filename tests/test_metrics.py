"""Metrics through the running store (contract, "Metrics"): every target Prometheus
scrapes is up; N requests through NGINX grow the REST histogram and the DB service's
gRPC counter in Prometheus by exactly N (once a scrape has seen them), under the OpenAPI
route, never the raw path; the pool, the Kafka writer, the log shippers, NGINX and
PostgreSQL report too; a replica with two worker processes counts every request of
both; the PostgreSQL exporter's role sees statistics and nothing of the store."""

import contextlib
import importlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
import pytest
import requests
from checks import FRESH

ROOT = Path(__file__).resolve().parents[1]
env = os.environ
PROMETHEUS = f"http://127.0.0.1:{env.get('PROMETHEUS_PORT', '9090')}"
JOBS = {"prometheus", "api", "dbsvc", "logsvc", "nginx", "nginx-cache", "postgres"}
# Long enough for a scrape (5 s) and the log shipper's copy of its counts (1 s).
SETTLE_SECONDS = 20
N = 20


def query(expr):
    """The instant vector of expr, as {frozenset(labels): value}."""
    answer = requests.get(f"{PROMETHEUS}/api/v1/query", params={"query": expr}, timeout=10)
    answer.raise_for_status()
    return {
        frozenset(item["metric"].items()): float(item["value"][1])
        for item in answer.json()["data"]["result"]
    }


def scalar(expr):
    """The value of an expression that yields one series (0 if it yields none)."""
    values = query(expr)
    assert len(values) <= 1, f"{expr} gives {len(values)} series"
    return next(iter(values.values()), 0.0)


def settled(expr):
    """The value of expr once two scrapes in a row agree: what has happened so far."""
    deadline = time.monotonic() + SETTLE_SECONDS
    last = scalar(expr)
    while time.monotonic() < deadline:
        time.sleep(6)
        now = scalar(expr)
        if now == last:
            return now
        last = now
    pytest.fail(
        f"{expr} kept changing for {SETTLE_SECONDS} s: is something else loading the store?"
    )


def grown_by(expr, before, at_least):
    """Waits until expr is at least before + at_least; returns how much it grew."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        grown = scalar(expr) - before
        if grown >= at_least or time.monotonic() > deadline:
            return grown
        time.sleep(1)


@pytest.fixture(scope="module", autouse=True)
def prometheus_answers():
    try:
        requests.get(f"{PROMETHEUS}/-/ready", timeout=5).raise_for_status()
    except requests.RequestException as error:
        pytest.fail(f"Prometheus does not answer at {PROMETHEUS} ({error}); `make up` starts it")


def test_every_target_is_up():
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        up = {
            dict(labels)["job"] + "/" + dict(labels)["instance"]: v
            for labels, v in query("up").items()
        }
        if all(up.values()) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert {name.split("/")[0] for name in up} == JOBS
    assert {"api/api-1", "api/api-2", "dbsvc/db-1", "logsvc/log-1"} <= set(up)
    assert [name for name, value in up.items() if value != 1] == [], up


def test_n_requests_grow_the_rest_and_grpc_counters_by_n(base_url, http):
    rest = (
        'sum(http_server_request_duration_seconds_count{job="api", method="GET", '
        'route="/products/{id}", status="200"})'
    )
    grpc = (
        'sum(grpc_server_handled_total{job="dbsvc", '
        'grpc_service="merchstore.db.v1.ProductService", grpc_method="GetProduct", '
        'grpc_code="OK"})'
    )
    rest_per_replica = (
        'sum by (instance) (http_server_request_duration_seconds_count{job="api", '
        'route="/products/{id}", status="200"})'
    )
    others = {
        "pool borrows": ('sum(pgxpool_acquires_total{job="dbsvc"})', N),
        "records the API's shippers sent": (
            'sum(merch_log_shipper_sent_records_total{job="api"})',
            N,
        ),
        "messages the Kafka writer wrote": ('sum(kafka_writer_messages_total{job="logsvc"})', N),
        "StreamLogs calls": (
            'sum(grpc_server_handled_total{job="logsvc", grpc_method="StreamLogs", '
            'grpc_code="OK"})',
            1,
        ),
        "requests NGINX handled": ('sum(nginx_http_requests_total{job="nginx"})', N),
    }
    before_rest, before_grpc = settled(rest), settled(grpc)
    before_replicas = {dict(k)["instance"]: v for k, v in query(rest_per_replica).items()}
    before_others = {name: scalar(expr) for name, (expr, _) in others.items()}

    for _ in range(N):
        assert http.get(f"{base_url}/products/2", headers=FRESH).status_code == 200

    assert grown_by(rest, before_rest, N) == N
    assert grown_by(grpc, before_grpc, N) == N
    # Round robin: both replicas answered, and each counted its own.
    after_replicas = {dict(k)["instance"]: v for k, v in query(rest_per_replica).items()}
    for instance in ("api-1", "api-2"):
        assert after_replicas[instance] > before_replicas.get(instance, 0), instance
    for name, (expr, at_least) in others.items():
        assert grown_by(expr, before_others[name], at_least) >= at_least, name


def test_routes_are_templates_never_raw_paths(base_url, http):
    assert http.get(f"{base_url}/products/987654", headers=FRESH).status_code == 404
    assert http.get(f"{base_url}/no/such/path/4242").status_code == 404
    not_found = (
        'sum(http_server_request_duration_seconds_count{route="/products/{id}", status="404"})'
    )
    unmatched = 'sum(http_server_request_duration_seconds_count{route="unmatched", status="404"})'
    assert grown_by(not_found, 0, 1) >= 1
    assert grown_by(unmatched, 0, 1) >= 1
    routes = {
        dict(k)["route"]
        for k in query("count by (route) (http_server_request_duration_seconds_count)")
    }
    assert not [r for r in routes if re.search(r"\d", r)], routes
    assert {"/products/{id}", "unmatched"} <= routes


def test_catalog_reads_count_as_the_cache_answered_them(base_url, http):
    """NGINX's catalog cache log, counted by mtail: one fresh read (BYPASS, which refills
    the cache) and then five plain ones, all in the same second, so that the answer has not
    expired: five HITs. The recording rule gives the hit ratio."""
    answers = 'sum(nginx_catalog_cache_answers_total{{job="nginx-cache", cache="{}"}})'
    before = {cache: settled(answers.format(cache)) for cache in ("BYPASS", "HIT")}
    time.sleep(1.02 - time.time() % 1)
    assert http.get(f"{base_url}/products/3", headers=FRESH).status_code == 200
    statuses = [http.get(f"{base_url}/products/3").headers["X-Cache-Status"] for _ in range(5)]
    assert statuses == ["HIT"] * 5, statuses
    assert grown_by(answers.format("BYPASS"), before["BYPASS"], 1) == 1
    assert grown_by(answers.format("HIT"), before["HIT"], 5) == 5
    assert query('job:nginx_catalog_cache_hits:ratio_rate5m{job="nginx-cache"}'), "no hit ratio"


def test_the_metrics_ports_are_not_behind_nginx(base_url, http):
    answer = http.get(f"{base_url}/metrics")
    assert answer.status_code == 404
    assert "http_server_request_duration_seconds" not in answer.text


def test_pool_postgresql_and_recording_rules_report():
    assert scalar('max(pgxpool_max_conns{job="dbsvc"})') == float(env.get("DB_POOL_MAX_CONNS", "8"))
    assert scalar('pg_up{job="postgres"}') == 1
    database = env.get("POSTGRES_DB", "goodsstore")
    assert scalar(f'pg_stat_database_xact_commit{{job="postgres", datname="{database}"}}') > 0
    assert scalar('nginx_up{job="nginx"}') == 1
    # Recording rules are evaluated (deploy/prometheus/rules.yml).
    assert set(query('job_instance:http_server_requests:rate5m{job="api"}')), "no recording rule"


@pytest.fixture(scope="module")
def exporter():
    connection = psycopg2.connect(
        host=env.get("POSTGRES_HOST", "127.0.0.1"),
        port=env.get("POSTGRES_PORT", "5432"),
        user=env["POSTGRES_EXPORTER_DB_USER"],
        password=env["POSTGRES_EXPORTER_DB_PASSWORD"],
        dbname=env["POSTGRES_DB"],
        connect_timeout=5,
    )
    connection.autocommit = True
    yield connection
    connection.close()


def test_the_exporters_role_reads_statistics(exporter):
    with exporter.cursor() as cursor:
        cursor.execute("SELECT pg_has_role(current_user, 'pg_monitor', 'MEMBER')")
        assert cursor.fetchone()[0]
        # pg_read_all_stats: other roles' queries are visible, not "<insufficient privilege>".
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE usename = %s AND query LIKE '%%insufficient%%'",
            (env["DBSVC_DB_USER"],),
        )
        assert cursor.fetchone()[0] == 0


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT count(*) FROM users",
        "SELECT count(*) FROM orders",
        "UPDATE products SET stock = stock WHERE id = 1",
        "CREATE TABLE metrics_was_here (id int)",
    ],
)
def test_the_exporters_role_cannot_touch_the_store(exporter, statement):
    with exporter.cursor() as cursor, pytest.raises(psycopg2.errors.InsufficientPrivilege):
        cursor.execute(statement)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_answers(url, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return requests.get(url, timeout=2)
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def scraped(metrics_url, name, **labels):
    """The sum of name's samples whose labels include labels, from a /metrics page."""
    total = 0.0
    for line in requests.get(metrics_url, timeout=5).text.splitlines():
        match = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
        if not match or match[1] != name:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', match[2] or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(match[3])
    return total


def worker_pids(main_pid):
    children = Path(f"/proc/{main_pid}/task/{main_pid}/children").read_text().split()
    return [int(pid) for pid in children]


def test_a_replica_with_two_workers_counts_every_request_of_both(tmp_path):
    api_port, metrics_port = free_port(), free_port()
    log = open(tmp_path / "replica.log", "w")  # noqa: SIM115
    replica = subprocess.Popen(
        [sys.executable, "-m", "merch_api.serve"],
        cwd=ROOT / "api-python",
        env={
            **env,
            "INSTANCE_NAME": "api-metrics-test",
            "API_HOST": "127.0.0.1",
            "API_PORT": str(api_port),
            "API_METRICS_PORT": str(metrics_port),
            "WEB_CONCURRENCY": "2",
        },
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    count = "http_server_request_duration_seconds_count"
    try:
        wait_answers(f"http://127.0.0.1:{api_port}/healthz")
        deadline = time.monotonic() + 30
        while len(worker_pids(replica.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = worker_pids(replica.pid)
        assert len(workers) == 2, workers
        # New connections each time: granian's workers share the listening socket, and
        # with 60 requests each answers some.
        for _ in range(3 * N):
            assert requests.get(f"http://127.0.0.1:{api_port}/products/3", timeout=10).ok
        assert scraped(metrics_url, count, route="/products/{id}", status="200") == 3 * N

        # A worker killed outright: granian starts another, and what the dead one
        # counted still counts.
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = worker_pids(replica.pid)
            if len(now) == 2 and workers[0] not in now:
                break
            time.sleep(0.2)
        wait_answers(f"http://127.0.0.1:{api_port}/healthz")
        for _ in range(N):
            assert requests.get(f"http://127.0.0.1:{api_port}/products/3", timeout=10).ok
        assert scraped(metrics_url, count, route="/products/{id}", status="200") == 4 * N
        # Its queue depth no longer adds in; the live workers' files are all that remain.
        directory = next(Path("/tmp").glob(f"merch-api-metrics-{metrics_port}-*"))
        assert not list(directory.glob(f"gauge_live*_{workers[0]}.db"))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(replica.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            replica.wait(30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(replica.pid, signal.SIGKILL)
        log.close()


def test_every_metrics_port_listens_on_loopback_only():
    ports = [
        int(env[name].rsplit(":", 1)[-1])
        for name in (
            "PROMETHEUS_PORT",
            "API_1_METRICS_PORT",
            "API_2_METRICS_PORT",
            "DBSVC_METRICS_ADDR",
            "LOGSVC_METRICS_ADDR",
            "NGINX_STATUS_PORT",
            "NGINX_EXPORTER_PORT",
            "NGINX_LOG_METRICS_PORT",
            "POSTGRES_EXPORTER_PORT",
        )
    ]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: it picks the outward address
        outward = probe.getsockname()[0]
    if outward.startswith("127."):
        pytest.skip("this machine has no address but loopback")
    for port in ports:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        with pytest.raises(OSError):
            socket.create_connection((outward, port), timeout=2).close()


def test_the_whole_stack_with_prometheus_stays_within_its_memory_budget():
    """Memory of every process under supervisord (bench/memory.py, which `make bench`
    reports after its load): at most 1.5 GiB, Prometheus and its exporters included.
    Proportional set sizes, because RSS counts PostgreSQL's shared buffers once per
    backend: after a load that touched them its sum says 1.65 GiB of a stack that
    holds 1.2."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        memory = importlib.import_module("memory")
    finally:
        sys.path.remove(str(ROOT / "bench"))
    programs = memory.stack_memory()
    assert programs, "supervisord is not running: make up"
    assert {"prometheus", "nginx-exporter", "nginx-log-metrics", "postgres-exporter"} <= set(
        programs
    )
    total_mib = sum(pss for _rss, pss, _n in programs.values()) / 1024
    prometheus_mib = programs["prometheus"][1] / 1024
    print(f"\nstack PSS: {total_mib:.0f} MiB, of which Prometheus {prometheus_mib:.0f} MiB")
    assert total_mib <= 1.5 * 1024, programs
