import grpc
from merchstore.db.v1 import order_pb2

from merch_api import representations
from merch_api.handlers import call_db, created, db
from merch_api.problems import Problem


def place_order(body: dict, token, idempotency_key: str | None):
    answer = call_db(
        db().orders.CreateOrder,
        order_pb2.CreateOrderRequest(
            user_id=token.user_id,
            product_id=body["product_id"],
            quantity=body["quantity"],
            credentials_version=token.credentials_version,
            idempotency_key=idempotency_key,
        ),
    )
    order = answer.order
    body, status, headers = created(representations.order(order), f"/orders/{order.id}")
    if answer.replayed:
        # Stripe's name for it: this answer repeats the first one, nothing changed.
        headers["Idempotent-Replayed"] = "true"
    return body, status, headers


def list_my_orders(user):
    answer = call_db(db().orders.ListOrders, order_pb2.ListOrdersRequest(user_id=user.id))
    return [representations.order(o) for o in answer.orders]


def get_order(id: int, user):
    answer = _your_order(
        id, db().orders.GetOrder, order_pb2.GetOrderRequest(id=id, user_id=user.id)
    )
    return representations.order(answer.order)


def cancel_order(id: int, token):
    answer = _your_order(
        id,
        db().orders.CancelOrder,
        order_pb2.CancelOrderRequest(
            id=id, user_id=token.user_id, credentials_version=token.credentials_version
        ),
    )
    return representations.order(answer.order)


def _your_order(id: int, rpc, rpc_request):
    """call_db for one order: another user's (PERMISSION_DENIED) reads exactly like an
    unknown one, so order ids reveal nothing about other users."""
    try:
        return call_db(rpc, rpc_request)
    except grpc.RpcError as error:
        if error.code() is not grpc.StatusCode.PERMISSION_DENIED:
            raise
    # The parsed id, never the raw path segment: "07" and "7" must not read differently.
    raise Problem(404, f"order {id} does not exist")
