"""One request, followed into Kafka: the API's record and the DB service's records carry
the request's X-Request-ID, so an administrator can see everything it caused."""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests

API_DIR = Path(__file__).resolve().parents[1] / "api-python"


def test_a_write_leaves_api_and_db_records_with_the_same_request_id(http, base_url, log_channel):
    request_id = f"trace-{uuid.uuid4().hex}"
    mark = log_channel.mark()
    answer = http.post(
        f"{base_url}/users",
        json={
            "sid": uuid.uuid4().hex[:15],
            "username": f"traced_{uuid.uuid4().hex[:10]}",
            "password": "long enough",
        },
        headers={"X-Request-ID": request_id},
    )
    assert answer.status_code == 201

    def mine(records):
        return [(key, value) for key, value in records if value.get("request_id") == request_id]

    def both_services(records):
        return {value["service"] for _, value in mine(records)} == {"api", "db"}

    found = mine(log_channel.records_since(mark, until=both_services, timeout=10))
    assert {value["service"] for _, value in found} == {"api", "db"}, found
    assert all(key == request_id for key, _ in found)
    db_record = next(value for _, value in found if value["service"] == "db")
    assert db_record["level"] == "INFO" and db_record["instance"] and db_record["message"]
    api_record = next(value for _, value in found if value["service"] == "api")
    assert (api_record["method"], api_record["path"], api_record["status"]) == (
        "POST",
        "/users",
        201,
    )


def test_an_authenticated_request_names_its_user(customer, log_channel):
    request_id = f"trace-{uuid.uuid4().hex}"
    mark = log_channel.mark()
    answer = customer.request("GET", "/orders", headers={"X-Request-ID": request_id})
    assert answer.status_code == 200

    records = [
        v
        for _, v in log_channel.records_through_sentinel(mark, answer)
        if v.get("request_id") == request_id and v["service"] == "api"
    ]
    # One record (copies of it, from a redelivery, share its event_id).
    assert len({r["event_id"] for r in records}) == 1, records
    assert records[0]["user_id"] == customer.id
    assert (records[0]["method"], records[0]["path"]) == ("GET", "/orders")


def test_a_replica_that_stops_sends_the_records_it_still_held(http, log_channel, tmp_path):
    """SIGTERM right after a burst of requests, while their records still wait in the
    log shipper's queue: the worker sends them before it exits."""
    instance = f"stopping-{uuid.uuid4().hex[:8]}"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "INSTANCE_NAME": instance, "API_HOST": "127.0.0.1", "API_PORT": str(port)}
    log_path = tmp_path / "replica.log"
    with open(log_path, "w") as log_file:
        replica = subprocess.Popen(
            [sys.executable, "-m", "merch_api.serve"],
            cwd=API_DIR,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}/products/1"
        deadline = time.monotonic() + 20
        while True:
            try:
                http.get(url, timeout=1)
                break
            except requests.ConnectionError:
                assert replica.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "the replica did not answer within 20 s"
                time.sleep(0.1)
        mark = log_channel.mark()
        burst = [f"burst-{uuid.uuid4().hex}" for _ in range(40)]
        for request_id in burst:
            assert http.get(url, headers={"X-Request-ID": request_id}).status_code == 200
        replica.send_signal(signal.SIGTERM)
        assert replica.wait(timeout=20) == 0, log_path.read_text()
    finally:
        if replica.poll() is None:
            replica.kill()
            replica.wait()

    def all_of_the_burst(records):
        return set(burst) <= {value.get("request_id") for _, value in records}

    seen = {v.get("request_id") for _, v in log_channel.records_since(mark, all_of_the_burst)}
    missing = set(burst) - seen
    assert not missing, f"{len(missing)} of {len(burst)} records never reached Kafka"
