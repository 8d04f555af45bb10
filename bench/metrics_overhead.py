"""Prints the CPU microseconds the API's metrics (merch_api.metrics: the route noted as
Flask tears the request down, the histogram observed with the request's one timing) add to
a request, measured in isolation: a Flask app with one route that answers "{}", called
20,000 times through merch_api.observation with and without the metrics of
merch_api.metrics.instrument(), in prometheus_client's
multiprocess mode as a replica runs it. bench/metrics_cost.py runs it as a child process,
because that mode is chosen when prometheus_client is first imported."""

import atexit
import os
import shutil
import sys
import tempfile
import time
import types
from pathlib import Path
from statistics import median

os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="bench-metrics-")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "api-python"))

from flask import Flask
from merch_api import metrics
from merch_api.observation import Observation
from werkzeug.test import EnvironBuilder

atexit.register(shutil.rmtree, os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)

CALLS = 20_000
ROUNDS = 5


def app():
    flask_app = Flask(__name__)
    flask_app.add_url_rule("/products/<id>", "getProduct", lambda id: "{}")
    return flask_app


def discard(entry):
    """The log shipper's place: records go nowhere, so only the metrics differ."""


def main():
    plain = app()
    instrumented = app()
    spec = types.SimpleNamespace(operations=())
    shipper = types.SimpleNamespace(
        stats=lambda: dict.fromkeys(("queued", "sent", "retried_batches", "dropped", "rejected"), 0)
    )
    plain.wsgi_app = Observation(plain.wsgi_app, instance="bench", submit_log=discard)
    instrumented.wsgi_app = Observation(
        instrumented.wsgi_app,
        instance="bench",
        submit_log=discard,
        record_duration=metrics.instrument(instrumented, spec, shipper),
    )
    environ = EnvironBuilder(path="/products/1").get_environ()

    def start_response(status, headers, exc_info=None):
        return None

    added = []
    for _ in range(ROUNDS):
        spent = {}
        for name, served in (("without", plain), ("with", instrumented)):
            started = time.process_time()
            for _ in range(CALLS):
                served.wsgi_app(environ.copy(), start_response)
            spent[name] = (time.process_time() - started) / CALLS
        added.append(spent["with"] - spent["without"])
    print(f"{1e6 * median(added):.2f}")


if __name__ == "__main__":
    main()
