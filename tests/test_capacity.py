"""scripts/capacity.py, the capacity model of docs/scaling.md: it reads its figures from
the bench's results.md, and turns a target load into replica counts and the limits that
replicas cannot lift. No running store needed."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("capacity", ROOT / "scripts/capacity.py")
capacity = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(capacity)

# Round figures of the shape results.md has, so the arithmetic below is checkable by eye.
FIGURES = capacity.Figures(
    api_rps_per_replica=400,
    dbsvc_calls_per_replica=5000,
    orders_per_product=1000,
    logsvc_records_per_replica=50000,
)

RESULTS_SAMPLE = """\
| mixed 60/25/15 | 32 | 814 | 43.27 | 103.33 | 0 | 1 % | - | - |
| gRPC: ghz on the DB service (pool) | GetProduct | 32 | 5,922 | 3.72 | 12.30 | 0 |
| gRPC: ghz on the DB service (pool) | ListProducts | 32 | 4,955 | 4.80 | 15.20 | 0 |
| SQL: pgbench | CreateOrder (rolled back) | 1 | 2,178 | 0.44 | 0.63 | 0 |
| SQL: pgbench | CreateOrder (rolled back) | 8 | 1,360 | 5.87 | 9.38 | 0 |
| SQL: pgbench | CreateOrder (rolled back) | 32 | 1,579 | 20.54 | 40.23 | 0 |
| StreamLogs RPC → logsvc → Kafka | 4 x 200 | 20000 | 53,223 | 83 % | 18.4 | 29.5 |
| StreamLogs RPC at 2000 records/s | 1 x ~10 | 5988 | 1,994 | paced | 8.4 | 12.4 |
"""


def test_reads_its_figures_from_the_rows_of_results_md(tmp_path):
    results = tmp_path / "results.md"
    results.write_text(RESULTS_SAMPLE)
    figures = capacity.read_figures(results)
    assert figures.api_rps_per_replica == 407  # two replicas answered 814 together
    assert figures.dbsvc_calls_per_replica == 5922
    # The lowest CreateOrder rate with clients queueing on the one row (c > 1).
    assert figures.orders_per_product == 1360
    assert figures.logsvc_records_per_replica == 53223


def test_the_committed_results_md_has_every_figure():
    figures = capacity.read_figures()
    assert figures.source == "report/bench/results.md"
    for value in (
        figures.api_rps_per_replica,
        figures.dbsvc_calls_per_replica,
        figures.orders_per_product,
        figures.logsvc_records_per_replica,
    ):
        assert value > 0


def test_a_results_md_without_the_rows_says_which_are_missing(tmp_path):
    results = tmp_path / "results.md"
    results.write_text(RESULTS_SAMPLE.splitlines()[0] + "\n")
    with pytest.raises(ValueError, match="ghz GetProduct"):
        capacity.read_figures(results)


def test_replicas_follow_the_load_at_the_planned_utilization():
    # 1,120 req/s / (400 x 0.7) = 4 API replicas exactly; one more request needs a fifth.
    assert capacity.plan(capacity.Target(rps=1120), FIGURES).api == 4
    assert capacity.plan(capacity.Target(rps=1121), FIGURES).api == 5
    # dbsvc: 7,000 calls/s / (5,000 x 0.7) = 2; logsvc stays at the minimum.
    p = capacity.plan(capacity.Target(rps=7000), FIGURES)
    assert (p.dbsvc, p.logsvc) == (2, 2)
    assert capacity.plan(capacity.Target(rps=7001), FIGURES).dbsvc == 3


def test_never_fewer_than_two_replicas():
    p = capacity.plan(capacity.Target(rps=0), FIGURES)
    assert (p.api, p.dbsvc, p.logsvc) == (2, 2, 2)
    assert p.limits == []


def test_the_pools_must_fit_in_max_connections():
    # 2 dbsvc replicas + 1 surging, 8 connections each, + migrate Job + 3 reserved.
    p = capacity.plan(capacity.Target(rps=100), FIGURES)
    assert p.connections == 3 * 8 + 1 + 3
    # 11 replicas: (11 + 1) x 8 + 4 = 100, exactly PostgreSQL's default; 12 are too many.
    at_limit = capacity.plan(capacity.Target(rps=11 * 3500), FIGURES)
    assert (at_limit.dbsvc, at_limit.connections, at_limit.limits) == (11, 100, [])
    over = capacity.plan(capacity.Target(rps=11 * 3500 + 1), FIGURES)
    assert over.connections == 108
    assert any("max_connections 100" in limit for limit in over.limits)


def test_one_popular_product_is_a_limit_that_replicas_do_not_lift():
    # 1,000 orders/s on one row at 0.7: 700/s is the plan's ceiling for a product.
    ok = capacity.plan(capacity.Target(rps=5000, orders=2100, products=3), FIGURES)
    assert ok.hot_product_orders == 700 and ok.limits == []
    hot = capacity.plan(capacity.Target(rps=5000, orders=2101, products=3), FIGURES)
    assert any("stock hotspot" in limit for limit in hot.limits)
    # The same orders over many products: each row sees few.
    spread = capacity.plan(capacity.Target(rps=5000, orders=2101, products=500), FIGURES)
    assert spread.limits == []
    # ...unless one of them takes most of them.
    skewed = capacity.Target(rps=5000, orders=2101, products=500, hot_share=0.5)
    assert capacity.plan(skewed, FIGURES).limits


def test_kafka_partitions_are_a_multiple_of_the_brokers_and_cover_the_consumers():
    scaled = capacity.Settings(replication=3)
    assert capacity.plan(capacity.Target(rps=1), FIGURES, scaled).kafka_partitions == 3
    many = capacity.Target(rps=1, consumers=4)
    assert capacity.plan(many, FIGURES, scaled).kafka_partitions == 6
    assert capacity.plan(many, FIGURES).kafka_partitions == 4


def test_the_command_line_prints_the_plan_and_fails_on_a_limit(tmp_path, capsys):
    results = tmp_path / "results.md"
    results.write_text(RESULTS_SAMPLE)
    assert capacity.main(["--rps", "800", "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert "API replicas        3" in out  # 800 / (407 x 0.7) = 2.8
    assert (
        capacity.main(
            [
                "--rps",
                "800",
                "--orders",
                "1000",
                "--products",
                "1",
                "--results",
                str(results),
                "--json",
            ]
        )
        == 1
    )
    answer = json.loads(capsys.readouterr().out)
    assert answer["plan"]["api"] == 3
    assert answer["plan"]["limits"][0].startswith("stock hotspot")
    assert capacity.main(["--rps", "1", "--results", str(tmp_path / "none.md")]) == 2
