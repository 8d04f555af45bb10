"""Prometheus metrics of an API replica (contract, "Metrics"):

- http_server_request_duration_seconds, a histogram by method, route (the OpenAPI path
  template, e.g. /orders/{id}; "unmatched" for a path no route has, never the raw path)
  and status, of every answer, error answers included;
- merch_log_shipper_*: the log shipper's queue depth and its sent, retried, dropped and
  rejected counts, under the names dbsvc's shipper uses too.

granian runs WEB_CONCURRENCY worker processes and a scrape reaches one process, so the
values live in prometheus_client's multiprocess mode: each worker writes its own to
memory-mapped files in PROMETHEUS_MULTIPROC_DIR, and granian's main process, which serves
no request and outlives the workers it respawns, adds them up on API_METRICS_PORT
(merch_api.serve sets both up before the workers start; merch_api.metrics_endpoint
serves). Counters of a worker that died stay counted, as they must; its queue depth
stops counting once it is gone.
"""

import os
import re
import threading
import time

from flask import Flask, request
from prometheus_client import Counter, Gauge, Histogram

from merch_api.metrics_endpoint import workers_directory
from merch_api.openapi import Spec

# Set by merch_api.serve (from API_METRICS_PORT) before the workers start.
DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

# Where a request's route waits for its answer: the request's WSGI environ.
ROUTE_KEY = "merch_api.route"
UNMATCHED = "unmatched"

# OpenTelemetry's advice for http.server.request.duration, in seconds: most answers take
# a few milliseconds; a login's argon2 tens of them; a gRPC deadline is 3 s.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)

# Any other method token a client sends counts as _OTHER (OpenTelemetry's name): a label
# value per made-up method would let clients grow the series without bound.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_FLASK_PARAMETER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")

# How often each worker copies its log shipper's counts into the shared files: well
# under Prometheus's scrape interval, and once a second costs nothing.
_SHIPPER_SYNC_SECONDS = 1.0


# This worker's copier of the log shipper's counts, for worker_stopped().
_shipper_metrics = None


def enabled() -> bool:
    """Whether this process should count: merch_api.serve runs the endpoint."""
    return bool(os.environ.get(DIR_VARIABLE))


def instrument(app: Flask, spec: Spec, shipper) -> "RequestDurations":
    """Notes each request's route on app and copies shipper's counts; returns what
    records a request's duration, for merch_api.observation. Called in each worker, by
    create_app()."""
    # Each Flask rule's route label: the OpenAPI template of an operation, the rule in
    # OpenAPI's {name} form for the docs (/ui/{path}).
    templates = {operation.flask_rule: operation.path for operation in spec.operations}
    routes = {
        rule.rule: templates.get(rule.rule) or _FLASK_PARAMETER.sub(r"{\1}", rule.rule)
        for rule in app.url_map.iter_rules()
    }

    # Teardown runs for every request Flask saw, also one a before_request function
    # refused, once the URL is matched (url_rule is None for a 404 or 405).
    @app.teardown_request
    def note_route(_error) -> None:
        rule = request.url_rule
        if rule is not None:
            request.environ[ROUTE_KEY] = routes.get(rule.rule, UNMATCHED)

    _register_worker()
    global _shipper_metrics
    _shipper_metrics = ShipperMetrics(shipper)
    _shipper_metrics.start()
    return RequestDurations()


class RequestDurations:
    """The histogram of answers, one observation per answer."""

    def __init__(self) -> None:
        # registry=None: in multiprocess mode the main process reads the files; nothing
        # in the worker collects.
        self.duration = Histogram(
            "http_server_request_duration_seconds",
            "Duration of HTTP requests the API replica answered, by OpenAPI route template.",
            ["method", "route", "status"],
            buckets=DURATION_BUCKETS,
            registry=None,
        )
        # (method, route, status) -> the histogram's child: labels() takes a lock and
        # checks its arguments on every call; there are a few dozen such triples.
        self._children = {}

    def __call__(self, environ, status: int, seconds: float) -> None:
        method = environ.get("REQUEST_METHOD", "")
        key = (
            method if method in _METHODS else "_OTHER",
            environ.get(ROUTE_KEY, UNMATCHED),
            str(status),
        )
        child = self._children.get(key)
        if child is None:
            child = self._children.setdefault(key, self.duration.labels(*key))
        child.observe(seconds)


def _register_worker() -> None:
    directory = workers_directory()
    directory.mkdir(exist_ok=True)
    (directory / str(os.getpid())).touch()


class ShipperMetrics:
    """Copies the log shipper's own counts (LogShipper.stats()) into the shared files
    every second, so the shipper itself stays free of metrics code."""

    def __init__(self, shipper) -> None:
        self._shipper = shipper
        self._queued = Gauge(
            "merch_log_shipper_queue_depth",
            "Log records waiting to be sent to the logging service.",
            multiprocess_mode="livesum",
            registry=None,
        )
        self._counters = {
            "sent": Counter(
                "merch_log_shipper_sent_records",
                "Log records the logging service acknowledged (so in Kafka).",
                registry=None,
            ),
            "retried_batches": Counter(
                "merch_log_shipper_retried_batches",
                "Batches of log records sent again after the logging service did not "
                "acknowledge them.",
                registry=None,
            ),
            "dropped": Counter(
                "merch_log_shipper_dropped_records",
                "Log records lost: the queue was full, or they were unsent at shutdown.",
                registry=None,
            ),
            "rejected": Counter(
                "merch_log_shipper_rejected_records",
                "Log records the logging service refused as malformed (a bug to fix).",
                registry=None,
            ),
        }
        self._copied = dict.fromkeys(self._counters, 0)
        self._lock = threading.Lock()

    def start(self) -> None:
        threading.Thread(target=self._run, name="log-shipper-metrics", daemon=True).start()

    def sync(self) -> None:
        """Copies what changed since the last copy."""
        stats = self._shipper.stats()
        with self._lock:
            self._queued.set(stats["queued"])
            for name, counter in self._counters.items():
                grown = stats[name] - self._copied[name]
                if grown > 0:
                    counter.inc(grown)
                    self._copied[name] = stats[name]

    def _run(self) -> None:
        while True:
            time.sleep(_SHIPPER_SYNC_SECONDS)
            self.sync()


def worker_stopped() -> None:
    """In a worker that stops (merch_api.serve): the shipper's last counts (what close()
    sent or dropped), and the worker's queue depth no longer added in."""
    from prometheus_client import multiprocess

    if _shipper_metrics is not None:
        _shipper_metrics.sync()
    multiprocess.mark_process_dead(os.getpid())
    (workers_directory() / str(os.getpid())).unlink(missing_ok=True)
