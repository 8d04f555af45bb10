"""The logging service stopped: Prometheus's target for it goes down and its TargetDown
alert becomes pending (deploy/prometheus/rules.yml; rules_test.yml shows it firing 30 s
later), while the store goes on answering; started again, the target is up and the alert
gone. What the alert rule does over time is promtool's test; this is the real wiring:
the scrape, the rule file the local stack renders, the alert's labels."""

import os

import requests
from checks import FRESH
from drills.support import Bystanders, wait_until

PROMETHEUS = f"http://127.0.0.1:{os.environ.get('PROMETHEUS_PORT', '9090')}"
# Prometheus scrapes every 5 s and evaluates the rules every 5 s.
WITHIN = 30


def _up(job):
    query = {"query": f'up{{job="{job}"}}'}
    answer = requests.get(f"{PROMETHEUS}/api/v1/query", params=query, timeout=5)
    return [float(r["value"][1]) for r in answer.json()["data"]["result"]]


def _alerts(name):
    answer = requests.get(f"{PROMETHEUS}/api/v1/alerts", timeout=5)
    return [a for a in answer.json()["data"]["alerts"] if a["labels"]["alertname"] == name]


def test_a_stopped_logsvc_is_a_down_target_and_a_target_down_alert(stack, base_url):
    bystanders = Bystanders("logsvc")
    assert _up("logsvc") == [1.0]
    stack.stop("logsvc")
    assert wait_until(lambda: _up("logsvc") == [0.0], WITHIN, interval=0.5) is not None
    assert wait_until(lambda: _alerts("TargetDown"), WITHIN, interval=0.5) is not None
    [alert] = _alerts("TargetDown")
    assert alert["labels"]["job"] == "logsvc" and alert["labels"]["instance"] == "log-1"
    assert alert["state"] in ("pending", "firing")
    # The API does not wait for the log pipeline.
    assert requests.get(f"{base_url}/products/1", headers=FRESH, timeout=5).status_code == 200

    stack.start("logsvc")
    assert wait_until(lambda: _up("logsvc") == [1.0], WITHIN, interval=0.5) is not None
    assert wait_until(lambda: not _alerts("TargetDown"), WITHIN, interval=0.5) is not None
    bystanders.check()
