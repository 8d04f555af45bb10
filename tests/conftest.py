"""Fixtures for the tests that look at the whole running store from outside:
over HTTP through NGINX, and in Kafka through the external listener, as the
store's users and its administrator do. `make test` starts the stack first
and puts .env's values into the environment."""

import json
import os
import time
import uuid

import pytest
import requests
from confluent_kafka import Consumer, TopicPartition


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
            TopicPartition(self.topic, p, self.consumer.get_watermark_offsets(
                TopicPartition(self.topic, p), timeout=10)[1])
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
