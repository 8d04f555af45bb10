"""Logins, the store's dearest request (one argon2id hash in the DB service), next to
what an attempt costs once its username is throttled (a 429 before any hash): the first
is how fast anyone can guess before the wait starts, the second what guessing costs the
store after it. Both are measured at an API replica, past NGINX: the edge lets one
client address log in 10 times a minute (RATE_LIMIT_LOGIN_*), so wrk from one address
through NGINX measures the third row, what the edge's refusal costs."""

import os
import time
import uuid

import requests
from loadgen import row, run_wrk

RIGHT_PASSWORD = "login, right password (at a replica)"
THROTTLED = "login, throttled username (429, at a replica)"
EDGE_LIMITED = "login past the edge's rate limit (NGINX's 429)"


def steps(levels):
    return len(levels) + 3


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
    replica = f"http://127.0.0.1:{os.environ['API_1_PORT']}"
    env = {"BENCH_USERNAME": user.username, "BENCH_PASSWORD": user.password}
    for c in levels:
        progress.step(f"wrk {RIGHT_PASSWORD} c={c} {duration}s")
        rps, p50, p99, err = run_wrk(replica, "login.lua", c, duration, env)
        rows.append(row("api", RIGHT_PASSWORD, c, rps, p50, p99, err))
    c = max(levels)
    progress.step(f"wrk {EDGE_LIMITED} c={c} {duration}s")
    # The first logins of the burst pass; every later one is NGINX's 429, which wrk
    # counts as an error: the rate is what the edge refuses at.
    rps, p50, p99, err = run_wrk(base, "login.lua", c, duration, {**env, "BENCH_EXPECT": "429"})
    rows.append(row("api", EDGE_LIMITED, c, rps, p50, p99, err))

    ghost = f"bench_ghost_{uuid.uuid4().hex[:12]}"
    progress.step(f"failing logins of {ghost} until it waits longer than a run")
    throttle(replica, ghost, duration + 2)
    progress.step(f"wrk {THROTTLED} c={c} {duration}s")
    env = {"BENCH_USERNAME": ghost, "BENCH_PASSWORD": "a wrong guess", "BENCH_EXPECT": "429"}
    rps, p50, p99, err = run_wrk(replica, "login.lua", c, duration, env)
    rows.append(row("api", THROTTLED, c, rps, p50, p99, err))
    return rows
