"""The operations of ../../openapi.yaml; each operationId names one function here."""

from flask import request

from merch_api import services
from merch_api.services import DbService


def db() -> DbService:
    return services.current().db


def call_db(rpc, rpc_request):
    """Calls rpc, a stub method of db(), for the current HTTP request: with its request id
    and the deadline. gRPC errors become problems in merch_api.problems."""
    return db().call(rpc, rpc_request, request.headers["X-Request-ID"])


# Every operation in openapi.yaml answers application/json or, on errors,
# application/problem+json; Connexion needs to be told which one a handler returns.
_JSON = {"Content-Type": "application/json"}


def ok(body, status: int = 200):
    return body, status, _JSON


def created(body, location: str):
    return body, 201, {**_JSON, "Location": location}
