"""The compose deployment as its users check it: `docker compose ps`, both replicas
behind NGINX, the records in Kafka through the console consumer the owner's design
names, the images, and the data kept over `down` and `up`."""

import json
import os
import queue
import re
import subprocess
import threading
import uuid
from pathlib import Path

import requests
from checks import FRESH
from deployment import ROOT, compose
from drills.support import wait_until
from env_files import env_file

ONE_SHOT = {"kafka-init", "db-migrate", "certs"}
LONG_RUNNING = {
    "postgres", "zookeeper", "kafka", "logsvc", "dbsvc", "api-1", "api-2", "nginx",
}  # fmt: skip
DEBIAN_IMAGES = env_file(ROOT / "deploy/images/debian.env")


def containers():
    """`docker compose ps -a` as {service: its container's state}."""
    out = compose("ps", "-a", "--format", "json").stdout
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    return {row["Service"]: row for row in rows}


def test_every_service_is_running_and_healthy_and_the_one_shots_exited_0():
    states = containers()
    assert set(states) == LONG_RUNNING | ONE_SHOT, sorted(states)
    for name in LONG_RUNNING:
        assert (states[name]["State"], states[name]["Health"]) == ("running", "healthy"), (
            name,
            states[name]["Status"],
        )
    for name in ONE_SHOT:
        assert (states[name]["State"], states[name]["ExitCode"]) == ("exited", 0), states[name]


def test_only_nginx_and_kafka_publish_ports_and_only_on_loopback():
    published = {
        (name, p["URL"], p["PublishedPort"], p["TargetPort"])
        for name, row in containers().items()
        for p in row.get("Publishers") or []
        if p.get("PublishedPort")
    }
    assert published == {
        ("nginx", "127.0.0.1", int(os.environ["NGINX_PORT"]), 8080),
        ("kafka", "127.0.0.1", int(os.environ["KAFKA_EXTERNAL_PORT"]), 9093),
        # deploy/compose/test.yml, for this run's tests that look into the database.
        ("postgres", "127.0.0.1", int(os.environ["POSTGRES_PORT"]), 5432),
    }


def test_both_api_replicas_answer_through_nginx(http, base_url):
    served_by = {http.get(f"{base_url}/healthz").headers["X-Served-By"] for _ in range(8)}
    assert served_by == {"api-1", "api-2"}


def test_the_console_consumer_in_the_kafka_container_prints_this_runs_records(http, base_url):
    """The owner's design names exactly this command. It never ends by itself (the
    health checks' requests keep adding records): read as an administrator watches it,
    until the record of this run's request shows, then stop it."""
    request_id = f"compose-{uuid.uuid4().hex}"
    answer = http.get(f"{base_url}/products/1", headers={"X-Request-ID": request_id, **FRESH})
    assert answer.status_code == 200
    topic = os.environ.get("KAFKA_TOPIC", "log-channel")
    command = [
        str(ROOT / "deploy/compose/stack"), "compose", "exec", "-T", "kafka",
        "kafka-console-consumer", "--bootstrap-server", "kafka:9092", "--topic", topic,
        "--from-beginning", "--property", "print.key=true",
    ]  # fmt: skip
    found = queue.Queue()
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as consumer:

        def watch():
            for line in consumer.stdout:
                if line.startswith(request_id):
                    found.put(line)
                    return

        threading.Thread(target=watch, daemon=True).start()
        try:
            line = found.get(timeout=90)
        except queue.Empty:
            line = None
        finally:
            consumer.kill()
    assert line, f"kafka-console-consumer printed no record of {request_id} within 90 s"
    record = json.loads(line.partition("\t")[2])
    assert record["request_id"] == request_id and record["path"] == "/products/1"
    assert record["service"] == "api" and record["instance"] in {"api-1", "api-2"}


def test_the_images_in_use_are_the_chosen_source_and_hold_no_secret():
    """With IMAGE_SOURCE=debian every image was built here; whatever the source, no
    layer's command or configuration holds a secret of .env, a mirror setting or the
    CA bundle the builds were given."""
    images = {}
    for name, row in containers().items():
        inspected = json.loads(
            compose_docker("inspect", "--format", "{{json .}}", row["Image"]).stdout
        )
        images[name] = inspected
    if os.environ.get("IMAGE_SOURCE") == "debian":
        wanted = {
            "postgres": "POSTGRES_IMAGE", "zookeeper": "ZOOKEEPER_IMAGE",
            "kafka": "KAFKA_IMAGE", "kafka-init": "KAFKA_IMAGE", "nginx": "NGINX_IMAGE",
        }  # fmt: skip
        for name, variable in wanted.items():
            assert DEBIAN_IMAGES[variable] in images[name]["RepoTags"], (name, variable)
        for name, image in images.items():
            assert not image.get("RepoDigests"), (
                f"{name} runs a pulled image: {image['RepoDigests']}"
            )

    secrets = {
        value
        for key, value in env_file(ROOT / ".env").items()
        if re.search(r"PASSWORD|SECRET", key) and len(value) >= 16
    }
    secrets |= {os.environ[k] for k in ("GOPROXY", "PIP_INDEX_URL", "MAVEN_REPOSITORY")
                if os.environ.get(k)}  # fmt: skip
    bundle = Path(os.environ.get("BUILD_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt"))
    if bundle.is_file():  # a line from the middle of the last certificate
        secrets.add(bundle.read_text().strip().splitlines()[-3])
    for name, image in images.items():
        history = compose_docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", image["Id"])
        seen = history.stdout + json.dumps(image["Config"])
        leaked = [s[:6] + "..." for s in secrets if s in seen]
        assert not leaked, f"the image of {name} holds {leaked} in its history or configuration"


def compose_docker(*args):
    """A plain docker command on the engine compose uses."""
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result


def test_the_monitoring_profile_adds_prometheus_and_every_target_is_up(http, base_url):
    """Prometheus and the exporters start with `--profile monitoring`, and Prometheus,
    published on the loopback, sees every service of the store up, and the catalog cache's
    answers, which mtail reads from the log NGINX writes to their shared volume."""
    monitoring = ("prometheus", "nginx-exporter", "nginx-log-metrics", "postgres-exporter")
    compose("--profile", "monitoring", "up", "-d", "--wait", *monitoring, timeout=240)
    try:
        url = f"http://127.0.0.1:{os.environ['PROMETHEUS_PORT']}/api/v1/targets"
        health = {}

        def all_up():
            targets = requests.get(url, timeout=5).json()["data"]["activeTargets"]
            health.update({
                f"{t['labels']['job']}/{t['labels']['instance']}": t["health"] for t in targets
            })  # fmt: skip
            return health and set(health.values()) == {"up"}

        assert wait_until(all_up, timeout=60, interval=1) is not None, health
        assert set(health) == {
            "prometheus/prometheus", "api/api-1", "api/api-2", "dbsvc/db-1", "logsvc/log-1",
            "nginx/nginx", "nginx-cache/nginx", "postgres/postgres",
        }  # fmt: skip

        query_url = f"http://127.0.0.1:{os.environ['PROMETHEUS_PORT']}/api/v1/query"
        query = {"query": 'sum(nginx_catalog_cache_answers_total{job="nginx-cache", cache="HIT"})'}

        def counted_hits():
            assert http.get(f"{base_url}/products").status_code == 200
            result = requests.get(query_url, params=query, timeout=5).json()["data"]["result"]
            return result and float(result[0]["value"][1]) > 0

        assert wait_until(counted_hits, timeout=60, interval=0.5) is not None
    finally:
        compose("--profile", "monitoring", "rm", "--stop", "--force", *monitoring)


def test_down_and_up_keep_users_and_orders(http, base_url, customer):
    """Last in this file: it stops and starts the whole store."""
    order = customer.request("POST", "/orders", json={"product_id": 3, "quantity": 1})
    assert order.status_code == 201, order.text
    compose("down", timeout=180)
    compose("up", "-d", "--wait", "--wait-timeout", "300", timeout=420)
    http.close()  # its pooled connections were to the NGINX that stopped
    customer.log_in()
    kept = customer.request("GET", f"/orders/{order.json()['id']}")
    assert kept.status_code == 200 and kept.json() == order.json()
    assert http.get(f"{base_url}/healthz").status_code == 200
