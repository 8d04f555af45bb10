"""PostgreSQL stopped and started again while customers order."""

import time

import pytest
from drills.support import NGINX_HINT, Bystanders, Load, connect_db, summary, wait_until


# The long variant outlasts the DB service's and the API's deadlines and the pool's
# health check period.
@pytest.mark.parametrize("outage_seconds", [3, pytest.param(20, marks=pytest.mark.long)])
def test_postgres_restart_under_load(stack, base_url, tokens, outage_seconds):
    bystanders = Bystanders("postgres")
    with Load(base_url, tokens, workers=4, max_seconds=outage_seconds + 40) as load:
        time.sleep(2)
        down = time.monotonic()
        try:
            stack.stop("postgres")
            time.sleep(outage_seconds)
        finally:
            stack.start("postgres")
        up = time.monotonic()
        recovered = wait_until(lambda: load.first_success_after(up) is not None, timeout=30)
        time.sleep(1)

    before = load.between(0, down)
    outage = load.between(down + 0.5, up)
    after = load.between(up + (recovered or 0) + 0.5)
    placed = [a.order_id for a in load.answers if a.op == "place" and a.status == 201]
    connection = connect_db()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM orders WHERE id = ANY(%s)", (placed,))
            in_db = {row[0] for row in cursor.fetchall()}
    finally:
        connection.close()
    unavailable = [a for a in outage if a.status == 503]
    print(
        f"\npostgres drill: {len(load.answers)} requests; before {summary(before)}, "
        f"outage ({outage_seconds} s) {summary(outage)}, after {summary(after)}; "
        f"{len(placed)} orders got 201, {len(in_db)} of them in the database; "
        f"recovered {recovered and round(recovered, 2)} s after PostgreSQL was started; "
        f"503 detail: {unavailable[0].detail if unavailable else '-'}"
    )
    bystanders.check()  # also: no service restarted, none crashed
    assert set(placed) == in_db, f"orders answered 201 but missing: {set(placed) - in_db}"
    assert all(a.status in (200, 201) for a in before), summary(before)
    assert unavailable, f"no 503 during the outage: {summary(outage)}"
    for a in outage:
        assert a.status in (200, 201, 503), (a.op, a.status, a.detail, NGINX_HINT)
        if a.status == 503:
            assert a.content_type.startswith("application/problem+json")
            assert "try again" in a.detail, a.detail
    assert recovered is not None and recovered < 10, f"no order placed {recovered} s after"
    assert all(a.status in (200, 201) for a in after), summary(after)
