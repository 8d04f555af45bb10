#!/usr/bin/env python3
"""The report's benchmark table, and the figures its conclusion quotes, from the last
`make bench` (report/bench/results.json).

    bench_section.py RESULTS_JSON OUT_DIR

writes OUT_DIR/table.md (one table: the store's cases, then the ceilings beneath them)
and one small file per figure the text quotes (OUT_DIR/<name>.txt), which report.md
reads as {{bench/<name>.txt}}. The full record of the run, with every table, stays in
report/bench/results.md.
"""

import json
import pathlib
import sys

LEVELS = (1, 8, 32)
TOP = LEVELS[-1]

# (group, case) of the rows, in the table's order, with the name the table gives them.
PRODUCTS = ("api", "GET /products")
PRODUCTS_FRESH = ("api", "GET /products (no-cache)")
PRODUCT = ("api", "GET /products/{id}")
PRODUCT_FRESH = ("api", "GET /products/{id} (no-cache)")
LOGIN = ("api", "login, right password (at a replica)")
THROTTLED = ("api", "login, throttled username (429, at a replica)")
EDGE_LIMITED = ("api", "login past the edge's rate limit (NGINX's 429)")
STORE = {
    PRODUCTS: "`GET /products`, as sent (NGINX's cache)",
    PRODUCTS_FRESH: "`GET /products`, `no-cache`",
    PRODUCT: "`GET /products/{id}`, as sent (NGINX's cache)",
    PRODUCT_FRESH: "`GET /products/{id}`, `no-cache`",
    ("api", "place + cancel order"): "place + cancel an order",
    ("api", "mixed 60/25/15"): "mixed 60/25/15",
    LOGIN: "log in, right password, at a replica",
    THROTTLED: "log in, throttled username (429), at a replica",
    EDGE_LIMITED: "log in past NGINX's rate limit (429)",
}
CEILINGS = {
    ("http", "static NGINX"): "NGINX alone, a static answer",
    ("grpc", "GetProduct"): "DB service, `GetProduct` (ghz)",
    ("grpc", "ListProducts"): "DB service, `ListProducts` (ghz)",
    ("cpc", "GetProduct"): "DB service connecting per call, `GetProduct`",
    ("sql", "GetProduct"): "PostgreSQL, `GetProduct`'s SELECT (pgbench)",
    ("sql", "ListProducts"): "PostgreSQL, `ListProducts`' SELECT (pgbench)",
    ("sql", "CreateOrder (rolled back)"): "PostgreSQL, `CreateOrder`'s transaction (pgbench)",
}
# The ceiling each store case is compared with: the layer right beneath its work.
BENEATH = {
    PRODUCTS_FRESH: ("grpc", "ListProducts"),
    PRODUCT_FRESH: ("grpc", "GetProduct"),
    ("api", "place + cancel order"): ("sql", "CreateOrder (rolled back)"),
}


def number(x: float) -> str:
    return f"{x:,.0f}"


def errors_sentence(rows: list[dict]) -> str:
    """What the run recorded as errors (non-2xx answers, socket errors, non-OK gRPC
    statuses, besides the 429s the throttled cases expect), from the rows themselves."""
    bad = [r for r in rows if r["errors"]]
    if not bad:
        return "No case recorded an error."
    named = "; ".join(f"{r['group']} {r['case']} at c = {r['c']}: {r['errors']}" for r in bad)
    return f"Cases that recorded errors: {named}."


def main(results_json: str, out: str) -> None:
    results = json.loads(pathlib.Path(results_json).read_text())
    out_dir = pathlib.Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = {(r["group"], r["case"], r["c"]): r for r in results["rows"]}

    def rps(key, c=TOP):
        return rows[(*key, c)]["rps"]

    table = [
        f"| what | case | req/s, c = {LEVELS[0]} | c = {LEVELS[1]} | c = {LEVELS[2]} "
        f"| p99 ms, c = {TOP} | share of the layer beneath, c = {TOP} |",
        "| --- | --- | --: | --: | --: | --: | --- |",
    ]
    for part, names in (("store", STORE), ("layer alone", CEILINGS)):
        for key, name in names.items():
            cells = [number(rows[(*key, c)]["rps"]) if (*key, c) in rows else "-" for c in LEVELS]
            top = rows.get((*key, TOP))
            beneath = BENEATH.get(key)
            share = (
                f"{100 * top['rps'] / rps(beneath):.0f} % of {CEILINGS[beneath]}"
                if beneath and top
                else "-"
            )
            table.append(
                f"| {part} | {name} | {' | '.join(cells)} | {top['p99']:,.1f} | {share} |"
                if top
                else f"| {part} | {name} | {' | '.join(cells)} | - | - |"
            )
    (out_dir / "table.md").write_text("\n".join(table) + "\n")

    floor = results["floor"]
    floor_c = max(floor["levels"], key=int)
    at_floor = floor["levels"][floor_c]
    go = {(g["rpc"], g["mode"]): g for g in results.get("go_bench") or []}
    quoted = {
        "when": results["meta"]["when"],
        "duration": results["meta"]["duration"],
        "cores": results["meta"]["cpus"],
        "top_c": TOP,
        "levels": ", ".join(str(c) for c in LEVELS),
        "product_rps": number(rps(PRODUCT)),
        "product_fresh_rps": number(rps(PRODUCT_FRESH)),
        "product_cache_gain": f"{rps(PRODUCT) / rps(PRODUCT_FRESH):.1f}",
        "products_rps": number(rps(PRODUCTS)),
        "products_fresh_rps": number(rps(PRODUCTS_FRESH)),
        "products_cache_gain": f"{rps(PRODUCTS) / rps(PRODUCTS_FRESH):.1f}",
        "product_of_grpc": f"{100 * rps(PRODUCT_FRESH) / rps(('grpc', 'GetProduct')):.0f}",
        "grpc_product_rps": number(rps(("grpc", "GetProduct"))),
        "static_rps": number(rps(("http", "static NGINX"))),
        "floor_c": floor_c,
        "floor_ratio": f"{100 * at_floor['ratio']:.0f}",
        "floor_replica_rps": number(at_floor["replica_rps"]),
        "floor_rps": number(at_floor["floor_rps"]),
        "orders_rps": number(rps(("api", "place + cancel order"))),
        "create_order_sql_rps": number(rps(("sql", "CreateOrder (rolled back)"))),
        "login_rps": number(rps(LOGIN)),
        "throttled_rps": number(rps(THROTTLED)),
        "edge_limited_rps": number(rps(EDGE_LIMITED)),
        "pool_over_per_call": f"{rps(('grpc', 'GetProduct')) / rps(('cpc', 'GetProduct')):.0f}",
        "errors": errors_sentence(results["rows"]),
    }
    # What mutual TLS costs a call: the Go benchmark's pool over mutual TLS and in plaintext.
    # A sentence per RPC, worded from the figures: more calls over TLS than without is not
    # a gain from TLS, and the sentence says what it is.
    sentences = []
    for rpc, label in (("GetProduct", "`GetProduct`"), ("PlaceAndCancelOrder", "place and cancel")):
        tls, plain = go[(rpc, "pool")], go[(rpc, "pool-plaintext")]
        share = 100 * tls["ops_per_s"] / plain["ops_per_s"]
        said = (
            f"{100 - share:.0f} % fewer calls a second over mutual TLS"
            if share < 100
            else "more over mutual TLS than in plaintext: the database's time varied more "
            "between the two runs than TLS costs a write"
        )
        sentences.append(
            f"{label}: {number(tls['ops_per_s'])} against {number(plain['ops_per_s'])} "
            f"calls/s in plaintext, {said}"
        )
    quoted["tls"] = "; ".join(sentences) + "."
    # The microcache beside the static NGINX, in interleaved rounds (bench/cache.py).
    cached = results["catalog_cache"]
    quoted["cache_c"] = cached["c"]
    quoted["cache_rounds"] = cached["rounds"]
    for name, case in (
        ("products", "GET /products"),
        ("product", "GET /products/{id}"),
        ("static", "static NGINX"),
    ):
        figures = cached["cases"][case]
        quoted[f"cache_{name}_rps"] = number(figures["rps"])
        quoted[f"cache_{name}_of_static"] = f"{100 * figures['of_static']:.0f}"
        quoted[f"cache_{name}_p99"] = f"{figures['p99']:.1f}"
        quoted[f"cache_{name}_p99s"] = ", ".join(f"{p:.1f}" for p in figures["p99s"])
    # What the metrics leave of each server's throughput (bench/metrics_cost.py).
    for kind, name in (("api", "metrics_api_left"), ("grpc", "metrics_dbsvc_left")):
        for level in results["metrics_cost"][kind].values():
            quoted[name] = f"{100 * level['left']:.1f}"
    for name, value in quoted.items():
        (out_dir / f"{name}.txt").write_text(f"{value}\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
