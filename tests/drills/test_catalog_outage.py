"""Both API replicas stopped: the catalog stays readable from NGINX's microcache (its
answers say stale-if-error=60), everything else fails clearly, and once the replicas are
back the catalog is fresh again (contract: "Catalog caching")."""

import time

import requests
from checks import FRESH
from drills.support import served_by, wait_until

REPLICAS = ("api-1", "api-2")
CATALOG = ["/products", "/products/1"]


def test_the_catalog_stays_readable_while_every_replica_is_down(stack, base_url, database):
    for path in CATALOG:
        assert requests.get(f"{base_url}{path}", headers=FRESH, timeout=5).ok
    for name in REPLICAS:
        stack.stop(name)
    down = time.monotonic()
    try:
        # Past max-age, for a good ten seconds: every catalog read is answered, as it was.
        while time.monotonic() - down < 12:
            for path in CATALOG:
                answer = requests.get(f"{base_url}{path}", timeout=5)
                assert answer.status_code == 200, (path, answer.status_code, answer.text)
                assert answer.headers["X-Cache-Status"] in ("HIT", "STALE"), answer.headers
            time.sleep(0.5)
        # What is not the catalog fails as before, clearly.
        assert requests.get(f"{base_url}/", timeout=5).status_code == 502
        assert requests.get(f"{base_url}/orders", timeout=5).status_code in (401, 502)
    finally:
        for name in REPLICAS:
            stack.start(name)
    for name in REPLICAS:
        assert served_by(base_url, name, timeout=30) is not None, f"{name} did not come back"

    # Back to fresh answers: a change in the database shows within max-age.
    with database.cursor() as cursor:
        cursor.execute("SELECT stock FROM products WHERE id = 1")
        (stock,) = cursor.fetchone()

    def fresh():
        answer = requests.get(f"{base_url}/products/1", timeout=5)
        return answer.headers["X-Cache-Status"] != "STALE" and answer.json()["stock"] == stock

    assert wait_until(fresh, timeout=10) is not None
