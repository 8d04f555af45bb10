"""Every error the API answers becomes application/problem+json (RFC 9457) here, in one
place: problems the handlers raise, requests the OpenAPI file rejects, routing errors,
DB service errors and bugs."""

import logging
import math
from http import HTTPStatus

import grpc
from flask import Response, current_app, request
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from werkzeug.exceptions import HTTPException, MethodNotAllowed

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
_UNEXPECTED = "the store failed unexpectedly; report the X-Request-ID of this response"

# What a DB service status means to a REST client. RESOURCE_EXHAUSTED with a RetryInfo
# (failed logins) is a 429; without one, an overloaded service, a 503.
_HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    # The API never cancels a call of its own: a CANCELLED is the DB service's side
    # giving the call up, above all when the deadline they share ran out there first
    # (RST_STREAM, seen with PostgreSQL paused). To the client that is a timeout.
    grpc.StatusCode.CANCELLED: 504,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 503,
}


# The `type` of each refusal by a rule of the store (422: the request follows the OpenAPI
# file, the store's rule refuses it). Each is the address of the response in the OpenAPI
# file that documents it, whose schema allows exactly this type.
PASSWORD_TOO_GUESSABLE = "/openapi.yaml#/components/responses/PasswordTooGuessable"
IDEMPOTENCY_KEY_REUSED = "/openapi.yaml#/components/responses/IdempotencyKeyReused"

# What a client of a revoked token is told, whether the API or the DB service found it.
TOKEN_REVOKED = "the access token has been revoked; log in again with POST /auth/login"

# Refusals that one gRPC code does not tell apart, by their google.rpc.ErrorInfo reason.
_REASON_PROBLEM = {
    # An Idempotency-Key sent again with another body (the IETF httpapi draft's 422).
    "IDEMPOTENCY_KEY_REUSED": (422, IDEMPOTENCY_KEY_REUSED),
}
# The DB service's refusals in its own words, and the REST words for them.
_REASON_DETAIL = {"CREDENTIALS_REVOKED": TOKEN_REVOKED}

# The order Allow lists methods in; werkzeug's own is a set's.
_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")


class Problem(Exception):
    """An answer other than success, raised by a handler or the request checks."""

    def __init__(
        self, status: int, detail: str, headers: dict | None = None, type: str = "about:blank"
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}
        self.type = type


def unauthorized(detail: str) -> Problem:
    # RFC 9110: a 401 names the scheme the client should use.
    return Problem(401, detail, {"WWW-Authenticate": 'Bearer realm="merch-store"'})


def forbidden(detail: str) -> Problem:
    return Problem(403, detail)


def bad_request(detail: str) -> Problem:
    return Problem(400, detail)


def unavailable(detail: str) -> Problem:
    return Problem(503, detail)


def unprocessable(type: str, detail: str) -> Problem:
    """A request the OpenAPI file allows that a rule of the store refuses."""
    return Problem(422, detail, type=type)


def response(
    status: int, detail: str, headers: dict | None = None, type: str = "about:blank"
) -> Response:
    body = {"type": type, "title": HTTPStatus(status).phrase, "status": status, "detail": detail}
    answer = current_app.json.response(body)
    answer.status_code = status
    answer.mimetype = PROBLEM
    answer.headers.update(headers or {})
    return answer


def from_problem(problem: Problem) -> Response:
    return response(problem.status, problem.detail, problem.headers, problem.type)


def from_http_exception(error: HTTPException) -> Response:
    """werkzeug's own answers: no such path, a method the path does not have, a body
    over the size limit."""
    if isinstance(error, MethodNotAllowed):
        allowed = ", ".join(sorted(error.valid_methods or (), key=_METHOD_ORDER.index))
        # Not naming the method: NGINX asks with OPTIONS on behalf of a TRACE it refused.
        return response(405, f"this path only has the methods {allowed}", {"Allow": allowed})
    if error.code == 404:
        return response(404, "no resource has this path; /ui/ lists the API's operations")
    if error.code == 413:
        return response(413, "the request body is too large; every body of this API is small")
    if error.code is not None and error.code < 500:
        return response(error.code, error.description or HTTPStatus(error.code).phrase)
    log.error("unexpected HTTP error on %s %s: %s", request.method, request.path, error)
    return response(500, _UNEXPECTED)


def from_rpc_error(error: grpc.RpcError) -> Response:
    code = error.code()
    status = _HTTP_STATUS.get(code, 500)
    retry_info, error_info = _standard_details(error)
    if retry_info is not None and code is grpc.StatusCode.RESOURCE_EXHAUSTED:
        # RFC 9110: whole seconds; rounded up, so a client that waits them is let in.
        seconds = max(1, math.ceil(retry_info.retry_delay.ToTimedelta().total_seconds()))
        detail = f"{error.details()} (about {seconds} s; see Retry-After)"
        return response(429, detail, {"Retry-After": str(seconds)})
    if error_info is not None and error_info.reason in _REASON_PROBLEM:
        status, type = _REASON_PROBLEM[error_info.reason]
        return response(status, error.details(), type=type)
    if status == 503:
        detail = "the store's database service is not answering; try again in a few seconds"
    elif status == 504:
        detail = "the store's database service did not answer in time; try again"
    elif status == 500:
        log.error(
            "DB service failed on %s %s: %s %s", request.method, request.path, code, error.details()
        )
        detail = _UNEXPECTED
    elif error_info is not None and error_info.reason in _REASON_DETAIL:
        detail = _REASON_DETAIL[error_info.reason]
    else:
        detail = error.details()
    if status == 401:
        # A revoked token found by the DB service, or a failed login: RFC 9110's 401.
        return from_problem(unauthorized(detail))
    return response(status, detail)


def _standard_details(error: grpc.RpcError):
    """The call's google.rpc.RetryInfo and ErrorInfo details (AIP-193), each None when
    the status has none."""
    found = {error_details_pb2.RetryInfo: None, error_details_pb2.ErrorInfo: None}
    status = rpc_status.from_call(error)
    for detail in status.details if status else ():
        for kind in found:
            if detail.Is(kind.DESCRIPTOR):
                found[kind] = kind()
                detail.Unpack(found[kind])
    return found[error_details_pb2.RetryInfo], found[error_details_pb2.ErrorInfo]


def from_unexpected(error: Exception) -> Response:
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=error)
    return response(500, _UNEXPECTED)


def install(app) -> None:
    app.register_error_handler(Problem, from_problem)
    app.register_error_handler(HTTPException, from_http_exception)
    app.register_error_handler(grpc.RpcError, from_rpc_error)
    app.register_error_handler(Exception, from_unexpected)
