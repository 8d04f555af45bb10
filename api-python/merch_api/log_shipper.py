"""Ships the API's log entries to the logging service without ever making a request wait.

submit() appends an entry to a bounded in-memory queue and returns at once; when the queue
is full the entry is dropped and counted. One daemon thread wakes every linger_seconds,
takes up to batch_size queued entries and sends them as one message of one StreamLogs
call. logsvc answers a call only after Kafka has acknowledged every entry of it, so a call
that fails (logsvc or Kafka down, a timeout) is sent again, with exponential backoff,
until it succeeds: at-least-once, a record may arrive twice but is not lost; both copies
carry the event_id submit() gave the entry, so a consumer can drop the second. While that
batch waits, new entries queue up; what does not fit is dropped, and once a batch gets
through again a WARNING entry says how many were dropped.

The one gRPC channel reconnects by itself (with grpc's own backoff, capped at 2 s here),
so records flow again after logsvc comes back without restarting the API.
"""

import logging
import math
import threading
import time
import uuid
from collections import deque

import grpc
from merchstore.log.v1 import log_pb2, log_pb2_grpc
from tenacity import Retrying, retry_if_exception, wait_exponential_jitter

from merch_api.mutual_tls import LOG_SERVICE, MutualTLS

log = logging.getLogger(__name__)

_CHANNEL_OPTIONS = [
    # grpc's default reconnect backoff grows to 120 s; after logsvc restarts we want the
    # records flowing again within seconds.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
]

# Set by logsvc on every answer: how many entries of the call are in Kafka. The only way
# to learn it from a failed call.
_ACCEPTED_COUNT_TRAILER = "accepted-count"


def _worth_retrying(error: BaseException) -> bool:
    # INVALID_ARGUMENT means logsvc published the valid entries and named the bad ones:
    # sending the batch again would duplicate the former and never fix the latter. Any
    # other failure means the batch was not acknowledged, so it goes again.
    return isinstance(error, grpc.RpcError) and error.code() != grpc.StatusCode.INVALID_ARGUMENT


class LogShipper:
    """One per process, created after the WSGI server forks (see start())."""

    def __init__(
        self,
        target: str,
        *,
        queue_size: int = 10000,
        batch_size: int = 500,
        instance: str = "",
        service: str = "api",
        call_timeout: float = 10.0,
        linger_seconds: float = 0.2,
        tls: MutualTLS | None = None,
    ) -> None:
        """tls: how to reach the logging service; None is plaintext, for a test's own
        logging service."""
        if queue_size < 1 or batch_size < 1:
            raise ValueError("queue_size and batch_size must be at least 1")
        self._target = target
        self._tls = tls
        self._queue_size = queue_size
        self._batch_size = batch_size
        self._instance = instance
        self._service = service
        # logsvc gives up on Kafka after 5 s (LOGSVC_PUBLISH_TIMEOUT) and says why; this
        # is only for a logsvc that stops answering altogether.
        self._call_timeout = call_timeout
        self._linger_seconds = linger_seconds
        # A deque, not a queue.Queue: appending takes no lock, and the sender polls
        # instead of being woken by every entry, which would cost a thread switch per
        # request (docs/api-serving.md, "Logging").
        self._queue: deque[log_pb2.LogEntry] = deque()
        self._lock = threading.Lock()
        self._sent = 0
        self._dropped = 0
        self._unreported_drops = 0
        self._retried_batches = 0
        self._rejected = 0
        self._closing = threading.Event()
        self._deadline = math.inf  # monotonic time at which close() gives up
        self._channel: grpc.Channel | None = None
        self._stub: log_pb2_grpc.LogServiceStub | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Opens the channel and starts the sender thread. Call it in the process that
        submits: gRPC channels and threads do not survive fork()."""
        if self._thread is not None:
            raise RuntimeError("LogShipper.start() was already called")
        self._channel = (
            grpc.insecure_channel(self._target, options=_CHANNEL_OPTIONS)
            if self._tls is None
            else self._tls.channel(self._target, LOG_SERVICE, _CHANNEL_OPTIONS)
        )
        self._stub = log_pb2_grpc.LogServiceStub(self._channel)
        self._thread = threading.Thread(target=self._run, name="log-shipper", daemon=True)
        self._thread.start()

    def submit(self, entry: log_pb2.LogEntry) -> None:
        """Queues entry and returns at once; drops and counts it when the queue is full.
        Fills ts (now), service, instance and event_id when entry lacks them. The
        event_id is given here, once: every retry of a batch sends the same entries, so
        the copies at-least-once delivery may leave in Kafka share it."""
        if not entry.event_id:
            entry.event_id = str(uuid.uuid4())
        if not entry.HasField("ts"):
            entry.ts.FromNanoseconds(time.time_ns())
        if not entry.service:
            entry.service = self._service
        if not entry.instance:
            entry.instance = self._instance
        # Threads may race past the check together: the bound is approximate by a few
        # entries, which is all it needs to be.
        if len(self._queue) < self._queue_size:
            self._queue.append(entry)
            return
        with self._lock:
            self._dropped += 1
            self._unreported_drops += 1

    def stats(self) -> dict[str, int]:
        """queued: waiting in the queue; sent: acknowledged by logsvc (so in Kafka);
        dropped: lost because the queue was full (or close() ran out of time);
        retried_batches: calls sent again after a failure; rejected: entries logsvc
        refused as malformed (a bug in the caller, see the API's stderr)."""
        with self._lock:
            return {
                "queued": len(self._queue),
                "sent": self._sent,
                "dropped": self._dropped,
                "retried_batches": self._retried_batches,
                "rejected": self._rejected,
            }

    @property
    def channel(self) -> grpc.Channel:
        """The channel to the logging service, opened by start(): the worker's only one
        (its health check goes down it too)."""
        if self._channel is None:
            raise RuntimeError("LogShipper.start() was not called")
        return self._channel

    def is_alive(self) -> bool:
        """Whether the sender thread runs; if it died, entries only pile up."""
        return self._thread is not None and self._thread.is_alive()

    def close(self, timeout: float = 5.0) -> None:
        """Sends what is queued for up to timeout seconds, then stops; what is left
        counts as dropped."""
        self._deadline = time.monotonic() + timeout
        self._closing.set()
        if self._thread is not None:
            self._thread.join(timeout + 1.0)
        if self._channel is not None:
            self._channel.close()

    def _run(self) -> None:
        while True:
            if self._closing.is_set() and (self._time_left() <= 0 or not self._queue):
                self._drop_unsent()
                return
            batch = self._take_batch()
            if not batch:
                continue
            try:
                delivered = self._ship(batch)
            except Exception:
                # A bug must not kill the thread: every later entry would pile up unseen.
                log.exception("log shipper: could not send %d entries; dropping them", len(batch))
                self._count_dropped(len(batch))
                continue
            if delivered:
                notice = self._drop_notice()
                if notice is not None:
                    self._ship([notice])

    def _take_batch(self) -> list[log_pb2.LogEntry]:
        # Like Kafka's linger.ms: entries that arrive within the linger go in one call
        # instead of many; under load the per-call cost (grpcio starts a thread for each
        # streaming call) was most of what logging cost the API. close() ends the wait.
        if len(self._queue) < self._batch_size and not self._closing.is_set():
            self._closing.wait(self._linger_seconds)
        batch = []
        while self._queue and len(batch) < self._batch_size:
            batch.append(self._queue.popleft())
        return batch

    def _ship(self, batch: list[log_pb2.LogEntry]) -> bool:
        """Sends batch until logsvc acknowledges it; False if close() ran out of time."""
        retrying = Retrying(
            retry=retry_if_exception(_worth_retrying),
            wait=wait_exponential_jitter(multiplier=0.1, max=2.0, jitter=0.1),
            stop=lambda _state: self._time_left() <= 0,
            sleep=lambda seconds: time.sleep(min(seconds, max(self._time_left(), 0.0))),
            before_sleep=lambda state: self._note_failure(state, len(batch)),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    self._send(batch)
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
                self._note_rejection(batch, error)
                return True
            log.warning(
                "log shipper: closing; %d entries were never acknowledged: %s",
                len(batch),
                error.details(),
            )
            self._count_dropped(len(batch))
            return False
        with self._lock:
            self._sent += len(batch)
        if retrying.statistics.get("attempt_number", 1) > 1:
            log.warning("log shipper: logsvc at %s acknowledges batches again", self._target)
        return True

    def _send(self, batch: list[log_pb2.LogEntry]) -> None:
        # The whole batch in one message: grpcio's cost is per message, not per byte.
        timeout = min(self._call_timeout, max(self._time_left(), 0.0))
        self._stub.StreamLogs(iter((log_pb2.StreamLogsRequest(entries=batch),)), timeout=timeout)

    def _note_failure(self, state, size: int) -> None:
        with self._lock:
            self._retried_batches += 1
        if state.attempt_number == 1:
            error = state.outcome.exception()
            log.warning(
                "log shipper: logsvc at %s did not acknowledge a batch of %d entries (%s: %s); "
                "retrying with backoff, new entries wait in the queue",
                self._target,
                size,
                error.code().name,
                error.details(),
            )

    def _note_rejection(self, batch: list[log_pb2.LogEntry], error: grpc.RpcError) -> None:
        trailer = dict(error.trailing_metadata() or ())
        accepted = int(trailer.get(_ACCEPTED_COUNT_TRAILER, 0))
        with self._lock:
            self._sent += accepted
            self._rejected += len(batch) - accepted
        log.error("log shipper: logsvc rejected malformed entries: %s", error.details())

    def _drop_notice(self) -> log_pb2.LogEntry | None:
        with self._lock:
            dropped, self._unreported_drops = self._unreported_drops, 0
            total = self._dropped
        if not dropped:
            return None
        entry = log_pb2.LogEntry(
            level=log_pb2.LEVEL_WARNING,
            service=self._service,
            instance=self._instance,
            request_id=f"log-shipper-{uuid.uuid4().hex}",
            event_id=str(uuid.uuid4()),
            message=(
                f"log shipper dropped {dropped} log entries because its queue of "
                f"{self._queue_size} was full while logsvc or Kafka was unreachable or slow; "
                f"{total} dropped since this process started"
            ),
        )
        entry.ts.FromNanoseconds(time.time_ns())
        return entry

    def _count_dropped(self, n: int) -> None:
        with self._lock:
            self._dropped += n

    def _drop_unsent(self) -> None:
        left = len(self._queue)
        self._queue.clear()
        if left:
            log.warning("log shipper: closing; %d queued entries were not sent", left)
            self._count_dropped(left)

    def _time_left(self) -> float:
        return self._deadline - time.monotonic()
