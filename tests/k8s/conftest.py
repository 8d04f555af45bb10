"""The store's release on this machine's one-node cluster, seen from outside (issue 27):
`deploy/k8s/cluster/store check` runs these with K8S_STORE_TEST=1 and the release's
names in the environment; without them there is no cluster to look at and they skip."""

import json
import os
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from checks import FRESH

UNDER_K8S = os.environ.get("K8S_STORE_TEST") == "1"
ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "deploy/k8s/cluster/cluster"


def pytest_collection_modifyitems(config, items):
    if UNDER_K8S:
        return
    skip = pytest.mark.skip(reason="the release on the cluster: run by deploy/k8s/cluster/store")
    for item in items:
        if Path(__file__).parent in Path(item.path).parents:
            item.add_marker(skip)


class Release:
    """kubectl and helm on the store's release, as deploy/k8s/cluster/store installed it."""

    def __init__(self):
        self.name = os.environ["K8S_RELEASE"]
        self.namespace = os.environ["K8S_NAMESPACE"]
        # The values files of the install, in order (os.pathsep between them, as in PATH):
        # an upgrade passes them all again, or it would drop what they set.
        self.values = os.environ["K8S_VALUES"].split(os.pathsep)
        self.base_url = os.environ["BASE_URL"]
        self.cluster = CLUSTER
        self.chart = ROOT / "deploy/k8s"

    def run(self, tool, *args, timeout=120, check=True, stdin=None):
        answer = subprocess.run(
            [str(CLUSTER), tool, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            input=stdin,
        )
        if check and answer.returncode != 0:
            raise AssertionError(f"{tool} {' '.join(args)} failed: {answer.stderr}{answer.stdout}")
        return answer

    def values_args(self):
        return [arg for path in self.values for arg in ("-f", path)]

    def kubectl(self, *args, **kwargs):
        return self.run("kubectl", "-n", self.namespace, *args, **kwargs)

    def get(self, *args):
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def topic(self):
        """The store's Kafka topic, as the release's ConfigMap names it."""
        return self.get("configmap", f"{self.name}-config")["data"]["KAFKA_TOPIC"]

    def pods(self, component):
        """This component's pods that are not being deleted, by name."""
        selector = f"app.kubernetes.io/instance={self.name},app.kubernetes.io/component={component}"
        return {
            p["metadata"]["name"]: p
            for p in self.get("pods", "-l", selector)["items"]
            if not p["metadata"].get("deletionTimestamp")
        }

    def answering_api_pods(self, expected):
        """The API pods that answer uncached reads through NGINX, {name: reads}, once every
        pod of `expected` has (or after the last burst). NGINX's upstream is the API's
        Service: kube-proxy picks a pod per connection, and NGINX sends each request on an
        idle connection it keeps when it has one. A pod that became ready after NGINX opened
        its connections takes requests only once NGINX opens more, which it does for
        requests at once beyond its idle ones: so the reads come in bursts of more and
        more at once."""
        served = Counter()

        def read(barrier):
            barrier.wait(timeout=30)
            answer = requests.get(
                f"{self.base_url}/products/1",
                headers={**FRESH, "Connection": "close"},
                timeout=30,
            )
            return answer.headers.get("X-Served-By") if answer.status_code == 200 else None

        for at_once in (8, 16, 32, 64):
            barrier = threading.Barrier(at_once)
            with ThreadPoolExecutor(at_once) as pool:
                served.update(pool.map(read, [barrier] * at_once))
            if set(expected) <= set(served):
                break
        return served

    def rollout_done(self, component):
        self.kubectl(
            "rollout",
            "status",
            f"deployment/{self.name}-{component}",
            "--timeout=180s",
            timeout=200,
        )


@pytest.fixture(scope="session")
def release():
    return Release()


class CatalogReads:
    """Catalog reads sent back to back by a few clients while something happens to the
    pods, each on a new connection to NGINX, with Cache-Control: no-cache so that each
    reaches the API."""

    def __init__(self, base_url, clients=4):
        self.base_url = base_url
        self.clients = clients
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.sent = 0
        self.failed = []
        self.served_by = Counter()

    def _read(self, number):
        path = f"/products/{number % 3 + 1}"
        headers = {**FRESH, "Connection": "close"}
        try:
            answer = requests.get(self.base_url + path, headers=headers, timeout=10)
            failure = None if answer.status_code == 200 else f"{path}: {answer.status_code}"
            served_by = answer.headers.get("X-Served-By")
        except requests.RequestException as error:
            failure, served_by = f"{path}: {error}", None
        with self.lock:
            self.sent += 1
            if failure:
                self.failed.append(f"{time.strftime('%H:%M:%S')} {failure}")
            if served_by:
                self.served_by[served_by] += 1

    def _client(self, first):
        number = first
        while not self.stop.is_set():
            self._read(number)
            number += 1

    def __enter__(self):
        self.threads = [
            threading.Thread(target=self._client, args=(n,), daemon=True)
            for n in range(self.clients)
        ]
        for thread in self.threads:
            thread.start()
        time.sleep(2)  # reads flowing before anything happens
        return self

    def __exit__(self, *exc):
        time.sleep(3)  # and after: the new pods take reads too
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=15)

    def summary(self):
        pods = ", ".join(f"{name} {n}" for name, n in sorted(self.served_by.items()))
        return f"{self.sent} reads sent, {len(self.failed)} failed; served by {pods}"


@pytest.fixture
def catalog_reads(release):
    return CatalogReads(release.base_url)
