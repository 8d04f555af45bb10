"""Failure drills: the running store under load while one of its parts is stopped,
restarted or killed through supervisord. Every drill gives back what it stopped,
also when it fails.

The quick drills run in `make test`; those marked `long` only in `make drills`
(DRILLS_LONG=1), so that the default run stays short and does not sell out a product
under other people's feet."""

import os

import pytest
from drills.support import Stack


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "long: a long failure drill, run by `make drills` (DRILLS_LONG=1) only"
    )


def pytest_collection_modifyitems(config, items):
    if os.environ.get("DRILLS_LONG") == "1":
        return
    skip = pytest.mark.skip(reason="long drill: run it with `make drills`")
    for item in items:
        if "long" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def stack():
    s = Stack()
    yield s
    s.restore()


@pytest.fixture
def tokens(new_customer):
    """Two customers' tokens; their orders are cancelled when the drill ends."""
    return [new_customer().token for _ in range(2)]
