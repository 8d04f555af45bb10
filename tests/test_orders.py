"""Orders through NGINX: stock moves with them, exactly, also under concurrency."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from checks import FRESH, assert_problem, assert_unauthorized

INITIAL_STOCK = 500
NOTEBOOK = 3  # 9.99


def stock_of(http, base_url, product_id):
    # The stock now, not NGINX's cached copy of up to max-age ago.
    return http.get(f"{base_url}/products/{product_id}", headers=FRESH).json()["stock"]


def assert_stock_invariant(database):
    """The contract's invariant, checked in PostgreSQL itself."""
    with database.cursor() as cursor:
        cursor.execute("""
            SELECT p.id, p.stock, coalesce(sum(o.quantity) FILTER (WHERE o.status = 'placed'), 0)
            FROM products p LEFT JOIN orders o ON o.product_id = p.id
            GROUP BY p.id ORDER BY p.id""")
        rows = cursor.fetchall()
    assert len(rows) == 3
    for product_id, stock, placed in rows:
        assert stock >= 0
        assert stock + placed == INITIAL_STOCK, f"product {product_id}: {stock} + {placed}"


def test_place_order_takes_stock_and_prices_it(http, base_url, customer):
    before = stock_of(http, base_url, NOTEBOOK)
    answer = customer.request("POST", "/orders", json={"product_id": NOTEBOOK, "quantity": 3})
    assert answer.status_code == 201, answer.text
    order = answer.json()
    assert answer.headers["Location"] == f"/orders/{order['id']}"
    assert order["total_price"] == "29.97"
    assert (order["user_id"], order["product_id"], order["quantity"], order["status"]) == (
        customer.id,
        NOTEBOOK,
        3,
        "placed",
    )
    assert order["created_at"] and order["cancelled_at"] is None
    assert stock_of(http, base_url, NOTEBOOK) == before - 3
    assert customer.request("GET", f"/orders/{order['id']}").json() == order


def test_my_orders_are_mine_newest_first(customer, new_customer):
    other = new_customer()
    other.request("POST", "/orders", json={"product_id": 1, "quantity": 1})
    placed = [
        customer.request("POST", "/orders", json={"product_id": p, "quantity": 1}).json()
        for p in (1, 2, 3)
    ]
    mine = customer.request("GET", "/orders").json()
    assert [o["id"] for o in mine] == [o["id"] for o in reversed(placed)]


def test_cancel_gives_stock_back_exactly_once(http, base_url, customer):
    before = stock_of(http, base_url, 2)
    order = customer.request("POST", "/orders", json={"product_id": 2, "quantity": 2}).json()
    cancelled = customer.request("DELETE", f"/orders/{order['id']}")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled" and cancelled.json()["cancelled_at"]
    assert stock_of(http, base_url, 2) == before
    again = customer.request("DELETE", f"/orders/{order['id']}")
    assert "cancelled" in assert_problem(again, 409)["detail"]
    assert stock_of(http, base_url, 2) == before
    assert customer.request("GET", f"/orders/{order['id']}").json()["status"] == "cancelled"


@pytest.mark.parametrize(
    "body",
    [
        {"product_id": 1, "quantity": 0},
        {"product_id": 1, "quantity": 4},
        {"product_id": 1},
        {"quantity": 1},
        {"product_id": 1, "quantity": "2"},
        {"product_id": 1, "quantity": 1.5},
        {"product_id": 0, "quantity": 1},
        {"product_id": 1, "quantity": 1, "total_price": "0.01"},
    ],
)
def test_invalid_order_is_400_and_changes_nothing(http, base_url, customer, body):
    before = stock_of(http, base_url, 1)
    assert_problem(customer.request("POST", "/orders", json=body), 400)
    assert customer.request("GET", "/orders").json() == []
    assert stock_of(http, base_url, 1) == before


def test_unknown_product_is_404(customer):
    assert_problem(customer.request("POST", "/orders", json={"product_id": 99, "quantity": 1}), 404)


def test_orders_need_a_token(http, base_url):
    assert_unauthorized(http.post(f"{base_url}/orders", json={"product_id": 1, "quantity": 1}))
    assert_unauthorized(http.get(f"{base_url}/orders"))


def test_another_users_order_is_not_found(customer, new_customer):
    other = new_customer()
    order = other.request("POST", "/orders", json={"product_id": 1, "quantity": 1}).json()
    for method in ("GET", "DELETE"):
        answer = customer.request(method, f"/orders/{order['id']}")
        assert_problem(answer, 404)
    assert other.request("GET", f"/orders/{order['id']}").json()["status"] == "placed"
    # Indistinguishable from an order that does not exist.
    assert answer.json()["detail"] == f"order {order['id']} does not exist"
    unknown = customer.request("GET", "/orders/2147483647")
    assert assert_problem(unknown, 404)["detail"] == "order 2147483647 does not exist"


def test_concurrent_customers_never_oversell(http, base_url, database, new_customer):
    """Many customers order the notebook at once until it is sold out; every unit is
    accounted for, nothing goes below zero, and every refusal is a clean 409."""
    customers = [new_customer() for _ in range(16)]
    before = stock_of(http, base_url, NOTEBOOK)

    def buy_until_sold_out(customer):
        placed = []
        while True:
            answer = customer.request(
                "POST", "/orders", json={"product_id": NOTEBOOK, "quantity": 3}
            )
            if answer.status_code == 409:
                assert "stock" in answer.json()["detail"]
                return placed
            assert answer.status_code == 201, answer.text
            placed.append(answer.json())

    with ThreadPoolExecutor(len(customers)) as pool:
        results = list(pool.map(buy_until_sold_out, customers))
    sold_out = stock_of(http, base_url, NOTEBOOK)
    assert sold_out < 3
    assert 3 * sum(len(r) for r in results) == before - sold_out  # every unit accounted for
    assert_stock_invariant(database)
    # Cancelling from many clients at once gives every unit back.
    with ThreadPoolExecutor(len(customers)) as pool:
        list(pool.map(lambda c: c.cancel_placed_orders(), customers))
    assert_stock_invariant(database)
    assert stock_of(http, base_url, NOTEBOOK) == before


@pytest.mark.parametrize("revoke", ["password change", "deactivation"])
def test_a_revoked_token_can_neither_place_nor_cancel(customer, database, revoke):
    """The order writes check the token in their own transaction (not with a separate
    read before it): a revoked token changes nothing."""
    old_token = customer.token
    placed = customer.request("POST", "/orders", json={"product_id": 1, "quantity": 1})
    assert placed.status_code == 201
    if revoke == "password change":
        changed = customer.request(
            "PATCH",
            "/users/me",
            json={"password": "a new password", "current_password": customer.password},
        )
        assert changed.status_code == 200
    else:
        assert customer.deactivate().status_code == 204
    with database.cursor() as cursor:
        cursor.execute("SELECT stock FROM products WHERE id = 1")
        stock = cursor.fetchone()[0]

    assert_unauthorized(
        customer.request("POST", "/orders", token=old_token, json={"product_id": 1, "quantity": 1})
    )
    assert_unauthorized(
        customer.request("DELETE", f"/orders/{placed.json()['id']}", token=old_token)
    )
    with database.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), min(status) FROM orders WHERE user_id = %s", (customer.id,)
        )
        assert cursor.fetchone() == (1, "placed")
        cursor.execute("SELECT stock FROM products WHERE id = 1")
        assert cursor.fetchone()[0] == stock
    if revoke == "password change":
        customer.token = customer.log_in("a new password")  # so the fixture cancels the order
