"""Failure drills under compose (`make compose-drills`), as an operator causes them with
docker's own commands while customers browse and order: an API container killed, the
DB service restarted, PostgreSQL paused, Kafka stopped. The load, its answers and
their summary are the local drills' (tests/drills/support.py)."""

import subprocess
import time

import pytest
from deployment import compose
from drills.support import Load, connect_db, served_by, summary, wait_until


def docker(command, service):
    """`docker COMMAND` on the container of a compose service (kill, pause, unpause)."""
    container = compose("ps", "-q", service).stdout.strip()
    assert container, f"no container of {service}"
    subprocess.run(["docker", command, container], capture_output=True, timeout=120, check=True)


@pytest.fixture
def tokens(new_customer):
    return [new_customer().token for _ in range(2)]


@pytest.fixture
def restore():
    """Whatever a drill stopped, paused or killed runs again afterwards."""
    yield
    for service in ("postgres", "kafka", "api-1", "dbsvc"):
        state = compose("ps", "-a", "--format", "{{.State}}", service).stdout.strip()
        if state == "paused":
            docker("unpause", service)
        elif state != "running":
            compose("start", service)

    def all_healthy():
        states = compose("ps", "--format", "{{.Service}} {{.Health}}").stdout.split("\n")
        return all(line.endswith(" healthy") for line in states if line.strip())

    assert wait_until(all_healthy, timeout=180, interval=1) is not None, "not healthy again"


def orders_in_database(ids):
    connection = connect_db()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM orders WHERE id = ANY(%s)", (list(ids),))
            return {row[0] for row in cursor.fetchall()}
    finally:
        connection.close()


def test_docker_kill_of_an_api_container_fails_no_read_and_resends_no_write(
    base_url, tokens, restore
):
    with Load(base_url, tokens, workers=4) as load:
        time.sleep(1.5)
        killed_at = time.monotonic()
        docker("kill", "api-1")
        time.sleep(2)
        compose("start", "api-1")  # docker kill counts as stopped on purpose: no restart
        back = served_by(base_url, "api-1", timeout=60)
        time.sleep(0.5)
    failed = [a for a in load.answers if a.status not in (200, 201)]
    print(
        f"\ncompose api kill: {len(load.answers)} requests {summary(load.answers)}; "
        f"failed {[(a.op, a.status) for a in failed]}; api-1 served again "
        f"{back and round(back, 1)} s after it was started"
    )
    assert not [a for a in failed if a.op in ("get", "list")], "a read failed"
    # Only a write that was inside the killed replica may fail, with NGINX's 502 or a
    # closed connection, never resent (a resent cancel would be a 409).
    assert len(failed) <= load.workers, [(a.op, a.status) for a in failed]
    assert all(a.status in (502, None) and a.t >= killed_at for a in failed)
    placed = {a.order_id for a in load.answers if a.op == "place" and a.status == 201}
    assert orders_in_database(placed) == placed
    assert back is not None, "api-1 did not answer again within 60 s"


def test_orders_succeed_after_docker_compose_restart_dbsvc(base_url, customer, restore):
    compose("restart", "dbsvc", timeout=120)
    compose("up", "-d", "--wait", "dbsvc", timeout=120)
    placed = customer.request("POST", "/orders", json={"product_id": 1, "quantity": 1})
    assert placed.status_code == 201, placed.text
    cancelled = customer.request("DELETE", f"/orders/{placed.json()['id']}")
    assert cancelled.status_code == 200, cancelled.text


def test_docker_pause_postgres_gives_fast_problems_and_no_half_written_order(
    base_url, tokens, restore
):
    with Load(base_url, tokens, workers=4, max_seconds=60) as load:
        time.sleep(2)
        paused_at = time.monotonic()
        docker("pause", "postgres")
        try:
            time.sleep(10)
        finally:
            docker("unpause", "postgres")
        resumed_at = time.monotonic()
        recovered = wait_until(lambda: load.first_success_after(resumed_at) is not None, 30)
        time.sleep(1)
    outage = load.between(paused_at + 0.5, resumed_at)
    unavailable = [a for a in outage if a.status in (503, 504)]
    writes = [a for a in outage if a.op in ("place", "cancel")]
    placed = {a.order_id for a in load.answers if a.op == "place" and a.status == 201}
    print(
        f"\ncompose postgres pause (10 s): {len(load.answers)} requests; during the pause "
        f"{summary(outage)}; orders again {recovered and round(recovered, 2)} s after unpause"
    )
    assert unavailable, f"no 503 or 504 while PostgreSQL was paused: {summary(outage)}"
    # 503 when the DB service knows the database is away, 504 (the OpenAPI file's Timeout)
    # when a call waited out its deadline; either is a problem that says to try again.
    for a in outage:
        assert a.status in (200, 201, 503, 504), (a.op, a.status, a.detail)
        if a.status in (503, 504):
            assert a.content_type.startswith("application/problem+json"), a.content_type
            assert "try again" in a.detail, a.detail
    # Fast: a write waits for its deadline (GRPC_DEADLINE_SECONDS, 3 s), not the pause.
    assert len(writes) >= 4, f"the writers waited out the pause: {summary(outage)}"
    assert orders_in_database(placed) == placed
    assert recovered is not None and recovered < 10
    # No half-written order: the stock invariant holds for every product.
    connection = connect_db()
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                """SELECT p.id, p.stock + coalesce(sum(o.quantity)
                              FILTER (WHERE o.status = 'placed'), 0)
                   FROM products p LEFT JOIN orders o ON o.product_id = p.id GROUP BY p.id"""
            )
            assert {pid: total for pid, total in cursor.fetchall()} == {1: 500, 2: 500, 3: 500}
    finally:
        connection.close()


def test_docker_compose_stop_kafka_for_20_s_loses_no_record(base_url, log_channel, restore):
    mark = log_channel.mark()
    with Load(base_url, [], workers=2, orders=False, max_seconds=80) as load:
        time.sleep(1)
        down = time.monotonic()
        compose("stop", "kafka", timeout=120)
        time.sleep(20)
        compose("start", "kafka", timeout=120)
        up = time.monotonic()
        time.sleep(2)
    sent = {a.request_id for a in load.answers}
    seen = set()

    def all_arrived(records):
        seen.update(key for key, _ in records)
        return sent <= seen

    log_channel.records_since(mark, until=all_arrived, timeout=120)
    outage = {a.request_id for a in load.between(down, up)}
    print(
        f"\ncompose kafka stop (20 s): {len(sent)} requests {summary(load.answers)}, "
        f"{len(outage)} while Kafka was down; records delivered {len(sent & seen)}/{len(sent)}"
    )
    assert all(a.status == 200 for a in load.answers), summary(load.answers)
    assert outage, "no request was made while Kafka was down"
    assert sent <= seen, f"{len(sent - seen)} records never arrived"
