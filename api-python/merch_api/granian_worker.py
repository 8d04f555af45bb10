"""The store's one use of a private granian API, kept here alone.

granian's documented hooks (Server.on_startup, on_reload, on_shutdown) run in its main
process; none runs in a worker as it stops, which is when a worker must send the log
records it still holds. So merch_api.serve gives granian its own worker entry point,
which runs granian's WSGI worker, Server._spawn_wsgi_worker, and then cleans up.
tests/unit/test_granian_worker.py fails if an upgrade of granian renames that function or
changes its parameters: check then whether granian has gained a worker hook.
"""

from granian.server import Server

# The parameters of Server._spawn_wsgi_worker in the granian this adapter was written
# for (requirements.txt); they are passed through untouched.
PARAMETERS = (
    "worker_id",
    "callback",
    "sock",
    "ipc",
    "loop",
    "runtime_mode",
    "runtime_threads",
    "runtime_blocking_threads",
    "blocking_threads",
    "blocking_threads_idle_timeout",
    "backpressure",
    "task_impl",
    "http_mode",
    "http1_settings",
    "http2_settings",
    "websockets",
    "static_path",
    "log_access_fmt",
    "ssl_ctx",
    "scope_opts",
    "metrics",
)


def serve_wsgi(*args, **kwargs) -> None:
    """Serves requests in this worker process until granian stops it."""
    Server._spawn_wsgi_worker(*args, **kwargs)
