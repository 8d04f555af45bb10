"""The catalog's HTTP caching (contract: "Catalog caching"), as a client sees it through
NGINX: validators, 304s, NGINX's microcache, and what it must never keep. The outage
drill (tests/drills/test_catalog_outage.py) stops the replicas."""

import re
import time

import pytest
from checks import FRESH

CATALOG = ["/products", "/products/1", "/products/2", "/products/3"]
MAX_AGE = 1  # CATALOG_MAX_AGE_SECONDS's default, which the stacks under test keep


def stock(http, base_url, product, headers=None):
    return http.get(f"{base_url}/products/{product}", headers=headers).json()["stock"]


@pytest.mark.parametrize("path", CATALOG)
def test_catalog_answers_carry_a_strong_etag_and_a_short_max_age(http, base_url, path):
    answer = http.get(f"{base_url}{path}", headers=FRESH)
    assert answer.status_code == 200
    assert re.fullmatch(r'"[^"]+"', answer.headers["ETag"]), answer.headers["ETag"]  # not W/
    directives = [d.strip() for d in answer.headers["Cache-Control"].split(",")]
    assert "public" in directives and f"max-age={MAX_AGE}" in directives, directives
    assert answer.headers["X-Cache-Status"] in ("BYPASS", "EXPIRED", "MISS")


@pytest.mark.parametrize("headers", [FRESH, {}], ids=["from the API", "from NGINX's cache"])
def test_the_etag_you_hold_gets_304_without_a_body(http, base_url, headers):
    etag = http.get(f"{base_url}/products/2", headers=FRESH).headers["ETag"]
    for sent in (etag, f'"other", {etag}', "*"):
        answer = http.get(f"{base_url}/products/2", headers={**headers, "If-None-Match": sent})
        assert (answer.status_code, answer.content) == (304, b""), sent
        assert answer.headers["ETag"] == etag
    assert http.get(f"{base_url}/products/2", headers={"If-None-Match": '"other"'}).ok


def test_repeat_reads_come_from_nginx_with_their_own_request_id(http, base_url):
    http.get(f"{base_url}/products/3", headers=FRESH)
    answer = http.get(f"{base_url}/products/3", headers={"X-Request-ID": "catalog-hit-1"})
    assert answer.headers["X-Cache-Status"] == "HIT"
    assert answer.headers["X-Served-By"] == "nginx"
    assert answer.headers["X-Request-ID"] == "catalog-hit-1"


def listed_stock(http, base_url, product, headers=None):
    listed = http.get(f"{base_url}/products", headers=headers).json()
    return next(p["stock"] for p in listed if p["id"] == product)


def test_an_order_shows_at_once_when_fresh_and_within_max_age_otherwise(http, base_url, customer):
    # The list is cached just after a second begins: NGINX, which counts max-age in whole
    # seconds, would keep it until the end of the next one (almost 2 s) unless told better.
    time.sleep(1.02 - time.time() % 1)
    before = listed_stock(http, base_url, 1, FRESH)
    placed = customer.request("POST", "/orders", json={"product_id": 1, "quantity": 2})
    assert placed.status_code == 201
    ordered = time.monotonic()
    assert stock(http, base_url, 1, FRESH) == before - 2
    while listed_stock(http, base_url, 1) != before - 2:
        lag = time.monotonic() - ordered
        assert lag < MAX_AGE + 0.2, f"a plain read still showed the old stock after {lag:.2f} s"
        time.sleep(0.05)


def test_nothing_sent_with_a_token_is_cached_and_accounts_never_cross(new_customer, base_url):
    alice, bob = new_customer(), new_customer()
    for _ in range(2):
        for who in (alice, bob):
            me = who.request("GET", "/users/me")
            assert me.json()["username"] == who.username
            assert "X-Cache-Status" not in me.headers
            listed = who.request("GET", "/products")
            assert listed.headers["X-Cache-Status"] == "BYPASS"


def test_errors_are_not_cached_and_a_404_only_for_a_second(http, base_url):
    for _ in range(2):
        refused = http.get(f"{base_url}/products/abc")
        assert refused.status_code == 400 and refused.headers["X-Cache-Status"] != "HIT"
    assert http.get(f"{base_url}/products/987654").status_code == 404
    # A 404 is kept for a second, which NGINX counts in whole seconds: gone within two.
    time.sleep(2.1)
    again = http.get(f"{base_url}/products/987654")
    assert again.status_code == 404 and again.headers["X-Cache-Status"] != "HIT"
