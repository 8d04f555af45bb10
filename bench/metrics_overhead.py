"""Prints the CPU microseconds the API's metrics middleware (merch_api.metrics) adds to a
request, measured in isolation: 100,000 calls of a WSGI app that does nothing, with and
without the middleware around it, in prometheus_client's multiprocess mode as a replica
runs it. bench/metrics_cost.py runs it as a child process, because the mode is chosen
when prometheus_client is first imported."""

import os
import sys
import tempfile
import time
import types
from pathlib import Path
from statistics import median

os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="bench-metrics-")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "api-python"))

from merch_api.metrics import RequestMetrics

CALLS = 100_000
ROUNDS = 5


def nothing(environ, start_response):
    start_response("200 OK", [])
    return [b"{}"]


def main():
    measured = RequestMetrics(nothing, {"/products/<id>": "/products/{id}"})
    # What Flask leaves in the environ of a matched request.
    request = types.SimpleNamespace(url_rule=types.SimpleNamespace(rule="/products/<id>"))
    environ = {"REQUEST_METHOD": "GET", "werkzeug.request": request}

    def start_response(status, headers, exc_info=None):
        return None

    added = []
    for _ in range(ROUNDS):
        spent = {}
        for name, app in (("without", nothing), ("with", measured)):
            started = time.process_time()
            for _ in range(CALLS):
                app(environ, start_response)
            spent[name] = (time.process_time() - started) / CALLS
        added.append(spent["with"] - spent["without"])
    print(f"{1e6 * median(added):.2f}")


if __name__ == "__main__":
    main()
