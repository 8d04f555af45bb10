"""The operations of ../../openapi.yaml (merch_api.routes maps each operationId to its
handler). A handler takes its path
parameters by name, `body` (the validated JSON body) and `user` (the token's user) as
the operation has them, and returns the JSON body, or (body, status, headers)."""

from flask import current_app, request

from merch_api.services import EXTENSION, DbService, Services


def running() -> Services:
    """The services of the app that serves this request."""
    return current_app.extensions[EXTENSION]


def db() -> DbService:
    return running().db


def call_db(rpc, rpc_request):
    """Calls rpc, a stub method of db(), for the current HTTP request: with its request id
    and the deadline. gRPC errors become problems in merch_api.problems."""
    return db().call(rpc, rpc_request, request.headers["X-Request-ID"])


def created(body, location: str):
    return body, 201, {"Location": location}
