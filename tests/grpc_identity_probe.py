"""Calls the DB service and the logging service as different callers and prints, as
JSON, the gRPC code each call got: {caller: {"dbsvc": code, "logsvc": code, "health":
code, "reflection": code}}. tests/test_service_identity.py runs it on this machine
against the local stack, and inside an API container against compose, where the
services are reachable only on the app network. It needs grpcio, the generated code
and merch_api (the API image has them all).

Settings (environment): PROBE_DBSVC and PROBE_LOGSVC, the services' addresses;
PROBE_IDENTITIES, `caller=directory` pairs separated by commas, each directory holding
a certificate (ca.crt, tls.crt, tls.key); PROBE_CA, a ca.crt for the caller that speaks
TLS without a certificate of its own.
"""

import json
import os
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from merch_api.mutual_tls import DB_SERVICE, LOG_SERVICE, MutualTLS
from merchstore.db.v1 import order_pb2, order_pb2_grpc
from merchstore.log.v1 import log_pb2, log_pb2_grpc

TIMEOUT = 5
# grpc.reflection.v1.ServerReflectionRequest{list_services: ""}, encoded by hand: the
# probe needs no reflection package to see that the service does not answer it.
LIST_SERVICES = b"\x3a\x00"


def code_of(call) -> str:
    try:
        call()
    except grpc.RpcError as error:
        return error.code().name
    return "OK"


def probe(open_channel) -> dict:
    """open_channel(address, service name) -> channel."""
    dbsvc, logsvc = os.environ["PROBE_DBSVC"], os.environ["PROBE_LOGSVC"]
    with open_channel(dbsvc, DB_SERVICE) as db, open_channel(logsvc, LOG_SERVICE) as log:
        return {
            "dbsvc": code_of(
                lambda: order_pb2_grpc.OrderServiceStub(db).ListOrders(
                    order_pb2.ListOrdersRequest(user_id=1), timeout=TIMEOUT
                )
            ),
            "logsvc": code_of(
                lambda: log_pb2_grpc.LogServiceStub(log).StreamLogs(
                    iter([log_pb2.StreamLogsRequest()]), timeout=TIMEOUT
                )
            ),
            "health": code_of(
                lambda: health_pb2_grpc.HealthStub(db).Check(
                    health_pb2.HealthCheckRequest(), timeout=TIMEOUT
                )
            ),
            "reflection": code_of(
                lambda: list(
                    db.stream_stream(
                        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                        request_serializer=bytes,
                        response_deserializer=bytes,
                    )(iter([LIST_SERVICES]), timeout=TIMEOUT)
                )
            ),
        }


def main():
    results = {"plaintext": probe(lambda address, _: grpc.insecure_channel(address))}
    authority = grpc.ssl_channel_credentials(Path(os.environ["PROBE_CA"]).read_bytes())
    results["tls without a certificate"] = probe(
        lambda address, name: grpc.secure_channel(
            address, authority, options=[("grpc.ssl_target_name_override", name)]
        )
    )
    for pair in os.environ["PROBE_IDENTITIES"].split(","):
        caller, directory = pair.split("=", 1)
        tls = MutualTLS.load(directory)
        results[caller] = probe(lambda address, name, tls=tls: tls.channel(address, name, []))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
