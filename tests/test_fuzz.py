"""The API against its own OpenAPI file: schemathesis generates requests from
api-python/openapi.yaml, valid and invalid, and sends them through NGINX. No answer may be
a 5xx, and every answer must be one the file documents, with the documented media type,
headers and body. Each generated request runs as a customer of its own, whose orders
are cancelled afterwards, so the fuzzing leaves the stock as it found it."""

import os
from pathlib import Path

import schemathesis
from conftest import Customer
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

SPEC = Path(__file__).resolve().parents[1] / "api-python" / "openapi.yaml"
schema = schemathesis.openapi.from_path(SPEC)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "20")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_is_documented_and_none_is_a_server_error(case, http, base_url):
    customer = Customer(http, base_url)
    try:
        # The generated request's own Authorization (if any) wins, so bad tokens are
        # fuzzed too; otherwise it runs as the customer.
        headers = {"Authorization": f"Bearer {customer.token}", **(case.headers or {})}
        case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)
    finally:
        customer.cancel_placed_orders()
