"""Runs one API replica: granian serves create_app() as a plain WSGI app.

    python -m merch_api.serve

granian was chosen by measurement (docs/api-serving.md): on this project's two cores it
serves the same Flask app about 1.7 times as fast as gunicorn's sync or gthread workers,
because it parses HTTP in Rust and holds the GIL only while the app runs. granian has no
hook that runs in a worker as it stops, so this module starts granian through its Python
API with a worker entry point (merch_api.granian_worker) that, once the worker has
stopped serving, sends the log records still queued and closes the gRPC channels.

Settings (environment): API_HOST (0.0.0.0), API_PORT (5000), WEB_CONCURRENCY worker
processes (1), API_THREADS threads per worker that run Flask (2), API_METRICS_PORT (unset:
no metrics; else Prometheus's GET /metrics there, every worker's counts added up, see
merch_api.metrics), and what merch_api.config reads for the app itself.
"""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from granian.constants import Interfaces
from granian.server import Server

from merch_api import granian_worker
from merch_api.config import positive_int

# How long a stopping worker may take to finish its requests and flush its log records.
_WORKER_STOP_SECONDS = 10

# Connections a replica holds, queued and being served. NGINX opens one per request in
# flight (about 1,000 per replica when 2,000 clients rush the store) and keeps up to 1,024
# idle per worker. granian serves at most `backpressure` connections at once (by default
# backlog / workers) and leaves the rest unaccepted in the kernel's listen queue, of
# `backlog` (capped by net.core.somaxconn); a queue that overflows drops new
# connections, which NGINX counts as a failure of the replica. 1,024, granian's default,
# is the edge of a 2,000-client rush; 4,096 leaves room.
_BACKLOG = 4096


def _serve_worker(*args, **kwargs) -> None:
    """A granian worker process: serves until granian stops it, then closes the app's
    services (what its log shipper holds reaches Kafka)."""
    try:
        granian_worker.serve_wsgi(*args, **kwargs)
    finally:
        # Imported here, in the worker: granian's main process then never loads Flask,
        # gRPC and protobuf, which saves a replica about 20 MiB.
        from merch_api import services

        services.close_all()
        from merch_api import metrics

        if metrics.enabled():
            metrics.worker_stopped()


def main(app_factory: str = "merch_api.app:create_app") -> None:
    """Serves app_factory ("module:function" returning a WSGI app) as configured by the
    environment; bench/ serves its floor app with it, so both run under the same server."""
    env = os.environ
    host = env.get("API_HOST", "0.0.0.0")
    if env.get("API_METRICS_PORT"):
        _serve_metrics(host, positive_int(env, "API_METRICS_PORT", 9101))
    Server(
        app_factory,
        factory=True,
        interface=Interfaces.WSGI,
        address=host,
        port=positive_int(env, "API_PORT", 5000),
        workers=positive_int(env, "WEB_CONCURRENCY", 1),
        blocking_threads=positive_int(env, "API_THREADS", 2),
        backlog=_BACKLOG,
        # A worker that dies is replaced, as a process manager would.
        respawn_failed_workers=True,
        workers_kill_timeout=_WORKER_STOP_SECONDS,
        # Every request is one record in Kafka instead of an access log line.
        log_access=False,
        websockets=False,
    ).serve(spawn_target=_serve_worker)


def _serve_metrics(host: str, port: int) -> None:
    """GET /metrics on host:port from this (granian's main) process, adding up what
    every worker counts in a directory of this replica's own (merch_api.metrics_endpoint)."""
    # Before prometheus_client is imported anywhere: it chooses its multiprocess values
    # at import, and the workers (forked or spawned) inherit the variable. A fresh
    # directory each start: files of an earlier run's workers would count twice.
    prefix = f"merch-api-metrics-{port}-"
    # An earlier run's directory that its exit did not remove (it was killed): no other
    # replica serves on this port, or this one could not.
    for stale in Path(tempfile.gettempdir()).glob(prefix + "*"):
        shutil.rmtree(stale, ignore_errors=True)
    directory = tempfile.mkdtemp(prefix=prefix)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    from merch_api import metrics_endpoint

    metrics_endpoint.serve(host, port)


if __name__ == "__main__":
    main()
