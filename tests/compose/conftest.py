"""The store as Docker Compose runs it, seen from outside: `make compose-test` and
`make compose-drills` start it on ports of their own (deploy/compose/stack) and set
COMPOSE_TEST=1; without that these tests have no store to look at and skip."""

import pytest
from deployment import UNDER_COMPOSE


def pytest_collection_modifyitems(config, items):
    if UNDER_COMPOSE:
        return
    skip = pytest.mark.skip(reason="the compose deployment's tests: run by make compose-test")
    for item in items:
        item.add_marker(skip)
