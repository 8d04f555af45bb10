"""The catalog's microcache beside the HTTP ceiling: cached GET /products and
GET /products/{id} through the store's NGINX, and bench's static NGINX, in interleaved
rounds at one concurrency, so that each ratio and each p99 is compared with the ceiling's
measured seconds before or after it, not minutes apart."""

from statistics import median

from ceilings import StaticNginx
from loadgen import run_wrk

# A p99 is the noisiest figure of a run: on this shared machine one 5 s run of the static
# NGINX alone has shown anything from 4 to 177 ms. Five rounds give a median that one bad
# run cannot move.
ROUNDS = 5
STATIC = "static NGINX"
CASES = {
    "GET /products": "products.lua",
    "GET /products/{id}": "product.lua",
}


def steps():
    return 1 + ROUNDS


def measure(base, conc, duration, progress):
    """{"c", "rounds", "duration", "cases": {case: {rps, p50, p99, p99s, of_static, ...}}}"""
    progress.step("starting the static NGINX beside the store's")
    static = StaticNginx()
    runs = {case: [] for case in (*CASES, STATIC)}
    try:
        urls = {case: (base, script) for case, script in CASES.items()}
        urls[STATIC] = (f"http://127.0.0.1:{static.port}", "static.lua")
        order = list(urls)
        for n in range(ROUNDS):
            progress.step(
                f"wrk cached catalog and static NGINX c={conc}, round {n + 1}/{ROUNDS}, "
                f"{duration}s each"
            )
            # Whichever runs first meets a cooler machine: take turns.
            for case in order[n % len(order) :] + order[: n % len(order)]:
                url, script = urls[case]
                runs[case].append(run_wrk(url, script, conc, duration))
    finally:
        static.stop()
    summary = {}
    for case, got in runs.items():
        summary[case] = {
            "rps": median(r[0] for r in got),
            "p50": median(r[1] for r in got),
            "p99": median(r[2] for r in got),
            "p99s": [r[2] for r in got],
            "errors": sum(r[3] for r in got),
            # Each round's own ratio, then their median.
            "of_static": median(r[0] / s[0] for r, s in zip(got, runs[STATIC], strict=True)),
        }
    return {"c": conc, "rounds": ROUNDS, "duration": duration, "cases": summary}


def section(cache):
    """results.md's table of the step."""
    lines = [
        "",
        f"## The catalog cache beside the HTTP ceiling (c = {cache['c']})",
        "",
        f"Cached catalog reads through the store's NGINX (answered from its microcache) and "
        f"bench's static NGINX, {cache['rounds']} rounds of {cache['duration']} s each, "
        f"taking turns to go first. Each figure is the median of the rounds; of static is "
        f"the median of the rounds' own ratios.",
        "",
        "| case | req/s | of static | p50 ms | p99 ms | each round's p99 ms | errors |",
        "|---|--:|--:|--:|--:|---|--:|",
    ]
    for case, s in cache["cases"].items():
        lines.append(
            f"| {case} | {s['rps']:,.0f} | {100 * s['of_static']:.0f} % | {s['p50']:.2f} | "
            f"{s['p99']:.2f} | {', '.join(f'{p:.1f}' for p in s['p99s'])} | {s['errors']} |"
        )
    return lines
