"""results.md (the tables) and results.png (the chart) from what the steps measured."""

import metrics_cost


def fmt(x, digits=1):
    return "n/a" if x is None or x != x else f"{x:,.{digits}f}"


def ratio(a, b):
    return "n/a" if not b or b != b else f"{100 * a / b:.0f} %"


def write_report(out_dir, rows, floor, go_bench, logbench, memory, meta, cost=None):
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
        f"Run {meta['when']} on {meta['cpus']} cores, {meta['duration']} s per case; "
        f"`make bench` (bench/run.py) wrote this file. req/s and latency are the load "
        f"generator's; c is the number of concurrent connections (wrk), concurrent "
        f"calls (ghz) or clients (pgbench). Errors are non-2xx answers, socket errors "
        f"or non-OK gRPC statuses.",
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
        lines += [
            "",
            "## The pool against connect-per-call (dbsvc-go's Go benchmarks)",
            "",
            "A gRPC client in the benchmark's process calls a DB service on loopback, from "
            "as many goroutines as cores; one place+cancel is two RPCs, two transactions.",
            "",
            "| RPC | pool ops/s | connect-per-call ops/s | pool / connect-per-call "
            "| pool p50 / p99 ms | connect-per-call p50 / p99 ms |",
            "|---|--:|--:|--:|--:|--:|",
        ]
        for case, label in (("GetProduct", "GetProduct"), ("PlaceAndCancelOrder", "place+cancel")):
            pool, per_call = go_bench.get((case, "pool")), go_bench.get((case, "connect-per-call"))
            if pool and per_call:
                lines.append(
                    f"| {label} | {fmt(pool[0], 0)} | {fmt(per_call[0], 0)} | "
                    f"{pool[0] / per_call[0]:.1f}x | {fmt(pool[1], 2)} / {fmt(pool[2], 2)} | "
                    f"{fmt(per_call[1], 2)} / {fmt(per_call[2], 2)} |"
                )
    if logbench:
        direct = logbench[0]["rps"]
        lines += [
            "",
            "## The logging path against a direct producer (logsvc-go/cmd/logbench)",
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
            "Delay: from a record's creation until a consumer of the topic read it "
            "(logbench's own topic, deleted afterwards)."
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
    lines.append("![req/s and p99 per case](results.png)")
    (out_dir / "results.md").write_text("\n".join(lines) + "\n")
    # The floor alone (--skip of everything else) has no row to chart.
    if rows:
        draw_chart(out_dir / "results.png", rows)


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


_CHART_PREFIX = {
    "api": "",
    "http": "ceiling: ",
    "grpc": "gRPC: ",
    "sql": "SQL: ",
    "cpc": "gRPC per-call: ",
}


def chart_label(r):
    return _CHART_PREFIX[r["group"]] + r["case"]


def draw_chart(path, rows):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = []
    for r in rows:
        label = chart_label(r)
        if label not in series:
            series.append(label)
    levels = sorted({r["c"] for r in rows})
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(13, 9), sharex=True)
    width = 0.8 / len(levels)
    for i, c in enumerate(levels):
        xs, rps, p99 = [], [], []
        for j, label in enumerate(series):
            for r in rows:
                if chart_label(r) == label and r["c"] == c:
                    xs.append(j + (i - (len(levels) - 1) / 2) * width)
                    rps.append(r["rps"])
                    p99.append(r["p99"])
        top.bar(xs, rps, width, label=f"c={c}")
        bottom.bar(xs, p99, width, label=f"c={c}")
    top.set_yscale("log")
    top.set_ylabel("requests/s (log)")
    top.set_title("SUSTech Merch Store: the store through NGINX, and the ceilings of its layers")
    bottom.set_yscale("log")
    bottom.set_ylabel("p99 latency, ms (log)")
    bottom.set_xticks(range(len(series)))
    bottom.set_xticklabels(series, rotation=30, ha="right", fontsize=8)
    top.legend()
    top.grid(axis="y", alpha=0.3)
    bottom.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
