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
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    registry = CollectorRegistry()
    registry.register(_ForgetDeadWorkers(directory))
    multiprocess.MultiProcessCollector(registry, path=directory)
    start_http_server(port, addr=host, registry=registry)


class _ForgetDeadWorkers:
    """Collects nothing; before each scrape it drops the live gauges of workers that died
    without saying so (killed, crashed), which worker_stopped() could not."""

    def __init__(self, directory: str) -> None:
        self._directory = Path(directory)

    def collect(self):
        for file in self._directory.glob("gauge_live*_*.db"):
            pid = int(file.stem.rpartition("_")[2])
            if not _alive(pid):
                multiprocess.mark_process_dead(pid, str(self._directory))
        return []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has exited; its parent has not reaped it yet
