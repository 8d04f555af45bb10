"""The per-process connections to the services behind the API.

Built once per worker process by create_app() (after granian forks: gRPC channels and
threads do not survive fork) and kept on the Flask app, `app.extensions[EXTENSION]`,
where handlers reach them through Flask's current_app (merch_api.handlers.running()).
"""

import json
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from merchstore.db.v1 import order_pb2_grpc, product_pb2_grpc, user_pb2_grpc

from merch_api.config import Settings
from merch_api.log_shipper import LogShipper
from merch_api.mutual_tls import DB_SERVICE, MutualTLS

_DB = "merchstore.db.v1."
EXTENSION = "merch_api"

# DBSVC_ADDR is a gRPC target: one address, a list (`ipv4:127.0.0.1:50051,127.0.0.1:50061`)
# or a name that resolves to several (`dns:///dbsvc-headless:50051` on Kubernetes). The
# channel keeps a connection to every address and spreads calls over them (round_robin),
# where gRPC's default (pick_first) would send every call down one long-lived connection;
# an address that stops answering leaves the rotation until it answers again.
#
# grpc retries these reads by itself when the DB service is briefly unreachable (e.g.
# restarting). Writes are never retried: a placed order must not be placed twice.
_SERVICE_CONFIG = {
    "loadBalancingConfig": [{"round_robin": {}}],
    "methodConfig": [
        {
            "name": [
                {"service": _DB + "ProductService"},
                {"service": _DB + "UserService", "method": "GetUser"},
                {"service": _DB + "OrderService", "method": "GetOrder"},
                {"service": _DB + "OrderService", "method": "ListOrders"},
            ],
            "retryPolicy": {
                "maxAttempts": 3,
                "initialBackoff": "0.05s",
                "maxBackoff": "0.5s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }
    ],
}

_CHANNEL_OPTIONS = [
    ("grpc.service_config", json.dumps(_SERVICE_CONFIG)),
    ("grpc.enable_retries", 1),
    # grpc's default reconnect backoff grows to 120 s; a restarted DB service should be
    # reached again within seconds.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
]

# A readiness probe must answer quickly, also when a service hangs.
_HEALTH_TIMEOUT_SECONDS = 1.0


class DbService:
    """Stubs of the DB service; call() adds the deadline and the request id."""

    def __init__(self, target: str, deadline_seconds: float, tls: MutualTLS) -> None:
        self.channel = tls.channel(target, DB_SERVICE, _CHANNEL_OPTIONS)
        self.products = product_pb2_grpc.ProductServiceStub(self.channel)
        self.users = user_pb2_grpc.UserServiceStub(self.channel)
        self.orders = order_pb2_grpc.OrderServiceStub(self.channel)
        self._deadline = deadline_seconds

    def call(self, method, request, request_id: str):
        return method(request, timeout=self._deadline, metadata=(("x-request-id", request_id),))


@dataclass
class Services:
    settings: Settings
    db: DbService
    log_shipper: LogShipper

    @classmethod
    def start(cls, settings: Settings) -> "Services":
        tls = MutualTLS.load(settings.tls_dir)
        shipper = LogShipper(
            settings.logsvc_addr, instance=settings.instance, service="api", tls=tls
        )
        shipper.start()
        started = cls(
            settings=settings,
            db=DbService(settings.dbsvc_addr, settings.grpc_deadline_seconds, tls),
            log_shipper=shipper,
        )
        _to_close.append(started)
        return started

    def close(self) -> None:
        """Sends what the log shipper holds, then closes the channels. The WSGI server
        calls it when a worker stops (merch_api.serve)."""
        self.log_shipper.close()
        self.db.channel.close()

    def health(self) -> dict[str, str]:
        """The grpc.health.v1 status of each service the API needs, by name, and whether
        this worker's log shipper still runs."""
        checks = {
            "log_shipper": "SERVING" if self.log_shipper.is_alive() else "NOT_RUNNING (thread died)"
        }
        for name, channel in (("dbsvc", self.db.channel), ("logsvc", self.log_shipper.channel)):
            stub = health_pb2_grpc.HealthStub(channel)
            try:
                answer = stub.Check(
                    health_pb2.HealthCheckRequest(), timeout=_HEALTH_TIMEOUT_SECONDS
                )
                checks[name] = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
            except grpc.RpcError as error:
                checks[name] = f"UNREACHABLE ({error.code().name})"
            except ValueError:  # grpc's answer on a channel closed by the shutdown
                checks[name] = "UNREACHABLE (channel closed)"
        return checks


# What this worker process started, for the WSGI server to close when the worker stops
# (merch_api.serve). Only that: code finds the services on its app.
_to_close: list[Services] = []


def close_all() -> None:
    """Closes every Services this process started, the last first."""
    while _to_close:
        _to_close.pop().close()
