"""The ceiling of each layer under the API: one NGINX worker answering from its config
(HTTP), ghz on the DB service (gRPC), pgbench with the DB service's own SQL, and ghz on a
second DB service that connects per call (what the pool is worth)."""

import os
import shutil
import subprocess

from loadgen import BENCH, ENV, STATE, free_port, row, run_ghz, run_pgbench, run_wrk, wait_port

GRPC_CASES = [
    ("GetProduct", "ProductService.GetProduct", {"id": 1}),
    ("ListProducts", "ProductService.ListProducts", {}),
]

# The DB service's SQL (dbsvc-go/internal/store/products.go and orders.go), for pgbench.
PRODUCT_COLUMNS = (
    "id, name, COALESCE(description, ''), COALESCE(category, ''), "
    "(price * 100)::bigint, COALESCE(slogan, ''), stock, created_at"
)
ORDER_COLUMNS = (
    "id, user_id, product_id, quantity, (total_price * 100)::bigint, status, "
    "created_at, cancelled_at"
)
SQL_SCRIPTS = {
    "GetProduct": (
        f"\\set id random(1, 3)\nSELECT {PRODUCT_COLUMNS} FROM products WHERE id = :id;\n"
    ),
    "ListProducts": f"SELECT {PRODUCT_COLUMNS} FROM products ORDER BY id;\n",
    # CreateOrder's transaction, rolled back so that no data changes (an order id of
    # the sequence is used up, as by any rolled-back insert).
    "CreateOrder (rolled back)": (
        "BEGIN;\n"
        "SELECT active FROM users WHERE id = :uid;\n"
        "UPDATE products SET stock = stock - 1 WHERE id = :pid AND stock >= 1;\n"
        "INSERT INTO orders (user_id, product_id, quantity, total_price) "
        "SELECT :uid::int, id, 1, price * 1 FROM products WHERE id = :pid "
        f"RETURNING {ORDER_COLUMNS};\n"
        "ROLLBACK;\n"
    ),
}


class StaticNginx:
    """A second NGINX, started from bench/, that answers GET / from its config with
    a body the size of the store's greeting: the ceiling of one NGINX worker."""

    def __init__(self):
        self.port = free_port()
        self.prefix = STATE / "bench" / "nginx"
        for sub in ("logs", "run", "tmp"):
            (self.prefix / sub).mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.prefix / "tmp", "nobody")
        conf = (BENCH / "nginx-static.conf").read_text().replace("@PORT@", str(self.port))
        (self.prefix / "nginx.conf").write_text(conf)
        self.proc = subprocess.Popen(
            ["nginx", "-p", str(self.prefix), "-c", "nginx.conf", "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


class ConnectPerCallDbsvc:
    """A second DB service on a free port, opening a PostgreSQL connection per call."""

    def __init__(self):
        self.port = free_port()
        # The child writes to it as long as it runs.
        log = open(STATE / "bench" / "dbsvc-connect-per-call.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [str(STATE / "bin" / "dbsvc")],
            env={
                **ENV,
                "DBSVC_LISTEN_ADDR": f"127.0.0.1:{self.port}",
                "INSTANCE_NAME": "db-bench-connect-per-call",
                "DBSVC_CONNECT_PER_CALL": "true",
                "TLS_DIR": os.path.join(ENV["TLS_ROOT"], "dbsvc"),
            },
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_port(self.port)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(15)


def http(levels, duration, progress):
    rows = []
    static = StaticNginx()
    try:
        for c in levels:
            progress.step(f"wrk static NGINX c={c} {duration}s")
            url = f"http://127.0.0.1:{static.port}"
            rows.append(row("http", "static NGINX", c, *run_wrk(url, "static.lua", c, duration)))
    finally:
        static.stop()
    return rows


def grpc(dbsvc, levels, duration, progress):
    rows = []
    for case, method, data in GRPC_CASES:
        for c in levels:
            progress.step(f"ghz {case} c={c} {duration}s")
            rows.append(row("grpc", case, c, *run_ghz(dbsvc, method, data, c, duration)))
    return rows


def sql(levels, duration, uid, progress):
    rows = []
    for case, script in SQL_SCRIPTS.items():
        for c in levels:
            progress.step(f"pgbench {case} c={c} {duration}s")
            rows.append(row("sql", case, c, *run_pgbench(script, c, duration, uid)))
    return rows


def connect_per_call(levels, duration, progress):
    rows = []
    second = ConnectPerCallDbsvc()
    target = f"127.0.0.1:{second.port}"
    try:
        # Warm-up: a fresh process's first call is not what c=1 should measure.
        run_ghz(target, "ProductService.GetProduct", {"id": 1}, 1, 1)
        for c in levels:
            progress.step(f"ghz GetProduct on a connect-per-call DB service c={c} {duration}s")
            rows.append(
                row(
                    "cpc",
                    "GetProduct",
                    c,
                    *run_ghz(target, "ProductService.GetProduct", {"id": 1}, c, duration),
                )
            )
    finally:
        second.stop()
    return rows
