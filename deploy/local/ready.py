"""Waits until the local stack answers its health checks, and creates the
Kafka topic once the broker is up. `stack up` runs it; it reads .env's values
from the environment.

    python ready.py postgres   # only PostgreSQL (before db-init/ is applied)
    python ready.py all        # everything, in dependency order
"""

import argparse
import os
import sys
import time
import urllib.request

import psycopg2
from confluent_kafka.admin import AdminClient, NewTopic
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "api-python"))
from merch_api.mutual_tls import DB_SERVICE, LOG_SERVICE, MutualTLS

env = os.environ


class NotReady(Exception):
    pass


def postgres():
    psycopg2.connect(
        host=env["POSTGRES_HOST"],
        port=env["POSTGRES_PORT"],
        user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"],
        dbname="postgres",
        connect_timeout=2,
    ).close()


def kafka_admin(port_var):
    # log_level 0: while the broker is still starting, librdkafka would print
    # every refused connection; the retry loop reports what matters.
    return AdminClient({"bootstrap.servers": f"127.0.0.1:{env[port_var]}", "log_level": 0})


def kafka():
    for port_var in ("KAFKA_INTERNAL_PORT", "KAFKA_EXTERNAL_PORT"):
        metadata = kafka_admin(port_var).list_topics(timeout=3)
        if not metadata.brokers:
            raise NotReady(f"no broker behind {port_var}")


def log_topic():
    admin = kafka_admin("KAFKA_INTERNAL_PORT")
    topic = env["KAFKA_TOPIC"]
    if topic not in admin.list_topics(timeout=3).topics:
        future = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
        future[topic].result(timeout=10)


def grpc_serving(addr, service):
    def check():
        # With the API's certificate (TLS_DIR), as the API checks them.
        with MutualTLS.load(env["TLS_DIR"]).channel(addr, service, []) as channel:
            answer = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=2
            )
        if answer.status != health_pb2.HealthCheckResponse.SERVING:
            status = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
            raise NotReady(f"{addr} reports {status}")

    return check


def http_ok(url):
    def check():
        with urllib.request.urlopen(url, timeout=2) as answer:
            if answer.status != 200:
                raise NotReady(f"{url} answered {answer.status}")

    return check


def checks(which):
    yield "PostgreSQL", postgres
    if which == "postgres":
        return
    yield "Kafka (both listeners)", kafka
    yield f"topic {env['KAFKA_TOPIC']}", log_topic
    yield "logging service", grpc_serving(env["LOGSVC_ADDR"], LOG_SERVICE)
    yield "DB service", grpc_serving(env["DBSVC_ADDR"], DB_SERVICE)
    if env.get("DBSVC_REPLICAS", "2") != "1":
        yield "DB service replica 2", grpc_serving(env["DBSVC_2_ADDR"], DB_SERVICE)
    yield "API replica 1", http_ok(f"http://127.0.0.1:{env['API_1_PORT']}/healthz")
    yield "API replica 2", http_ok(f"http://127.0.0.1:{env['API_2_PORT']}/healthz")
    yield "NGINX -> API -> services", http_ok(f"http://127.0.0.1:{env['NGINX_PORT']}/readyz")
    yield "Prometheus", http_ok(f"http://127.0.0.1:{env['PROMETHEUS_PORT']}/-/ready")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", choices=["postgres", "all"])
    parser.add_argument("--timeout", type=float, default=float(env.get("READY_TIMEOUT", 180)))
    args = parser.parse_args()
    start = time.monotonic()
    for name, check in checks(args.which):
        try:
            for attempt in Retrying(
                stop=stop_after_delay(args.timeout),
                wait=wait_fixed(0.5),
                retry=retry_if_exception_type(Exception),
                reraise=True,
            ):
                with attempt:
                    check()
        except Exception as error:  # any failure means "not ready"; say which
            sys.exit(
                f"{name} is not ready after {args.timeout:.0f} s: {error}\n"
                "See its log in .state/log/ (and `make status`)."
            )
        print(f"    ready: {name} ({time.monotonic() - start:.1f} s)")


if __name__ == "__main__":
    main()
