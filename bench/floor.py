"""An API replica against its floor: api-1 without NGINX against bench/floor_app.py (the
same gRPC call and JSON, nothing else) served by the same server with the same workers
and threads, so that their ratio is what the replica's own layers cost."""

import contextlib
import os
import signal
import subprocess
import sys
from statistics import median

import requests
from loadgen import BENCH, ENV, ROOT, ROUNDS, STATE, free_port, run_wrk, wait_port
from memory import supervised_pid, tree_memory

WARM_UP_SECONDS = 2
SCRIPT = "product.lua"


class FloorApp:
    """floor_app served by merch_api.serve, as a replica is, with the replica's
    WEB_CONCURRENCY and API_THREADS (from .env, through deploy/local/stack run)."""

    def __init__(self):
        self.port = free_port()
        # The child writes to it as long as it runs.
        log = open(STATE / "bench" / "floor.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from merch_api.serve import main; main('floor_app:create_app')",
            ],
            cwd=BENCH,
            env={
                **ENV,
                "PYTHONPATH": os.pathsep.join([str(ROOT / "api-python"), str(BENCH)]),
                "API_HOST": "127.0.0.1",
                "API_PORT": str(self.port),
            },
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own process group, so that stop() reaches granian's workers too.
            start_new_session=True,
        )
        try:
            wait_port(self.port, timeout=30)
        except RuntimeError:
            self.stop()
            raise

    def stop(self):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(20)
        # A worker that outlived its main process would hold the port and the memory.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def _check_same_answer(replica, floor):
    """Fails when the floor no longer answers what the replica does, which would make
    the ratio meaningless. Stock is left out: other clients may change it meanwhile."""
    answers = []
    for url in (replica, floor):
        answer = requests.get(f"{url}/products/1", timeout=5)
        answer.raise_for_status()
        answers.append({k: v for k, v in answer.json().items() if k != "stock"})
    if answers[0] != answers[1]:
        raise RuntimeError(f"the floor answers {answers[1]}, api-1 {answers[0]}")


def steps(levels):
    return 1 + ROUNDS * len(levels)


def _summary(pairs):
    """pairs: one (replica, floor) of run_wrk's results per round."""
    ratios = [replica[0] / floor[0] for replica, floor in pairs]
    return {
        "replica_rps": median(replica[0] for replica, _ in pairs),
        "floor_rps": median(floor[0] for _, floor in pairs),
        "replica_p99": median(replica[2] for replica, _ in pairs),
        "floor_p99": median(floor[2] for _, floor in pairs),
        "errors": sum(replica[3] + floor[3] for replica, floor in pairs),
        "ratios": ratios,
        "ratio": median(ratios),
    }


def measure(levels, duration, progress):
    """{"levels": {c: summary}, "memory": {tree: (RSS, PSS, processes)}, ...}"""
    replica = f"http://127.0.0.1:{ENV.get('API_1_PORT', '5001')}"
    app = FloorApp()
    floor = f"http://127.0.0.1:{app.port}"
    try:
        _check_same_answer(replica, floor)
        progress.step(f"warming up api-1 and the floor, {WARM_UP_SECONDS}s each")
        for url in (replica, floor):
            run_wrk(url, SCRIPT, max(levels), WARM_UP_SECONDS)
        pairs = {c: [] for c in levels}
        for n in range(ROUNDS):
            for c in levels:
                progress.step(
                    f"wrk GET /products/{{id}} c={c} on api-1 and on the floor, "
                    f"round {n + 1}/{ROUNDS}, {duration}s each"
                )
                # Whichever runs second meets a machine warmer by one run: take turns.
                order = (replica, floor) if n % 2 == 0 else (floor, replica)
                got = {url: run_wrk(url, SCRIPT, c, duration) for url in order}
                pairs[c].append((got[replica], got[floor]))
        memory = {
            "api-1": tree_memory(supervised_pid("api-1")),
            "floor": tree_memory(app.proc.pid),
        }
    finally:
        app.stop()
    if memory["api-1"][2] != memory["floor"][2]:
        print(
            f"bench: api-1 runs {memory['api-1'][2]} processes, the floor "
            f"{memory['floor'][2]}: is .env's WEB_CONCURRENCY the one api-1 started with?",
            file=sys.stderr,
        )
    return {
        "levels": {c: _summary(p) for c, p in pairs.items()},
        "memory": memory,
        "workers": int(ENV.get("WEB_CONCURRENCY", "1")),
        "threads": int(ENV.get("API_THREADS", "2")),
        "rounds": ROUNDS,
        "duration": duration,
    }
