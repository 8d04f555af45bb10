"""The one WSGI middleware around every request, error answers included: the request id,
X-Served-By, and one timing of the request that makes both its log record for Kafka and,
when metrics are on, its observation in the duration histogram (merch_api.metrics)."""

import re
import time
import uuid

from merchstore.log.v1 import log_pb2

from merch_api.openapi import escape

# What we accept as a caller's X-Request-ID: printable ASCII, no spaces, and short enough
# for the logging service (which refuses ids over 128 bytes). Anything else is replaced.
_SANE_REQUEST_ID = re.compile(r"^[!-~]{1,128}$")

# Where the views leave the authenticated user's id for the request's record.
USER_ID_KEY = "merch_api.user_id"


# The most UTF-8 bytes the logging service takes in a record's path and method
# (logsvc-go/internal/record): a request with a longer path still gets its record, with
# the path cut and marked so.
_MAX_PATH = 2048
_MAX_METHOD = 16
_CUT = "..."


def _printable(text: str, limit: int) -> str:
    """text with control characters escaped (they would reach an administrator's
    terminal) and cut to at most limit UTF-8 bytes."""
    text = escape(text)
    data = text.encode("utf-8")
    if len(data) > limit:
        # "ignore" drops a character the cut split in two.
        return data[: limit - len(_CUT)].decode("utf-8", "ignore") + _CUT
    return text


def request_id_of(candidate: str | None) -> str:
    if candidate and _SANE_REQUEST_ID.match(candidate):
        return candidate
    return str(uuid.uuid4())


class Observation:
    """record_duration(environ, status, seconds), if given, is called once per answer with
    the same timing the log record has."""

    def __init__(self, app, *, instance: str, submit_log, record_duration=None) -> None:
        self.app = app
        self.instance = instance
        self.submit_log = submit_log
        self.record_duration = record_duration

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        request_id = request_id_of(environ.get("HTTP_X_REQUEST_ID"))
        # Handlers read the id from the request headers, like any header.
        environ["HTTP_X_REQUEST_ID"] = request_id
        status = 500  # if the app fails before it answers, the server answers 500

        def start_with_headers(status_line, headers, exc_info=None):
            nonlocal status
            status = int(status_line[:3])
            headers.append(("X-Request-ID", request_id))
            headers.append(("X-Served-By", self.instance))
            # No answer is to be sniffed into another type (a problem into HTML).
            headers.append(("X-Content-Type-Options", "nosniff"))
            return start_response(status_line, headers, exc_info)

        try:
            answer = self.app(environ, start_with_headers)
            try:
                # A list is written in one go: granian streams any other iterable,
                # headers first, so a replica killed between the two writes would leave
                # NGINX a half answer it cannot retry elsewhere. Every answer is small.
                return [b"".join(answer)]
            finally:
                if hasattr(answer, "close"):
                    answer.close()
        finally:
            seconds = time.perf_counter() - started
            self._log(environ, request_id, status, seconds * 1000)
            if self.record_duration is not None:
                self.record_duration(environ, status, seconds)

    def _log(self, environ, request_id: str, status: int, latency_ms: float) -> None:
        method = _printable(environ["REQUEST_METHOD"], _MAX_METHOD)
        # PATH_INFO is latin-1 decoded bytes (PEP 3333); the client sent UTF-8.
        path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
        path = _printable(path, _MAX_PATH)
        entry = log_pb2.LogEntry(
            level=log_pb2.LEVEL_ERROR if status >= 500 else log_pb2.LEVEL_INFO,
            request_id=request_id,
            message=f"{method} {path} {status}",
            http=log_pb2.HttpRequest(
                method=method, path=path, status=status, latency_ms=round(latency_ms, 3)
            ),
        )
        user_id = environ.get(USER_ID_KEY)
        if user_id is not None:
            entry.http.user_id = user_id
        self.submit_log(entry)
