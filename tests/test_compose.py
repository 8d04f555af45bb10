"""docker-compose.yml without a Docker engine: docker compose's own `config` check
(the compose specification, interpolation, references), then the deployment's
invariants read with PyYAML: two published ports (three with monitoring), networks
along the architecture's edges, every image a setting whose default is pinned, a
healthcheck on every long-running service, start-up ordered by health, no literal
secrets, Dockerfiles that exist, the same services and environment names as the local
stack, the migrations run by the owner before the DB service starts, and the DB
service on its own role, never the owner's. tests/compose/ runs it for real."""

import configparser
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from env_files import env_file

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
TEMPLATE = ROOT / "nginx/templates/default.conf.template"

# Debian 12's docker-compose (1.29) predates the `name:` key; docker compose v2+
# reads the compose specification. Pinned, built from the Go module proxy.
INSTALL_HINT = (
    "no compose-spec-aware docker compose found (Debian 12's docker-compose 1.29 cannot "
    "read this file). Install it with `make tools` (deploy/compose/stack plugins builds "
    "the compose plugin from the Go module proxy), or install Docker's compose plugin, "
    "or point COMPOSE_BIN at a docker-compose v2+."
)
DEBIAN_IMAGES = ROOT / "deploy/images/debian.env"
# Every third-party image of the compose file: its variable and the official image it
# defaults to (the course's versions), pinned by digest. No published digest of
# cp-zookeeper 7.7.1 was found (Docker Hub is unreachable from here); 7.5.0's was, in two
# public files that agree (a `docker rmi` log untagging cp-zookeeper:7.5.0 and its
# digest, and a benchmark's list of the images it ran), and it works with cp-kafka 7.7.1.
OFFICIAL_IMAGES = {
    "postgres": ("POSTGRES_IMAGE", "postgres:17.11-bookworm"),
    "zookeeper": ("ZOOKEEPER_IMAGE", "confluentinc/cp-zookeeper:7.5.0"),
    "kafka": ("KAFKA_IMAGE", "confluentinc/cp-kafka:7.7.1"),
    "kafka-init": ("KAFKA_IMAGE", "confluentinc/cp-kafka:7.7.1"),
    "nginx": ("NGINX_IMAGE", "nginx:1.30.5-alpine"),
    "prometheus": ("PROMETHEUS_IMAGE", "prom/prometheus:v3.5.0"),
    "nginx-exporter": ("NGINX_EXPORTER_IMAGE", "nginx/nginx-prometheus-exporter:1.4.2"),
    "postgres-exporter": (
        "POSTGRES_EXPORTER_IMAGE",
        "quay.io/prometheuscommunity/postgres-exporter:v0.17.1",
    ),
}
# The edges of the architecture, as compose networks.
NETWORKS = {
    "certs": None,  # network_mode: none
    "postgres": ["data"],
    "db-migrate": ["data"],
    "zookeeper": ["logs"],
    "kafka": ["logs"],
    "kafka-init": ["logs"],
    "logsvc": ["app", "logs", "monitoring"],
    "dbsvc": ["app", "data", "monitoring"],
    "api-1": ["edge", "app", "monitoring"],
    "api-2": ["edge", "app", "monitoring"],
    "nginx": ["edge"],
    "prometheus": ["monitoring"],
    "nginx-exporter": ["edge", "monitoring"],
    "nginx-log-metrics": ["monitoring"],
    "postgres-exporter": ["data", "monitoring"],
}
MONITORING = {"prometheus", "nginx-exporter", "nginx-log-metrics", "postgres-exporter"}

# Image settings that only the images read: no local process has them.
IMAGE_SETTINGS = {"NGINX_ENVSUBST_FILTER"}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|PRIVATE|_KEY$|_PASS$")
# ${NAME}, ${NAME?message} or ${NAME:?message}: required, with no default to leak.
REQUIRED_REFERENCE = re.compile(r"^\$\{(?P<name>[A-Z0-9_]+)(:?\?[^}]*)?\}$")
REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")
# Secrets that a container reads under another name than .env's: the DB service its own
# role's password under the name it reads, goose (pgx) the owner's under libpq's.
RENAMED_SECRETS = {
    ("dbsvc", "POSTGRES_PASSWORD"): "DBSVC_DB_PASSWORD",
    ("db-migrate", "PGPASSWORD"): "POSTGRES_PASSWORD",
    ("postgres-exporter", "DATA_SOURCE_PASS"): "POSTGRES_EXPORTER_DB_PASSWORD",
}
# Images that hold one binary and no tool to probe it with; nothing waits on them, and
# Prometheus, which scrapes them, alerts when one is down (deploy/prometheus/rules.yml).
SELF_UNPROBED = {"nginx-exporter", "postgres-exporter"}


@pytest.fixture(scope="module")
def compose():
    with open(COMPOSE_FILE) as f:
        return yaml.safe_load(f)  # resolves the YAML anchors and << merges


@pytest.fixture(scope="module")
def services(compose):
    return compose["services"]


def supervisord_environments():
    """{program: {name: value} of its `environment=` line} from the local stack."""
    parser = configparser.RawConfigParser(strict=False)
    parser.read(ROOT / "deploy/local/supervisord.conf")
    return {
        section.removeprefix("program:"): dict(
            re.findall(r'(\w+)="([^"]*)"', parser.get(section, "environment", fallback=""))
        )
        for section in parser.sections()
        if section.startswith("program:")
    }


def supervisord_programs():
    """{program: names its `environment=` line sets} from the local stack."""
    return {name: set(env) for name, env in supervisord_environments().items()}


def dockerfile_lines(services, name):
    build = services[name]["build"]
    return (ROOT / build["context"] / build["dockerfile"]).read_text().splitlines()


def template_names():
    return set(re.findall(r"\$\{(\w+)\}", TEMPLATE.read_text()))


def one_shot(services):
    """Services that others wait on to finish, rather than to be healthy."""
    return {
        name
        for spec in services.values()
        for name, dep in (spec.get("depends_on") or {}).items()
        if dep.get("condition") == "service_completed_successfully"
    }


def built(services):
    return {name for name, spec in services.items() if "build" in spec}


def compose_command():
    candidates = []
    if os.environ.get("COMPOSE_BIN"):
        candidates.append([os.environ["COMPOSE_BIN"]])
    # The CLI plugin run on its own, so that a clean HOME (run_config) still finds it.
    candidates.append([str(Path.home() / ".docker/cli-plugins/docker-compose")])
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    for command in candidates:
        try:
            answer = subprocess.run(
                [*command, "version", "--short"], capture_output=True, text=True, timeout=30
            )
        except OSError:
            continue
        version = answer.stdout.strip().lstrip("v")
        if answer.returncode == 0 and version and not version.startswith("1."):
            return command
    pytest.fail(INSTALL_HINT)


def run_config(env_file, *args):
    """`docker compose config` as someone with only that env file would run it."""
    clean_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/tmp"}
    return subprocess.run(
        [
            *compose_command(),
            "--project-directory",
            str(ROOT),
            "--env-file",
            str(env_file),
            "-f",
            str(COMPOSE_FILE),
            "config",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env,
        cwd=ROOT,
    )


def test_docker_compose_accepts_the_file_with_an_env_made_from_the_example():
    answer = run_config(ENV_EXAMPLE, "--quiet")
    assert answer.returncode == 0, answer.stderr


def test_docker_compose_refuses_to_start_without_the_secrets(tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text(
        "".join(
            line + "\n"
            for line in ENV_EXAMPLE.read_text().splitlines()
            if not line.startswith(("JWT_SECRET=", "POSTGRES_PASSWORD="))
        )
    )
    answer = run_config(env_file, "--quiet")
    assert answer.returncode != 0
    assert "JWT_SECRET" in answer.stderr or "POSTGRES_PASSWORD" in answer.stderr, answer.stderr


def test_exactly_two_published_ports_and_prometheus_with_monitoring_all_on_loopback(
    services,
):
    """The assignment: "1 single compose only 2 external port (kafka, restful)"."""
    published = {
        (name, str(port)) for name, spec in services.items() for port in spec.get("ports", [])
    }
    assert published == {
        ("nginx", "127.0.0.1:${NGINX_PORT:-8080}:8080"),
        ("kafka", "127.0.0.1:${KAFKA_EXTERNAL_PORT:-9093}:9093"),
        ("prometheus", "127.0.0.1:${PROMETHEUS_PORT:-9090}:9090"),
    }
    assert {name for name, spec in services.items() if spec.get("profiles")} == MONITORING
    for name in MONITORING:
        assert services[name]["profiles"] == ["monitoring"], name
    plain = json.loads(run_config(ENV_EXAMPLE, "--format", "json").stdout)["services"]
    assert {
        (name, p["host_ip"], p["published"])
        for name, spec in plain.items()
        for p in spec.get("ports", [])
    } == {("nginx", "127.0.0.1", "8080"), ("kafka", "127.0.0.1", "9093")}


def test_networks_follow_the_architectures_edges(compose, services):
    for name, spec in services.items():
        assert spec.get("network_mode") != "host", f"{name} would bypass the published ports"
    assert {name: spec.get("networks") for name, spec in services.items()} == NETWORKS
    networks = compose["networks"]
    assert set(networks) == {"edge", "app", "data", "logs", "monitoring"}
    # Nothing on app or data publishes a port or needs the world.
    assert {n for n, spec in networks.items() if (spec or {}).get("internal")} == {"app", "data"}


def test_every_long_running_service_has_a_healthcheck(services):
    jobs = one_shot(services)
    assert jobs == {"kafka-init", "db-migrate", "certs"}
    for name in jobs:
        assert services[name].get("restart", "no") == "no", f"{name} runs once"
    for name, spec in services.items():
        if name in jobs:
            continue
        assert spec.get("restart") == "unless-stopped", name
        if name in SELF_UNPROBED:
            assert not any(name in (s.get("depends_on") or {}) for s in services.values())
            continue
        check = spec.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name} has no healthcheck"


def test_start_up_is_ordered_by_health_not_by_hope(services):
    order = {
        name: {dep: cond["condition"] for dep, cond in (spec.get("depends_on") or {}).items()}
        for name, spec in services.items()
    }
    healthy, done = "service_healthy", "service_completed_successfully"
    assert order == {
        "postgres": {},
        "zookeeper": {},
        "kafka": {"zookeeper": healthy},
        "kafka-init": {"kafka": healthy},
        "certs": {},
        "logsvc": {"certs": done, "kafka-init": done},
        "db-migrate": {"postgres": healthy},
        "dbsvc": {"certs": done, "postgres": healthy, "db-migrate": done, "logsvc": healthy},
        "api-1": {"certs": done, "dbsvc": healthy, "logsvc": healthy},
        "api-2": {"certs": done, "dbsvc": healthy, "logsvc": healthy},
        "nginx": {"api-1": healthy, "api-2": healthy},
        "prometheus": {},
        "nginx-exporter": {"nginx": healthy},
        "nginx-log-metrics": {},
        "postgres-exporter": {"postgres": healthy, "db-migrate": done},
    }


def test_no_literal_secrets(services):
    for name, spec in services.items():
        for key, value in (spec.get("environment") or {}).items():
            if SECRET_NAME.search(key):
                match = REQUIRED_REFERENCE.match(str(value))
                source = RENAMED_SECRETS.get((name, key), key)
                assert match and match["name"] == source, (
                    f"{name}: {key} must be ${{{source}:?...}} from .env, not {value!r}"
                )
    text = COMPOSE_FILE.read_text()
    env = ROOT / ".env"
    if env.exists():  # the generated secrets of this machine appear nowhere in the file
        for line in env.read_text().splitlines():
            name, sep, value = line.partition("=")
            if sep and SECRET_NAME.search(name) and len(value) >= 16:
                assert value not in text, f"the value of {name} is written in docker-compose.yml"


def test_every_interpolated_name_is_in_env_example_or_an_image_setting(compose):
    """The image settings have their defaults in the compose file and their Debian
    values in deploy/images/debian.env; .env.example explains them and the CA bundle."""
    referenced = set(REFERENCE.findall(COMPOSE_FILE.read_text()))
    example = ENV_EXAMPLE.read_text()
    assert referenced - set(env_file(DEBIAN_IMAGES)) <= set(env_file(ENV_EXAMPLE)) | {
        "BUILD_CA_BUNDLE"
    }
    assert "BUILD_CA_BUNDLE" in example and "IMAGE_SOURCE=official" in example


def dockerfile_bases(dockerfile):
    """{ARG name: its default} of the ARGs before the first FROM: the base images."""
    text = dockerfile.read_text()
    head = text[: text.index("\nFROM ")]
    return dict(re.findall(r"^ARG (\w+_IMAGE)=(\S+)$", head, re.MULTILINE))


def test_dockerfiles_exist_build_from_pinned_bases_given_as_settings_and_run_as_non_root(
    services,
):
    assert built(services) == {
        "logsvc",
        "dbsvc",
        "db-migrate",
        "api-1",
        "api-2",
        "certs",
        "nginx-log-metrics",
    }
    for name in built(services):
        build = services[name]["build"]
        dockerfile = ROOT / build["context"] / build["dockerfile"]
        assert dockerfile.is_file(), f"{name}: {dockerfile} does not exist"
        lines = dockerfile.read_text().splitlines()
        # BuildKit would fetch that frontend from Docker Hub.
        assert not any(line.startswith("# syntax=") for line in lines), dockerfile
        bases = dockerfile_bases(dockerfile)
        froms = [line.split()[1] for line in lines if line.upper().startswith("FROM ")]
        for image in froms:
            variable = re.fullmatch(r"\$\{(\w+_IMAGE)\}", image)
            assert variable or image == "build", f"{dockerfile}: FROM {image} is not a setting"
            if variable:
                default = bases[variable[1]]
                assert re.search(r":[\w.-]+@sha256:[0-9a-f]{64}$", default), (
                    f"{dockerfile}: {variable[1]}={default} is not pinned by digest"
                )
        # Compose hands each of them on when it is set (IMAGE_SOURCE=debian).
        assert set(bases) <= set(build["args"]), (name, build.get("args"))
        last_from = max(i for i, line in enumerate(lines) if line.upper().startswith("FROM "))
        users = [line.split()[1] for line in lines[last_from:] if line.startswith("USER ")]
        assert users and users[-1].split(":")[0] not in {"root", "0"}, f"{dockerfile} runs as root"


def test_every_image_is_a_setting_whose_default_is_the_official_one_pinned(services):
    for name, (variable, official) in OFFICIAL_IMAGES.items():
        image = re.fullmatch(r"\$\{(\w+):-([^}]+)\}", services[name]["image"])
        assert image and image[1] == variable, f"{name}: {services[name]['image']}"
        default = image[2]
        assert re.fullmatch(re.escape(official) + r"@sha256:[0-9a-f]{64}", default), default
    assert {n for n, s in services.items() if "image" in s} == set(OFFICIAL_IMAGES)


def test_debian_images_replace_every_setting_and_are_all_built_here(services):
    """IMAGE_SOURCE=debian: deploy/images/debian.env names an image for every image
    setting of the compose file and of the Dockerfiles, and deploy/images/build makes
    each of them from a Dockerfile of deploy/images/."""
    settings = {variable for variable, _ in OFFICIAL_IMAGES.values()}
    for name in built(services):
        build = services[name]["build"]
        settings |= set(dockerfile_bases(ROOT / build["context"] / build["dockerfile"]))
    debian = env_file(DEBIAN_IMAGES)
    assert set(debian) == settings
    script = (ROOT / "deploy/images/build").read_text()
    made = dict(re.findall(r"^build (\w+_IMAGE) ([\w-]+)", script, re.MULTILINE))
    assert set(made) == settings
    for variable, folder in made.items():
        assert (ROOT / "deploy/images" / folder / "Dockerfile").is_file(), variable
        assert debian[variable].startswith("merch-store/"), debian[variable]


def test_the_same_services_and_environment_names_as_the_local_stack(services):
    programs = supervisord_programs()
    # dbsvc-2 is the local stack's second DB service replica; compose has the same
    # program once and scales it (`--scale dbsvc=2`, reached through dns:///dbsvc).
    del programs["dbsvc-2"]
    assert set(services) - one_shot(services) == set(programs)

    known = set(env_file(ENV_EXAMPLE)) | template_names() | IMAGE_SETTINGS
    for names in programs.values():
        known |= names
    for name in built(services) - one_shot(services) | {"nginx"}:
        environment = services[name].get("environment") or {}
        assert set(environment) <= known, f"{name}: names the local stack does not use"
        assert programs[name] <= set(environment), f"{name}: misses what the local stack sets"
        for key, value in environment.items():
            assert not re.search(r"127\.0\.0\.1|localhost", str(value)), (
                f"{name}: {key}={value} points at the container itself, not a service"
            )


def test_kafka_listeners_inside_and_outside_the_network(services):
    env = services["kafka"]["environment"]
    assert env["KAFKA_ADVERTISED_LISTENERS"] == (
        "INTERNAL://kafka:9092,EXTERNAL://127.0.0.1:${KAFKA_EXTERNAL_PORT:-9093}"
    )
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] == "INTERNAL"
    assert services["logsvc"]["environment"]["KAFKA_BROKERS"] == "kafka:9092"
    assert services["kafka"]["image"] == services["kafka-init"]["image"]
    command = services["kafka-init"]["command"]
    assert "--bootstrap-server kafka:9092" in command
    assert "--topic ${KAFKA_TOPIC:-log-channel} --partitions 1" in command


def test_nginx_renders_the_one_template_the_local_stack_renders(services):
    nginx = services["nginx"]
    assert "./nginx/templates:/etc/nginx/templates:ro" in nginx["volumes"]
    names = template_names()
    assert names <= set(nginx["environment"])
    assert nginx["environment"]["API_1_ADDR"] == "api-1:5000"
    assert nginx["environment"]["API_2_ADDR"] == "api-2:5000"
    stack = (ROOT / "deploy/local/stack").read_text()
    rendered = re.search(r"envsubst '([^']*)'\s*\\?\s*<\"\$ROOT/nginx/templates", stack)
    assert rendered, "deploy/local/stack no longer renders nginx/templates"
    assert set(re.findall(r"\$\{(\w+)\}", rendered[1])) == names
    only = re.search(r"\(([^)]*)\)", nginx["environment"]["NGINX_ENVSUBST_FILTER"])
    assert set(only[1].split("|")) == names


def test_nginx_runs_the_local_stacks_main_configuration_with_enough_open_files(services):
    """Workers, connections and the open-file limit live in nginx/nginx.conf, which
    compose mounts over the image's (1,024 connections per worker) and the local stack
    copies; each side lets NGINX open as many files as it asks for."""
    nginx = services["nginx"]
    assert "./nginx/nginx.conf:/etc/nginx/nginx.conf:ro" in nginx["volumes"]
    assert '"$ROOT/nginx/nginx.conf"' in (ROOT / "deploy/local/stack").read_text()
    conf = (ROOT / "nginx/nginx.conf").read_text()
    wanted = int(re.search(r"^worker_rlimit_nofile (\d+);", conf, re.M)[1])
    connections = int(re.search(r"worker_connections (\d+);", conf)[1])
    assert connections < wanted
    nofile = nginx["ulimits"]["nofile"]
    assert min(nofile["soft"], nofile["hard"]) >= wanted, nofile
    parser = configparser.RawConfigParser(strict=False)
    parser.read(ROOT / "deploy/local/supervisord.conf")
    assert parser.getint("supervisord", "minfds") >= wanted


def test_postgres_keeps_its_data_and_gets_the_schema_only_from_the_migrations(services):
    volumes = services["postgres"]["volumes"]
    assert volumes == ["pgdata:/var/lib/postgresql/data"], "db-migrate applies db-init/, once each"
    for name, path in (("zookeeper", "/var/lib/zookeeper/data"), ("kafka", "/var/lib/kafka/data")):
        assert any(v.endswith(":" + path) for v in services[name]["volumes"]), name


def test_dockerignore_keeps_secrets_and_local_state_out():
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "an allowlist: everything is out unless named"
    included = [p[1:] for p in patterns if p.startswith("!")]
    assert not any(p.startswith((".env", ".state", ".venv", ".git")) for p in included)
    assert "**/.env" in patterns


def test_go_images_copy_every_module_their_go_mod_replaces(services):
    """The Go services build against repository folders (gen/go, serving) through
    `replace` directives; an image that does not COPY one, or a .dockerignore that
    keeps one out, builds locally and fails only in `docker build`. The same list
    feeds `make lint` (GO_MODULES) and `make unit`."""
    dockerignore = (ROOT / ".dockerignore").read_text().splitlines()
    makefile = (ROOT / "Makefile").read_text()
    go_modules = re.search(r"^GO_MODULES := (.*)$", makefile, re.MULTILINE).group(1).split()
    unit = re.search(r"^\t@for m in (.*?); do \(cd \$\$m && echo \"go test -short", makefile, re.M)
    go_services = {"dbsvc": "dbsvc-go", "logsvc": "logsvc-go"}
    replaced_by_any = set()
    for name, folder in go_services.items():
        module_dir = ROOT / folder
        replaced = {
            (module_dir / target).resolve().relative_to(ROOT).as_posix()
            for target in re.findall(
                r"^replace \S+ => (\.\./\S+)$", (module_dir / "go.mod").read_text(), re.M
            )
        }
        assert {"gen/go", "serving"} <= replaced, f"{folder}/go.mod replaces {replaced}"
        replaced_by_any |= replaced
        lines = dockerfile_lines(services, name)
        for module in replaced:
            assert f"COPY {module}/ /src/{module}/" in lines, f"{folder}/Dockerfile: {module}"
        assert f"WORKDIR /src/{folder}" in lines
    for module in replaced_by_any | set(go_services.values()):
        assert f"!{module}/" in dockerignore, f".dockerignore keeps {module}/ out"
        assert module in go_modules, f"GO_MODULES (make lint) lacks {module}"
    assert unit and {"serving", *go_services.values()} <= set(unit.group(1).split())


def test_db_migrate_runs_the_migrations_of_db_init_with_goose_as_the_owner(services):
    lines = dockerfile_lines(services, "db-migrate")
    text = "\n".join(lines)
    # The migration files and a PostgreSQL-only goose, on the services' own Go image.
    assert "COPY db-init/*.sql /migrations/" in lines
    assert re.search(r"GOOSE_DRIVER=postgres\b", text)
    assert re.search(r"GOOSE_MIGRATION_DIR=/migrations\b", text)
    assert 'ENTRYPOINT ["/usr/local/bin/goose", "-env=none"]' in lines and 'CMD ["up"]' in lines
    bases = dockerfile_bases(ROOT / "db-init/Dockerfile")
    assert bases == dockerfile_bases(ROOT / "dbsvc-go/Dockerfile")
    assert bases == dockerfile_bases(ROOT / "logsvc-go/Dockerfile")
    args = dict(re.findall(r"^ARG (\w+)=\"?([^\"\n]*)\"?$", text, re.MULTILINE))
    assert set(args["GOOSE_TAGS"].split()) >= {
        "no_mysql",
        "no_sqlite3",
        "no_clickhouse",
        "no_mssql",
    }
    assert "no_postgres" not in args["GOOSE_TAGS"]
    assert '-tags="$GOOSE_TAGS"' in text and "cmd/goose@$GOOSE_VERSION" in text
    # One goose for the image, the local stack (which reads these ARG lines) and the
    # Go tests (which use it as a library).
    go_mod = (ROOT / "dbsvc-go/go.mod").read_text()
    assert f"github.com/pressly/goose/v3 {args['GOOSE_VERSION']}\n" in go_mod
    stack = (ROOT / "deploy/local/stack").read_text()
    assert "dockerfile_arg GOOSE_VERSION" in stack and "dockerfile_arg GOOSE_TAGS" in stack
    assert "/docker-entrypoint-initdb.d" not in stack

    env = services["db-migrate"]["environment"]
    assert env["PGUSER"].startswith("${POSTGRES_USER:?"), "the owner runs the migrations"
    assert env["PGPASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    dbstring = env["GOOSE_DBSTRING"]
    assert "host=postgres port=5432 dbname=${POSTGRES_DB:?" in dbstring
    assert "password" not in dbstring.lower(), "the password belongs in PGPASSWORD"
    # The migration that makes the DB service's role reads these.
    assert env["DBSVC_DB_USER"].startswith("${DBSVC_DB_USER:?")
    assert env["DBSVC_DB_PASSWORD"].startswith("${DBSVC_DB_PASSWORD:?")
    # And the one that makes the PostgreSQL exporter's.
    assert env["POSTGRES_EXPORTER_DB_USER"].startswith("${POSTGRES_EXPORTER_DB_USER:?")
    assert env["POSTGRES_EXPORTER_DB_PASSWORD"].startswith("${POSTGRES_EXPORTER_DB_PASSWORD:?")


def test_the_db_service_logs_in_as_its_own_role_never_the_owner(services):
    dbsvc = services["dbsvc"]
    env = dbsvc["environment"]
    assert env["POSTGRES_USER"].startswith("${DBSVC_DB_USER:?")
    assert env["POSTGRES_PASSWORD"].startswith("${DBSVC_DB_PASSWORD:?")
    assert "env_file" not in dbsvc, "an env file would hand it the owner's password"
    for key, value in env.items():
        assert not re.search(r"\$\{(POSTGRES_USER|POSTGRES_PASSWORD|PG\w*)\b", str(value)), (
            f"dbsvc: {key}={value} is the owner's"
        )
    # The local stack hands every program .env's values, the owner's among them; the DB
    # service's own environment= line replaces them.
    local = supervisord_environments()["dbsvc"]
    assert local["POSTGRES_USER"] == "%(ENV_DBSVC_DB_USER)s"
    assert local["POSTGRES_PASSWORD"] == "%(ENV_DBSVC_DB_PASSWORD)s"
    example = dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if re.match(r"\w+=", line)
    )
    assert example["DBSVC_DB_USER"] not in {"", example["POSTGRES_USER"]}
    assert example["DBSVC_DB_PASSWORD"] == "generate"


def test_each_service_mounts_its_own_certificate_alone_and_probes_over_mutual_tls(services):
    identity = {"api-1": "api", "api-2": "api", "dbsvc": "dbsvc", "logsvc": "logsvc"}
    mounts = {
        name: [v for v in spec.get("volumes", []) if v.startswith("tls-")]
        for name, spec in services.items()
    }
    for name, own in identity.items():
        assert mounts[name] == [f"tls-{own}:/etc/merch-store/tls:ro"], name
        assert services[name]["environment"]["TLS_DIR"] == "/etc/merch-store/tls", name
    # The authority's key is in the one-shot that signs, nowhere else.
    assert [name for name, m in mounts.items() if any(v.startswith("tls-ca:") for v in m)] == [
        "certs"
    ]
    certs = services["certs"]
    assert certs["user"] == "0" and certs["network_mode"] == "none"
    assert certs["cap_drop"] == ["ALL"] and set(certs["cap_add"]) <= {
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
    }
    for name in ("dbsvc", "logsvc"):
        probe = services[name]["healthcheck"]["test"]
        assert "-tls" in probe and f"-tls-server-name={name}" in probe, probe
