"""Prometheus's two configurations, read without a stack: the local one (a template that
deploy/local/stack renders from .env) and compose's scrape the same jobs and instances
with the same settings and rules, each at the port its service is told to serve on;
promtool accepts the rendered template. The rules themselves are checked and
unit-tested by promtool in `make lint` (deploy/prometheus/rules_test.yml)."""

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from env_files import env_file

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "deploy/prometheus"
TEMPLATE = HERE / "prometheus.yml.template"
COMPOSE_CONFIG = HERE / "prometheus.compose.yml"
STACK = ROOT / "deploy/local/stack"


def example_env():
    return env_file(ROOT / ".env.example")


def rendered(env):
    """The template as deploy/local/stack renders it: only the names its envsubst lists."""
    listed = re.search(r"envsubst '([^']*)'\s*\\?\s*<\"\$ROOT/deploy/prometheus", STACK.read_text())
    assert listed, "deploy/local/stack no longer renders deploy/prometheus/prometheus.yml.template"
    names = set(re.findall(r"\$\{(\w+)\}", listed[1]))
    text = TEMPLATE.read_text()
    assert set(re.findall(r"\$\{(\w+)\}", text)) == names, "the template and the stack disagree"
    return re.sub(r"\$\{(\w+)\}", lambda m: env[m[1]], text)


def targets(config):
    """{job: {instance: address}}"""
    return {
        job["job_name"]: {
            group["labels"]["instance"]: target
            for group in job["static_configs"]
            for target in group["targets"]
        }
        for job in config["scrape_configs"]
    }


@pytest.fixture(scope="module")
def local():
    return yaml.safe_load(rendered(example_env()))


@pytest.fixture(scope="module")
def compose_config():
    return yaml.safe_load(COMPOSE_CONFIG.read_text())


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def test_both_configurations_scrape_the_same_jobs_and_instances_alike(local, compose_config):
    assert local["global"] == compose_config["global"]
    assert local["rule_files"] == compose_config["rule_files"] == ["rules.yml"]
    # Less the local stack's second DB service replica, which compose does not run.
    local_targets = {job: set(t) - {"db-2"} for job, t in targets(local).items()}
    assert local_targets == {job: set(t) for job, t in targets(compose_config).items()}
    assert set(targets(local)) == {
        "prometheus",
        "api",
        "dbsvc",
        "logsvc",
        "nginx",
        "nginx-cache",
        "postgres",
    }
    assert set(targets(local)["api"]) == {"api-1", "api-2"}


def test_local_targets_are_the_ports_each_program_is_given(local):
    env = example_env()
    parser = configparser.RawConfigParser(strict=False)
    parser.read(ROOT / "deploy/local/supervisord.conf")
    programs = {s.removeprefix("program:"): dict(parser.items(s)) for s in parser.sections()}

    def told(program, text):
        setting = programs[program].get("environment", "") + programs[program]["command"]
        return text in setting

    local_targets = targets(local)
    for instance, program, variable in (
        ("api-1", "api-1", "API_1_METRICS_PORT"),
        ("api-2", "api-2", "API_2_METRICS_PORT"),
    ):
        assert local_targets["api"][instance] == f"127.0.0.1:{env[variable]}"
        assert told(program, f'API_METRICS_PORT="%(ENV_{variable})s"')
    assert local_targets["dbsvc"]["db-1"] == env["DBSVC_METRICS_ADDR"]
    assert told("dbsvc", 'DBSVC_METRICS_LISTEN_ADDR="%(ENV_DBSVC_METRICS_ADDR)s"')
    assert local_targets["logsvc"]["log-1"] == env["LOGSVC_METRICS_ADDR"]
    assert told("logsvc", 'LOGSVC_METRICS_LISTEN_ADDR="%(ENV_LOGSVC_METRICS_ADDR)s"')
    for job, program, variable in (
        ("nginx", "nginx-exporter", "NGINX_EXPORTER_PORT"),
        ("postgres", "postgres-exporter", "POSTGRES_EXPORTER_PORT"),
        ("prometheus", "prometheus", "PROMETHEUS_PORT"),
    ):
        assert list(local_targets[job].values()) == [f"127.0.0.1:{env[variable]}"]
        assert told(program, f"--web.listen-address=127.0.0.1:%(ENV_{variable})s")
    assert told("nginx-exporter", "127.0.0.1:%(ENV_NGINX_STATUS_PORT)s/stub_status")
    assert local_targets["nginx-cache"] == {"nginx": f"127.0.0.1:{env['NGINX_LOG_METRICS_PORT']}"}
    assert told("nginx-log-metrics", "--port %(ENV_NGINX_LOG_METRICS_PORT)s")
    assert told("nginx-log-metrics", "%(ENV_STATE_DIR)s/nginx/logs/catalog-cache.log")


def test_compose_targets_are_the_ports_each_service_is_given(compose_config, compose):
    compose_targets = targets(compose_config)
    for instance in ("api-1", "api-2"):
        port = compose[instance]["environment"]["API_METRICS_PORT"]
        assert compose_targets["api"][instance] == f"{instance}:{port}"
    for job, instance, service, variable in (
        ("dbsvc", "db-1", "dbsvc", "DBSVC_METRICS_LISTEN_ADDR"),
        ("logsvc", "log-1", "logsvc", "LOGSVC_METRICS_LISTEN_ADDR"),
    ):
        assert compose_targets[job][instance] == service + compose[service]["environment"][variable]
    assert compose_targets["nginx"]["nginx"] == "nginx-exporter:9113"
    assert "--web.listen-address=:9113" in compose["nginx-exporter"]["command"]
    port = compose["nginx"]["environment"]["NGINX_STATUS_PORT"]
    assert (
        f"--nginx.scrape-uri=http://nginx:{port}/stub_status"
        in (compose["nginx-exporter"]["command"])
    )
    # mtail reads the catalog cache log from the volume NGINX writes it to.
    assert compose_targets["nginx-cache"]["nginx"] == "nginx-log-metrics:3903"
    mtail = compose["nginx-log-metrics"]
    assert "--port=3903" in mtail["command"]
    log = compose["nginx"]["environment"]["NGINX_CACHE_LOG"]
    assert f"--logs={log}" in mtail["command"]
    shared = {v.split(":")[0]: v.split(":")[1] for v in compose["nginx"]["volumes"]}
    assert shared["nginx-cache-log"] == str(Path(log).parent)
    assert f"nginx-cache-log:{Path(log).parent}:ro" in mtail["volumes"]
    # postgres-exporter's own default port.
    assert compose_targets["postgres"]["postgres"] == "postgres-exporter:9187"
    prometheus = compose["prometheus"]
    assert (
        "./deploy/prometheus/prometheus.compose.yml:/etc/prometheus/prometheus.yml:ro"
        in (prometheus["volumes"])
    )
    assert "./deploy/prometheus/rules.yml:/etc/prometheus/rules.yml:ro" in prometheus["volumes"]


def test_promtool_accepts_the_rendered_local_configuration(tmp_path):
    if not shutil.which("promtool"):
        pytest.fail("promtool is missing: make up installs Debian's prometheus package")
    env = example_env()
    (tmp_path / "prometheus.yml").write_text(rendered(env))
    shutil.copy(HERE / "rules.yml", tmp_path / "rules.yml")
    answer = subprocess.run(
        ["promtool", "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert answer.returncode == 0, answer.stdout + answer.stderr
