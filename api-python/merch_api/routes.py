"""Serves each operation of the OpenAPI file: its URL rule, the bearer check, the path,
query and body checks compiled from the file, then the operation's handler."""

import orjson
from flask import Flask, g, request

from merch_api.auth import authenticated_user, verified_token
from merch_api.handlers import meta, orders, products, users
from merch_api.observation import USER_ID_KEY
from merch_api.openapi import JSON, Operation, Spec
from merch_api.problems import Problem, bad_request

# operationId (the contract's operation names) -> handler. The names in the file are the
# clients' (SDK method names); which Python function serves one is the server's business.
OPERATIONS = {
    "greeting": meta.greeting,
    "liveness": meta.liveness,
    "readiness": meta.readiness,
    "listProducts": products.list_products,
    "getProduct": products.get_product,
    "register": users.register,
    "login": users.login,
    "getUser": users.get_user,
    "updateUser": users.update_user,
    "deactivateUser": users.deactivate_user,
    "placeOrder": orders.place_order,
    "listMyOrders": orders.list_my_orders,
    "getOrder": orders.get_order,
    "cancelOrder": orders.cancel_order,
}


def add_operations(app: Flask, spec: Spec) -> None:
    in_spec, in_code = {operation.operation_id for operation in spec.operations}, set(OPERATIONS)
    if in_spec != in_code:
        raise RuntimeError(
            f"{spec.path.name} and merch_api.routes.OPERATIONS disagree: only in the file "
            f"{sorted(in_spec - in_code)}, only in the code {sorted(in_code - in_spec)}"
        )
    no_store = {operation.operation_id for operation in spec.operations if operation.no_store}

    @app.after_request
    def keep_out_of_caches(answer):
        if request.endpoint in no_store and answer.status_code < 300:
            answer.headers["Cache-Control"] = "no-store"
        return answer

    for operation in spec.operations:
        app.add_url_rule(
            operation.flask_rule,
            endpoint=operation.operation_id,
            view_func=_view(operation, OPERATIONS[operation.operation_id]),
            methods=[operation.method],
            # OPTIONS is no operation of the API: it answers 405 like any other.
            provide_automatic_options=False,
        )


def _view(operation: Operation, handler):
    def view(**raw_path):
        arguments = {}
        # The bearer check first, as the security scheme says: without a valid token
        # nothing else about the request is worth an answer. What the handler is given
        # of its caller is the file's x-caller: the token, or the user read with it.
        if operation.caller is not None:
            token = verified_token(request.headers.get("Authorization"))
            request.environ[USER_ID_KEY] = token.user_id
            if operation.caller == "token":
                arguments["token"] = token  # the handler's RPC checks it is not revoked
            else:
                arguments["user"] = authenticated_user(token)
        g.path_values = operation.parse_path(raw_path)
        arguments.update(g.path_values)
        operation.check_query(request.args.keys())
        arguments.update(operation.parse_headers(request.headers))
        if operation.body_schema is not None:
            body = _json_body(operation)
            operation.check_body(body)
            arguments["body"] = body
        return handler(**arguments)

    view.__name__ = operation.operation_id
    return view


def _json_body(operation: Operation):
    data = request.get_data(cache=False)  # at most MAX_CONTENT_LENGTH, else a 413
    if not data and not request.mimetype:
        if operation.body_required:
            fields = operation.body_schema.document.get("required")
            wanted = f"a JSON body with {', '.join(fields)}" if fields else "a JSON body"
            raise bad_request(
                f"this operation needs {wanted}; send it with Content-Type: application/json",
            )
        return None
    # werkzeug lowercases the media type and sets its parameters (charset) apart.
    if request.mimetype != JSON:
        raise Problem(415, "the request body must be JSON sent with Content-Type: application/json")
    try:
        # orjson refuses what is not UTF-8, numbers too large for a double (thousands
        # of digits) and nesting deeper than 1024, each with a JSONDecodeError.
        return orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise bad_request(
            f"the request body is not valid UTF-8 JSON ({error.msg}); fix it and send it again"
        ) from None
