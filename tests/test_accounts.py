"""Accounts and tokens through NGINX, as a customer (or an attacker) meets them."""

import base64
import json
import os
import time
import uuid

import jwt
import pytest
from checks import assert_problem, assert_unauthorized


def test_register_answers_the_user_and_its_location(customer):
    user = customer.user
    assert set(user) == {"id", "sid", "username", "email", "created_at"}
    assert (user["sid"], user["username"], user["email"]) == (
        customer.sid,
        customer.username,
        customer.email,
    )
    me = customer.request("GET", f"/users/{customer.id}")
    assert me.status_code == 200 and me.json() == user


@pytest.mark.parametrize("email", [{}, {"email": None}])
def test_register_without_email_gives_null_email(http, base_url, email):
    name = f"noemail_{uuid.uuid4().hex[:10]}"
    answer = http.post(
        f"{base_url}/users",
        json={"sid": uuid.uuid4().hex[:15], "username": name, "password": "long enough", **email},
    )
    assert answer.status_code == 201
    assert answer.json()["email"] is None
    assert answer.headers["Location"] == f"/users/{answer.json()['id']}"


def test_no_response_ever_shows_a_password(customer, database):
    for answer in (
        customer.request("GET", "/users/me"),
        customer.request(
            "PATCH",
            "/users/me",
            json={"email": f"x{customer.email}", "current_password": customer.password},
        ),
    ):
        assert "password" not in answer.text and customer.password not in answer.text
    with database.cursor() as cursor:
        cursor.execute("SELECT password_hash FROM users WHERE id = %s", (customer.id,))
        (stored,) = cursor.fetchone()
    assert stored.startswith("$argon2id$") and customer.password not in stored


@pytest.mark.parametrize(
    "body, field",
    [
        ({"sid": "", "username": "valid_name", "password": "long enough"}, "sid"),
        ({"sid": "1" * 16, "username": "valid_name", "password": "long enough"}, "sid"),
        # ASCII letters and digits only: fullwidth digits, a bidi control, a space.
        ({"sid": "\uff11\uff12\uff11", "username": "valid_name", "password": "long enough"}, "sid"),
        ({"sid": "1221\u202e0001", "username": "valid_name", "password": "long enough"}, "sid"),
        ({"sid": "1221 0001", "username": "valid_name", "password": "long enough"}, "sid"),
        ({"sid": "1", "username": "ab", "password": "long enough"}, "username"),
        ({"sid": "1", "username": "no spaces please", "password": "long enough"}, "username"),
        ({"sid": "1", "username": "valid_name", "password": "short"}, "password"),
        ({"sid": "1", "username": "valid_name", "password": "x" * 129}, "password"),
        (
            {"sid": "1", "username": "valid_name", "password": "long enough", "email": "nope"},
            "email",
        ),
        ({"sid": 1, "username": "valid_name", "password": "long enough"}, "sid"),
        ({"sid": "1", "username": "valid_name", "password": "long enough", "admin": True}, "admin"),
        ({"username": "valid_name", "password": "long enough"}, "sid"),
    ],
)
def test_invalid_registration_is_400_and_creates_nothing(http, base_url, database, body, field):
    body = dict(body)
    if body.get("username") == "valid_name":
        body["username"] = f"valid_{uuid.uuid4().hex[:10]}"
    answer = http.post(f"{base_url}/users", json=body)
    assert field in assert_problem(answer, 400)["detail"]
    with database.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM users WHERE username = %s", (body["username"],))
        assert cursor.fetchone() == (0,)


@pytest.mark.parametrize("field", ["username", "sid", "email"])
def test_taken_username_sid_or_email_is_409_naming_it(http, base_url, customer, field):
    body = {
        "sid": uuid.uuid4().hex[:15],
        "username": f"other_{uuid.uuid4().hex[:10]}",
        "email": f"{uuid.uuid4().hex[:10]}@example.com",
        "password": "long enough",
    }
    body[field] = getattr(customer, field)
    assert field in assert_problem(http.post(f"{base_url}/users", json=body), 409)["detail"]


def test_a_sid_in_another_letter_case_is_taken(http, base_url):
    sid, name = f"S{uuid.uuid4().hex[:10]}", f"s_{uuid.uuid4().hex[:10]}"
    first = {"sid": sid.lower(), "username": name, "password": "long enough"}
    assert http.post(f"{base_url}/users", json=first).status_code == 201
    again = {**first, "sid": sid.upper(), "username": f"s_{uuid.uuid4().hex[:10]}"}
    assert "sid" in assert_problem(http.post(f"{base_url}/users", json=again), 409)["detail"]


def test_login_failures_all_look_the_same(http, base_url, customer):
    wrong_password = http.post(
        f"{base_url}/auth/login", json={"username": customer.username, "password": "wrong password"}
    )
    unknown_user = http.post(
        f"{base_url}/auth/login",
        json={"username": f"ghost_{uuid.uuid4().hex}", "password": "whatever1"},
    )
    assert customer.deactivate().status_code == 204
    deactivated = http.post(
        f"{base_url}/auth/login",
        json={"username": customer.username, "password": customer.password},
    )
    bodies = [assert_problem(a, 401) for a in (wrong_password, unknown_user, deactivated)]
    assert bodies[0] == bodies[1] == bodies[2]


def test_token_has_the_contract_claims(customer):
    login = customer.http.post(
        f"{customer.base_url}/auth/login",
        json={"username": customer.username, "password": customer.password},
    )
    body = login.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    header = jwt.get_unverified_header(body["access_token"])
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert header["alg"] == "HS256"
    assert claims["sub"] == str(customer.id)
    assert claims["exp"] - claims["iat"] == body["expires_in"]


def _forge(claims, key=b"not the store's secret, but 32 bytes or more", alg="HS256"):
    return jwt.encode(claims, key, algorithm=alg)


def _unsigned(claims):
    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _tampered(token, claims):
    """The token's header and signature around other claims."""
    header, _, signature = token.split(".")
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{payload}.{signature}"


def test_bad_tokens_are_401_with_www_authenticate(http, base_url, customer):
    now = int(time.time())
    claims = jwt.decode(customer.token, options={"verify_signature": False})
    secret = os.environ["JWT_SECRET"].encode()
    bad = {
        "missing": None,
        "malformed": "not-a-jwt",
        "forged": _forge(claims),
        "alg none": _unsigned(claims),
        "expired": _forge({**claims, "iat": now - 7200, "exp": now - 3600}, key=secret),
        "tampered": _tampered(customer.token, {**claims, "sub": str(customer.id + 1)}),
        "other scheme": "basic",
        # Signed with the store's key, but with ids the store never issues: outside 32
        # bits, not positive, not a number.
        **{
            f"sub {sub!r}": _forge({**claims, "sub": sub}, key=secret)
            for sub in (str(2**40), str(2**31), "0", "-5", "07x", "٣")
        },
        **{
            f"ver {ver!r}": _forge({**claims, "ver": ver}, key=secret)
            for ver in (2**40, 0, -1, "1", True)
        },
    }
    for name, token in bad.items():
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        if name == "other scheme":
            headers = {"Authorization": "Basic dXNlcjpwYXNz"}
        answer = http.get(f"{base_url}/users/me", headers=headers)
        assert answer.status_code == 401, name
        assert_unauthorized(answer)


def test_password_change_revokes_old_tokens(customer):
    old_token = customer.token
    answer = customer.request(
        "PATCH",
        "/users/me",
        json={"password": "a new password", "current_password": customer.password},
    )
    assert answer.status_code == 200
    assert_unauthorized(customer.request("GET", "/users/me", token=old_token))
    new_token = customer.log_in("a new password")
    assert customer.request("GET", "/users/me", token=new_token).status_code == 200


def test_deactivation_revokes_tokens_and_keeps_names_taken(http, base_url, customer):
    assert customer.deactivate().status_code == 204
    assert_unauthorized(customer.request("GET", "/users/me"))
    again = http.post(
        f"{base_url}/users",
        json={
            "sid": uuid.uuid4().hex[:15],
            "username": customer.username,
            "password": "long enough",
        },
    )
    assert_problem(again, 409)


def test_update_changes_only_what_was_sent(customer):
    new_name = f"renamed_{uuid.uuid4().hex[:10]}"
    answer = customer.request("PATCH", f"/users/{customer.id}", json={"username": new_name})
    assert answer.status_code == 200
    assert answer.json() == {**customer.user, "username": new_name}
    # The token stays valid: only a password change or deactivation revokes it.
    assert customer.request("GET", "/users/me").json()["username"] == new_name


@pytest.mark.parametrize("body", [{}, {"email": "nope"}, {"password": "short"}, {"id": 5}])
def test_invalid_update_is_400_and_changes_nothing(customer, body):
    assert_problem(customer.request("PATCH", "/users/me", json=body), 400)
    assert customer.request("GET", "/users/me").json() == customer.user


def test_update_to_a_taken_username_is_409(customer, new_customer):
    other = new_customer()
    answer = customer.request("PATCH", "/users/me", json={"username": other.username})
    assert "username" in assert_problem(answer, 409)["detail"]


def test_another_users_account_is_forbidden(customer, new_customer):
    other = new_customer()
    # Bodies that would be valid for one's own account: the owner is what is wrong.
    proof = {"current_password": customer.password}
    for method, kwargs in (
        ("GET", {}),
        ("PATCH", {"json": {"email": "x@example.com", **proof}}),
        ("DELETE", {"json": proof}),
    ):
        answer = customer.request(method, f"/users/{other.id}", **kwargs)
        assert answer.status_code in (403, 404)
        assert other.username not in answer.text
    assert other.request("GET", "/users/me").json() == other.user


def test_non_numeric_user_id_is_400(customer):
    assert_problem(customer.request("GET", "/users/abc"), 400)
