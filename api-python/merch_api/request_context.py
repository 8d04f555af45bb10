"""ASGI middleware around every request, error responses included: the request id,
X-Served-By, and the request's one log record for Kafka."""

import re
import time
import uuid

from merchstore.log.v1 import log_pb2

# What we accept as a caller's X-Request-ID: printable ASCII, no spaces, and short enough
# for the logging service (which refuses ids over 128 bytes). Anything else is replaced.
_SANE_REQUEST_ID = re.compile(r"^[!-~]{1,128}$")


def request_id_of(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _SANE_REQUEST_ID.match(candidate):
                return candidate
    return str(uuid.uuid4())


class RequestContextMiddleware:
    def __init__(self, app, *, instance: str, submit_log) -> None:
        self.app = app
        self.instance = instance.encode()
        self.submit_log = submit_log

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_of(scope["headers"])
        # Handlers and the bearer check read the id from the request headers.
        # Connexion records the authenticated user in scope["extensions"]; the middlewares
        # below pass on copies of the scope, so the dict must exist before they copy it.
        scope.setdefault("extensions", {})
        scope["headers"] = [(k, v) for k, v in scope["headers"] if k != b"x-request-id"] + [
            (b"x-request-id", request_id.encode())
        ]
        status = 500  # if the app fails before it answers, ServerErrorMiddleware says 500

        async def send_with_headers(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                    (b"x-served-by", self.instance),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            self._log(scope, request_id, status, started)

    def _log(self, scope, request_id: str, status: int, started: float) -> None:
        latency_ms = (time.perf_counter() - started) * 1000
        method, path = scope["method"], scope["path"]
        entry = log_pb2.LogEntry(
            level=log_pb2.LEVEL_ERROR if status >= 500 else log_pb2.LEVEL_INFO,
            request_id=request_id,
            message=f"{method} {path} {status}",
            http=log_pb2.HttpRequest(
                method=method, path=path, status=status, latency_ms=round(latency_ms, 3)
            ),
        )
        user = scope.get("extensions", {}).get("connexion_context", {}).get("user")
        if user is not None:
            entry.http.user_id = int(user)
        self.submit_log(entry)
