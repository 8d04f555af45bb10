"""The audit's probe of the services behind the API (issue 25): a caller that reaches
the DB service's or the logging service's port gets nothing without the certificate of
an identity that service serves. Run against the local stack on this machine, and
against compose from a container on its app network (where NGINX is not: it cannot
even open a connection to the DB service)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from deployment import ROOT, UNDER_COMPOSE, compose

PROBE = ROOT / "tests" / "grpc_identity_probe.py"
UNAVAILABLE = {
    "dbsvc": "UNAVAILABLE",
    "logsvc": "UNAVAILABLE",
    "health": "UNAVAILABLE",
    "reflection": "UNAVAILABLE",
}


def run_locally(tmp_path):
    tls = Path(os.environ.get("TLS_ROOT", ROOT / ".state/tls"))
    # An api certificate that the store's authority never signed.
    subprocess.run(
        [str(ROOT / ".state/bin/certs"), "-dir", str(tmp_path / "stranger"), "api"], check=True
    )
    identities = {name: tls / name for name in ("api", "dbsvc", "logsvc")}
    identities["an api certificate of another authority"] = tmp_path / "stranger" / "api"
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'api-python'}",
        "PROBE_DBSVC": os.environ["DBSVC_ADDR"],
        "PROBE_LOGSVC": os.environ["LOGSVC_ADDR"],
        "PROBE_CA": str(tls / "api" / "ca.crt"),
        "PROBE_IDENTITIES": ",".join(f"{name}={path}" for name, path in identities.items()),
    }
    out = subprocess.run(
        [sys.executable, str(PROBE)], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def run_in_compose():
    # A one-off container of the API's image on its networks, given the DB and logging
    # services' certificates besides its own, to call as each of them.
    mounts = ["-v", "tls-dbsvc:/probe/dbsvc:ro", "-v", "tls-logsvc:/probe/logsvc:ro"]
    identities = "api=/etc/merch-store/tls,dbsvc=/probe/dbsvc,logsvc=/probe/logsvc"
    env = [
        "-e", "PROBE_DBSVC=dbsvc:50051",
        "-e", "PROBE_LOGSVC=logsvc:50052",
        "-e", "PROBE_CA=/etc/merch-store/tls/ca.crt",
        "-e", f"PROBE_IDENTITIES={identities}",
    ]  # fmt: skip
    command = [str(ROOT / "deploy/compose/stack"), "compose", "run", "--rm", "--no-deps", "-T"]
    # Each key is readable by its own service's user only (0440): root, with the one
    # capability that reads past file modes, stands in for all three.
    command += ["--user", "0", "--cap-add", "DAC_OVERRIDE"]
    command += [*mounts, *env, "--entrypoint", "python", "api-1", "-"]
    result = subprocess.run(
        command,
        input=PROBE.read_text(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def codes(tmp_path_factory):
    return run_in_compose() if UNDER_COMPOSE else run_locally(tmp_path_factory.mktemp("tls"))


def test_without_a_certificate_of_the_store_nothing_answers(codes):
    assert codes["plaintext"] == UNAVAILABLE
    assert codes["tls without a certificate"] == UNAVAILABLE
    if not UNDER_COMPOSE:
        assert codes["an api certificate of another authority"] == UNAVAILABLE


def test_each_service_serves_only_its_callers_and_health_to_any_of_the_stores(codes):
    denied = "PERMISSION_DENIED"
    assert codes["api"] == {
        "dbsvc": "OK", "logsvc": "OK", "health": "OK", "reflection": "UNIMPLEMENTED"
    }  # fmt: skip
    assert codes["dbsvc"] == {
        "dbsvc": denied, "logsvc": "OK", "health": "OK", "reflection": "UNIMPLEMENTED"
    }  # fmt: skip
    assert codes["logsvc"] == {
        "dbsvc": denied, "logsvc": denied, "health": "OK", "reflection": "UNIMPLEMENTED"
    }  # fmt: skip


@pytest.mark.skipif(not UNDER_COMPOSE, reason="networks are compose's")
def test_nginx_cannot_open_a_connection_to_the_db_service():
    reached = compose(
        "exec", "-T", "nginx", "bash", "-c",
        "timeout 3 bash -c 'exec 3<>/dev/tcp/dbsvc/50051' && echo reached || echo refused",
        check=False,
    )  # fmt: skip
    assert "refused" in reached.stdout and "reached" not in reached.stdout, reached
