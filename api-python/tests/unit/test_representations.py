"""DB service messages as the contract's JSON: money exact, times RFC 3339, nulls where
the contract has them."""

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from merch_api import representations
from merchstore.db.v1 import order_pb2, product_pb2, user_pb2


def ts(seconds, nanos=0):
    return Timestamp(seconds=seconds, nanos=nanos)


@pytest.mark.parametrize(
    ("cents", "text"),
    [(0, "0.00"), (5, "0.05"), (99, "0.99"), (100, "1.00"), (2997, "29.97"),
     (4999, "49.99"), (999999999999, "9999999999.99"), (-5, "-0.05"), (-2997, "-29.97")],
)  # fmt: skip
def test_money_is_an_exact_decimal_with_two_fraction_digits(cents, text):
    assert representations.money(cents) == text


def test_a_product_has_the_contracts_fields():
    p = product_pb2.Product(
        id=1, name="SUSTech Hoodie", description="cozy", category="Apparel", price_cents=4999,
        slogan="Stay warm", stock=500, created_at=ts(1767225600, 123000000),
    )  # fmt: skip
    assert representations.product(p) == {
        "id": 1,
        "name": "SUSTech Hoodie",
        "description": "cozy",
        "category": "Apparel",
        "price": "49.99",
        "slogan": "Stay warm",
        "stock": 500,
        "created_at": "2026-01-01T00:00:00.123Z",
    }


def test_a_user_shows_no_password_and_a_missing_email_as_null():
    u = user_pb2.User(id=7, sid="12210001", username="alice", created_at=ts(0))
    assert representations.user(u) == {
        "id": 7,
        "sid": "12210001",
        "username": "alice",
        "email": None,
        "created_at": "1970-01-01T00:00:00Z",
    }
    u.email = ""  # set, though empty: present, not null
    assert representations.user(u)["email"] == ""


def test_an_order_placed_and_cancelled():
    o = order_pb2.Order(
        id=3, user_id=7, product_id=3, quantity=3, total_price_cents=2997,
        status=order_pb2.ORDER_STATUS_PLACED, created_at=ts(1767225600),
    )  # fmt: skip
    placed = representations.order(o)
    assert placed == {
        "id": 3,
        "user_id": 7,
        "product_id": 3,
        "quantity": 3,
        "total_price": "29.97",
        "status": "placed",
        "created_at": "2026-01-01T00:00:00Z",
        "cancelled_at": None,
    }
    o.status = order_pb2.ORDER_STATUS_CANCELLED
    o.cancelled_at.CopyFrom(ts(1767225660))
    cancelled = representations.order(o)
    assert (cancelled["status"], cancelled["cancelled_at"]) == ("cancelled", "2026-01-01T00:01:00Z")


def test_an_order_status_the_api_does_not_know_is_an_error_not_a_guess():
    o = order_pb2.Order(id=3, status=order_pb2.ORDER_STATUS_UNSPECIFIED, created_at=ts(0))
    with pytest.raises(KeyError):
        representations.order(o)
