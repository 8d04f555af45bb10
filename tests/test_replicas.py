"""NGINX in front of two API replicas: both answer, a token from one is good at
the other (they share only JWT_SECRET and the DB service), and when one replica
is stopped the store keeps answering through the other until it is back."""

import os
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from checks import FRESH

ROOT = Path(__file__).resolve().parents[1]
REPLICAS = {
    "api-1": f"http://127.0.0.1:{os.environ.get('API_1_PORT', '5001')}",
    "api-2": f"http://127.0.0.1:{os.environ.get('API_2_PORT', '5002')}",
}


def served_by(answer):
    return answer.headers.get("X-Served-By")


def supervisorctl(*args):
    return subprocess.run(
        [
            str(ROOT / "deploy/local/stack"),
            "run",
            str(ROOT / ".venv/bin/supervisorctl"),
            "-c",
            str(ROOT / "deploy/local/supervisord.conf"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def wait_until_healthy(url, seconds=45):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.3)
    return False


@contextmanager
def replica_stopped(name):
    """The replica stopped inside the block and always started again after it,
    quickly, because other tests use the same stack."""
    stopped = supervisorctl("stop", name)
    try:
        assert "stopped" in stopped.stdout or "not running" in stopped.stdout, (
            f"could not stop {name} (is the stack up? `make up`): {stopped.stdout}{stopped.stderr}"
        )
        yield
    finally:
        started = supervisorctl("start", name)
        assert wait_until_healthy(REPLICAS[name]), (
            f"{name} did not come back: {started.stdout}{started.stderr}"
        )


def test_requests_through_nginx_are_answered_by_both_replicas(http, base_url):
    seen = set()
    deadline = time.monotonic() + 15
    while seen != set(REPLICAS) and time.monotonic() < deadline:
        answer = http.get(f"{base_url}/products", headers=FRESH)
        assert answer.status_code == 200, answer.text
        seen.add(served_by(answer))
    assert seen == set(REPLICAS)


def test_nginx_passes_the_request_id_through(http, base_url):
    answer = http.get(f"{base_url}/products/1", headers={"X-Request-ID": "replicas-test-1"})
    assert answer.status_code == 200
    assert answer.headers["X-Request-ID"] == "replicas-test-1"
    answer = http.get(f"{base_url}/products/1")
    assert len(answer.headers["X-Request-ID"]) >= 16  # nginx or the API made one up


@pytest.mark.parametrize(("issuer", "verifier"), [("api-1", "api-2"), ("api-2", "api-1")])
def test_a_token_issued_by_one_replica_is_accepted_by_the_other(new_customer, issuer, verifier):
    customer = new_customer()
    login = requests.post(
        f"{REPLICAS[issuer]}/auth/login",
        json={"username": customer.username, "password": customer.password},
        timeout=10,
    )
    assert login.status_code == 200, login.text
    assert served_by(login) == issuer
    token = login.json()["access_token"]

    me = requests.get(
        f"{REPLICAS[verifier]}/users/me",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert me.status_code == 200, me.text
    assert served_by(me) == verifier
    assert me.json()["id"] == customer.id


def test_one_replica_down_the_other_answers_and_the_first_takes_traffic_again(
    http, base_url, new_customer
):
    customer = new_customer()
    paths = ["/products", "/products/1", "/", "/orders"]
    with replica_stopped("api-2"):
        answers = []
        for i in range(24):
            path = paths[i % len(paths)]
            answers.append((path, customer.request("GET", path)))
        # A write that never reached the stopped replica is sent to the other one.
        logins = [
            http.post(
                f"{base_url}/auth/login",
                json={"username": customer.username, "password": customer.password},
            )
            for _ in range(4)
        ]
    failed = [(path, a.status_code) for path, a in answers if a.status_code >= 500]
    assert not failed, f"5xx while api-2 was down: {failed}"
    assert all(a.status_code == 200 for _, a in answers)
    assert {served_by(a) for _, a in answers} == {"api-1"}
    assert [a.status_code for a in logins] == [200] * 4

    # Back: nginx tries it again after its fail_timeout (5 s) and it takes traffic.
    seen = set()
    deadline = time.monotonic() + 30
    while "api-2" not in seen and time.monotonic() < deadline:
        answer = http.get(f"{base_url}/products", headers=FRESH)
        assert answer.status_code == 200, answer.text
        seen.add(served_by(answer))
        time.sleep(0.2)
    assert "api-2" in seen, "api-2 was started again but got no traffic within 30 s"
