"""DB service messages as the REST API's JSON (docs/type-mapping.md has the whole table)."""

from merchstore.db.v1 import order_pb2


def money(cents: int) -> str:
    """Exact decimal with two fraction digits, as the contract wants: 2997 -> "29.97"."""
    sign = "-" if cents < 0 else ""
    whole, fraction = divmod(abs(cents), 100)
    return f"{sign}{whole}.{fraction:02d}"


def timestamp(ts) -> str:
    # Timestamp.ToJsonString() is RFC 3339 in UTC with a "Z".
    return ts.ToJsonString()


def product(p) -> dict:
    return {
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "category": p.category,
        "price": money(p.price_cents),
        "slogan": p.slogan,
        "stock": p.stock,
        "created_at": timestamp(p.created_at),
    }


def user(u) -> dict:
    return {
        "id": u.id,
        "sid": u.sid,
        "username": u.username,
        "email": u.email if u.HasField("email") else None,
        "created_at": timestamp(u.created_at),
    }


_STATUS = {
    order_pb2.ORDER_STATUS_PLACED: "placed",
    order_pb2.ORDER_STATUS_CANCELLED: "cancelled",
}


def order(o) -> dict:
    return {
        "id": o.id,
        "user_id": o.user_id,
        "product_id": o.product_id,
        "quantity": o.quantity,
        "total_price": money(o.total_price_cents),
        "status": _STATUS[o.status],
        "created_at": timestamp(o.created_at),
        "cancelled_at": timestamp(o.cancelled_at) if o.HasField("cancelled_at") else None,
    }
