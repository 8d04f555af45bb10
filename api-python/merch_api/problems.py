"""Every error the API answers becomes application/problem+json here, in one place."""

import logging

import grpc
from connexion.exceptions import OAuthProblem, ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from connexion.problem import problem

log = logging.getLogger(__name__)

# What a DB service status means to a REST client. PERMISSION_DENIED (only for another
# user's order) reads exactly like the DB service's NOT_FOUND for an unknown order, so
# order ids reveal nothing about other users.
_HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: (400, "Bad Request"),
    grpc.StatusCode.UNAUTHENTICATED: (401, "Unauthorized"),
    grpc.StatusCode.NOT_FOUND: (404, "Not Found"),
    grpc.StatusCode.PERMISSION_DENIED: (404, "Not Found"),
    grpc.StatusCode.ALREADY_EXISTS: (409, "Conflict"),
    grpc.StatusCode.FAILED_PRECONDITION: (409, "Conflict"),
    grpc.StatusCode.UNAVAILABLE: (503, "Service Unavailable"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (504, "Gateway Timeout"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (503, "Service Unavailable"),
}

_DB_UNAVAILABLE = "the store's database service is not answering; try again in a few seconds"


def unauthorized(detail: str) -> ProblemException:
    return ProblemException(status=401, title="Unauthorized", detail=detail)


def forbidden(detail: str) -> ProblemException:
    return ProblemException(status=403, title="Forbidden", detail=detail)


def bad_request(detail: str) -> ProblemException:
    return ProblemException(status=400, title="Bad Request", detail=detail)


def unavailable(detail: str) -> ProblemException:
    return ProblemException(status=503, title="Service Unavailable", detail=detail)


def _response(status: int, title: str, detail: str, headers=None) -> ConnexionResponse:
    if status == 401:
        # RFC 9110: a 401 names the scheme the client should use.
        headers = {**(headers or {}), "WWW-Authenticate": 'Bearer realm="merch-store"'}
    return problem(status=status, title=title, detail=detail, headers=headers)


def from_problem(_request: ConnexionRequest, exc: ProblemException) -> ConnexionResponse:
    detail = exc.detail
    if isinstance(exc, OAuthProblem):
        # Connexion's own: "No authorization token provided" or "Invalid authorization
        # header"; say what to send.
        detail = f"{detail}; send Authorization: Bearer <access_token from POST /auth/login>"
    return _response(exc.status, exc.title, detail, exc.headers)


def from_rpc_error(request: ConnexionRequest, exc: grpc.RpcError) -> ConnexionResponse:
    code = exc.code()
    status, title = _HTTP_STATUS.get(code, (500, "Internal Server Error"))
    if code is grpc.StatusCode.PERMISSION_DENIED:
        detail = f"order {request.url.path.rsplit('/', 1)[-1]} does not exist"
    elif status == 503:
        detail = _DB_UNAVAILABLE
    elif status == 504:
        detail = "the store's database service did not answer in time; try again"
    elif status == 500:
        log.error(
            "DB service failed on %s %s: %s %s", request.method, request.url, code, exc.details()
        )
        detail = "the store failed unexpectedly; report the X-Request-ID of this response"
    else:
        detail = exc.details()
    return _response(status, title, detail)


def from_unexpected(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    log.exception("unhandled error on %s %s", request.method, request.url, exc_info=exc)
    return _response(
        500,
        "Internal Server Error",
        "the store failed unexpectedly; report the X-Request-ID of this response",
    )
