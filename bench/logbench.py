"""The logging path: bench/logbench's records/s of StreamLogs -> the running logsvc -> Kafka
against a direct kafka-go producer, and the delay until a consumer reads a record."""

import subprocess

from loadgen import BENCH, STATE


def run_logbench(records):
    binary = STATE / "bench" / "logbench"
    subprocess.run(["go", "build", "-o", str(binary), "."], cwd=BENCH / "logbench", check=True)
    out = subprocess.run(
        [str(binary), "-records", str(records), "-paced-duration", "3s", "-timeout", "90s"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = []
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[2].isdigit():
            rows.append(
                {
                    "path": cells[0],
                    "shape": cells[1],
                    "records": int(cells[2]),
                    "rps": float(cells[4]),
                    "p50": float(cells[5].split()[0]),
                    "p99": float(cells[6].split()[0]),
                }
            )
    if len(rows) < 2:
        raise RuntimeError(f"logbench printed no table:\n{out}")
    return rows
