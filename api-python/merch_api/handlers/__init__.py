"""The operations of ../../openapi.yaml (merch_api.routes maps each operationId to its
handler). A handler takes its path
parameters by name, `body` (the validated JSON body) and `user` (the token's user) as
the operation has them, and returns the JSON body, or (body, status, headers)."""

from flask import request

from merch_api import services
from merch_api.services import DbService


def db() -> DbService:
    return services.current().db


def call_db(rpc, rpc_request):
    """Calls rpc, a stub method of db(), for the current HTTP request: with its request id
    and the deadline. gRPC errors become problems in merch_api.problems."""
    return db().call(rpc, rpc_request, request.headers["X-Request-ID"])


def created(body, location: str):
    return body, 201, {"Location": location}
