"""Bad input a careless or hostile client sends: each gets a clear 4xx problem, never a
500, and changes nothing in the store."""

import json
import os
import uuid

import pytest
import requests
from checks import assert_problem
from deployment import UNDER_COMPOSE, api_logs


def registration():
    suffix = uuid.uuid4().hex[:12]
    return {"sid": suffix, "username": f"user_{suffix}", "password": "long enough 1"}


def users_named(database, username):
    with database.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM users WHERE username = %s", (username,))
        return cursor.fetchone()[0]


def orders_of(database, user_id):
    with database.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM orders WHERE user_id = %s", (user_id,))
        return cursor.fetchone()[0]


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/jsonx",
        "application/problem+json",
        None,  # a body without any Content-Type
    ],
)
def test_a_body_that_is_not_declared_json_is_415_and_creates_nothing(
    http, base_url, database, content_type
):
    body = registration()
    headers = {"Content-Type": content_type} if content_type else {}
    request = http.prepare_request(
        requests.Request("POST", f"{base_url}/users", data=json.dumps(body), headers=headers)
    )
    if content_type is None:
        request.headers.pop("Content-Type", None)
    problem = assert_problem(http.send(request), 415)
    assert "application/json" in problem["detail"]
    assert users_named(database, body["username"]) == 0


@pytest.mark.parametrize(
    "content_type",
    ["APPLICATION/JSON", "Application/Json; charset=UTF-8", "application/json;charset=utf-8"],
)
def test_the_json_media_type_is_matched_case_insensitively_with_parameters(
    http, base_url, content_type
):
    body = registration()
    answer = http.post(
        f"{base_url}/users",
        data=json.dumps(body),
        headers={"Content-Type": content_type},
    )
    assert answer.status_code == 201, answer.text
    # ...and what such a body holds is validated like any other.
    body = {**registration(), "password": "short"}
    answer = http.post(
        f"{base_url}/users",
        data=json.dumps(body),
        headers={"Content-Type": content_type},
    )
    assert "password" in assert_problem(answer, 400)["detail"]


def test_json_nested_too_deep_is_400(http, base_url, database):
    body = registration()
    for depth in (100, 1000, 5000):
        nested = "[" * depth + "]" * depth
        raw = (
            f'{{"sid": "{body["sid"]}", "username": "{body["username"]}", '
            f'"password": "long enough 1", "email": {nested}}}'
        )
        answer = http.post(
            f"{base_url}/users", data=raw, headers={"Content-Type": "application/json"}
        )
        assert_problem(answer, 400)
    assert_problem(
        http.post(
            f"{base_url}/users",
            data="[" * 5000 + "]" * 5000,
            headers={"Content-Type": "application/json"},
        ),
        400,
    )
    assert users_named(database, body["username"]) == 0


@pytest.mark.parametrize("digits", [20, 400, 5000])
def test_integers_with_many_digits_are_400_and_order_nothing(customer, database, digits):
    huge = "9" * digits
    for raw in (
        f'{{"product_id": {huge}, "quantity": 1}}',
        f'{{"product_id": 1, "quantity": {huge}}}',
        f'{{"product_id": 1, "quantity": 1{"0" * digits}e-{digits}}}',
    ):
        answer = customer.request(
            "POST", "/orders", data=raw, headers={"Content-Type": "application/json"}
        )
        assert_problem(answer, 400)
    assert orders_of(database, customer.id) == 0


@pytest.mark.parametrize(
    "path", ["/products/01", "/products/001", "/products/+1", "/products/1.0", "/products/0x1"]
)
def test_ids_not_in_canonical_form_are_400(http, base_url, path):
    problem = assert_problem(http.get(f"{base_url}{path}"), 400)
    assert "id" in problem["detail"]


@pytest.mark.parametrize("path", ["/orders/01", "/users/007"])
def test_every_id_has_the_same_strict_form(customer, path):
    assert_problem(customer.request("GET", path), 400)
    assert_problem(
        customer.request("GET", path.replace("/0", "/1", 1)), 403 if "users" in path else 404
    )


def test_a_rejected_password_is_neither_echoed_nor_logged(http, base_url, customer):
    secret = f"pw{uuid.uuid4().hex}"  # too long by far: the contract allows 128 characters
    too_long = secret * 5
    for path, method, body, token in [
        ("/users", "POST", {**registration(), "password": too_long}, None),
        ("/users", "POST", {**registration(), "password": 12345678}, None),  # wrong type
        (f"/users/{customer.id}", "PATCH", {"password": too_long}, customer.token),
        ("/auth/login", "POST", {"username": customer.username, "password": too_long}, None),
    ]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        answer = http.request(method, f"{base_url}{path}", json=body, headers=headers)
        assert answer.status_code in (400, 401), answer.text
        assert secret not in answer.text and "12345678" not in answer.text
    logs = api_logs()
    assert set(logs) == {"api-1", "api-2"} and all(logs.values()), "the replicas logged nothing"
    for replica, text in logs.items():
        assert secret not in text, f"{replica}'s log holds the rejected password"


@pytest.mark.parametrize("method", ["TRACE", "PUT", "OPTIONS", "QUERY"])
@pytest.mark.parametrize(
    ("path", "allowed"),
    [("/products", "GET, HEAD"), ("/orders/1", "GET, HEAD, DELETE"), ("/users", "POST")],
)
def test_an_undeclared_method_is_405_with_allow_from_nginx_and_replicas(
    http, base_url, method, path, allowed
):
    # NGINX refuses TRACE itself; a replica answers every other method. Both must look
    # alike to a client: a problem with the path's methods in Allow. Under compose the
    # replicas are reachable through NGINX only.
    replica = f"http://127.0.0.1:{os.environ.get('API_1_PORT', '5001')}"
    for url in [base_url] if UNDER_COMPOSE else [base_url, replica]:
        answer = http.request(method, f"{url}{path}")
        assert_problem(answer, 405)
        assert answer.headers["Allow"] == allowed
