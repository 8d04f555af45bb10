"""Idempotency-Key on POST /orders, through NGINX: a retried or duplicated order is
placed once, whatever the replicas and however many copies arrive together."""

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from checks import FRESH, assert_problem

NOTEBOOK = 3


def stock(http, base_url):
    return http.get(f"{base_url}/products/{NOTEBOOK}", headers=FRESH).json()["stock"]


def place(customer, key, quantity=1, session=None):
    headers = {"Authorization": f"Bearer {customer.token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return (session or customer.http).post(
        f"{customer.base_url}/orders",
        json={"product_id": NOTEBOOK, "quantity": quantity},
        headers=headers,
    )


def orders_of(customer):
    return customer.request("GET", "/orders").json()


def test_a_repeat_answers_the_first_order_and_takes_stock_once(http, base_url, customer):
    key = str(uuid.uuid4())
    before = stock(http, base_url)
    first = place(customer, key, quantity=2)
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    replicas = {first.headers["X-Served-By"]}
    for _ in range(3):
        again = place(customer, key, quantity=2)
        assert again.status_code == 201
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == first.json()
        assert again.headers["Location"] == first.headers["Location"]
        replicas.add(again.headers["X-Served-By"])
    assert len(replicas) == 2, replicas  # the key is the store's, not a replica's
    assert stock(http, base_url) == before - 2
    assert [o["id"] for o in orders_of(customer)] == [first.json()["id"]]


def test_the_same_key_with_another_body_is_422_and_changes_nothing(http, base_url, customer):
    key = str(uuid.uuid4())
    first = place(customer, key, quantity=1)
    assert first.status_code == 201
    before = stock(http, base_url)
    other = place(customer, key, quantity=3)
    assert "Idempotency-Key" in assert_problem(other, 422)["detail"]
    assert stock(http, base_url) == before
    assert len(orders_of(customer)) == 1


def test_keys_are_per_customer_and_absent_keys_place_anew(new_customer):
    one, two = new_customer(), new_customer()
    key = str(uuid.uuid4())
    assert place(one, key).json()["id"] != place(two, key).json()["id"]
    assert place(one, None).json()["id"] != place(one, None).json()["id"]
    assert len(orders_of(one)) == 3


def test_fifty_concurrent_copies_place_one_order(http, base_url, customer):
    key = str(uuid.uuid4())
    before = stock(http, base_url)

    def copy(_):
        with requests.Session() as session:
            return place(customer, key, session=session)

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(copy, range(50)))
    # The contract allows a 409 for a copy that meets the first in flight; this store
    # makes such a copy wait instead, so every copy answers the one order.
    assert {a.status_code for a in answers} == {201}, [
        a.text for a in answers if a.status_code != 201
    ]
    assert len({a.json()["id"] for a in answers}) == 1
    assert sum("Idempotent-Replayed" not in a.headers for a in answers) == 1
    assert stock(http, base_url) == before - 1
    assert len(orders_of(customer)) == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "naïve"])
def test_a_malformed_key_is_400_naming_the_header(customer, key):
    answer = customer.http.post(
        f"{customer.base_url}/orders",
        json={"product_id": NOTEBOOK, "quantity": 1},
        headers={
            "Authorization": f"Bearer {customer.token}",
            "Idempotency-Key": key.encode().decode("latin-1"),
        },
    )
    assert "Idempotency-Key" in assert_problem(answer, 400)["detail"]
    assert orders_of(customer) == []
