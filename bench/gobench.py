"""dbsvc-go's Go benchmarks (internal/server/bench_test.go): the pool against
connect-per-call for the write transactions too, which ghz cannot chain."""

import re
import subprocess

from loadgen import ENV, ROOT

_GO_BENCH_LINE = re.compile(
    r"^Benchmark(\w+)/([\w-]+)-\d+\s+\d+\s+[\d.]+ ns/op\s+([\d.]+) ops/s"
    r"\s+([\d.]+) p50-ms\s+([\d.]+) p99-ms"
)


def run_go_bench(duration):
    """GetProduct and place+cancel, with the pool and connecting per call, from a gRPC
    client in the same process over loopback, in a throwaway database.
    {(benchmark, mode): (ops/s, p50, p99)}"""
    out = subprocess.run(
        [
            "go",
            "test",
            "-run",
            "^$",
            "-bench",
            ".",
            f"-benchtime={duration}s",
            "./internal/server/",
        ],
        cwd=ROOT / "dbsvc-go",
        env=ENV,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = (_GO_BENCH_LINE.match(line) for line in out.splitlines())
    return {(m[1], m[2]): tuple(float(x) for x in m.groups()[2:]) for m in found if m}
