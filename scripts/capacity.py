#!/usr/bin/env python3
"""How many replicas a target load needs, from the figures `make bench` measured.

    python3 scripts/capacity.py --rps 2000
    python3 scripts/capacity.py --rps 2000 --orders 150 --products 3
    python3 scripts/capacity.py --rps 5000 --orders 600 --products 500 --json

It reads report/bench/results.md (or --results) for four figures and says where each
number comes from; docs/scaling.md explains the model. A replica is planned at
--utilization (0.7, the API's HPA target) of what the bench saw. Exit status 1 when the
target passes a limit that replicas cannot lift: PostgreSQL's max_connections, or the
single-row stock hotspot of one product.

The figures are of the whole store on one 2-core machine, every process on the same two
cores: per replica they are lower bounds for a replica with a core of its own.
"""

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "report/bench/results.md"


@dataclass(frozen=True)
class Figures:
    """Measured rates, each with the results.md row it comes from."""

    api_rps_per_replica: float  # mixed 60/25/15 through NGINX at c=32, divided by 2 replicas
    dbsvc_calls_per_replica: float  # ghz GetProduct on the DB service (pool), c=32
    orders_per_product: float  # pgbench CreateOrder on one product row, the lowest of c>1
    logsvc_records_per_replica: float  # StreamLogs RPC -> logsvc -> Kafka
    source: str = "given"


def _number(text: str) -> float:
    return float(text.replace(",", "").strip())


def _rows(markdown: str):
    for line in markdown.splitlines():
        if line.startswith("|") and not line.startswith("|--") and not line.startswith("|-"):
            yield [cell.strip() for cell in line.strip().strip("|").split("|")]


def read_figures(path: Path = RESULTS) -> Figures:
    """The four figures from a results.md that bench/run.py wrote."""
    api = dbsvc = logsvc = None
    orders = []
    for cells in _rows(path.read_text()):
        if cells[:2] == ["mixed 60/25/15", "32"]:
            # Two replicas (api-1, api-2) answered it together.
            api = _number(cells[2]) / 2
        elif len(cells) > 3 and cells[0].startswith("gRPC: ghz on the DB service (pool)"):
            if cells[1:3] == ["GetProduct", "32"]:
                dbsvc = _number(cells[3])
        elif len(cells) > 3 and cells[1] == "CreateOrder (rolled back)" and cells[2] != "1":
            # Every pgbench client orders product 3: with more than one client they queue
            # on its row lock, which is what a popular product does.
            orders.append(_number(cells[3]))
        elif cells[0].startswith("StreamLogs RPC") and "paced" not in cells:
            logsvc = _number(cells[3])
    missing = [
        name
        for name, value in (
            ("mixed 60/25/15 at c=32", api),
            ("ghz GetProduct at c=32", dbsvc),
            ("pgbench CreateOrder at c>1", orders or None),
            ("StreamLogs RPC -> logsvc -> Kafka", logsvc),
        )
        if value is None
    ]
    if missing:
        raise ValueError(f"{path} has no row for: {', '.join(missing)}; run `make bench`")
    resolved = path.resolve()
    shown = resolved.relative_to(ROOT) if resolved.is_relative_to(ROOT) else resolved
    return Figures(api, dbsvc, min(orders), logsvc, source=str(shown))


@dataclass(frozen=True)
class Target:
    rps: float  # REST requests per second through the Ingress
    orders: float = 0.0  # orders placed per second (part of rps)
    products: int = 3  # products the orders spread over
    hot_share: float | None = None  # share of orders on the busiest product; None: even
    write_share: float = 0.15  # requests that change state (one more log record each)
    db_calls_per_request: float = 1.0
    consumers: int = 1  # consumers of one group that read log-channel in parallel


@dataclass(frozen=True)
class Settings:
    utilization: float = 0.7
    min_replicas: int = 2
    api_threads: int = 2  # API_THREADS: DB calls one API replica has in flight at most
    pool_max_conns: int = 8  # DB_POOL_MAX_CONNS
    max_connections: int = 100  # PostgreSQL's
    reserved_connections: int = 3  # superuser_reserved_connections
    surge: int = 1  # extra dbsvc pods during a rolling update
    replication: int = 1  # Kafka brokers and the topic's replication factor


@dataclass(frozen=True)
class Plan:
    api: int
    dbsvc: int
    logsvc: int
    kafka_brokers: int
    kafka_partitions: int
    connections: int
    connections_limit: int
    calls_in_flight: int
    pooled_connections: int
    hot_product_orders: float
    hot_product_ceiling: float
    log_records: float
    limits: list


def _replicas(load: float, per_replica: float, settings: Settings) -> int:
    return max(settings.min_replicas, math.ceil(load / (per_replica * settings.utilization)))


def plan(target: Target, figures: Figures, settings: Settings = Settings()) -> Plan:
    api = _replicas(target.rps, figures.api_rps_per_replica, settings)
    dbsvc = _replicas(
        target.rps * target.db_calls_per_request, figures.dbsvc_calls_per_replica, settings
    )
    records = target.rps * (1 + target.write_share)
    logsvc = _replicas(records, figures.logsvc_records_per_replica, settings)

    # Each dbsvc replica opens up to its pool; a rolling update adds `surge` pods, the
    # migrate Job one connection, and PostgreSQL keeps some for superusers.
    connections = (
        (dbsvc + settings.surge) * settings.pool_max_conns + 1 + settings.reserved_connections
    )
    limits = []
    if connections > settings.max_connections:
        limits.append(
            f"PostgreSQL: {dbsvc} dbsvc replicas (+{settings.surge} surging) x pool "
            f"{settings.pool_max_conns} + 1 + {settings.reserved_connections} reserved = "
            f"{connections} connections > max_connections {settings.max_connections}: "
            "shrink DB_POOL_MAX_CONNS, raise max_connections, or pool in front of "
            "PostgreSQL (PgBouncer, CloudNativePG's Pooler)"
        )

    share = target.hot_share if target.hot_share is not None else 1 / target.products
    hot = target.orders * share
    ceiling = figures.orders_per_product * settings.utilization
    if hot > ceiling:
        limits.append(
            f"stock hotspot: {hot:.0f} orders/s on one product > {ceiling:.0f}/s, what one "
            "row lock passes at the planned utilization; more replicas do not help (they "
            "queue on the same row); split the product's stock over rows, or reserve "
            "stock ahead (docs/scaling.md)"
        )

    brokers = max(1, settings.replication)
    # A multiple of the brokers (leaders spread evenly), at least one per consumer.
    partitions = brokers * math.ceil(max(target.consumers, brokers) / brokers)
    return Plan(
        api=api,
        dbsvc=dbsvc,
        logsvc=logsvc,
        kafka_brokers=brokers,
        kafka_partitions=partitions,
        connections=connections,
        connections_limit=settings.max_connections,
        calls_in_flight=api * settings.api_threads,
        pooled_connections=dbsvc * settings.pool_max_conns,
        hot_product_orders=round(hot, 1),
        hot_product_ceiling=round(ceiling, 1),
        log_records=round(records, 1),
        limits=limits,
    )


def render(p: Plan, target: Target, figures: Figures, settings: Settings) -> str:
    u = settings.utilization
    lines = [
        f"target: {target.rps:g} req/s, {target.orders:g} orders/s over {target.products} "
        f"product(s); replicas planned at {u:.0%} of the measured rates ({figures.source})",
        "",
        f"  API replicas     {p.api:>4}   "
        f"{figures.api_rps_per_replica:,.0f} req/s each (mixed workload)",
        f"  dbsvc replicas   {p.dbsvc:>4}   "
        f"{figures.dbsvc_calls_per_replica:,.0f} calls/s each; {p.calls_in_flight} calls in "
        f"flight at most for {p.pooled_connections} pooled connections",
        f"  logsvc replicas  {p.logsvc:>4}   "
        f"{figures.logsvc_records_per_replica:,.0f} records/s each; "
        f"{p.log_records:,.0f} records/s to write",
        f"  Kafka            {p.kafka_brokers:>4}   broker(s), log-channel with "
        f"{p.kafka_partitions} partition(s), replication {settings.replication}",
        f"  PostgreSQL          1   {p.connections} of max_connections {p.connections_limit}",
        f"  busiest product  {p.hot_product_orders:>7,.1f} orders/s of "
        f"{p.hot_product_ceiling:,.0f}/s (one row lock: "
        f"{figures.orders_per_product:,.0f} CreateOrder/s measured)",
    ]
    if p.limits:
        lines += ["", "limits passed:"] + [f"  - {limit}" for limit in p.limits]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rps", type=float, required=True, help="REST requests/s to serve")
    parser.add_argument("--orders", type=float, default=0.0, help="orders placed per second")
    parser.add_argument("--products", type=int, default=3, help="products the orders spread over")
    parser.add_argument(
        "--hot-share", type=float, help="share of orders on the busiest product (default: even)"
    )
    parser.add_argument("--write-share", type=float, default=0.15, help="share of writes (0.15)")
    parser.add_argument("--consumers", type=int, default=1, help="parallel readers of the topic")
    parser.add_argument("--utilization", type=float, default=0.7, help="planned share of a rate")
    parser.add_argument("--pool", type=int, default=8, help="DB_POOL_MAX_CONNS (8)")
    parser.add_argument("--max-connections", type=int, default=100, help="PostgreSQL's (100)")
    parser.add_argument("--replication", type=int, default=1, help="Kafka brokers and replicas")
    parser.add_argument("--results", type=Path, default=RESULTS, help="a results.md of make bench")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    args = parser.parse_args(argv)
    if args.rps < 0 or args.orders < 0 or args.products < 1 or not 0 < args.utilization <= 1:
        parser.error("--rps and --orders must be >= 0, --products >= 1, 0 < --utilization <= 1")
    if args.hot_share is not None and not 0 < args.hot_share <= 1:
        parser.error("--hot-share must be in (0, 1]")

    try:
        figures = read_figures(args.results)
    except (OSError, ValueError) as error:
        print(f"capacity: {error}", file=sys.stderr)
        return 2
    target = Target(
        rps=args.rps,
        orders=args.orders,
        products=args.products,
        hot_share=args.hot_share,
        write_share=args.write_share,
        consumers=args.consumers,
    )
    settings = Settings(
        utilization=args.utilization,
        pool_max_conns=args.pool,
        max_connections=args.max_connections,
        replication=args.replication,
    )
    result = plan(target, figures, settings)
    if args.json:
        print(json.dumps({"figures": asdict(figures), "plan": asdict(result)}, indent=2))
    else:
        print(render(result, target, figures, settings))
    return 1 if result.limits else 0


if __name__ == "__main__":
    sys.exit(main())
