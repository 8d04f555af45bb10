"""500 clients order one product at once until it is sold out, then every order is
cancelled. Long: it sells out a product of the shared store for a few seconds, so
only `make drills` runs it."""

import asyncio
import random
import time

import httpx
import pytest
from drills.support import Bystanders, connect_db

CLIENTS = 500
CUSTOMERS = 25  # clients share these accounts; the stock does not care who orders
PRODUCT = 2
INITIAL_STOCK = 500  # the contract's initial stock of every product


def invariant(cursor):
    """{product: (stock, sum of quantities of placed orders)} in one snapshot."""
    cursor.execute(
        """SELECT p.id, p.stock, COALESCE(SUM(o.quantity) FILTER (WHERE o.status = 'placed'), 0)
           FROM products p LEFT JOIN orders o ON o.product_id = p.id
           GROUP BY p.id ORDER BY p.id"""
    )
    return {pid: (stock, placed) for pid, stock, placed in cursor.fetchall()}


async def _client(http, token, results, start):
    """Orders 1 to 3 items until the store says there is not enough stock for even 1."""
    auth = {"Authorization": f"Bearer {token}"}
    await start.wait()
    quantity = random.randint(1, 3)
    while True:
        r = await http.post(
            "/orders", json={"product_id": PRODUCT, "quantity": quantity}, headers=auth
        )
        results.append((r.status_code, quantity, r.json()))
        if r.status_code == 201:
            continue
        if r.status_code != 409 or quantity == 1:
            return
        quantity = 1  # too few left for more: take the last ones one by one


async def _sell_out(base_url, tokens):
    results, start = [], asyncio.Event()
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as http:
        tasks = [
            asyncio.create_task(_client(http, tokens[i % len(tokens)], results, start))
            for i in range(CLIENTS)
        ]
        began = time.monotonic()
        start.set()
        await asyncio.gather(*tasks)
        return results, time.monotonic() - began


async def _cancel_all(base_url, placed):
    """Cancels every order in `placed` ([(order id, token)]), 50 at a time."""
    semaphore = asyncio.Semaphore(50)
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:

        async def cancel(order_id, token):
            async with semaphore:
                r = await http.delete(
                    f"/orders/{order_id}", headers={"Authorization": f"Bearer {token}"}
                )
                return r.status_code

        return await asyncio.gather(*(cancel(o, t) for o, t in placed))


@pytest.mark.long
@pytest.mark.timeout(280)
def test_500_clients_sell_out_one_product(base_url, new_customer):
    bystanders = Bystanders()
    customers = [new_customer() for _ in range(CUSTOMERS)]
    tokens = [c.token for c in customers]
    connection = connect_db()
    try:
        with connection.cursor() as cursor:
            stock_before = invariant(cursor)[PRODUCT][0]
            results, seconds = asyncio.run(_sell_out(base_url, tokens))
            after_sale = invariant(cursor)
            statuses = {}
            for status, _, _ in results:
                statuses[status] = statuses.get(status, 0) + 1
            orders = [body for status, _, body in results if status == 201]
            sold = sum(o["quantity"] for o in orders)
            by_user = {c.id: c.token for c in customers}
            cancelled = asyncio.run(
                _cancel_all(base_url, [(o["id"], by_user[o["user_id"]]) for o in orders])
            )
            after_cancel = invariant(cursor)
    finally:
        connection.close()
    print(
        f"\ncontention drill: {CLIENTS} clients, {len(results)} requests in {seconds:.1f} s "
        f"({len(results) / seconds:.0f} req/s): {statuses}; {len(orders)} orders sold {sold} "
        f"items of product {PRODUCT} (stock {stock_before} before, "
        f"{after_sale[PRODUCT][0]} after); cancelling them: "
        f"{ {s: cancelled.count(s) for s in set(cancelled)} }, stock "
        f"{after_cancel[PRODUCT][0]} after"
    )
    bystanders.check()
    assert set(statuses) <= {201, 409}, statuses
    for pid, (stock, placed) in after_sale.items():
        assert stock + placed == INITIAL_STOCK, f"product {pid}: {stock} + {placed} after the sale"
    assert after_sale[PRODUCT][0] == 0, "not sold out"
    assert sold == stock_before, f"sold {sold} of {stock_before}"
    assert all(s == 200 for s in cancelled)
    for pid, (stock, placed) in after_cancel.items():
        assert stock + placed == INITIAL_STOCK, (
            f"product {pid}: {stock} + {placed} after cancelling"
        )
    assert after_cancel[PRODUCT][0] == stock_before
