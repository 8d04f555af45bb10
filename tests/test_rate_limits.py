"""The rate limits at the edge (contract: "Rate limits at the edge"), through NGINX:
POST /auth/login and POST /users per client address, a burst and then a steady rate, past
it a 429 problem with Retry-After; everything else untouched, and everyone else too.

Each client here has a loopback address of its own (tests/clients.py), and counts every
429 it gets (waits=False). The numbers are the store's (.env's RATE_LIMIT_*)."""

import math
import os
import re
import statistics
import threading
import time
import uuid

import pytest
from checks import assert_problem
from clients import RATE_LIMITED, client, new_client_address
from deployment import ROOT, UNDER_COMPOSE

LOGIN_PER_MINUTE = int(os.environ.get("RATE_LIMIT_LOGIN_PER_MINUTE", "10"))
LOGIN_BURST = int(os.environ.get("RATE_LIMIT_LOGIN_BURST", "20"))
REGISTER_PER_MINUTE = int(os.environ.get("RATE_LIMIT_REGISTER_PER_MINUTE", "5"))
REGISTER_BURST = int(os.environ.get("RATE_LIMIT_REGISTER_BURST", "10"))

# The sprayer: 499 logins with random usernames in 12 s from one client.
FLOOD = 500
FLOOD_PER_SECOND = 50
FLOOD_CLIENTS = 5  # connections of the one sprayer, each sending its share

distinct_addresses = pytest.mark.skipif(
    UNDER_COMPOSE,
    reason="behind Docker's port publishing every client reaches NGINX from one address",
)


def retry_after(per_minute):
    """What NGINX must say: the seconds until it takes one more request at `per_minute`
    (it keeps the rate in thousandths of a request per second, rounded down)."""
    return math.ceil(1000 / (per_minute * 1000 // 60))


def test_retry_after_is_what_nginx_waits_at_any_rate():
    """The template's table of Retry-After (NGINX cannot divide) for every rate a minute."""
    template = (ROOT / "nginx/templates/default.conf.template").read_text()
    table = re.search(
        r"map \$rate_limit_per_minute \$rate_limit_retry_after \{(.*?)\}", template, re.S
    )
    entries = re.findall(r"^\s*(\S+)\s+(\d+);$", table[1], re.M)
    exact = {key: int(value) for key, value in entries if key[0] != "~" and key != "default"}
    patterns = [(key[1:], int(value)) for key, value in entries if key[0] == "~"]
    default = dict(entries)["default"]

    def looked_up(n):
        if str(n) in exact:
            return exact[str(n)]
        return next((v for pattern, v in patterns if re.search(pattern, str(n))), int(default))

    assert [looked_up(n) for n in range(1, 1000)] == [retry_after(n) for n in range(1, 1000)]


def assert_rate_limited(answer, per_minute):
    problem = assert_problem(answer, 429)
    assert problem["type"] == RATE_LIMITED, problem
    assert answer.headers["Retry-After"] == str(retry_after(per_minute))
    assert answer.headers["X-Request-ID"]
    assert answer.headers["X-Served-By"] == "nginx"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def timed_login(base_url, username, password):
    """Seconds one login takes for a client of its own (a new connection, as the baseline's)."""
    with client(waits=False) as http:
        began = time.perf_counter()
        answer = http.post(
            f"{base_url}/auth/login", json={"username": username, "password": password}
        )
        took = time.perf_counter() - began
    assert answer.status_code == 200, answer.text
    return took


def spray(base_url, address, answers):
    """One connection of the sprayer: its share of the flood from `address`, paced."""
    every = FLOOD_CLIENTS / FLOOD_PER_SECOND
    with client(source=address, waits=False) as http:
        due = time.monotonic()
        for _ in range(FLOOD // FLOOD_CLIENTS):
            time.sleep(max(0.0, due - time.monotonic()))
            due += every
            guess = {"username": f"spray_{uuid.uuid4().hex[:16]}", "password": uuid.uuid4().hex}
            answers.append(http.post(f"{base_url}/auth/login", json=guess))


@distinct_addresses
def test_a_login_flood_from_one_address_is_cut_after_the_burst_and_slows_no_one_else(
    base_url, customer
):
    idle = [timed_login(base_url, customer.username, customer.password) for _ in range(9)]

    sprayer = new_client_address()
    answers, slow, reads = [], [], []
    threads = [
        threading.Thread(target=spray, args=(base_url, sprayer, answers))
        for _ in range(FLOOD_CLIENTS)
    ]
    began = time.monotonic()
    for t in threads:
        t.start()
    # Meanwhile the customer logs in from elsewhere, and the sprayer's own address reads.
    with client(source=sprayer, waits=False) as same_address:
        token = {"Authorization": f"Bearer {customer.token}"}
        while any(t.is_alive() for t in threads):
            slow.append(timed_login(base_url, customer.username, customer.password))
            for path, headers in (("/products", {}), ("/products/1", {}), ("/users/me", token)):
                reads.append((path, same_address.get(f"{base_url}{path}", headers=headers)))
            time.sleep(0.2)
    for t in threads:
        t.join()
    seconds = time.monotonic() - began

    statuses = [a.status_code for a in answers]
    let_through = statuses.count(401)
    print(
        f"\n{len(answers)} logins in {seconds:.1f} s from {sprayer}: {let_through} let "
        f"through (401), {statuses.count(429)} refused (429); the customer's login elsewhere: "
        f"median {statistics.median(idle) * 1000:.0f} ms idle, "
        f"{statistics.median(slow) * 1000:.0f} ms during the flood "
        f"(slowest {max(slow) * 1000:.0f} ms, {len(slow)} logins)"
    )
    assert len(answers) == FLOOD and set(statuses) <= {401, 429}, set(statuses)
    # The burst, then one more for each interval that passed, never more.
    refilled = math.ceil(seconds * LOGIN_PER_MINUTE / 60)
    assert LOGIN_BURST + 1 <= let_through <= LOGIN_BURST + 1 + refilled, let_through
    for answer in answers:
        if answer.status_code == 429:
            assert_rate_limited(answer, LOGIN_PER_MINUTE)
        else:  # the API's answer: the request reached a replica
            assert answer.headers["X-Served-By"].startswith("api-")
    for path, answer in reads:
        assert answer.status_code == 200, (path, answer.status_code, answer.text)
    assert len(slow) >= 10, "the flood was over before the customer could log in ten times"
    assert statistics.median(slow) < 2 * statistics.median(idle)

    # Retry-After is honest: after it, the sprayer's address gets one more, and only one.
    with client(source=sprayer, waits=False) as http:
        guess = {"username": f"spray_{uuid.uuid4().hex[:16]}", "password": "a wrong guess"}
        refused = http.post(f"{base_url}/auth/login", json=guess)
        assert_rate_limited(refused, LOGIN_PER_MINUTE)
        time.sleep(int(refused.headers["Retry-After"]))
        assert http.post(f"{base_url}/auth/login", json=guess).status_code == 401
        assert_rate_limited(http.post(f"{base_url}/auth/login", json=guess), LOGIN_PER_MINUTE)


@distinct_addresses
def test_sign_ups_from_one_address_are_cut_after_the_burst_and_nothing_else_is(base_url, database):
    def registration():
        suffix = uuid.uuid4().hex[:12]
        return {"sid": suffix, "username": f"rush_{suffix}", "password": "correct horse 7"}

    bodies = [registration() for _ in range(REGISTER_BURST + 6)]
    with client(waits=False) as http:
        began = time.monotonic()
        answers = [http.post(f"{base_url}/users", json=body) for body in bodies]
        seconds = time.monotonic() - began
        created = [b["username"] for b, a in zip(bodies, answers, strict=True) if a.ok]
        refilled = math.ceil(seconds * REGISTER_PER_MINUTE / 60)
        assert REGISTER_BURST + 1 <= len(created) <= REGISTER_BURST + 1 + refilled
        for answer in answers:
            if answer.status_code != 201:
                assert_rate_limited(answer, REGISTER_PER_MINUTE)
        # A refused sign-up made nothing: only the accepted ones are accounts.
        with database.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM users WHERE username = ANY(%s)",
                ([b["username"] for b in bodies],),
            )
            assert cursor.fetchone()[0] == len(created)

        # From the same address: logins have their own allowance, and the account's other
        # requests (on /users too) and the reads are not limited at all.
        login = http.post(
            f"{base_url}/auth/login",
            json={"username": created[0], "password": "correct horse 7"},
        )
        assert login.status_code == 200, login.text
        token = {"Authorization": f"Bearer {login.json()['access_token']}"}
        for _ in range(REGISTER_BURST + 2):
            assert http.get(f"{base_url}/users/me", headers=token).status_code == 200
            assert http.get(f"{base_url}/products").status_code == 200
        renamed = http.patch(
            f"{base_url}/users/me", headers=token, json={"username": f"{created[0]}_x"}
        )
        assert renamed.status_code == 200, renamed.text
        # GET /users has no operation: still the API's 405, not the limit's 429.
        assert http.get(f"{base_url}/users").status_code == 405
