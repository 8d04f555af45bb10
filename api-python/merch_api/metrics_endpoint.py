"""The API replica's GET /metrics, served by granian's main process: the sum of what
every worker process wrote to PROMETHEUS_MULTIPROC_DIR (merch_api.metrics counts in the
workers). Kept apart from merch_api.metrics so that the main process never imports Flask.
"""

import os
from pathlib import Path

from prometheus_client import CollectorRegistry, multiprocess, start_http_server


def serve(host: str, port: int) -> None:
    """In granian's main process: GET /metrics on host:port, the sum of every worker's
    files. PROMETHEUS_MULTIPROC_DIR must be set before this module is imported."""
    registry = CollectorRegistry()
    registry.register(_ForgetDeadWorkers())
    multiprocess.MultiProcessCollector(registry, path=os.environ["PROMETHEUS_MULTIPROC_DIR"])
    start_http_server(port, addr=host, registry=registry)


def workers_directory() -> Path:
    """Where each worker leaves an empty file named by its pid (merch_api.metrics), so
    that the main process knows whose live gauges to drop once the worker is gone."""
    return Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]) / "workers"


class _ForgetDeadWorkers:
    """Collects nothing; before each scrape it drops the live gauges of workers that died
    without saying so (killed, crashed), as prometheus_client asks a process manager to
    (mark_process_dead), since granian has no hook for a worker's exit."""

    def collect(self):
        directory = workers_directory()
        for file in directory.glob("*") if directory.is_dir() else ():
            pid = int(file.name)
            if not _alive(pid):
                multiprocess.mark_process_dead(pid)
                file.unlink(missing_ok=True)
        return []


def _alive(pid: int) -> bool:
    # granian reaps a worker as soon as it exits, so a dead worker is no zombie for long.
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
