"""The API's log shipper against a real logsvc and a real Kafka.

Each test runs its own logsvc, built from logsvc-go, on a free port, publishing to a
topic of this module's own (KAFKA_BROKERS says where Kafka is), and reads the records
back with a Kafka consumer, as the administrator would. logsvc and the shippers use the
store's certificates (TLS_ROOT, set by deploy/local/stack run), over mutual TLS as in
the store."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import grpc
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from grpc_health.v1 import health_pb2, health_pb2_grpc
from merch_api.log_shipper import LogShipper
from merch_api.mutual_tls import LOG_SERVICE, MutualTLS
from merchstore.log.v1 import log_pb2, log_pb2_grpc

REPO = Path(__file__).resolve().parents[2]
BROKERS = os.environ.get("KAFKA_BROKERS", "127.0.0.1:9092")
UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
TLS_ROOT = Path(os.environ.get("TLS_ROOT", REPO / ".state" / "tls"))


def api_tls():
    """The API's side of mutual TLS, as a replica has it."""
    return MutualTLS.load(str(TLS_ROOT / "api"))


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
            "TLS_DIR": str(TLS_ROOT / "logsvc"),
        }
        with open(self.log_path, "a") as log_file:
            self.process = subprocess.Popen(
                [self.binary], env=env, stdout=log_file, stderr=subprocess.STDOUT
            )
        self._wait_serving()

    def _wait_serving(self):
        deadline = time.monotonic() + 15
        last = None
        with api_tls().channel(self.addr, LOG_SERVICE, []) as channel:
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
        shipper = LogShipper(addr, instance=instance, tls=api_tls(), **kwargs)
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
            try:
                record = json.loads(message.value())
            except ValueError:
                continue  # the junk another test writes for the monitor to skip
            if isinstance(record, dict) and record.get("instance") == instance:
                records.append((message.key().decode(), record))
    finally:
        consumer.close()
    return records


def through(key):
    """records_of's `until`: the records up to the one keyed `key`, a sentinel submitted
    after the entries under test. One shipper sends in order into one partition, so by
    then every record before it is read, copies included, and counting them means
    something (stopping at the expected count could never see one too many)."""
    return lambda records: any(k == key for k, _ in records)


def entry(request_id, message, **fields):
    return log_pb2.LogEntry(
        level=log_pb2.LEVEL_INFO, request_id=request_id, message=message, **fields
    )


class BlackHole:
    """Listens on logsvc's address, takes connections and never answers on them: a call
    to it waits until its own deadline, as to a logsvc that hangs. `called` is set once a
    connection came, which the shipper's channel opens only for a call."""

    def __init__(self, addr):
        host, port = addr.rsplit(":", 1)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, int(port)))
        self.listener.listen(16)
        self.listener.settimeout(0.1)
        self.called = threading.Event()
        self.connections = []
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.closed.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            self.connections.append(connection)
            self.called.set()

    def close(self):
        """Closes every connection (the waiting call fails at once) and frees the port."""
        self.closed.set()
        self.thread.join()
        self.listener.close()
        for connection in self.connections:
            connection.close()


def submit_all(shipper, entries):
    """Submits entries from another thread and fails unless every submit() returned. The
    caller makes the shipper's sender wait in a call that will not end for minutes, so a
    submit() that waited for the sender or the network would hang here; the timeout
    only tells returning from hanging and is no bound on speed."""
    done = threading.Thread(target=lambda: [shipper.submit(e) for e in entries], daemon=True)
    done.start()
    done.join(timeout=30)
    assert not done.is_alive(), "submit() waited while the sender was stuck in a call"


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
    entries = [
        entry(
            f"{prefix}-0",
            "GET /products 200",
            http=log_pb2.HttpRequest(method="GET", path="/products", status=200, latency_ms=3.5),
        )
    ] + [entry(f"{prefix}-{i}", f"message {i}") for i in range(1, 50)]
    for e in entries:
        shipper.submit(e)
    # submit() gave each entry its own id.
    event_ids = {e.request_id: e.event_id for e in entries}
    assert len(set(event_ids.values())) == 50
    assert all(re.match(UUID, event_id) for event_id in event_ids.values())
    shipper.submit(entry("sentinel", "the last one"))
    # close() flushes what is queued.
    shipper.close(timeout=10)
    assert shipper.stats() == {
        "queued": 0,
        "sent": 51,
        "dropped": 0,
        "retried_batches": 0,
        "rejected": 0,
    }

    records = records_of(topic, instance, until=through("sentinel"))[:-1]
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
        "event_id": event_ids[f"{prefix}-0"],
        "message": "GET /products 200",
        "method": "GET",
        "path": "/products",
        "status": 200,
        "latency_ms": 3.5,
        "user_id": None,
    }
    assert "method" not in by_id[f"{prefix}-1"]
    assert {key: record["event_id"] for key, record in records} == event_ids


def test_logsvc_hanging_submit_returns_and_queued_entries_arrive_with_their_ids(
    logsvc, topic, shippers
):
    logsvc.start()
    shipper, instance = shippers(logsvc.addr, call_timeout=600)
    shipper.submit(entry("before-stop", "before the stop"))
    wait_for(lambda: shipper.stats()["sent"] == 1, 10, "the first entry to be acknowledged")

    logsvc.stop()
    hole = BlackHole(logsvc.addr)
    try:
        stuck = entry("stuck", "sent into a logsvc that hangs")
        shipper.submit(stuck)
        # The ids as submit() gave them, before any send: a shipper that gave new ones
        # on a retry would change the entries after this.
        given = {stuck.request_id: stuck.event_id}
        assert hole.called.wait(10), "the shipper did not call logsvc"
        down = [entry(f"down-{i}", f"while down {i}") for i in range(100)]
        submit_all(shipper, down)
        given.update({e.request_id: e.event_id for e in down})
        assert shipper.stats()["sent"] == 1
    finally:
        hole.close()  # the waiting call fails: the shipper sends the batch again
    wait_for(lambda: shipper.stats()["retried_batches"] >= 1, 10, "the shipper to retry")

    logsvc.start()
    records = records_of(topic, instance, until=lambda r: len(r) >= 102, timeout=30)
    assert {key for key, _ in records} == {"before-stop", "stuck"} | {e.request_id for e in down}
    # The batch that failed went again with the ids submit() gave its entries.
    by_key = {key: record["event_id"] for key, record in records}
    assert {key: by_key[key] for key in given} == given
    stats = shipper.stats()
    assert stats["dropped"] == 0
    assert stats["sent"] == 102


def test_full_queue_drops_and_counts_then_reports_the_drop(logsvc, topic, shippers):
    # logsvc hangs: nothing can be sent.
    hole = BlackHole(logsvc.addr)
    try:
        shipper, instance = shippers(logsvc.addr, queue_size=10, batch_size=5, call_timeout=600)
        shipper.submit(entry("held", "taken by the sender, which then waits"))
        assert hole.called.wait(10), "the sender did not take the entry and call logsvc"

        submit_all(shipper, [entry(f"over-{i}", f"overflow {i}") for i in range(30)])
        stats = shipper.stats()
        assert (stats["queued"], stats["dropped"]) == (10, 20)
    finally:
        hole.close()

    logsvc.start()
    shipper.submit(entry("sentinel", "after the others"))

    # The 11 entries that fit (1 held by the sender, 10 queued), the WARNING, the sentinel.
    records = records_of(topic, instance, until=through("sentinel"), timeout=30)
    assert len(records) == 13, records
    warnings = [r for _, r in records if r["level"] == "WARNING"]
    assert len(warnings) == 1, records
    assert "dropped 20 log entries" in warnings[0]["message"]
    assert {key for key, r in records if r["level"] == "INFO"} == {"held", "sentinel"} | {
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
    shipper.submit(entry("sentinel", "the last one"))

    records = records_of(topic, instance, until=through("sentinel"))
    assert [key for key, _ in records] == ["ok-1", "ok-2", "ok-3", "sentinel"]
    stats = shipper.stats()
    assert (stats["sent"], stats["rejected"], stats["retried_batches"]) == (4, 1, 0)


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
    # Matches every filter: the monitor's second line, if it skipped the others.
    shipper.submit(
        log_pb2.LogEntry(
            level=log_pb2.LEVEL_ERROR, request_id=wanted_id, message="sentinel", http=http
        )
    )
    shipper.close(timeout=10)
    assert shipper.stats()["sent"] == 4

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
            "2",
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
    assert len(lines) == 2 and lines[1].split()[-1] == "sentinel", lines
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


def test_a_record_delivered_twice_has_one_event_id_and_the_monitor_prints_it_once(logsvc, topic):
    """At-least-once: a sender that got no answer sends its batch again, and Kafka holds
    the entry twice. Both copies carry the entry's event_id; the monitor prints one."""
    logsvc.start()
    instance = f"t-{uuid.uuid4().hex[:8]}"
    request_id = f"twice-{uuid.uuid4().hex}"

    def made(message):
        e = entry(request_id, message, service="api", instance=instance)
        e.event_id = str(uuid.uuid4())
        e.ts.FromNanoseconds(time.time_ns())
        return e

    resent, sentinel = made("delivered twice"), made("sentinel")
    with api_tls().channel(logsvc.addr, LOG_SERVICE, []) as channel:
        stub = log_pb2_grpc.LogServiceStub(channel)
        # The sentinel goes last, with the same key: once it is read, so is every copy.
        for batch in ([resent], [resent], [sentinel]):
            answer = stub.StreamLogs(iter([log_pb2.StreamLogsRequest(entries=batch)]), timeout=20)
            assert answer.accepted_count == 1

    def through_sentinel(records):
        return any(r["message"] == "sentinel" for _, r in records)

    records = [r for _, r in records_of(topic, instance, until=through_sentinel)]
    assert [r["message"] for r in records] == ["delivered twice", "delivered twice", "sentinel"]
    assert records[0] == records[1] and records[0]["event_id"] == resent.event_id

    monitor = subprocess.run(
        [sys.executable, REPO / "scripts" / "log_monitor.py", "--topic", topic,
         "--from-beginning", "--request-id", request_id, "--max-records", "2",
         "--timeout", "20"],
        env={**os.environ, "KAFKA_BOOTSTRAP": BROKERS},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert monitor.returncode == 0, monitor.stderr
    _header, *lines = monitor.stdout.splitlines()
    # Without the duplicate dropped, the two lines would be the two copies.
    assert [line.split()[-1] for line in lines] == ["twice", "sentinel"], lines
    assert "skipped 1 duplicate record(s)" in monitor.stderr
