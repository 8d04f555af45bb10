"""merch_api.granian_worker depends on a private function of granian: this fails loudly
when an upgrade changes it, before a worker silently stops flushing its log records."""

import inspect

from granian.server import Server
from merch_api import granian_worker


def test_granians_wsgi_worker_still_takes_what_the_adapter_passes_through():
    spawn = getattr(Server, "_spawn_wsgi_worker", None)
    assert spawn is not None, "granian no longer has Server._spawn_wsgi_worker"
    assert tuple(inspect.signature(spawn).parameters) == granian_worker.PARAMETERS
