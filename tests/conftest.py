"""Fixtures for the tests that look at the whole running store from outside:
over HTTP through NGINX, and in Kafka through the external listener, as the
store's users and its administrator do. `make test` starts the stack first
and puts .env's values into the environment."""

import json
import os
import time
import uuid
from pathlib import Path

import pytest
import requests
from clients import BASE_URL, ClientAdapter, client
from confluent_kafka import Consumer, TopicPartition
from deployment import UNDER_COMPOSE, compose

DRILLS = Path(__file__).resolve().parent / "drills"

# Every client of the tests is one on an address of its own (tests/clients.py), also in
# schemathesis' CLI, which loads that file as its hooks.
os.environ.setdefault("SCHEMATHESIS_HOOKS", str(Path(__file__).with_name("clients.py")))


def pytest_collection_modifyitems(config, items):
    """The failure drills last, whatever else runs with them (a bare `pytest`): they stop
    and restart the store's parts, and what they leave half-recovered must fail only them.
    `make test` runs them in a stage of their own anyway."""
    items.sort(key=lambda item: DRILLS in Path(item.path).parents)


def connect_as_owner():
    """A new connection to the store's PostgreSQL as its owner (a drill may have restarted
    PostgreSQL under an older one)."""
    import psycopg2

    connection = psycopg2.connect(
        host=os.environ.get("POSTGRES_HOST", "127.0.0.1"),
        port=os.environ.get("POSTGRES_PORT", "5432"),
        user=os.environ["POSTGRES_USER"],
        password=os.environ["POSTGRES_PASSWORD"],
        dbname=os.environ["POSTGRES_DB"],
        connect_timeout=10,
    )
    connection.autocommit = True
    return connection


def catalog_stock():
    """{product id: stock} as PostgreSQL has it now."""
    connection = connect_as_owner()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, stock FROM products ORDER BY id")
            return dict(cursor.fetchall())
    finally:
        connection.close()


@pytest.fixture(scope="session", autouse=True)
def stock_left_as_found():
    """No test may leave the catalog's stock changed: whoever orders cancels (fixtures
    do it for their customers), so the suite can run again and again on the same store,
    and the next stage finds the store as it was. Compared over the whole session, after
    every other fixture has cleaned up; a run without the store's settings (a file of
    pure tests, run bare) is not checked."""
    if "POSTGRES_PASSWORD" not in os.environ:
        yield
        return
    before = catalog_stock()
    yield
    after = catalog_stock()
    moved = {
        p: f"{before.get(p)} -> {after.get(p)}"
        for p in before | after
        if before.get(p) != after.get(p)
    }
    assert not moved, (
        f"the tests left the catalog's stock changed ({moved}): a test took stock and did "
        "not give it back (cancel what it orders, e.g. with the new_customer fixture)"
    )


@pytest.fixture(scope="session")
def base_url():
    return BASE_URL


@pytest.fixture(scope="session")
def http():
    """The test's own client (session-wide for fixtures of a wider scope, such as the SDK's;
    each test gets a new address, below)."""
    with client() as session:
        yield session


@pytest.fixture(autouse=True)
def a_client_of_its_own(request):
    """Each test that uses `http` is a client of its own: one test's logins and sign-ups
    do not spend the next one's allowance at NGINX."""
    if "http" in request.fixturenames:
        session = request.getfixturevalue("http")
        session.adapters["http://"].close()
        session.mount("http://", ClientAdapter(waits=True))


def send_sentinel(replica, request_id):
    """GET /healthz with this X-Request-ID straight to one replica: from this machine on
    the local stack; under compose, where only NGINX is published, from inside the
    replica's container."""
    if UNDER_COMPOSE:
        compose(
            "exec", "-T", replica, "python", "-c",
            "import sys, urllib.request; urllib.request.urlopen(urllib.request.Request("
            "'http://127.0.0.1:5000/healthz', headers={'X-Request-ID': sys.argv[1]}), timeout=10)",
            request_id,
        )  # fmt: skip
        return
    sentinel = requests.get(
        f"{REPLICAS[replica]}/healthz", headers={"X-Request-ID": request_id}, timeout=10
    )
    assert sentinel.status_code == 200


class LogChannel:
    """Reads log-channel from a remembered position, like an administrator
    who starts watching just before making a request."""

    def __init__(self, bootstrap, topic):
        self.topic = topic
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"store-tests-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "log_level": 0,
            }
        )
        metadata = self.consumer.list_topics(topic, timeout=10).topics[topic]
        self.partitions = sorted(metadata.partitions)

    def mark(self):
        """The end of every partition now: records after it are new."""
        return [
            TopicPartition(
                self.topic,
                p,
                self.consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=10)[1],
            )
            for p in self.partitions
        ]

    def records_since(self, mark, until, timeout=10.0):
        """Records after `mark`, as (key, decoded JSON) pairs, read until
        `until(records)` is true or `timeout` seconds have passed."""
        self.consumer.assign(mark)
        records = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not until(records):
            message = self.consumer.poll(0.2)
            if message is None or message.error():
                continue
            key = message.key().decode() if message.key() else None
            records.append((key, json.loads(message.value())))
        return records

    def records_through_sentinel(self, mark, answer, timeout=15.0):
        """Every record since `mark` up to the sentinel of the request that got `answer`:
        a GET /healthz with the same X-Request-ID sent straight to the replica that
        answered. That replica's log shipper sends its entries in order, and records of
        one request id share a key and so a partition: once the sentinel's record is read,
        every record that request's answer left, copies included, has been read too.
        (Waiting for the first record of a request cannot tell one record from two.)"""
        request_id = answer.headers["X-Request-ID"]
        send_sentinel(answer.headers["X-Served-By"], request_id)

        def is_sentinel(value):
            return (
                value.get("request_id") == request_id
                and value.get("service") == "api"
                and value.get("path") == "/healthz"
            )

        records = self.records_since(mark, lambda rs: any(is_sentinel(v) for _, v in rs), timeout)
        assert any(is_sentinel(v) for _, v in records), (
            f"the sentinel record of {request_id} did not arrive within {timeout} s"
        )
        return [(k, v) for k, v in records if not is_sentinel(v)]

    def close(self):
        self.consumer.close()


REPLICAS = {
    "api-1": f"http://127.0.0.1:{os.environ.get('API_1_PORT', '5001')}",
    "api-2": f"http://127.0.0.1:{os.environ.get('API_2_PORT', '5002')}",
}


@pytest.fixture(scope="session")
def log_channel():
    channel = LogChannel(
        f"127.0.0.1:{os.environ.get('KAFKA_EXTERNAL_PORT', '9093')}",
        os.environ.get("KAFKA_TOPIC", "log-channel"),
    )
    yield channel
    channel.close()


class Customer:
    """A freshly registered account and its token, as a customer would hold them. It signs
    up and logs in from a client of its own (`own`), as each customer does from their own
    machine: a test or a fuzz run may make hundreds. What it does with its token goes
    through the test's client `http`, so a test that plays one client (a wrong
    current_password, then a login) is one address to the store."""

    def __init__(self, http, base_url, password="correct horse 1"):
        self.http, self.base_url, self.password = http, base_url, password
        self.own = client()
        suffix = uuid.uuid4().hex[:12]
        self.username = f"user_{suffix}"
        self.sid = str(uuid.uuid4().int)[:15]
        self.email = f"{self.username}@example.com"
        answer = self.own.post(
            f"{base_url}/users",
            json={
                "sid": self.sid,
                "username": self.username,
                "email": self.email,
                "password": password,
            },
        )
        assert answer.status_code == 201, answer.text
        self.user = answer.json()
        self.id = self.user["id"]
        self.token = self.log_in()

    def log_in(self, password=None):
        answer = self.own.post(
            f"{self.base_url}/auth/login",
            json={"username": self.username, "password": password or self.password},
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]

    def request(self, method, path, token=None, **kwargs):
        headers = {"Authorization": f"Bearer {token or self.token}", **kwargs.pop("headers", {})}
        return self.http.request(method, f"{self.base_url}{path}", headers=headers, **kwargs)

    def deactivate(self, current_password=None):
        return self.request(
            "DELETE", "/users/me", json={"current_password": current_password or self.password}
        )

    def cancel_placed_orders(self):
        """Gives back the stock this customer's orders took, so that tests can run again
        and again on the same store without selling it out. Through the API while the
        customer can still use it; a deactivated customer (or one whose token a changed
        password revoked) can no longer cancel, and the contract keeps a deactivated
        user's orders, so those are cancelled as an administrator would, in PostgreSQL.
        Fails when an order could not be cancelled."""
        answer = self.request("GET", "/orders")
        if answer.status_code == 401:
            self._cancel_as_administrator()
            return
        assert answer.status_code == 200, f"could not list {self.username}'s orders: {answer.text}"
        for order in answer.json():
            if order["status"] == "placed":
                cancelled = self.request("DELETE", f"/orders/{order['id']}")
                # 409: cancelled meanwhile (a retried DELETE, a concurrent cleanup).
                assert cancelled.status_code in (200, 409), (
                    f"could not cancel order {order['id']}: {cancelled.text}"
                )

    def _cancel_as_administrator(self):
        connection = connect_as_owner()
        try:
            with connection.cursor() as cursor:
                # One statement, one transaction: the orders and their stock together.
                cursor.execute(
                    """WITH cancelled AS (
                           UPDATE orders SET status = 'cancelled', cancelled_at = now()
                           WHERE user_id = %s AND status = 'placed'
                           RETURNING product_id, quantity)
                       UPDATE products p SET stock = p.stock + c.quantity
                       FROM (SELECT product_id, sum(quantity) AS quantity FROM cancelled
                             GROUP BY product_id) c
                       WHERE p.id = c.product_id""",
                    (self.id,),
                )
        finally:
            connection.close()


@pytest.fixture
def new_customer(http, base_url):
    """Makes customers; their placed orders are cancelled when the test ends."""
    made = []

    def make():
        made.append(Customer(http, base_url))
        return made[-1]

    yield make
    for customer in made:
        customer.cancel_placed_orders()


@pytest.fixture
def customer(new_customer):
    return new_customer()


@pytest.fixture
def database():
    """The store's PostgreSQL, read-only for tests that check what the API did. A new
    connection per test: the failure drills restart PostgreSQL."""
    connection = connect_as_owner()
    connection.set_session(readonly=True, autocommit=True)
    yield connection
    connection.close()
