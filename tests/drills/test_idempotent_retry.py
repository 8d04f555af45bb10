"""A client's order times out because the DB service went away; it retries with the same
Idempotency-Key after the DB service is back: the order is placed once, as the key is
kept in PostgreSQL with the order, not in any process."""

import uuid

import requests
from checks import FRESH
from drills.support import DB_SERVICES, wait_until


def test_a_retry_after_a_db_service_restart_answers_the_first_order(stack, base_url, customer):
    key = str(uuid.uuid4())
    headers = {"Authorization": f"Bearer {customer.token}", "Idempotency-Key": key}
    body = {"product_id": 3, "quantity": 1}
    first = requests.post(f"{base_url}/orders", json=body, headers=headers, timeout=10)
    assert first.status_code == 201
    stock = requests.get(f"{base_url}/products/3", headers=FRESH, timeout=10).json()["stock"]

    for name in DB_SERVICES:  # the whole DB service, every replica
        stack.stop(name)
    for name in DB_SERVICES:
        stack.start(name)
    answers = []

    def retried():
        answer = requests.post(f"{base_url}/orders", json=body, headers=headers, timeout=10)
        answers.append(answer)
        return answer.status_code == 201

    assert wait_until(retried, timeout=30, interval=0.2) is not None, answers[-1].text
    # Until the DB service answers, a retry is a clear 503 and places nothing.
    assert {a.status_code for a in answers[:-1]} <= {503}
    again = answers[-1]
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert (
        requests.get(f"{base_url}/products/3", headers=FRESH, timeout=10).json()["stock"] == stock
    )
