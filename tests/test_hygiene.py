"""What a careful client and administrator see around the answers: security headers on
every answer (NGINX's own included), request ids and log records that stay sane whatever
a client sends."""

import importlib.util
import re
import socket
import uuid
from pathlib import Path

import pytest
from checks import assert_problem
from deployment import ROOT, UNDER_COMPOSE, nginx_access_log
from drills.support import wait_until

REPO = Path(__file__).resolve().parents[1]
SANE_ID = re.compile(r"^[!-~]{1,128}$")


def raw_request(base_url, data: bytes) -> str:
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(data)
        return connection.recv(65536).decode("utf-8", "replace")


def test_every_answer_says_nosniff_nginxs_own_too(http, base_url):
    answers = [
        http.get(f"{base_url}/products/1"),
        http.get(f"{base_url}/no-such-thing"),
        http.get(f"{base_url}/{'a' * 9000}"),  # NGINX's 414
        http.post(
            f"{base_url}/users", data=b"x" * 70000, headers={"Content-Type": "application/json"}
        ),
    ]
    for answer in answers:
        assert answer.headers["X-Content-Type-Options"] == "nosniff", answer.status_code
    assert_problem(answers[2], 414)
    assert_problem(answers[3], 413)
    malformed = raw_request(base_url, b"GET / HTTP/1.1\r\nHost: x\r\nBad\x00Header\r\n\r\n")
    assert malformed.startswith("HTTP/1.1 400")
    assert "Content-Type: application/problem+json" in malformed
    assert "X-Content-Type-Options: nosniff" in malformed


def test_a_token_in_the_query_string_never_reaches_nginxs_log(http, base_url):
    secret = f"eyJ{uuid.uuid4().hex}"
    request_id = f"query-{uuid.uuid4().hex}"
    answer = http.get(
        f"{base_url}/products?access_token={secret}", headers={"X-Request-ID": request_id}
    )
    assert answer.status_code == 400  # no operation takes a query string

    def logged():
        return request_id in nginx_access_log()

    assert wait_until(logged, timeout=10) is not None, "NGINX did not log the request"
    line = next(line for line in nginx_access_log().splitlines() if request_id in line)
    assert '"GET /products HTTP/1.1" 400' in line and secret not in line


@pytest.mark.skipif(UNDER_COMPOSE, reason="compose's logs are docker's, not files")
def test_log_files_are_not_world_readable():
    logs = [*(ROOT / ".state/log").glob("*.log"), *(ROOT / ".state/nginx/logs").glob("*.log")]
    assert logs
    readable = [str(path) for path in logs if path.stat().st_mode & 0o007]
    assert not readable, f"readable by anyone: {readable}"


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        # A header longer than nginx reads: its own 494, answered as RFC 6585's 431.
        (b"GET / HTTP/1.1\r\nHost: x\r\nCookie: " + b"a" * 20000 + b"\r\n\r\n", 431),
        # A transfer coding nginx does not implement.
        (b"POST /users HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    ],
    ids=["431", "501"],
)
def test_nginxs_own_refusals_are_problems_with_a_request_id(base_url, request_bytes, status):
    answer = raw_request(base_url, request_bytes)
    assert answer.startswith(f"HTTP/1.1 {status}"), answer[:200]
    assert "Content-Type: application/problem+json" in answer
    assert re.search(r"^X-Request-ID: [!-~]{1,128}\r$", answer, re.M), answer[:400]


def test_token_account_and_order_answers_are_not_cached(http, base_url, customer):
    def no_store(answer):
        assert answer.status_code < 300, answer.text
        return answer.headers.get("Cache-Control") == "no-store"

    login = http.post(
        f"{base_url}/auth/login",
        json={"username": customer.username, "password": customer.password},
    )
    assert no_store(login)
    assert no_store(customer.request("GET", "/users/me"))
    assert no_store(
        customer.request(
            "PATCH",
            "/users/me",
            json={
                "email": f"{uuid.uuid4().hex}@example.com",
                "current_password": customer.password,
            },
        )
    )
    suffix = uuid.uuid4().hex[:12]
    register = http.post(
        f"{base_url}/users",
        json={"sid": suffix, "username": f"u_{suffix}", "password": "long enough 1"},
    )
    assert no_store(register)
    order = customer.request("POST", "/orders", json={"product_id": 2, "quantity": 1})
    assert no_store(order)
    assert no_store(customer.request("GET", "/orders"))
    assert no_store(customer.request("GET", f"/orders/{order.json()['id']}"))
    assert no_store(customer.request("DELETE", f"/orders/{order.json()['id']}"))
    assert not no_store(http.get(f"{base_url}/products"))


def test_swagger_ui_cannot_be_framed(http, base_url):
    answer = http.get(f"{base_url}/ui/")
    assert answer.status_code == 200
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]


@pytest.mark.parametrize("sent", ["has spaces in it", "x" * 129, "tab\there", "é-not-ascii"])
def test_an_insane_request_id_is_replaced(http, base_url, sent):
    answer = http.get(f"{base_url}/products/1", headers={"X-Request-ID": sent.encode()})
    assert answer.status_code == 200
    assert answer.headers["X-Request-ID"] != sent
    assert SANE_ID.match(answer.headers["X-Request-ID"])


def test_a_sane_request_id_is_kept(http, base_url):
    sent = f"client-{uuid.uuid4().hex}"
    assert (
        http.get(f"{base_url}/products/1", headers={"X-Request-ID": sent}).headers["X-Request-ID"]
        == sent
    )


def test_long_and_odd_paths_still_have_their_records(http, base_url, log_channel):
    long_id, odd_id = f"long-{uuid.uuid4().hex}", f"odd-{uuid.uuid4().hex}"
    mark = log_channel.mark()
    long_path = "/products/" + "9" * 3000
    assert_problem(http.get(f"{base_url}{long_path}", headers={"X-Request-ID": long_id}), 400)
    assert_problem(
        http.get(f"{base_url}/products/%1B[31mred", headers={"X-Request-ID": odd_id}), 400
    )

    def both(records):
        return {long_id, odd_id} <= {value.get("request_id") for _, value in records}

    records = {
        value["request_id"]: value
        for _, value in log_channel.records_since(mark, both, timeout=15)
        if value.get("service") == "api"
    }
    assert long_id in records and odd_id in records, "a request left no API record"
    cut = records[long_id]["path"]
    assert cut.startswith("/products/999") and cut.endswith("...")
    assert len(cut.encode()) <= 2048
    assert records[odd_id]["path"] == "/products/\\x1b[31mred"


def test_the_monitor_prints_control_characters_escaped():
    spec = importlib.util.spec_from_file_location("log_monitor", REPO / "scripts/log_monitor.py")
    monitor = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(monitor)
    line = monitor.format_record(
        {
            "ts": "2026-11-26T03:00:00.000Z",
            "level": "INFO",
            "service": "api",
            "instance": "api-1",
            "request_id": "r\x1b[2J",
            "user_id": None,
            "method": "GET",
            "path": "/\x1b]0;owned\x07",
            "status": 404,
            "latency_ms": 1.0,
            "message": "GET /\x1b]0;owned\x07 404\r\n",
        }
    )
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in line), repr(line)
    assert "\\x1b" in line


def test_the_local_nginx_listens_on_loopback_only(base_url):
    port = int(base_url.rsplit(":", 1)[1])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: it picks the outward address
        outward = probe.getsockname()[0]
    if outward.startswith("127."):
        pytest.skip("this machine has no address but loopback")
    with pytest.raises(OSError):
        socket.create_connection((outward, port), timeout=2).close()
