"""Accounts under attack, through NGINX: throttled logins, re-authentication for the
changes a stolen token must not make, names unique whatever their case, and common
passwords refused. The throttle's numbers are the store's own (.env's LOGIN_*)."""

import http.client
import json
import os
import time
import uuid
from urllib.parse import urlsplit

import pytest
from checks import assert_problem, assert_unauthorized
from deployment import UNDER_COMPOSE

MAX_FAILURES = int(os.environ.get("LOGIN_MAX_FAILURES", "5"))


def log_in(http, base_url, username, password):
    return http.post(f"{base_url}/auth/login", json={"username": username, "password": password})


def log_in_from(base_url, source_address, username, password) -> int:
    """The status of a login sent from another loopback address (the whole of 127/8
    is this machine), as a second client would send it."""
    where = urlsplit(base_url)
    connection = http.client.HTTPConnection(
        where.hostname, where.port, timeout=10, source_address=(source_address, 0)
    )
    try:
        body = json.dumps({"username": username, "password": password})
        connection.request(
            "POST", "/auth/login", body, headers={"Content-Type": "application/json"}
        )
        return connection.getresponse().status
    finally:
        connection.close()


def assert_waits(answer) -> int:
    """The answer is a 429 problem with Retry-After; returns its seconds."""
    assert_problem(answer, 429)
    seconds = answer.headers["Retry-After"]
    assert seconds.isdigit() and int(seconds) >= 1, seconds
    return int(seconds)


def test_failed_logins_make_the_account_wait_longer_and_longer(http, base_url, new_customer):
    victim, bystander = new_customer(), new_customer()
    replicas = set()
    for _ in range(MAX_FAILURES):
        guess = log_in(http, base_url, victim.username, "a wrong guess")
        assert_unauthorized(guess)
        replicas.add(guess.headers["X-Served-By"])
    # The count is the store's, not a replica's: the guesses went to both.
    assert len(replicas) == 2, replicas

    first_wait = assert_waits(log_in(http, base_url, victim.username, "a wrong guess"))
    # While it waits, even the right password is refused, in any letter case.
    assert_waits(log_in(http, base_url, victim.username, victim.password))
    assert_waits(log_in(http, base_url, victim.username.upper(), victim.password))
    # Another account, from the same client, is not slowed; nor is the owner, from
    # another address. (Behind Docker's port publishing every client reaches NGINX from
    # the network's gateway: compose can show no other address.)
    assert log_in(http, base_url, bystander.username, bystander.password).status_code == 200
    if not UNDER_COMPOSE:
        assert log_in_from(base_url, "127.0.0.2", victim.username, victim.password) == 200

    time.sleep(first_wait)
    assert_unauthorized(log_in(http, base_url, victim.username, "a wrong guess"))
    second_wait = assert_waits(log_in(http, base_url, victim.username, victim.password))
    assert second_wait > first_wait

    time.sleep(second_wait)
    assert log_in(http, base_url, victim.username, victim.password).status_code == 200
    # The right password ended the run: one failure does not wait.
    assert_unauthorized(log_in(http, base_url, victim.username, "a wrong guess"))
    assert log_in(http, base_url, victim.username, victim.password).status_code == 200


@pytest.mark.skipif(UNDER_COMPOSE, reason="behind compose's port every client is one address")
def test_guesses_from_many_addresses_do_not_lock_the_owner_out(base_url, new_customer):
    """The audit's probe: 20 failures from 4 addresses hold those addresses, and leave
    the owner's login from a fifth working."""
    victim = new_customer()
    guessers = [f"127.0.0.{n}" for n in range(2, 6)]
    for address in guessers:
        for _ in range(MAX_FAILURES):
            assert log_in_from(base_url, address, victim.username, "a guess") == 401
    assert log_in_from(base_url, "127.0.0.6", victim.username, victim.password) == 200
    for address in guessers:
        status = log_in_from(base_url, address, victim.username, victim.password)
        assert status == 429, address


def test_an_unknown_username_waits_like_a_known_one(http, base_url):
    """Whether the account exists does not show in when the waiting starts."""
    ghost = f"ghost_{uuid.uuid4().hex[:12]}"
    for _ in range(MAX_FAILURES):
        assert_unauthorized(log_in(http, base_url, ghost, "a wrong guess"))
    assert_waits(log_in(http, base_url, ghost, "a wrong guess"))


def unchanged(customer):
    """The account and its token are as they were: the token works and the account reads
    as it did when it registered (its email included), and the password logs in."""
    me = customer.request("GET", "/users/me")
    assert me.status_code == 200 and me.json() == customer.user
    customer.log_in()  # fails unless the password still logs in


@pytest.mark.parametrize("field", ["password", "email"])
def test_changing_password_or_email_takes_the_current_password(customer, field):
    change = {field: f"brand-new-{uuid.uuid4().hex[:8]}@example.org"}
    missing = assert_problem(customer.request("PATCH", "/users/me", json=change), 400)
    assert "current_password" in missing["detail"]
    unchanged(customer)

    wrong = customer.request("PATCH", "/users/me", json={**change, "current_password": "nope!"})
    assert "current_password" in assert_problem(wrong, 403)["detail"]
    unchanged(customer)

    right = customer.request(
        "PATCH", "/users/me", json={**change, "current_password": customer.password}
    )
    assert right.status_code == 200, right.text
    if field == "email":
        assert customer.request("GET", "/users/me").json()["email"] == change["email"]
    else:
        assert_unauthorized(customer.request("GET", "/users/me"))  # the old token is revoked
        customer.token = customer.log_in(change["password"])


def test_deactivating_takes_the_current_password(customer):
    assert (
        "current_password" in assert_problem(customer.request("DELETE", "/users/me"), 400)["detail"]
    )
    assert_problem(customer.deactivate(current_password="not my password"), 403)
    unchanged(customer)
    assert customer.deactivate().status_code == 204
    assert_unauthorized(customer.request("GET", "/users/me"))


def test_wrong_current_passwords_count_as_failed_logins(http, base_url, customer):
    """A stolen token is no way around the login throttle."""
    for _ in range(MAX_FAILURES):
        assert_problem(customer.deactivate(current_password="a guess"), 403)
    assert_waits(customer.deactivate())
    assert_waits(log_in(http, base_url, customer.username, customer.password))
    assert customer.request("GET", "/users/me").json() == customer.user


def test_names_are_taken_whatever_their_case(http, base_url, customer):
    suffix = uuid.uuid4().hex[:12]
    for field, value in (
        ("username", customer.username.upper()),
        ("email", customer.email.title()),
    ):
        body = {
            "sid": suffix,
            "username": f"other_{suffix}",
            "email": f"other_{suffix}@example.com",
            "password": "correct horse 2",
            field: value,
        }
        answer = http.post(f"{base_url}/users", json=body)
        assert field in assert_problem(answer, 409)["detail"]
    renamed = customer.request("PATCH", "/users/me", json={"username": customer.username.title()})
    # Your own name in another case is still yours.
    assert renamed.status_code == 200 and renamed.json()["username"] == customer.username.title()
    assert log_in(http, base_url, customer.username.upper(), customer.password).status_code == 200


PASSWORD_TOO_GUESSABLE = "/openapi.yaml#/components/responses/PasswordTooGuessable"


def assert_too_guessable(answer):
    """A 422 of the password rule, its type the OpenAPI file's response; returns the detail."""
    problem = assert_problem(answer, 422)
    assert problem["type"] == PASSWORD_TOO_GUESSABLE, problem
    assert "too easy to guess" in problem["detail"]
    return problem["detail"]


@pytest.mark.parametrize("password", ["password", "12345678", "00000000", "qwerty123", "Password1"])
def test_common_passwords_are_refused_naming_the_rule(http, base_url, customer, password):
    suffix = uuid.uuid4().hex[:12]
    registration = http.post(
        f"{base_url}/users",
        json={"sid": suffix, "username": f"weak_{suffix}", "password": password},
    )
    detail = assert_too_guessable(registration)
    # The rule, never the value: every weak password gets the same words.
    other = http.post(
        f"{base_url}/users",
        json={"sid": suffix, "username": f"weak_{suffix}", "password": "iloveyou"},
    )
    assert assert_too_guessable(other) == detail
    change = customer.request(
        "PATCH", "/users/me", json={"password": password, "current_password": customer.password}
    )
    assert_too_guessable(change)
    unchanged(customer)


def test_a_password_made_of_the_accounts_own_names_is_refused(http, base_url, customer):
    """zxcvbn is given the username, the email and the sid: passwords that a guesser who
    knows them tries first are too easy, though no list of common passwords has them."""
    suffix = uuid.uuid4().hex[:12]
    username, email, sid = f"lin_{suffix}", f"lin.{suffix}@sustech.edu.cn", suffix[:10]
    for password in (f"{username}12", "sustech123", f"{sid}ab"):
        answer = http.post(
            f"{base_url}/users",
            json={"sid": sid, "username": username, "email": email, "password": password},
        )
        assert_too_guessable(answer)
    # The same password is fine for an account with other names.
    elsewhere = {"sid": uuid.uuid4().hex[:12], "username": f"other_{suffix}"}
    assert http.post(f"{base_url}/users", json={**elsewhere, "password": "sustech123"}).ok
    # A change is rated against the names the account has and is getting.
    change = customer.request(
        "PATCH",
        "/users/me",
        json={"password": f"{customer.username}12", "current_password": customer.password},
    )
    assert_too_guessable(change)
    unchanged(customer)
