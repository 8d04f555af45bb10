"""What NGINX sends again when a replica fails, and when it takes a replica out.

api-2 is stopped and a fake replica takes its port: Python's own HTTP server, which
records every request NGINX hands it and answers late or never, as told.
- A replica that dies with requests in it: a read is answered by the other replica; a
  write (POST, PATCH, DELETE) is not sent again, its caller gets a 502 saying it may or
  may not have happened, and nothing changed, because no other replica ever saw it (its
  request id has no record in Kafka). NGINX's default resends a DELETE there.
- A replica that is stopped (its port refuses connections): a cancel that reached no
  replica goes to the other one, and succeeds.
- A slow answer (longer than NGINX's former 10 s read timeout): it reaches the client, and
  the replica keeps its share of the traffic; it is not taken out as if it had failed.
  Long (`make drills`): it takes that long."""

import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from checks import FRESH
from drills.support import Bystanders, wait_until

ROOT = Path(__file__).resolve().parents[2]
ACCESS_LOG = ROOT / ".state" / "nginx" / "logs" / "access.log"
API_1 = f"127.0.0.1:{os.environ.get('API_1_PORT', '5001')}"
API_2 = f"127.0.0.1:{os.environ.get('API_2_PORT', '5002')}"
FAKE = "fake-api-2"
# Longer than the 10 s proxy_read_timeout NGINX used to have, after which one slow answer
# took a replica out for 5 s; more than three times the API's gRPC deadline.
SLOW_SECONDS = 12


class FakeReplica:
    """Listens on `addr` in a stopped replica's place. Records each request's
    X-Request-ID; answers the n-th request it gets after delays[n] seconds, or never
    (delays used up: it holds the request until drop())."""

    def __init__(self, addr, delays=()):
        host, port = addr.rsplit(":", 1)
        self.received = {}  # X-Request-ID -> "METHOD /path"
        self.delays = list(delays)
        self.dead = threading.Event()
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def handle_request(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                with fake.lock:
                    fake.received[self.headers.get("X-Request-ID")] = f"{self.command} {self.path}"
                    delay = fake.delays.pop(0) if fake.delays else None
                if delay is None:
                    # Dies with the request: the connection closes without an answer.
                    fake.dead.wait()
                    self.close_connection = True
                    return
                time.sleep(delay)
                body = b'{"fake": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Served-By", FAKE)
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_HEAD = do_POST = do_PATCH = do_DELETE = handle_request

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, int(port)), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def got(self, request_id):
        with self.lock:
            return request_id in self.received

    def drop(self):
        """The replica dies: every request it holds ends without an answer."""
        self.dead.set()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.drop()
        self.server.shutdown()
        self.server.server_close()


class Client:
    """Requests in threads, each with its own X-Request-ID, so that a test can see
    where NGINX sent one before it is answered."""

    def __init__(self, base_url, fake):
        self.base_url, self.fake = base_url, fake
        self.pool = ThreadPoolExecutor(8)

    def send(self, method, path, **kwargs):
        request_id = f"no-resend-{uuid.uuid4().hex}"
        headers = {"X-Request-ID": request_id, **kwargs.pop("headers", {})}
        future = self.pool.submit(
            requests.request,
            method,
            f"{self.base_url}{path}",
            headers=headers,
            timeout=SLOW_SECONDS + 20,
            **kwargs,
        )
        return request_id, future

    def land(self, method, path, **kwargs):
        """Sends one request; returns (request id, future, whether NGINX handed it to
        the fake replica), as soon as it is answered or the fake has it."""
        request_id, future = self.send(method, path, **kwargs)
        where = wait_until(lambda: self.fake.got(request_id) or future.done(), timeout=15)
        assert where is not None, f"{method} {path}: neither answered nor at the fake in 15 s"
        return request_id, future, self.fake.got(request_id)

    def close(self):
        self.pool.shutdown(wait=True)


def _served_by(answer):
    return answer.headers.get("X-Served-By")


def _in_turn(base_url, name="api-2"):
    """Waits until NGINX hands requests to replica `name` again: a replica it marked
    failed (an earlier drill's) gets none for fail_timeout, and would get none here."""

    def answered_by_it():
        try:
            return _served_by(requests.get(f"{base_url}/healthz", timeout=2)) == name
        except requests.RequestException:
            return False

    assert wait_until(answered_by_it, timeout=20) is not None, f"NGINX sends nothing to {name}"


def _back(stack, name, addr):
    """Starts the replica again and waits until it answers, for the tests after this."""
    stack.start(name)

    def healthy():
        try:
            return requests.get(f"http://{addr}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    assert wait_until(healthy, timeout=45) is not None, f"{name} did not come back"


def test_a_cancel_that_reached_no_replica_goes_to_the_other(stack, base_url, new_customer):
    customer = new_customer()
    orders = [
        customer.request("POST", "/orders", json={"product_id": 3, "quantity": 1}).json()["id"]
        for _ in range(2)
    ]
    _in_turn(base_url)
    bystanders = Bystanders("api-2")
    stack.stop("api-2")
    # Nothing has gone to api-2 since it stopped, so NGINX still takes turns: one of two
    # cancels in a row is sent to its closed port first.
    ids = [f"no-resend-{uuid.uuid4().hex}" for _ in orders]
    answers = [
        customer.request("DELETE", f"/orders/{o}", headers={"X-Request-ID": i})
        for o, i in zip(orders, ids, strict=True)
    ]
    _back(stack, "api-2", API_2)
    upstreams = {
        i: line.split(" upstream=", 1)[1].split(" upstream_status=")[0]
        for line in ACCESS_LOG.read_text().splitlines()[-200:]
        for i in ids
        if f"request_id={i}" in line
    }
    print(f"\nunsent cancel drill: {[a.status_code for a in answers]}, NGINX tried {upstreams}")
    bystanders.check()
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert all(a.json()["status"] == "cancelled" for a in answers)
    # The access log's $upstream_addr: "api-2 : api-1" is a failed attempt at api-2, then
    # the resend (after an internal redirect) to api-1.
    assert any(u.startswith(API_2) and u.endswith(API_1) for u in upstreams.values()), upstreams


def test_writes_that_reached_a_replica_which_then_died_are_not_sent_again(
    stack, base_url, new_customer, log_channel
):
    customer = new_customer()
    auth = {"Authorization": f"Bearer {customer.token}"}
    placed = customer.request("GET", "/orders").json()
    orders = [
        customer.request("POST", "/orders", json={"product_id": 3, "quantity": 1}).json()["id"]
        for _ in range(2)
    ]
    username = customer.username
    names = iter(f"{customer.username[:40]}_{i}" for i in range(4))
    _in_turn(base_url)
    mark = log_channel.mark()
    bystanders = Bystanders("api-2")
    stack.stop("api-2")
    with FakeReplica(API_2) as fake:
        client = Client(base_url, fake)
        kinds = {
            "read": lambda: ("GET", "/products/1", {"headers": FRESH}),
            "place": lambda: ("POST", "/orders", {"json": {"product_id": 3, "quantity": 1}}),
            "rename": lambda: ("PATCH", "/users/me", {"json": {"username": next(names)}}),
            "cancel": lambda: ("DELETE", f"/orders/{orders[-1]}", {}),
        }
        held, elsewhere = {}, []
        for kind, request in kinds.items():
            # NGINX takes turns: of two requests in a row, one goes to each replica.
            for _ in range(2):
                method, path, kwargs = request()
                headers = {**auth, **kwargs.get("headers", {})}
                sent = {**kwargs, "headers": headers}
                request_id, future, at_fake = client.land(method, path, **sent)
                if at_fake:
                    held[kind] = (method, path, kwargs, request_id, future)
                    break
                answer = future.result()
                assert answer.status_code in (200, 201), (kind, answer.status_code, answer.text)
                elsewhere.append((kind, answer))
                if kind == "rename":
                    username = kwargs["json"]["username"]
                if kind == "cancel":
                    orders.pop()
            else:
                pytest.fail(f"NGINX handed no {kind} to the fake replica in two tries")
        # Every kind is inside the fake replica now; it dies with all of them.
        fake.drop()
        answers = {kind: future.result() for kind, (*_, future) in held.items()}
        client.close()
    _back(stack, "api-2", API_2)

    # The one request that is still in Kafka marks the end of what to read.
    sentinel = requests.get(f"{base_url}/", headers={"X-Request-ID": f"sentinel-{uuid.uuid4()}"})
    sentinel_id = sentinel.headers["X-Request-ID"]
    records = log_channel.records_since(
        mark, until=lambda rs: any(k == sentinel_id for k, _ in rs), timeout=30
    )
    logged = {key for key, _ in records}
    mine = customer.request("GET", "/orders").json()
    print(
        f"\nno-resend drill: held by the dying replica "
        f"{[(k, v[0], v[1]) for k, v in held.items()]}; "
        f"answers {[(k, a.status_code, _served_by(a)) for k, a in answers.items()]}; "
        f"answered by api-1 on the way {[(k, a.status_code) for k, a in elsewhere]}"
    )
    bystanders.check()
    assert sentinel_id in logged, "the sentinel's record did not reach Kafka in 30 s"

    read = answers["read"]
    assert read.status_code == 200 and _served_by(read) == "api-1", (read.status_code, read.text)
    assert held["read"][3] in logged, "the read was not sent again to api-1"
    writes = ("place", "rename", "cancel")
    resent = [f"{kind} ({held[kind][0]})" for kind in writes if held[kind][3] in logged]
    assert not resent, f"sent again to api-1 after the replica died with them: {resent}"
    for kind in writes:
        answer = answers[kind]
        assert answer.status_code == 502, (kind, answer.status_code, answer.text)
        assert answer.headers["Content-Type"].startswith("application/problem+json")
        assert "may or may not" in answer.json()["detail"], (kind, answer.json())
    # And nothing changed: no order from the held POST, the held rename did not happen,
    # the order whose cancel was held is still placed.
    placed_by_api_1 = sum(1 for kind, _ in elsewhere if kind == "place")
    assert len(mine) == len(placed) + 2 + placed_by_api_1, mine
    assert customer.request("GET", "/users/me").json()["username"] == username
    assert {o["id"]: o["status"] for o in mine}[orders[-1]] == "placed"


@pytest.mark.long
@pytest.mark.timeout(120)
def test_a_slow_answer_does_not_take_the_replica_out(stack, base_url):
    _in_turn(base_url)
    bystanders = Bystanders("api-2")
    stack.stop("api-2")
    with FakeReplica(API_2, delays=[SLOW_SECONDS] + [0] * 10) as fake:
        client = Client(base_url, fake)
        for _ in range(2):
            _, slow, at_fake = client.land("GET", "/products/1", headers=FRESH)
            if at_fake:
                break
        else:
            pytest.fail("NGINX handed no request to the fake replica in two tries")
        began = time.monotonic()
        slow = slow.result()
        waited = time.monotonic() - began
        # Right after it: the replica still gets its turn.
        after = [
            requests.get(f"{base_url}/products/1", headers=FRESH, timeout=10) for _ in range(4)
        ]
        client.close()
    _back(stack, "api-2", API_2)
    print(
        f"\nslow answer drill: {slow.status_code} from {_served_by(slow)} after "
        f"{waited:.1f} s; then {[_served_by(a) for a in after]}"
    )
    bystanders.check()
    assert slow.status_code == 200 and _served_by(slow) == FAKE, "NGINX gave up on it"
    assert FAKE in [_served_by(a) for a in after], "NGINX took the slow replica out"
