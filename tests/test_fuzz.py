"""The API against its own OpenAPI file, as its users would fuzz it: schemathesis with
every one of its checks generates requests from api-python/openapi.yaml (examples, the
coverage phase's edge cases and undeclared methods, random valid and invalid data) and
sends them through NGINX, then follows the file's links statefully (place an order, get
it, cancel it). No answer may be a 5xx, every answer must be one the file documents, a
request the file allows must not be refused, one it forbids must not be accepted.

Everything runs logged in as customers of its own; their placed orders are cancelled
afterwards, so the fuzzing leaves the stock as it found it."""

import os
from pathlib import Path

import requests
import schemathesis
from conftest import Customer
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import CHECKS, load_all_checks

SPEC = Path(__file__).resolve().parents[1] / "api-python" / "openapi.yaml"
BASE_URL = os.environ.get("BASE_URL", f"http://127.0.0.1:{os.environ.get('NGINX_PORT', '8080')}")
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))
# Every check schemathesis has, not a chosen few: a new one in a later version joins too.
# The registry fills as schemathesis loads its spec modules; before that it holds one.
load_all_checks()
ALL_CHECKS = CHECKS.get_all()
assert len(ALL_CHECKS) >= 14, CHECKS.get_all_names()

schema = schemathesis.openapi.from_path(SPEC)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_answer_is_documented_and_none_is_a_server_error(case, http, base_url):
    customer = Customer(http, base_url)
    try:
        # The generated request's own Authorization (if any) wins, so bad tokens are
        # fuzzed too; otherwise it runs as the customer.
        headers = {"Authorization": f"Bearer {customer.token}", **(case.headers or {})}
        case.call_and_validate(base_url=base_url, headers=headers, checks=ALL_CHECKS)
    finally:
        customer.cancel_placed_orders()


class LoggedInWorkflow(schema.as_state_machine()):
    """The file's links followed in sequences, as one customer per sequence."""

    def setup(self):
        self.http = requests.Session()
        self.customer = Customer(self.http, BASE_URL)

    def teardown(self):
        self.customer.cancel_placed_orders()
        self.http.close()

    def get_call_kwargs(self, case):
        return {
            "base_url": BASE_URL,
            "headers": {"Authorization": f"Bearer {self.customer.token}", **(case.headers or {})},
        }

    def validate_response(self, response, case, additional_checks=None, **kwargs):
        case.validate_response(response, checks=ALL_CHECKS, transport_kwargs=kwargs or None)


TestLoggedInWorkflow = LoggedInWorkflow.TestCase
# A live store does not answer a replayed sequence as it did the first time (the stock,
# the orders and the accounts have moved on), so Hypothesis must not replay or shrink:
# it would call that flaky data generation and hide the real failure.
TestLoggedInWorkflow.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=6,
    deadline=None,
    database=None,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)
