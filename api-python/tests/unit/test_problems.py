"""Every error as application/problem+json, and the DB service's status codes mapped to
HTTP in one place."""

from http import HTTPStatus
from pathlib import Path

import grpc
import pytest
import yaml
from flask import Flask
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from merch_api import problems
from werkzeug.exceptions import MethodNotAllowed, NotFound, RequestEntityTooLarge


class FakeRpcError(grpc.RpcError):
    """What a failed call raises: code, details and the trailer with the rich status."""

    def __init__(self, code, details, retry_seconds=None, reason=None):
        self._code, self._details = code, details
        self._trailer = ()
        rich_details = []
        if retry_seconds is not None:
            delay = duration_pb2.Duration(
                seconds=int(retry_seconds), nanos=int(retry_seconds % 1 * 1e9)
            )
            rich_details.append(error_details_pb2.RetryInfo(retry_delay=delay))
        if reason is not None:
            rich_details.append(error_details_pb2.ErrorInfo(reason=reason, domain="dbsvc"))
        if rich_details:
            packed = []
            for message in rich_details:
                packed.append(any_pb2.Any())
                packed[-1].Pack(message)
            rich = status_pb2.Status(code=code.value[0], message=details, details=packed)
            self._trailer = (("grpc-status-details-bin", rich.SerializeToString()),)

    def code(self):
        return self._code

    def details(self):
        return self._details

    def trailing_metadata(self):
        return self._trailer


@pytest.fixture
def app():
    app = Flask(__name__)
    with app.test_request_context("/orders/1", method="DELETE"):
        yield app


def body(answer):
    assert answer.mimetype == "application/problem+json"
    problem = answer.get_json()
    assert set(problem) == {"type", "title", "status", "detail"}
    assert problem["status"] == answer.status_code and problem["title"] and problem["detail"]
    return problem


@pytest.mark.parametrize(
    ("code", "status", "detail"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, 400, "quantity must be 1 to 3"),
        (grpc.StatusCode.PERMISSION_DENIED, 403, "current_password is wrong"),
        (grpc.StatusCode.NOT_FOUND, 404, "order 1 does not exist"),
        (grpc.StatusCode.ALREADY_EXISTS, 409, "username is taken"),
        (grpc.StatusCode.FAILED_PRECONDITION, 409, "not enough stock"),
    ],
)
def test_a_refusal_keeps_the_db_services_words(app, code, status, detail):
    answer = problems.from_rpc_error(FakeRpcError(code, detail))
    assert answer.status_code == status
    assert body(answer)["detail"] == detail


def test_unauthenticated_is_a_401_naming_the_scheme(app):
    answer = problems.from_rpc_error(FakeRpcError(grpc.StatusCode.UNAUTHENTICATED, "revoked"))
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("code", "status", "words"),
    [
        (grpc.StatusCode.UNAVAILABLE, 503, "try again"),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, 503, "try again"),
        (grpc.StatusCode.DEADLINE_EXCEEDED, 504, "did not answer in time"),
        (grpc.StatusCode.CANCELLED, 504, "did not answer in time"),
        (grpc.StatusCode.INTERNAL, 500, "X-Request-ID"),
        (grpc.StatusCode.UNKNOWN, 500, "X-Request-ID"),
    ],
)
def test_a_failure_hides_the_services_own_text(app, code, status, words):
    answer = problems.from_rpc_error(FakeRpcError(code, "pq: relation orders does not exist"))
    assert answer.status_code == status
    detail = body(answer)["detail"]
    assert words in detail and "relation" not in detail


@pytest.mark.parametrize(("seconds", "header"), [(4, "4"), (0.2, "1"), (2.5, "3")])
def test_a_throttled_login_is_a_429_with_retry_after_in_whole_seconds(app, seconds, header):
    error = FakeRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many failed logins", seconds)
    answer = problems.from_rpc_error(error)
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == header
    assert body(answer)["detail"] == f"too many failed logins (about {header} s; see Retry-After)"


def test_werkzeugs_own_answers_become_problems(app):
    not_allowed = problems.from_http_exception(MethodNotAllowed(["DELETE", "GET", "HEAD"]))
    assert not_allowed.status_code == 405
    assert not_allowed.headers["Allow"] == "GET, HEAD, DELETE"
    assert "GET, HEAD, DELETE" in body(not_allowed)["detail"]
    assert body(problems.from_http_exception(NotFound()))["status"] == 404
    assert body(problems.from_http_exception(RequestEntityTooLarge()))["status"] == 413


def test_a_problem_raised_by_a_handler_keeps_its_status_detail_and_headers(app):
    answer = problems.from_problem(problems.unauthorized("send a token"))
    assert answer.status_code == 401 and body(answer)["detail"] == "send a token"
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="merch-store"'


def test_a_bug_is_a_500_that_tells_nothing_of_it(app):
    answer = problems.from_unexpected(KeyError("secret internals"))
    assert answer.status_code == 500
    assert "secret" not in body(answer)["detail"]


def test_every_code_maps_to_a_status_whose_title_is_its_reason_phrase(app):
    for code in grpc.StatusCode:
        if code is grpc.StatusCode.OK:
            continue
        answer = problems.from_rpc_error(FakeRpcError(code, "details"))
        assert body(answer)["title"] == HTTPStatus(answer.status_code).phrase, code


def test_each_422_type_is_the_address_of_the_response_that_declares_it():
    """Every `type` the API sends with a 422 names a response of the OpenAPI file, whose
    schema allows exactly that type; every 422 the file declares is such a response."""
    spec = yaml.safe_load((Path(__file__).resolve().parents[2] / "openapi.yaml").read_text())
    sent = {problems.PASSWORD_TOO_GUESSABLE, problems.IDEMPOTENCY_KEY_REUSED}
    for type in sent:
        path, _, pointer = type.partition("#/")
        assert path == "/openapi.yaml"
        section, kind, name = pointer.split("/")
        response = spec[section][kind][name]
        schema = response["content"]["application/problem+json"]["schema"]["allOf"][1]
        assert schema["properties"]["type"]["enum"] == [type]
    declared = {
        operation["responses"]["422"]["$ref"].replace("#/", "/openapi.yaml#/")
        for item in spec["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "422" in operation.get("responses", {})
    }
    assert declared == sent


def test_the_db_services_own_words_become_the_rest_ones_by_reason(app):
    """The DB service speaks of credentials versions; a REST client is told to log in."""
    error = FakeRpcError(
        grpc.StatusCode.UNAUTHENTICATED,
        "the credentials version given is no longer the user's",
        reason="CREDENTIALS_REVOKED",
    )
    answer = problems.from_rpc_error(error)
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert body(answer)["detail"] == problems.TOKEN_REVOKED


def test_an_idempotency_key_reused_is_a_422_of_its_type(app):
    error = FakeRpcError(
        grpc.StatusCode.FAILED_PRECONDITION,
        "key used for another order",
        reason="IDEMPOTENCY_KEY_REUSED",
    )
    answer = problems.from_rpc_error(error)
    assert answer.status_code == 422
    assert body(answer)["type"] == problems.IDEMPOTENCY_KEY_REUSED
