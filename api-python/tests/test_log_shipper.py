"""The API's log shipper against a real logsvc and a real Kafka.

Each test runs its own logsvc, built from logsvc-go, on a free port, publishing to a
topic of this module's own (KAFKA_BROKERS says where Kafka is), and reads the records
back with a Kafka consumer, as the administrator would."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import grpc
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from grpc_health.v1 import health_pb2, health_pb2_grpc
from merch_api.log_shipper import LogShipper
from merchstore.log.v1 import log_pb2

REPO = Path(__file__).resolve().parents[2]
BROKERS = os.environ.get("KAFKA_BROKERS", "127.0.0.1:9092")

# submit() must not make a request wait. The bound is generous: it tells "returns at
# once" from "waits for the network", not a speed target.
SUBMIT_BOUND_SECONDS = 0.005


@pytest.fixture(scope="module")
def topic():
    admin = AdminClient({"bootstrap.servers": BROKERS, "log_level": 0})
    try:
        admin.list_topics(timeout=10)
    except KafkaException as error:
        pytest.fail(f"these tests need a real Kafka at KAFKA_BROKERS={BROKERS}: {error}")
    name = f"log-shipper-test-{uuid.uuid4().hex}"
    admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])[name].result(
        timeout=30
    )
    yield name
    admin.delete_topics([name])[name].result(timeout=30)


@pytest.fixture(scope="module")
def logsvc_binary(tmp_path_factory):
    if shutil.which("go") is None:
        pytest.fail("these tests build logsvc from logsvc-go and need the go tool on PATH")
    binary = tmp_path_factory.mktemp("logsvc") / "logsvc"
    subprocess.run(
        ["go", "build", "-o", str(binary), "./cmd/logsvc"],
        cwd=REPO / "logsvc-go",
        env={**os.environ, "CGO_ENABLED": "0"},
        check=True,
    )
    return binary


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Logsvc:
    """A logsvc process that can be stopped and started again on the same address."""

    def __init__(self, binary, topic, log_path):
        self.binary = binary
        self.topic = topic
        self.log_path = log_path
        self.addr = f"127.0.0.1:{free_port()}"
        self.process = None

    def start(self):
        env = {
            **os.environ,
            "LOGSVC_LISTEN_ADDR": self.addr,
            "KAFKA_BROKERS": BROKERS,
            "KAFKA_TOPIC": self.topic,
            "INSTANCE_NAME": "log-test",
        }
        with open(self.log_path, "a") as log_file:
            self.process = subprocess.Popen(
                [self.binary], env=env, stdout=log_file, stderr=subprocess.STDOUT
            )
        self._wait_serving()

    def _wait_serving(self):
        deadline = time.monotonic() + 15
        last = None
        with grpc.insecure_channel(self.addr) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    pytest.fail(f"logsvc exited with {self.process.returncode}: {self.logs()}")
                try:
                    status = health.Check(health_pb2.HealthCheckRequest(), timeout=1).status
                    if status == health_pb2.HealthCheckResponse.SERVING:
                        return
                    last = health_pb2.HealthCheckResponse.ServingStatus.Name(status)
                except grpc.RpcError as error:
                    last = error.code().name
                time.sleep(0.1)
        pytest.fail(f"logsvc at {self.addr} not SERVING after 15 s (last: {last}): {self.logs()}")

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail("logsvc did not stop within 15 s of SIGTERM")

    def logs(self):
        return self.log_path.read_text()[-2000:]


@pytest.fixture
def logsvc(logsvc_binary, topic, tmp_path):
    service = Logsvc(logsvc_binary, topic, tmp_path / "logsvc.log")
    yield service
    service.stop()


@pytest.fixture
def shippers():
    """Makes started shippers, each with its own instance name to find its records by,
    and closes them after the test."""
    made = []

    def make(addr, **kwargs):
        instance = f"t-{uuid.uuid4().hex[:8]}"
        shipper = LogShipper(addr, instance=instance, **kwargs)
        shipper.start()
        made.append(shipper)
        return shipper, instance

    yield make
    for shipper in made:
        shipper.close(timeout=1)


def records_of(topic, instance, until, timeout=20.0):
    """This topic's records of one shipper (by instance), read from the beginning until
    until(records) holds or timeout seconds have passed."""
    consumer = Consumer(
        {
            "bootstrap.servers": BROKERS,
            "group.id": f"log-shipper-test-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "log_level": 0,
        }
    )
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    records = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not until(records):
            message = consumer.poll(0.2)
            if message is None or message.error():
                continue
            record = json.loads(message.value())
            if record["instance"] == instance:
                records.append((message.key().decode(), record))
    finally:
        consumer.close()
    return records


def entry(request_id, message, **fields):
    return log_pb2.LogEntry(
        level=log_pb2.LEVEL_INFO, request_id=request_id, message=message, **fields
    )


def timed_submits(shipper, entries):
    slowest = 0.0
    for e in entries:
        start = time.perf_counter()
        shipper.submit(e)
        slowest = max(slowest, time.perf_counter() - start)
    return slowest


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def test_entries_arrive_as_contract_records(logsvc, topic, shippers):
    logsvc.start()
    shipper, instance = shippers(logsvc.addr)
    prefix = uuid.uuid4().hex
    shipper.submit(
        entry(
            f"{prefix}-0",
            "GET /products 200",
            http=log_pb2.HttpRequest(method="GET", path="/products", status=200, latency_ms=3.5),
        )
    )
    for i in range(1, 50):
        shipper.submit(entry(f"{prefix}-{i}", f"message {i}"))
    # close() flushes what is queued.
    shipper.close(timeout=10)
    assert shipper.stats() == {
        "queued": 0,
        "sent": 50,
        "dropped": 0,
        "retried_batches": 0,
        "rejected": 0,
    }

    records = records_of(topic, instance, until=lambda r: len(r) >= 50)
    assert len(records) == 50
    by_id = dict(records)
    assert sorted(by_id) == sorted(f"{prefix}-{i}" for i in range(50))
    first = by_id[f"{prefix}-0"]
    assert first["ts"].endswith("Z")
    assert {k: v for k, v in first.items() if k != "ts"} == {
        "level": "INFO",
        "service": "api",
        "instance": instance,
        "request_id": f"{prefix}-0",
        "message": "GET /products 200",
        "method": "GET",
        "path": "/products",
        "status": 200,
        "latency_ms": 3.5,
        "user_id": None,
    }
    assert "method" not in by_id[f"{prefix}-1"]


def test_logsvc_down_submit_stays_fast_and_queued_entries_arrive_after_restart(
    logsvc, topic, shippers
):
    logsvc.start()
    shipper, instance = shippers(logsvc.addr)
    shipper.submit(entry("before-stop", "before the stop"))
    wait_for(lambda: shipper.stats()["sent"] == 1, 10, "the first entry to be acknowledged")

    logsvc.stop()
    slowest = timed_submits(shipper, [entry(f"down-{i}", f"while down {i}") for i in range(100)])
    assert slowest < SUBMIT_BOUND_SECONDS, f"submit() took {slowest * 1000:.1f} ms"
    wait_for(lambda: shipper.stats()["retried_batches"] >= 2, 10, "the shipper to retry")
    assert shipper.stats()["sent"] == 1

    logsvc.start()
    records = records_of(topic, instance, until=lambda r: len(r) >= 101, timeout=30)
    assert {key for key, _ in records} == {"before-stop"} | {f"down-{i}" for i in range(100)}
    stats = shipper.stats()
    assert stats["dropped"] == 0
    assert stats["sent"] == 101


def test_full_queue_drops_and_counts_then_reports_the_drop(logsvc, topic, shippers):
    # logsvc is not running yet: nothing can be sent.
    shipper, instance = shippers(logsvc.addr, queue_size=10, batch_size=5)
    shipper.submit(entry("held", "taken by the sender, which then waits"))
    wait_for(lambda: shipper.stats()["retried_batches"] >= 1, 10, "the sender to hold a batch")

    slowest = timed_submits(shipper, [entry(f"over-{i}", f"overflow {i}") for i in range(30)])
    assert slowest < SUBMIT_BOUND_SECONDS, f"submit() took {slowest * 1000:.1f} ms"
    stats = shipper.stats()
    assert (stats["queued"], stats["dropped"]) == (10, 20)

    logsvc.start()

    # The 11 entries that fit (1 held by the sender, 10 queued) and the WARNING.
    records = records_of(topic, instance, until=lambda r: len(r) >= 12, timeout=30)
    warnings = [r for _, r in records if r["level"] == "WARNING"]
    assert len(warnings) == 1, records
    assert "dropped 20 log entries" in warnings[0]["message"]
    assert {key for key, r in records if r["level"] == "INFO"} == {"held"} | {
        f"over-{i}" for i in range(10)
    }
    assert shipper.stats()["dropped"] == 20


def test_malformed_entry_is_counted_and_does_not_block_the_others(logsvc, topic, shippers):
    logsvc.start()
    shipper, instance = shippers(logsvc.addr)
    shipper.submit(entry("ok-1", "valid"))
    shipper.submit(log_pb2.LogEntry(request_id="bad", message="no level"))
    shipper.submit(entry("ok-2", "valid too"))
    wait_for(lambda: shipper.stats()["rejected"] == 1, 10, "the rejection to be counted")
    shipper.submit(entry("ok-3", "after the rejection"))

    records = records_of(topic, instance, until=lambda r: len(r) >= 3)
    assert sorted(key for key, _ in records) == ["ok-1", "ok-2", "ok-3"]
    stats = shipper.stats()
    assert (stats["sent"], stats["rejected"], stats["retried_batches"]) == (3, 1, 0)


def test_monitor_filters_records_and_skips_malformed_ones(logsvc, topic, shippers):
    producer = Producer({"bootstrap.servers": BROKERS, "log_level": 0})
    producer.produce(topic, key=b"junk", value=b"not json {")
    producer.produce(topic, key=b"junk", value=b'{"level": "INFO"}')
    assert producer.flush(10) == 0

    logsvc.start()
    shipper, instance = shippers(logsvc.addr)
    wanted_id = f"wanted-{uuid.uuid4().hex}"
    http = log_pb2.HttpRequest(method="POST", path="/orders", status=409, latency_ms=4.25)
    http.user_id = 7
    shipper.submit(entry(wanted_id, "below the level"))
    shipper.submit(
        log_pb2.LogEntry(
            level=log_pb2.LEVEL_WARNING, request_id=wanted_id, message="out of stock", http=http
        )
    )
    shipper.submit(log_pb2.LogEntry(level=log_pb2.LEVEL_ERROR, request_id="other", message="x"))
    shipper.close(timeout=10)
    assert shipper.stats()["sent"] == 3

    monitor = subprocess.run(
        [
            sys.executable,
            REPO / "scripts" / "log_monitor.py",
            "--topic",
            topic,
            "--from-beginning",
            "--level",
            "warning",
            "--request-id",
            wanted_id,
            "--user",
            "7",
            "--max-records",
            "1",
            "--timeout",
            "20",
        ],
        env={**os.environ, "KAFKA_BOOTSTRAP": BROKERS},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert monitor.returncode == 0, monitor.stderr
    header, *lines = monitor.stdout.splitlines()
    assert header.split()[:3] == ["TIME", "(UTC)", "LEVEL"]
    assert len(lines) == 1
    assert lines[0].split()[2:] == [
        "WARNING",
        f"api/{instance}",
        wanted_id,
        "7",
        "POST",
        "/orders",
        "409",
        "4.2ms",
        "out",
        "of",
        "stock",
    ]
    assert monitor.stderr.count("skipping malformed record") == 2
