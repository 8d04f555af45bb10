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
from confluent_kafka import Consumer, TopicPartition

DRILLS = Path(__file__).resolve().parent / "drills"


def pytest_collection_modifyitems(config, items):
    """The failure drills last, whatever else runs with them (a bare `pytest`): they stop
    and restart the store's parts, and what they leave half-recovered must fail only them.
    `make test` runs them in a stage of their own anyway."""
    items.sort(key=lambda item: DRILLS in Path(item.path).parents)


@pytest.fixture(scope="session")
def base_url():
    return os.environ.get("BASE_URL", f"http://127.0.0.1:{os.environ.get('NGINX_PORT', '8080')}")


@pytest.fixture(scope="session")
def http():
    with requests.Session() as session:
        yield session


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

    def close(self):
        self.consumer.close()


@pytest.fixture(scope="session")
def log_channel():
    channel = LogChannel(
        f"127.0.0.1:{os.environ.get('KAFKA_EXTERNAL_PORT', '9093')}",
        os.environ.get("KAFKA_TOPIC", "log-channel"),
    )
    yield channel
    channel.close()


class Customer:
    """A freshly registered account and its token, as a customer would hold them."""

    def __init__(self, http, base_url, password="correct horse 1"):
        self.http, self.base_url, self.password = http, base_url, password
        suffix = uuid.uuid4().hex[:12]
        self.username = f"user_{suffix}"
        self.sid = str(uuid.uuid4().int)[:15]
        self.email = f"{self.username}@example.com"
        answer = http.post(
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
        answer = self.http.post(
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
        and again on the same store without selling it out."""
        answer = self.request("GET", "/orders")
        if answer.status_code != 200:  # deactivated: its orders stay, as they should
            return
        for order in answer.json():
            if order["status"] == "placed":
                self.request("DELETE", f"/orders/{order['id']}")


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
    import psycopg2

    connection = psycopg2.connect(
        host=os.environ.get("POSTGRES_HOST", "127.0.0.1"),
        port=os.environ.get("POSTGRES_PORT", "5432"),
        user=os.environ["POSTGRES_USER"],
        password=os.environ["POSTGRES_PASSWORD"],
        dbname=os.environ["POSTGRES_DB"],
    )
    connection.set_session(readonly=True, autocommit=True)
    yield connection
    connection.close()
