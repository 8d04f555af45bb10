"""The API as its WSGI server runs it: the routes come from openapi.yaml and nothing else,
and /readyz tells when the worker's log shipper has died."""

import os
import re

import pytest
import yaml
from merch_api import services
from merch_api.app import create_app
from merch_api.openapi import SPEC_PATH

# Routes that are the API's documentation, not operations of it.
DOCS = re.compile(r"^/(openapi\.yaml$|ui(/|$))")
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def shape(path: str) -> str:
    """/orders/{id} and /orders/<id> alike, as /orders/{}."""
    return re.sub(r"\{[^}]*\}|<[^>]*>", "{}", path)


@pytest.fixture(scope="module")
def app():
    if len(os.environ.get("JWT_SECRET", "")) < 32:
        pytest.fail("run through `deploy/local/stack run`: the app needs .env's settings")
    return create_app()


def test_every_operation_of_the_spec_is_served_and_every_route_is_in_the_spec(app):
    document = yaml.safe_load(SPEC_PATH.read_text())
    in_spec = {
        (method.upper(), shape(path))
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }
    served = {
        (method, shape(rule.rule))
        for rule in app.url_map.iter_rules()
        if not DOCS.match(rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert served == in_spec, (
        f"served, not in the spec: {sorted(served - in_spec)}; "
        f"in the spec, not served: {sorted(in_spec - served)}"
    )


def test_readyz_says_when_the_log_shipper_thread_is_dead(app):
    client = app.test_client()
    assert client.get("/readyz").status_code == 200

    app.extensions[services.EXTENSION].log_shipper.close(timeout=0)
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert "log_shipper is NOT_RUNNING" in answer.get_json()["detail"]
