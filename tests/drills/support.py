"""What the drills share: supervisorctl on the local stack, a small load of
customers with every answer kept, and a fresh database connection."""

import os
import re
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import pytest
import requests
from checks import FRESH

ROOT = Path(__file__).resolve().parents[2]

# Seen when the store's NGINX retries a read on the other replica after a 503: both
# replicas answer 503 while the database is away, max_fails=1 marks both failed for
# fail_timeout, and NGINX answers 502 "no live upstreams" to every request, also for
# seconds after the database is back.
NGINX_HINT = (
    "a 502 from NGINX itself: if its log (.state/log/nginx.log) says 'no live upstreams', "
    "a 503 of the API marked the replicas failed (http_503 in proxy_next_upstream with "
    "max_fails=1)"
)


# supervisord's programs of the DB service: one, or two with DBSVC_REPLICAS=2.
DB_SERVICES = ["dbsvc"] + (["dbsvc-2"] if os.environ.get("DBSVC_REPLICAS", "2") != "1" else [])


class Stack:
    """supervisorctl on the local stack; remembers what it stopped and starts it
    again at teardown, whatever happened in between."""

    def __init__(self):
        self.stopped = set()

    def ctl(self, *args, check=True):
        result = subprocess.run(
            [
                str(ROOT / "deploy/local/stack"),
                "run",
                str(ROOT / ".venv/bin/supervisorctl"),
                "-c",
                str(ROOT / "deploy/local/supervisord.conf"),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"supervisorctl {' '.join(args)}: {result.stdout}{result.stderr}")
        return result.stdout

    def pid(self, name):
        out = self.ctl("pid", name, check=False).strip()
        return int(out) if out.isdigit() and out != "0" else None

    def stop(self, name):
        self.stopped.add(name)
        self.ctl("stop", name)

    def start(self, name):
        self.ctl("start", name, check=False)  # "already started" is fine
        self.stopped.discard(name)

    def kill(self, name):
        """SIGKILL to the program's whole process group (a granian server and its workers),
        as a crash would; supervisord then restarts it by itself."""
        pid = self.pid(name)
        os.killpg(os.getpgid(pid), signal.SIGKILL)
        return pid

    def restore(self):
        for name in sorted(self.stopped):
            self.ctl("start", name, check=False)
        self.stopped.clear()


def connect_db():
    """A fresh connection (a drill may have restarted PostgreSQL under the session's)."""
    connection = psycopg2.connect(
        host=os.environ.get("POSTGRES_HOST", "127.0.0.1"),
        port=os.environ.get("POSTGRES_PORT", "5432"),
        user=os.environ["POSTGRES_USER"],
        password=os.environ["POSTGRES_PASSWORD"],
        dbname=os.environ["POSTGRES_DB"],
        connect_timeout=5,
    )
    connection.set_session(readonly=True, autocommit=True)
    return connection


def wait_until(condition, timeout, interval=0.1):
    """Seconds until condition() was true, or None after timeout."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(interval)
    return None


def served_by(base_url, name, timeout):
    """Seconds until NGINX hands a request to replica `name` again, or None."""

    def answered_by_it():
        try:
            r = requests.get(f"{base_url}/products", headers=FRESH, timeout=2)
        except requests.RequestException:
            return False
        return r.status_code == 200 and r.headers.get("X-Served-By") == name

    return wait_until(answered_by_it, timeout, interval=0.05)


@dataclass
class Answer:
    t: float  # time.monotonic() when the answer came
    op: str  # "get", "list", "place", "cancel"
    status: int | None  # None: no HTTP answer at all (connection error)
    request_id: str
    content_type: str = ""
    detail: str = ""
    served_by: str = ""
    order_id: int | None = None


@dataclass
class Load:
    """Worker threads that each loop: read a product, list them, place an order of
    one item and cancel it, and keep every answer. Used as a context manager; the
    loops stop on exit. Bounded by `max_seconds` whatever happens."""

    base_url: str
    tokens: list
    workers: int = 4
    orders: bool = True
    product_id: int = 2
    max_seconds: float = 60.0
    answers: list = field(default_factory=list)

    def __post_init__(self):
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._loop, args=(i,), daemon=True) for i in range(self.workers)
        ]

    def __enter__(self):
        self.started = time.monotonic()
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join(15)

    def _call(self, session, op, method, path, **kwargs):
        request_id = f"drill-{uuid.uuid4().hex}"
        headers = {"X-Request-ID": request_id, **kwargs.pop("headers", {})}
        try:
            r = session.request(
                method, f"{self.base_url}{path}", headers=headers, timeout=15, **kwargs
            )
        except requests.RequestException:
            answer = Answer(time.monotonic(), op, None, request_id)
        else:
            answer = Answer(
                time.monotonic(),
                op,
                r.status_code,
                request_id,
                r.headers.get("Content-Type", ""),
                served_by=r.headers.get("X-Served-By", ""),
            )
            if "json" in answer.content_type:
                body = r.json()
                if isinstance(body, dict):
                    answer.detail = str(body.get("detail", ""))
                    if op == "place" and r.status_code == 201:
                        answer.order_id = body["id"]
        with self._lock:
            self.answers.append(answer)
        return answer

    def _loop(self, i):
        token = self.tokens[i % len(self.tokens)] if self.tokens else None
        auth = {"Authorization": f"Bearer {token}"}
        with requests.Session() as s:
            while not self._stop.is_set() and time.monotonic() - self.started < self.max_seconds:
                # no-cache: the reads reach a replica, through the parts a drill stops,
                # and leave their records, instead of NGINX's microcache answering them.
                self._call(s, "get", "GET", f"/products/{self.product_id}", headers=FRESH)
                self._call(s, "list", "GET", "/products", headers=FRESH)
                if not self.orders:
                    continue
                placed = self._call(
                    s,
                    "place",
                    "POST",
                    "/orders",
                    json={"product_id": self.product_id, "quantity": 1},
                    headers=auth,
                )
                if placed.order_id:
                    self._call(s, "cancel", "DELETE", f"/orders/{placed.order_id}", headers=auth)
                if placed.status is None or placed.status >= 500:
                    time.sleep(0.05)  # a client that backs off a little

    def between(self, start, end=float("inf")):
        with self._lock:
            return [a for a in self.answers if start <= a.t < end]

    def first_success_after(self, t, ops=("place",)):
        with self._lock:
            times = [
                a.t for a in self.answers if a.t >= t and a.op in ops and a.status in (200, 201)
            ]
        return min(times) if times else None


def summary(answers):
    """{status: count} of a list of answers, for the printed report."""
    counts = {}
    for a in answers:
        counts[a.status] = counts.get(a.status, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)))


class Bystanders:
    """What supervisord did to the programs a drill does not touch while it ran.
    The stack is shared: a program someone else stopped or restarted meanwhile
    makes the drill's figures void (it says so instead of blaming the store),
    while a program that exited by itself is the store's failure."""

    LOG = ROOT / ".state" / "log" / "supervisord.log"

    def __init__(self, *touched):
        self.touched = set(touched)
        self.offset = self.LOG.stat().st_size if self.LOG.exists() else 0

    def _events(self, pattern):
        if not self.LOG.exists():
            return []
        with open(self.LOG, errors="replace") as log:
            log.seek(self.offset)
            text = log.read()
        return sorted({name for name in re.findall(pattern, text) if name not in self.touched})

    def stopped_by_someone(self):
        """Programs stopped on request (supervisorctl stop/restart) by someone else."""
        return self._events(r"INFO stopped: (\S+) ")

    def crashed(self):
        """Programs that exited without being asked to."""
        return self._events(r"WARN exited: (\S+) .*not expected")

    def check(self):
        """Skips the drill when someone else stopped a program meanwhile; fails it
        when a program crashed."""
        disturbed = self.stopped_by_someone()
        if disturbed:
            pytest.skip(
                f"void: {', '.join(disturbed)} stopped or restarted by someone else "
                "during the drill; run it again"
            )
        crashed = self.crashed()
        assert not crashed, f"{', '.join(crashed)} exited by itself during the drill"
