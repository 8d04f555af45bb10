"""The store as a customer meets it: wrk through NGINX, with a registered customer's token
for the order scripts."""

import uuid

import requests
from loadgen import row, run_wrk

# (case, wrk script, environment): the catalog reads twice, as shoppers send them (NGINX's
# microcache answers most) and with Cache-Control: no-cache (each reaches a replica and
# the database), so that one run shows what the cache is worth.
FRESH = {"BENCH_NO_CACHE": "1"}
CASES = [
    ("GET /products", "products.lua", {}),
    ("GET /products (no-cache)", "products.lua", FRESH),
    ("GET /products/{id}", "product.lua", {}),
    ("GET /products/{id} (no-cache)", "product.lua", FRESH),
    ("place + cancel order", "orders.lua", {}),
    ("mixed 60/25/15", "mixed.lua", {}),
]


class BenchUser:
    """A registered customer whose token the order scripts use."""

    def __init__(self, base_url):
        self.base_url = base_url
        self.http = requests.Session()
        suffix = uuid.uuid4().hex[:12]
        self.username = f"bench_{suffix}"
        self.password = password = uuid.uuid4().hex
        answer = self.http.post(
            f"{base_url}/users",
            json={
                "sid": str(uuid.uuid4().int)[:15],
                "username": self.username,
                "password": password,
            },
        )
        answer.raise_for_status()
        self.id = answer.json()["id"]
        answer = self.http.post(
            f"{base_url}/auth/login", json={"username": self.username, "password": password}
        )
        answer.raise_for_status()
        self.token = answer.json()["access_token"]
        self.headers = {"Authorization": f"Bearer {self.token}"}

    def cancel_placed(self):
        """Orders the scripts placed but did not cancel before the run ended."""
        orders = self.http.get(f"{self.base_url}/orders", headers=self.headers).json()
        left = [o["id"] for o in orders if o["status"] == "placed"]
        for order_id in left:
            self.http.delete(f"{self.base_url}/orders/{order_id}", headers=self.headers)
        return len(left)

    def deactivate(self):
        self.http.delete(
            f"{self.base_url}/users/{self.id}",
            headers=self.headers,
            json={"current_password": self.password},
        )


def steps(levels):
    return len(CASES) * len(levels)


def measure(base, user, levels, duration, progress):
    rows = []
    for case, script, env in CASES:
        for c in levels:
            progress.step(f"wrk {case} c={c} {duration}s")
            env = {**env, "BENCH_TOKEN": user.token}
            rps, p50, p99, err = run_wrk(base, script, c, duration, env)
            rows.append(row("api", case, c, rps, p50, p99, err))
            # The next case starts with the stock as the store had it.
            user.cancel_placed()
    return rows
