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
