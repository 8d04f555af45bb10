"""`make bench`: the store under load, next to the ceilings of each layer, in one run.

Each step drives registry tools and parses what they print (loadgen.py):

    store.py     wrk through NGINX, as a customer meets the store
    cache.py     the catalog's microcache beside a static NGINX, in interleaved rounds
    logins.py    wrk on POST /auth/login: the right password, and a throttled username
    floor.py     wrk on api-1 against a minimal Flask app served the same way
    metrics_cost.py  an API replica and a DB service with and without their metrics
    ceilings.py  a static NGINX (HTTP), ghz on the DB service (gRPC), pgbench with its
                 SQL, ghz on a second DB service that connects per call
    gobench.py   dbsvc-go's Go benchmarks: the pool against connect-per-call, writes too
    logbench.py  the logging path against a direct Kafka producer
    memory.py    RSS and PSS of every process under supervisord

results.py writes report/bench/results.md and results.png. Run it through
deploy/local/stack run, which exports .env's values.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import cache
import ceilings
import floor
import logins
import metrics_cost
import store
from gobench import run_go_bench
from loadgen import ENV, ROOT, STATE
from logbench import run_logbench
from memory import stack_memory
from results import fmt, write_report


class Progress:
    """One line that says which step runs, rewritten in place on a terminal."""

    def __init__(self, total):
        self.total, self.done = total, 0
        self.tty = sys.stderr.isatty()

    def step(self, what):
        self.done += 1
        line = f"[bench {self.done:2d}/{self.total}] {what}"
        if self.tty:
            sys.stderr.write("\r\033[K" + line)
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def finish(self):
        if self.tty:
            sys.stderr.write("\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=int(ENV.get("BENCH_DURATION", "5")))
    parser.add_argument(
        "--levels", default=ENV.get("BENCH_LEVELS", "1,8,32"), help="concurrency levels"
    )
    parser.add_argument(
        "--floor-levels",
        default=ENV.get("BENCH_FLOOR_LEVELS", "1,16"),
        help="concurrency levels of api-1 against its floor",
    )
    parser.add_argument("--out", default=str(ROOT / "report" / "bench"))
    parser.add_argument("--log-records", type=int, default=20000)
    parser.add_argument(
        "--skip",
        default=ENV.get("BENCH_SKIP", ""),
        help="comma list of: api,cache,login,floor,metrics,http,grpc,sql,cpc,log",
    )
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    floor_levels = [int(x) for x in args.floor_levels.split(",")]
    # Where throughput is what the cores allow: the budget is about throughput.
    metrics_levels = [max(floor_levels)]
    skip = set(filter(None, args.skip.split(",")))
    d = args.duration
    base = f"http://127.0.0.1:{ENV.get('NGINX_PORT', '8080')}"
    dbsvc = ENV.get("DBSVC_ADDR", "127.0.0.1:50051")
    (STATE / "bench").mkdir(parents=True, exist_ok=True)

    steps = {
        "api": store.steps(levels),
        "cache": cache.steps(),
        "login": logins.steps(levels),
        "floor": floor.steps(floor_levels),
        "metrics": metrics_cost.steps(metrics_levels),
        "http": len(levels),
        "grpc": len(ceilings.GRPC_CASES) * len(levels),
        "sql": len(ceilings.SQL_SCRIPTS) * len(levels),
        "cpc": len(levels) + 1,
        "log": 1,
    }
    progress = Progress(sum(n for part, n in steps.items() if part not in skip) + 2)
    rows, floor_result, go_bench, logbench, cost, cached = [], None, None, None, None, None

    progress.step(f"registering a bench user at {base}")
    user = store.BenchUser(base)
    try:
        if "api" not in skip:
            rows += store.measure(base, user, levels, d, progress)
        if "cache" not in skip:
            cached = cache.measure(base, max(levels), d, progress)
        if "login" not in skip:
            rows += logins.measure(base, user, levels, d, progress)
        if "floor" not in skip:
            floor_result = floor.measure(floor_levels, d, progress)
        if "metrics" not in skip:
            cost = metrics_cost.measure(metrics_levels, d, progress)
        if "http" not in skip:
            rows += ceilings.http(levels, d, progress)
        if "grpc" not in skip:
            rows += ceilings.grpc(dbsvc, levels, d, progress)
        if "sql" not in skip:
            rows += ceilings.sql(levels, d, user.id, progress)
        if "cpc" not in skip:
            rows += ceilings.connect_per_call(levels, d, progress)
            progress.step(f"dbsvc-go Go benchmarks, pool and connect-per-call, {d}s each")
            go_bench = run_go_bench(d)
        if "log" not in skip:
            progress.step(f"logbench: {args.log_records} records, RPC against a direct producer")
            logbench = run_logbench(args.log_records)
    finally:
        left = user.cancel_placed()
        user.deactivate()
        if left:
            print(f"bench: cancelled {left} orders the scripts left placed", file=sys.stderr)
    progress.step("measuring the stack's memory and writing the report")
    memory = stack_memory()
    out_dir = Path(args.out)
    write_report(
        out_dir,
        rows,
        floor_result,
        go_bench,
        logbench,
        memory,
        {
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "cpus": os.cpu_count(),
            "duration": d,
        },
        cost,
        cached,
    )
    progress.finish()
    print((out_dir / "results.md").read_text())
    print(f"bench: wrote {out_dir / 'results.md'} and {out_dir / 'results.png'}")
    for kind, name in (("api", "API replica"), ("grpc", "DB service")):
        for c, s in (cost or {}).get(kind, {}).items():
            print(
                f"bench: {name} at c={c}: the metrics leave {100 * s['left']:.1f} % of its "
                f"throughput ({1000 * s['added_ms']:.1f} us added to "
                f"{1000 * s['off_cpu_ms']:.0f} us of CPU per request); measured live, "
                f"req/s with / without alone {s['on_rps']:.0f} / {s['off_rps']:.0f}, both at "
                f"once {s['together_on_rps']:.0f} / {s['together_off_rps']:.0f}"
            )
    if floor_result:
        for c, s in floor_result["levels"].items():
            print(
                f"bench: api-1 / its floor at c={c}: {100 * s['ratio']:.0f} % of the floor's "
                f"req/s ({fmt(s['replica_rps'], 0)} / {fmt(s['floor_rps'], 0)}, median of "
                f"{floor_result['rounds']} rounds' ratios)"
            )


if __name__ == "__main__":
    main()
