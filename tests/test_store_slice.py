"""The thin slice through every layer: NGINX -> API -> DB service -> PostgreSQL
for the catalog, and API -> logging service -> Kafka for the request's record."""

import re
import time
import uuid
from datetime import UTC, datetime

from checks import FRESH

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

# The course's catalog, as the contract states it.
CATALOG = [
    {
        "id": 1,
        "name": "SUSTech Hoodie",
        "category": "Apparel",
        "price": "49.99",
        "slogan": "Stay warm, stay proud!",
        "description": "A cozy, stylish hoodie featuring the official SUSTech logo, "
        "perfect for showing school spirit.",
    },
    {
        "id": 2,
        "name": "SUSTech Water Bottle",
        "category": "Drinkware",
        "price": "19.99",
        "slogan": "Hydrate with pride!",
        "description": "A high-quality, eco-friendly stainless steel water bottle with "
        "SUSTech branding.",
    },
    {
        "id": 3,
        "name": "SUSTech Notebook",
        "category": "Stationery",
        "price": "9.99",
        "slogan": "Write your future with SUSTech.",
        "description": "A premium notebook with the SUSTech logo, ideal for jotting down "
        "ideas, notes, and memories.",
    },
]


def assert_product(product, expected):
    assert {k: product[k] for k in expected} == expected
    assert set(product) == {*expected, "stock", "created_at"}
    assert isinstance(product["stock"], int) and product["stock"] >= 0
    assert datetime.fromisoformat(product["created_at"]).tzinfo is not None


def test_greeting_carries_request_id_and_replica(http, base_url):
    answer = http.get(f"{base_url}/")
    assert answer.status_code == 200
    assert answer.json()["message"]
    assert answer.headers["X-Request-ID"]
    assert answer.headers["X-Served-By"]


def test_list_products_is_the_catalog_by_id(http, base_url):
    answer = http.get(f"{base_url}/products")
    assert answer.status_code == 200
    products = answer.json()
    assert [p["id"] for p in products] == [1, 2, 3]
    for product, expected in zip(products, CATALOG, strict=True):
        assert_product(product, expected)


def test_get_product(http, base_url):
    answer = http.get(f"{base_url}/products/2")
    assert answer.status_code == 200
    assert_product(answer.json(), CATALOG[1])


def test_unknown_product_is_a_problem(http, base_url):
    answer = http.get(f"{base_url}/products/999")
    assert answer.status_code == 404
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["status"] == 404 and problem["title"] and problem["detail"]


def test_non_integer_product_id_is_a_client_error(http, base_url):
    assert http.get(f"{base_url}/products/abc").status_code in (400, 404)


def test_callers_request_id_is_kept(http, base_url):
    request_id = f"slice-{uuid.uuid4().hex}"
    answer = http.get(f"{base_url}/products/1", headers={"X-Request-ID": request_id})
    assert answer.headers["X-Request-ID"] == request_id


def test_nginx_balances_over_both_replicas(http, base_url):
    served_by = {http.get(f"{base_url}/healthz").headers["X-Served-By"] for _ in range(10)}
    assert served_by == {"api-1", "api-2"}


def test_each_request_has_one_api_record_in_kafka(http, base_url, log_channel):
    request_id = f"slice-{uuid.uuid4().hex}"
    mark = log_channel.mark()
    started = time.perf_counter()
    # no-cache: the request must reach a replica to have a record (a cache hit has none).
    answer = http.get(f"{base_url}/products", headers={**FRESH, "X-Request-ID": request_id})
    elapsed_ms = (time.perf_counter() - started) * 1000
    assert answer.status_code == 200

    records = log_channel.records_through_sentinel(mark, answer)
    found = [
        (key, value)
        for key, value in records
        if value.get("request_id") == request_id and value.get("service") == "api"
    ]
    # One record; at-least-once delivery may add copies, which carry its event_id and
    # are the same record in every byte.
    assert found, f"no API record for {request_id}"
    assert len({value["event_id"] for _, value in found}) == 1, found
    assert all(value == found[0][1] for _, value in found), found
    key, record = found[0]
    assert key == request_id
    assert UUID.match(record["event_id"]), record["event_id"]
    assert record["level"] == "INFO"
    assert record["instance"] == answer.headers["X-Served-By"]
    assert (record["method"], record["path"], record["status"]) == ("GET", "/products", 200)
    assert record["user_id"] is None
    # Measured inside the API, so more than nothing and less than the client waited.
    assert 0 < record["latency_ms"] <= elapsed_ms, (record["latency_ms"], elapsed_ms)
    assert record["message"] == "GET /products 200"
    ts = datetime.fromisoformat(record["ts"].replace("Z", "+00:00"))
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", record["ts"])
    assert ts.tzinfo is not None
    assert abs((datetime.now(UTC) - ts).total_seconds()) < 300, "ts is not when it happened"


def test_control_characters_in_the_path_are_a_client_error(http, base_url):
    for path in ("/users/%0A", "/products/%C2%8D", "/orders/1%7F"):
        answer = http.get(f"{base_url}{path}", headers={"Authorization": "Bearer x"})
        assert answer.status_code == 400, path
        assert answer.headers["Content-Type"].startswith("application/problem+json")
        assert "control characters" in answer.json()["detail"]
