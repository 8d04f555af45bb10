"""Logins, the store's dearest request (one argon2id hash in the DB service), next to
what an attempt costs once its username is throttled (a 429 before any hash): the first
is how fast anyone can guess before the wait starts, the second what guessing costs the
store after it."""

import time
import uuid

import requests
from loadgen import row, run_wrk

RIGHT_PASSWORD = "login, right password"
THROTTLED = "login, throttled username (429)"


def steps(levels):
    return len(levels) + 2


def throttle(base, username, at_least):
    """Fails logins of username until it must wait at least `at_least` seconds: each
    failure after a wait doubles the next one."""
    http = requests.Session()
    while True:
        answer = http.post(
            f"{base}/auth/login", json={"username": username, "password": "a wrong guess"}
        )
        if answer.status_code == 429:
            wait = int(answer.headers["Retry-After"])
            if wait >= at_least:
                return
            time.sleep(wait)
        elif answer.status_code != 401:
            answer.raise_for_status()


def measure(base, user, levels, duration, progress):
    rows = []
    for c in levels:
        progress.step(f"wrk {RIGHT_PASSWORD} c={c} {duration}s")
        env = {"BENCH_USERNAME": user.username, "BENCH_PASSWORD": user.password}
        rps, p50, p99, err = run_wrk(base, "login.lua", c, duration, env)
        rows.append(row("api", RIGHT_PASSWORD, c, rps, p50, p99, err))

    ghost = f"bench_ghost_{uuid.uuid4().hex[:12]}"
    progress.step(f"failing logins of {ghost} until it waits longer than a run")
    throttle(base, ghost, duration + 2)
    c = max(levels)
    progress.step(f"wrk {THROTTLED} c={c} {duration}s")
    env = {"BENCH_USERNAME": ghost, "BENCH_PASSWORD": "a wrong guess", "BENCH_EXPECT": "429"}
    rps, p50, p99, err = run_wrk(base, "login.lua", c, duration, env)
    rows.append(row("api", THROTTLED, c, rps, p50, p99, err))
    return rows
