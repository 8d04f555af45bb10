from merchstore.db.v1 import order_pb2

from merch_api import representations
from merch_api.handlers import call_db, created, db


def place_order(body: dict, token):
    answer = call_db(
        db().orders.CreateOrder,
        order_pb2.CreateOrderRequest(
            user_id=token.user_id,
            product_id=body["product_id"],
            quantity=body["quantity"],
            credentials_version=token.credentials_version,
        ),
    )
    order = answer.order
    return created(representations.order(order), f"/orders/{order.id}")


def list_my_orders(user):
    answer = call_db(db().orders.ListOrders, order_pb2.ListOrdersRequest(user_id=user.id))
    return [representations.order(o) for o in answer.orders]


def get_order(id: int, user):
    answer = call_db(db().orders.GetOrder, order_pb2.GetOrderRequest(id=id, user_id=user.id))
    return representations.order(answer.order)


def cancel_order(id: int, token):
    answer = call_db(
        db().orders.CancelOrder,
        order_pb2.CancelOrderRequest(
            id=id, user_id=token.user_id, credentials_version=token.credentials_version
        ),
    )
    return representations.order(answer.order)
