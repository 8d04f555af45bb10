"""results.md (the tables), results.png (the chart) and results.json (every figure, for
report/tools/bench_section.py) from what the steps measured."""

import json

import cache
import metrics_cost


def fmt(x, digits=1):
    return "n/a" if x is None or x != x else f"{x:,.{digits}f}"


def ratio(a, b):
    return "n/a" if not b or b != b else f"{100 * a / b:.0f} %"


def write_report(out_dir, rows, floor, go_bench, logbench, memory, meta, cost=None, cached=None):
    out_dir.mkdir(parents=True, exist_ok=True)
    by = {(r["group"], r["case"], r["c"]): r for r in rows}

    def ceiling(group, case, c):
        r = by.get((group, case, c))
        return r["rps"] if r else None

    grpc_of = {"GET /products/{id}": "GetProduct", "GET /products": "ListProducts"}
    sql_of = {**grpc_of, "place + cancel order": "CreateOrder (rolled back)"}
    lines = [
        "# Benchmark of the SUSTech Merch Store",
        "",
        f"Measured {meta['when']} on {meta['cpus']} cores by `make bench` (bench/run.py), "
        f"{meta['duration']} s per case. req/s and latency are the load generator's; c is "
        f"the number of concurrent connections (wrk), concurrent calls (ghz) or clients "
        f"(pgbench). Errors are non-2xx answers, socket errors or non-OK gRPC statuses. "
        f"*mixed 60/25/15* is a store's day: 60 % `GET /products/{{id}}`, 25 % "
        f"`GET /products`, 15 % orders (a place, then its cancel on a later request).",
        "",
        "## The store through NGINX (wrk), with its ratio to each ceiling",
        "",
        "| case | c | req/s | p50 ms | p99 ms | errors | of HTTP ceiling "
        "| of gRPC (DB service) | of SQL (pgbench) |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        if r["group"] != "api":
            continue
        g = grpc_of.get(r["case"])
        s = sql_of.get(r["case"])
        lines.append(
            f"| {r['case']} | {r['c']} | {fmt(r['rps'], 0)} | {fmt(r['p50'], 2)} | "
            f"{fmt(r['p99'], 2)} | {r['errors']} | "
            f"{ratio(r['rps'], ceiling('http', 'static NGINX', r['c']))} | "
            f"{ratio(r['rps'], ceiling('grpc', g, r['c'])) if g else '-'} | "
            f"{ratio(r['rps'], ceiling('sql', s, r['c'])) if s else '-'} |"
        )
    lines += [
        "",
        "Place + cancel counts each request once (a place or a cancel), so one order "
        "is two requests; its SQL ceiling is one CreateOrder transaction.",
    ]
    if cached:
        lines += cache.section(cached)
    if floor:
        lines += floor_section(floor)
    if cost:
        lines += metrics_cost.section(cost)
    lines += [
        "",
        "## Ceilings",
        "",
        "| layer | case | c | req/s | p50 ms | p99 ms | errors |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    names = {
        "http": "HTTP: a second NGINX answering from its config",
        "grpc": "gRPC: ghz on the DB service (pool)",
        "sql": "SQL: pgbench, the DB service's statements, prepared",
        "cpc": "gRPC: ghz on a DB service connecting per call",
    }
    for group in ("http", "grpc", "sql", "cpc"):
        for r in rows:
            if r["group"] == group:
                lines.append(
                    f"| {names[group]} | {r['case']} | {r['c']} | {fmt(r['rps'], 0)} | "
                    f"{fmt(r['p50'], 2)} | {fmt(r['p99'], 2)} | {r['errors']} |"
                )
    lines += [
        "",
        "pgbench logs each transaction's latency with a clock it reads lazily, so "
        "transactions shorter than its loop read as 0 ms: its p50 is a lower bound.",
        "",
        "## The pool against connect-per-call (ghz GetProduct)",
        "",
        "| c | pool req/s | connect-per-call req/s | pool / connect-per-call "
        "| pool p99 ms | connect-per-call p99 ms |",
        "|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        if r["group"] == "cpc":
            pool = by.get(("grpc", "GetProduct", r["c"]))
            if pool:
                lines.append(
                    f"| {r['c']} | {fmt(pool['rps'], 0)} | {fmt(r['rps'], 0)} | "
                    f"{pool['rps'] / r['rps']:.1f}x | {fmt(pool['p99'], 2)} | {fmt(r['p99'], 2)} |"
                )
    if go_bench:
        lines += go_comparison(
            go_bench,
            "The pool against connect-per-call",
            "A gRPC client in the benchmark's process calls a DB service on loopback, from as "
            "many goroutines as cores; one place+cancel is two RPCs, two transactions.",
            ("pool", "pool"),
            ("connect-per-call", "connect-per-call"),
        )
        lines += go_comparison(
            go_bench,
            "What mutual TLS costs a call",
            "The same client and pool, once over mutual TLS as the store runs (the API's "
            "certificate, checked by the DB service) and once in plaintext, in one run.",
            ("pool", "mutual TLS"),
            ("pool-plaintext", "plaintext"),
        )
    if logbench:
        direct = logbench[0]["rps"]
        lines += [
            "",
            "## The logging path against a direct producer (bench/logbench)",
            "",
            "| path | senders x batch | records | records/s | of direct producer "
            "| delay p50 ms | delay p99 ms |",
            "|---|---|--:|--:|--:|--:|--:|",
        ]
        for r in logbench:
            lines.append(
                f"| {r['path']} | {r['shape']} | {r['records']} | {fmt(r['rps'], 0)} | "
                f"{'paced' if ' at ' in r['path'] else ratio(r['rps'], direct)} | "
                f"{fmt(r['p50'])} | {fmt(r['p99'])} |"
            )
        lines.append("")
        lines.append(
            "Delay: from a record's creation until a consumer of its topic read it "
            "(the running logsvc's records in log-channel, the direct producer's in a "
            "topic of its own, deleted afterwards)."
        )
    if memory:
        total_rss = sum(v[0] for v in memory.values())
        total_pss = sum(v[1] for v in memory.values())
        lines += [
            "",
            "## Resident memory of the stack (every process under supervisord, after the run)",
            "",
            "| program | processes | RSS MiB | PSS MiB |",
            "|---|--:|--:|--:|",
        ]
        for name, (rss, pss, n) in sorted(memory.items()):
            lines.append(f"| {name} | {n} | {rss / 1024:.0f} | {pss / 1024:.0f} |")
        lines.append(f"| **total** | | **{total_rss / 1024:.0f}** | **{total_pss / 1024:.0f}** |")
        lines.append("")
        lines.append(
            "RSS counts pages shared between processes (PostgreSQL's shared buffers, "
            "what granian's workers share with the process they were forked from) once "
            "per process; PSS divides them among the sharers."
        )
    lines.append("")
    lines.append("![req/s of the store's cases and of the ceilings beneath it](results.png)")
    (out_dir / "results.md").write_text("\n".join(lines) + "\n")
    write_json(
        out_dir / "results.json", rows, floor, go_bench, logbench, memory, meta, cost, cached
    )
    # The floor alone (--skip of everything else) has no row to chart.
    if rows:
        draw_chart(out_dir / "results.png", rows)


def go_comparison(go_bench, title, intro, first, second):
    """A table of dbsvc-go's two benchmarks in two modes, each (mode, label), side by side."""
    (mode_a, a), (mode_b, b) = first, second
    lines = [
        "",
        f"## {title} (dbsvc-go's Go benchmarks)",
        "",
        intro,
        "",
        f"| RPC | {a} ops/s | {b} ops/s | {a} / {b} | {a} p50 / p99 ms | {b} p50 / p99 ms |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for case, label in (("GetProduct", "GetProduct"), ("PlaceAndCancelOrder", "place+cancel")):
        x, y = go_bench.get((case, mode_a)), go_bench.get((case, mode_b))
        if x and y:
            lines.append(
                f"| {label} | {fmt(x[0], 0)} | {fmt(y[0], 0)} | {x[0] / y[0]:.2f}x | "
                f"{fmt(x[1], 2)} / {fmt(x[2], 2)} | {fmt(y[1], 2)} / {fmt(y[2], 2)} |"
            )
    return lines


def write_json(path, rows, floor, go_bench, logbench, memory, meta, cost, cached):
    """Every figure of the run, for tools that present it (the report's benchmark table)."""
    document = {
        "meta": meta,
        "rows": rows,
        "floor": floor,
        "go_bench": [
            {"rpc": rpc, "mode": mode, "ops_per_s": v[0], "p50_ms": v[1], "p99_ms": v[2]}
            for (rpc, mode), v in (go_bench or {}).items()
        ],
        "logbench": logbench,
        "memory": {
            name: {"rss_mib": rss / 1024, "pss_mib": pss / 1024, "processes": n}
            for name, (rss, pss, n) in (memory or {}).items()
        },
        "metrics_cost": cost,
        "catalog_cache": cached,
    }
    path.write_text(json.dumps(document, indent=1, default=str) + "\n")


def floor_section(floor):
    lines = [
        "",
        "## An API replica against its floor",
        "",
        f"wrk `GET /products/{{id}}` straight to api-1 (no NGINX) and to `bench/floor_app.py`, "
        f"a Flask app that makes the same gRPC GetProduct call and answers the same JSON with "
        f"nothing else (no routes from the spec, no validation, no tokens, no log records), "
        f"served by the same server as a replica (`merch_api.serve`: granian, "
        f"{floor['workers']} worker process{'es' if floor['workers'] != 1 else ''} "
        f"of {floor['threads']} threads each, from .env). "
        f"{floor['rounds']} rounds of {floor['duration']} s each, the two taking turns to go "
        f"first; each figure is the median of the rounds, and api-1 / floor is the median "
        f"of the rounds' own ratios (each round runs the two back to back on this shared "
        f"machine).",
        "",
        "| c | api-1 req/s | floor req/s | api-1 / floor | rounds' ratios "
        "| api-1 p99 ms | floor p99 ms | errors |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for c, s in floor["levels"].items():
        lines.append(
            f"| {c} | {fmt(s['replica_rps'], 0)} | {fmt(s['floor_rps'], 0)} | "
            f"{100 * s['ratio']:.0f} % | {', '.join(f'{100 * r:.0f}' for r in s['ratios'])} % | "
            f"{fmt(s['replica_p99'], 2)} | {fmt(s['floor_p99'], 2)} | {s['errors']} |"
        )
    lines += [
        "",
        "| process tree (after the rounds) | processes | RSS MiB |",
        "|---|--:|--:|",
    ]
    names = {
        "api-1": "api-1 (granian's main process and its workers)",
        "floor": "the floor (the same)",
    }
    for tree, (rss, _pss, n) in floor["memory"].items():
        lines.append(f"| {names[tree]} | {n} | {rss / 1024:.0f} |")
    return lines


# The chart's two panels: what a customer gets through NGINX, and what each layer beneath
# can do on its own. They differ by two orders of magnitude, so they get separate axes.
_CEILING_NAMES = {
    ("http", "static NGINX"): "NGINX alone (static answer)",
    ("grpc", "GetProduct"): "DB service, gRPC GetProduct",
    ("grpc", "ListProducts"): "DB service, gRPC ListProducts",
    ("cpc", "GetProduct"): "DB service connecting per call, GetProduct",
    ("sql", "GetProduct"): "PostgreSQL, GetProduct's SELECT",
    ("sql", "ListProducts"): "PostgreSQL, ListProducts' SELECT",
    ("sql", "CreateOrder (rolled back)"): "PostgreSQL, CreateOrder's transaction",
}


def _panel(axis, rows, names, levels, log):
    width = 0.8 / len(levels)
    for i, c in enumerate(levels):
        ys, values = [], []
        for j, key in enumerate(names):
            r = rows.get((*key, c))
            if r:
                ys.append(j + (i - (len(levels) - 1) / 2) * width)
                values.append(r["rps"])
        bars = axis.barh(ys, values, width, label=f"c = {c}")
        axis.bar_label(bars, labels=[f"{v:,.0f}" for v in values], padding=2, fontsize=8)
    axis.set_yticks(range(len(names)))
    axis.set_yticklabels(list(names.values()), fontsize=10)
    axis.invert_yaxis()
    if log:
        axis.set_xscale("log")
    axis.grid(axis="x", alpha=0.3)
    axis.legend(fontsize=9, loc="lower right")


def draw_chart(path, rows):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by = {(r["group"], r["case"], r["c"]): r for r in rows}
    levels = sorted({r["c"] for r in rows})
    store = {("api", r["case"]): r["case"] for r in rows if r["group"] == "api"}
    ceilings = {k: v for k, v in _CEILING_NAMES.items() if any((*k, c) in by for c in levels)}
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(11, 10), height_ratios=[max(len(store), 1), max(len(ceilings), 1)]
    )
    _panel(top, by, store, levels, log=False)
    top.set_title("(a) The store through NGINX (wrk): requests/s", fontsize=12, loc="left")
    _panel(bottom, by, ceilings, levels, log=True)
    bottom.set_title(
        "(b) The layers beneath, each alone: requests/s, log scale", fontsize=12, loc="left"
    )
    top.margins(x=0.12)
    bottom.margins(x=0.15)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
