"""The middleware around every request: the request id, X-Served-By, the request's one
log entry and its one duration, timed once; and what the log shipper fills in before an
entry is queued."""

import re

import pytest
from merch_api.log_shipper import LogShipper
from merch_api.observation import USER_ID_KEY, Observation, request_id_of
from merchstore.log.v1 import log_pb2

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.mark.parametrize("sent", ["abc", "client-1234", "x" * 128, "!~", "a/b:c"])
def test_a_sane_request_id_is_kept(sent):
    assert request_id_of(sent) == sent


@pytest.mark.parametrize("sent", [None, "", "x" * 129, "has space", "tab\there", "é", "nul\x00"])
def test_anything_else_is_replaced_by_a_fresh_uuid(sent):
    made = request_id_of(sent)
    assert UUID.match(made) and made != sent
    assert request_id_of(sent) != made  # fresh each time


def run(app, environ=None, user_id=None, durations=None):
    """Calls the middleware around app like a WSGI server; returns (status line, headers,
    body, the submitted log entries). durations, a list, gets what the middleware records
    for the metrics."""
    entries, answered = [], {}

    def start_response(status, headers, exc_info=None):
        answered.update(status=status, headers=dict(headers))

    def wrapped(environ, start_response):
        if user_id is not None:
            environ[USER_ID_KEY] = user_id
        return app(environ, start_response)

    middleware = Observation(
        wrapped,
        instance="api-7",
        submit_log=entries.append,
        record_duration=None
        if durations is None
        else lambda environ, status, seconds: durations.append((status, seconds)),
    )
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/products/1", **(environ or {})}
    body = b"".join(middleware(environ, start_response))
    return answered.get("status"), answered.get("headers", {}), body, entries


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hel", b"lo"]


def test_the_answer_carries_the_request_id_and_the_replica():
    status, headers, body, entries = run(hello, {"HTTP_X_REQUEST_ID": "mine-1"})
    assert (status, body) == ("200 OK", b"hello")
    assert headers["X-Request-ID"] == "mine-1"
    assert headers["X-Served-By"] == "api-7"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert len(entries) == 1
    entry = entries[0]
    assert (entry.request_id, entry.level, entry.message) == (
        "mine-1",
        log_pb2.LEVEL_INFO,
        "GET /products/1 200",
    )
    assert (entry.http.method, entry.http.path, entry.http.status) == ("GET", "/products/1", 200)
    assert not entry.http.HasField("user_id")
    assert entry.http.latency_ms > 0


def test_the_entry_names_the_signed_in_user():
    *_, entries = run(hello, user_id=42)
    assert entries[0].http.user_id == 42


def test_an_app_that_fails_before_answering_is_logged_as_an_error_500():
    def broken(environ, start_response):
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError):
        run(broken, {"HTTP_X_REQUEST_ID": "boom"})
    # The entry is submitted even though the app raised.
    entries = []
    durations = []
    middleware = Observation(
        broken,
        instance="api-7",
        submit_log=entries.append,
        record_duration=lambda environ, status, seconds: durations.append(status),
    )
    with pytest.raises(RuntimeError):
        middleware({"REQUEST_METHOD": "GET", "PATH_INFO": "/"}, lambda *a: None)
    assert [(e.level, e.http.status) for e in entries] == [(log_pb2.LEVEL_ERROR, 500)]
    assert durations == [500]


def test_the_log_record_and_the_metric_share_one_timing():
    def slow(environ, start_response):
        start_response("404 Not Found", [])
        return [b""]

    durations = []
    *_, entries = run(slow, durations=durations)
    [(status, seconds)] = durations
    assert status == 404
    assert entries[0].http.latency_ms == round(seconds * 1000, 3)


def test_a_long_path_is_cut_and_control_characters_escaped():
    long_path = "/products/" + "9" * 3000
    *_, entries = run(hello, {"PATH_INFO": long_path})
    path = entries[0].http.path
    assert len(path.encode()) <= 2048 and path.endswith("...") and path.startswith("/products/99")
    # PEP 3333: PATH_INFO holds the client's UTF-8 bytes decoded as latin-1.
    odd = "/products/\x1b[31m/é".encode().decode("latin-1")
    *_, entries = run(hello, {"PATH_INFO": odd})
    assert entries[0].http.path == "/products/\\x1b[31m/\\xe9"
    assert entries[0].message == "GET /products/\\x1b[31m/\\xe9 200"
    # Without a control character, the client's UTF-8 path is kept as it is.
    *_, entries = run(hello, {"PATH_INFO": "/products/é".encode().decode("latin-1")})
    assert entries[0].http.path == "/products/é"


def test_a_cut_never_splits_a_character():
    path = "/" + "é" * 2000  # 4001 bytes of UTF-8
    *_, entries = run(hello, {"PATH_INFO": path.encode().decode("latin-1")})
    cut = entries[0].http.path
    assert len(cut.encode()) <= 2048 and cut.endswith("...")
    cut.encode("utf-8")  # no half character
    assert set(cut[1:-3]) == {"é"}


def test_submit_fills_what_the_entry_lacks_and_gives_each_its_own_event_id():
    shipper = LogShipper("127.0.0.1:9", instance="api-3")  # never started: nothing is sent
    entries = [log_pb2.LogEntry(level=log_pb2.LEVEL_INFO, request_id=f"r{i}") for i in range(3)]
    for e in entries:
        shipper.submit(e)
    ids = [e.event_id for e in entries]
    assert all(UUID.match(i) for i in ids) and len(set(ids)) == 3
    assert all(e.service == "api" and e.instance == "api-3" and e.HasField("ts") for e in entries)
    # What the entry has is kept, its event id too (a resubmitted entry is the same one).
    own = log_pb2.LogEntry(service="db", instance="db-1", event_id="mine")
    own.ts.FromSeconds(5)
    shipper.submit(own)
    assert (own.service, own.instance, own.event_id, own.ts.seconds) == ("db", "db-1", "mine", 5)
    assert shipper.stats()["queued"] == 4


def test_submit_drops_and_counts_when_the_queue_is_full():
    shipper = LogShipper("127.0.0.1:9", queue_size=2)
    for i in range(5):
        shipper.submit(log_pb2.LogEntry(request_id=f"r{i}"))
    stats = shipper.stats()
    assert (stats["queued"], stats["dropped"], stats["sent"]) == (2, 3, 0)
    with pytest.raises(ValueError):
        LogShipper("127.0.0.1:9", queue_size=0)
