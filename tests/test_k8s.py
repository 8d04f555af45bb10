"""deploy/k8s, the Helm chart, without a cluster: helm lints and renders it (the default
and the scaled profile), every rendered object validates against the schemas of a
pinned Kubernetes (kubernetes-validate, strict: unknown fields fail too), and the
deployment's invariants hold: nothing runs as root or writes its root filesystem, every
long-running container has probes and every container limits, only the Ingress is
public, the NetworkPolicies allow exactly the architecture's edges, the configuration
uses .env's names, and the DB service's pools fit in PostgreSQL. Mutual TLS between the
services: each of api, dbsvc and logsvc mounts its own identity's certificate and no
other, which names it and which the store's authority signed (openssl reads them), and
the Go services are probed over TLS with it. The edge: NGINX runs the repository's own
nginx/ files, byte for byte, with every name its templates substitute, and the Ingress
and the node port lead to it, not to the API.

Each invariant is a function that lists what breaks it; the tests assert the list is
empty, and the last tests break a rendered chart on purpose (an edge, a probe, a
certificate mount, a certificate, NGINX's files and names) to show the checks notice."""

import base64
import copy
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from env_files import env_file

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "deploy/k8s"
ENV_EXAMPLE = ROOT / ".env.example"
COMPOSE_FILE = ROOT / "docker-compose.yml"

# The Kubernetes the chart is written for and checked against: schemas of this version
# (kubernetes-validate ships them, pinned in requirements-dev.txt) and helm's
# Capabilities.KubeVersion, which Chart.yaml's kubeVersion must accept.
KUBERNETES_VERSION = "1.34.0"
HELM_MODULE = "helm.sh/helm/v3/cmd/helm@v3.22.0"
RELEASE, NAMESPACE = "merch-store", "store"
PROFILES = {"default": [], "scaled": ["-f", str(CHART / "values-scaled.yaml")]}
# This machine's one-node cluster (deploy/k8s/cluster, deploy/k8s/cluster/store), checked on
# its own below: it differs from the two on purpose (its entry, images, requests).
LOCAL_CLUSTER = ["-f", str(CHART / "values-local-cluster.yaml")]
DEBIAN_ENV = ROOT / "deploy/images/debian.env"
CLUSTER_SCRIPT = ROOT / "deploy/k8s/cluster/cluster"
CLUSTER_STORE = ROOT / "deploy/k8s/cluster/store"
MIGRATIONS = ROOT / "db-init"
# NGINX's configuration, one for the local stack, compose and the chart: the chart reads
# it through deploy/k8s/files/nginx, a link to it (templates/nginx.yaml).
NGINX_CONF = ROOT / "nginx/nginx.conf"
NGINX_TEMPLATES = ROOT / "nginx/templates"

# The architecture (README's diagram): who opens connections to whom, on which port.
# Every edge of it and no other is allowed.
EXPECTED_EDGES = {
    # The cluster's ingress controller reaches NGINX, and NGINX alone the API replicas.
    ("ingress-controller", "nginx", 8080),
    ("nginx", "api", 5000),
    # The API calls both gRPC services; the DB service ships its own log records too.
    ("api", "dbsvc", 50051),
    ("api", "logsvc", 50052),
    ("dbsvc", "logsvc", 50052),
    # Only the DB service uses PostgreSQL; the migrations run as a one-shot Job.
    ("dbsvc", "postgres", 5432),
    ("db-migrate", "postgres", 5432),
    # Only the logging service writes to Kafka; the topic Job creates log-channel, and
    # brokers replicate between themselves.
    ("logsvc", "kafka", 9092),
    ("kafka-topic", "kafka", 9092),
    ("kafka", "kafka", 9092),
    # Kafka (ZooKeeper mode) uses ZooKeeper; ensemble members talk to each other.
    ("kafka", "zookeeper", 2181),
    ("zookeeper", "zookeeper", 2888),
    ("zookeeper", "zookeeper", 3888),
}
COMPONENTS = {"nginx", "api", "dbsvc", "logsvc", "postgres", "zookeeper", "kafka"}
JOBS = {"db-migrate", "kafka-topic"}
GO_SERVICES = {"dbsvc": 50051, "logsvc": 50052}
WORKLOADS = ("Deployment", "StatefulSet", "Job")
# Mutual TLS (issue 25): a component that calls or serves gRPC is the identity of the
# same name; its certificate is mounted at TLS_DIR, as serving/tls.go and the API read it.
IDENTITIES = {"api", "dbsvc", "logsvc"}
TLS_DIR = "/etc/merch-store/tls"
TLS_FILES = {"ca.crt", "tls.crt", "tls.key"}
AUTHORITY = "merch-store services CA"  # serving/pki's name for the store's CA
HEALTH_PROBE = "/usr/local/bin/grpc_health_probe"  # in the dbsvc and logsvc images
COMPONENT_LABEL = "app.kubernetes.io/component"
INSTALL_HINT = (
    "helm not found. `make tools` builds it into .state/bin from the Go module proxy:\n"
    f"  GOBIN=$PWD/.state/bin go install {HELM_MODULE}\n"
    "(or point HELM_BIN at a helm 3)."
)


def helm_command():
    for candidate in (os.environ.get("HELM_BIN"), str(ROOT / ".state/bin/helm")):
        if candidate and Path(candidate).is_file():
            return [candidate]
    if shutil.which("helm"):
        return ["helm"]
    pytest.fail(INSTALL_HINT)


def helm(*args):
    answer = subprocess.run(
        [*helm_command(), *args],
        capture_output=True,
        text=True,
        timeout=120,
        # No kubeconfig, no repositories: nothing here may reach a cluster or a network.
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/nonexistent"},
    )
    assert answer.returncode == 0, answer.stderr + answer.stdout
    return answer.stdout


def render(profile, *extra):
    out = helm(
        "template",
        RELEASE,
        str(CHART),
        "--namespace",
        NAMESPACE,
        "--kube-version",
        KUBERNETES_VERSION,
        *PROFILES.get(profile, ()),
        *extra,
    )
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="module", params=sorted(PROFILES))
def profile(request):
    return request.param


@pytest.fixture(scope="module")
def objects(profile):
    return render(profile)


def of_kind(objects, kind):
    return [o for o in objects if o["kind"] == kind]


def named(objects, kind, name):
    found = [o for o in of_kind(objects, kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind} {name}: {len(found)} found"
    return found[0]


def workloads(objects):
    return [o for o in objects if o["kind"] in WORKLOADS]


def pod_spec(workload):
    return workload["spec"]["template"]["spec"]


def component(workload):
    return workload["spec"]["template"]["metadata"]["labels"][COMPONENT_LABEL]


def containers(workload, init=True):
    spec = pod_spec(workload)
    return list(spec.get("initContainers") or []) * init + list(spec["containers"])


def fullname():
    return RELEASE  # the release name contains the chart's name


def job(objects, name):
    """The Job of this component (db-migrate, kafka-topic), whatever its name: an
    install's and an upgrade's are named apart (templates/db-migrate.yaml)."""
    (found,) = [w for w in of_kind(objects, "Job") if component(w) == name]
    return found


def config_data(objects):
    return named(objects, "ConfigMap", f"{fullname()}-config")["data"]


def env_of(container):
    return {e["name"]: e for e in container.get("env") or []}


def values():
    return yaml.safe_load((CHART / "values.yaml").read_text())


def tls_secret_name(identity):
    return f"{fullname()}-tls-{identity}"


def is_tls_secret(o):
    return o["kind"] == "Secret" and o.get("type") == "kubernetes.io/tls"


def secret_volumes(workload):
    """The pod's volumes that are a Secret (or project one), by volume name."""
    found = {}
    for v in pod_spec(workload).get("volumes") or []:
        if "secret" in v:
            found[v["name"]] = v["secret"]["secretName"]
        for source in (v.get("projected") or {}).get("sources") or []:
            if "secret" in source:
                found[v["name"]] = source["secret"]["name"]
    return found


def openssl(*args):
    if not shutil.which("openssl"):
        pytest.fail("openssl not found: the certificate checks read the rendered Secrets with it")
    answer = subprocess.run(
        ["openssl", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )
    return answer.returncode, answer.stdout + answer.stderr


# ---- the invariants, each a list of what breaks it ----


def run_as_root(objects):
    problems = []
    for w in workloads(objects):
        pod = pod_spec(w).get("securityContext") or {}
        for c in containers(w):
            sc = {**pod, **(c.get("securityContext") or {})}
            where = f"{w['kind']} {w['metadata']['name']} container {c['name']}"
            if sc.get("runAsNonRoot") is not True:
                problems.append(f"{where}: runAsNonRoot is not true")
            if sc.get("runAsUser") in (None, 0) or sc.get("runAsGroup") == 0:
                problems.append(f"{where}: no numeric non-root runAsUser/runAsGroup")
            if c.get("securityContext", {}).get("privileged"):
                problems.append(f"{where}: privileged")
            if (c.get("securityContext") or {}).get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: may escalate privileges")
            if (c.get("securityContext") or {}).get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: its root filesystem is writable")
            caps = (c.get("securityContext") or {}).get("capabilities") or {}
            if caps.get("drop") != ["ALL"] or caps.get("add"):
                problems.append(f"{where}: keeps Linux capabilities")
        spec = pod_spec(w)
        if spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC"):
            problems.append(f"{w['metadata']['name']}: shares a host namespace")
        if spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{w['metadata']['name']}: mounts an API token it does not use")
    return problems


def missing_probes_or_limits(objects):
    problems = []
    for w in workloads(objects):
        long_running = w["kind"] != "Job"
        for c in containers(w):
            where = f"{w['kind']} {w['metadata']['name']} container {c['name']}"
            resources = c.get("resources") or {}
            for bound in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in (resources.get(bound) or {}):
                        problems.append(f"{where}: no {resource} {bound}")
            is_init = c in (pod_spec(w).get("initContainers") or [])
            if long_running and not is_init:
                for probe in ("readinessProbe", "livenessProbe"):
                    if not c.get(probe):
                        problems.append(f"{where}: no {probe}")
    return problems


def peers(peer, ingress_controller, pods):
    """The components a NetworkPolicy peer admits, by name."""
    if set(peer) - {"podSelector", "namespaceSelector"}:
        return {f"ipBlock {peer.get('ipBlock')}"}  # anything but pods: not ours
    if "namespaceSelector" in peer:
        # Another namespace: only the ingress controller, selected exactly.
        selected = (
            peer["namespaceSelector"].get("matchLabels"),
            (peer.get("podSelector") or {}).get("matchLabels"),
        )
        return {"ingress-controller"} if selected == ingress_controller else {f"other {peer}"}
    return selected_components(peer["podSelector"], pods)


def selected_components(selector, pods):
    assert not selector.get("matchExpressions"), "only matchLabels are read here"
    labels = selector.get("matchLabels") or {}
    return {name for name, pod in pods.items() if labels.items() <= pod.items()}


def pod_labels(objects):
    return {component(w): w["spec"]["template"]["metadata"]["labels"] for w in workloads(objects)}


def allowed_edges(objects, ingress_controller):
    """(source, destination, port) for every connection the NetworkPolicies allow; '*'
    for any source or port."""
    pods = pod_labels(objects)
    edges = set()
    for policy in of_kind(objects, "NetworkPolicy"):
        spec = policy["spec"]
        if "Ingress" not in spec.get("policyTypes", ["Ingress"]):
            continue
        for target in selected_components(spec["podSelector"], pods):
            for rule in spec.get("ingress") or []:
                sources = set()
                for peer in rule.get("from") or [{"anyone": True}]:
                    sources |= {"*"} if "anyone" in peer else peers(peer, ingress_controller, pods)
                ports = [p.get("port", "*") for p in rule.get("ports") or [{}]]
                edges |= {(s, target, port) for s in sources for port in ports}
    return edges


def allowed_egress(objects):
    """The components that egress policies restrict, and (source, destination, protocol,
    port) for every connection those allow them; '*' for any destination or port."""
    pods = pod_labels(objects)
    restricted, edges = set(), set()
    for policy in of_kind(objects, "NetworkPolicy"):
        spec = policy["spec"]
        if "Egress" not in spec.get("policyTypes", []):
            continue
        sources = selected_components(spec["podSelector"], pods)
        restricted |= sources
        for rule in spec.get("egress") or []:
            destinations = set()
            for peer in rule.get("to") or [{"anyone": True}]:
                destinations |= {"*"} if "anyone" in peer else peers(peer, None, pods)
            ports = [
                (p.get("protocol", "TCP"), p.get("port", "*")) for p in rule.get("ports") or [{}]
            ]
            edges |= {(s, d, *port) for s in sources for d in destinations for port in ports}
    return restricted, edges


def unprotected_pods(objects):
    """Components whose pods no default-deny policy covers (open to the whole cluster)."""
    pods = pod_labels(objects)
    covered = set()
    for policy in of_kind(objects, "NetworkPolicy"):
        spec = policy["spec"]
        if spec.get("policyTypes") == ["Ingress"] and not spec.get("ingress"):
            covered |= selected_components(spec["podSelector"], pods)
    return set(pods) - covered


def ingress_controller_selector():
    controller = values()["ingress"]["controller"]
    return controller["namespaceLabels"], controller["podLabels"]


def key_readable_by_pod(pod_security, secret):
    """Whether the pod's processes can read a file of this Secret volume, and no others:
    the kubelet writes it owned by root, in the group fsGroup when the pod has one (and
    every process of the pod is in that group). The owner's bits serve root alone, which
    run_as_root rules out."""
    mode = secret.get("defaultMode", 0o644)
    return bool(pod_security.get("fsGroup") and mode & 0o040) and not mode & 0o007


KEY_MODE = "the key is unreadable to the pod or readable to all"


def tls_problems(objects):
    """Each container of api, dbsvc and logsvc: TLS_DIR set, its own identity's Secret
    mounted there read-only, all three files in it, the key readable by the pod's user
    and by no one else."""
    problems = []
    for w in workloads(objects):
        identity = component(w)
        if identity not in IDENTITIES:
            continue
        spec = pod_spec(w)
        volumes = {v["name"]: v for v in spec.get("volumes") or []}
        for c in containers(w, init=False):
            where = f"{w['kind']} {w['metadata']['name']} container {c['name']}"
            if (env_of(c).get("TLS_DIR") or {}).get("value") != TLS_DIR:
                problems.append(f"{where}: TLS_DIR is not {TLS_DIR}")
            mounts = [m for m in c.get("volumeMounts") or [] if m["mountPath"] == TLS_DIR]
            if len(mounts) != 1:
                problems.append(f"{where}: nothing mounted at {TLS_DIR}")
                continue
            (mount,) = mounts
            secret = volumes.get(mount["name"], {}).get("secret") or {}
            if secret.get("secretName") != tls_secret_name(identity):
                problems.append(
                    f"{where}: {TLS_DIR} is {secret.get('secretName') or mount['name']}, "
                    f"not {tls_secret_name(identity)}"
                )
            if mount.get("readOnly") is not True or mount.get("subPath"):
                problems.append(f"{where}: {TLS_DIR} is not the whole Secret, read-only")
            if "items" in secret and not {i["path"] for i in secret["items"]} >= TLS_FILES:
                problems.append(f"{where}: {TLS_DIR} lacks some of {sorted(TLS_FILES)}")
            if not key_readable_by_pod(spec.get("securityContext") or {}, secret):
                problems.append(f"{where}: {KEY_MODE}")
    return problems


def certificate_problems(objects):
    """Each identity's Secret: ca.crt, tls.crt and tls.key; the certificate's subject
    CN and only DNS name the identity, good for server and client, signed by the
    authority in ca.crt, which is the store's; the key the certificate's; one authority
    for all three."""
    problems = []
    authorities = set()
    for identity in sorted(IDENTITIES):
        name = tls_secret_name(identity)
        secret = named(objects, "Secret", name)
        data = secret.get("data") or {}
        if not is_tls_secret(secret) or set(data) != TLS_FILES:
            problems.append(f"{name}: not a TLS Secret of {sorted(TLS_FILES)}: {sorted(data)}")
            continue
        authorities.add(data["ca.crt"])
        with tempfile.TemporaryDirectory() as tmp:
            files = {}
            for key, value in data.items():
                files[key] = Path(tmp) / key
                files[key].write_bytes(base64.b64decode(value))
            crt, ca, key = str(files["tls.crt"]), str(files["ca.crt"]), str(files["tls.key"])
            names = ["-subject", "-nameopt", "RFC2253", "-ext", "subjectAltName"]
            _, text = openssl("x509", "-in", crt, "-noout", *names)
            subject = re.search(r"^subject=(.*)$", text, re.M)
            if not subject or subject[1].strip() != f"CN={identity}":
                problems.append(f"{name}: subject {subject and subject[1]!r}, not CN={identity}")
            if re.findall(r"(?:DNS|IP Address|email|URI):[^,\s]+", text) != [f"DNS:{identity}"]:
                problems.append(f"{name}: alternative names are not DNS:{identity} alone: {text}")
            _, text = openssl("x509", "-in", ca, "-noout", "-subject", "-nameopt", "RFC2253")
            if text.strip() != f"subject=CN={AUTHORITY}":
                problems.append(f"{name}: ca.crt is {text.strip()!r}, not the store's authority")
            for purpose in ("sslserver", "sslclient"):
                code, text = openssl("verify", "-purpose", purpose, "-CAfile", ca, crt)
                if code != 0:
                    problems.append(f"{name}: not signed by its ca.crt for {purpose}: {text}")
            _, from_key = openssl("pkey", "-in", key, "-pubout")
            _, from_crt = openssl("x509", "-in", crt, "-noout", "-pubkey")
            if "PUBLIC KEY" not in from_key or from_key != from_crt:
                problems.append(f"{name}: tls.key is not the certificate's key")
    if len(authorities) > 1:
        problems.append(f"{len(authorities)} authorities: the identities do not trust each other")
    return problems


def nginx_container(objects):
    (container,) = containers(named(objects, "Deployment", f"{fullname()}-nginx"))
    return container


def nginx_sources():
    """{where the image reads it: the repository's file}: nginx.conf over the image's own,
    every template where the entrypoint renders them from."""
    sources = {"/etc/nginx/nginx.conf": NGINX_CONF}
    for template in sorted(NGINX_TEMPLATES.glob("*.template")):
        sources[f"/etc/nginx/templates/{template.name}"] = template
    return sources


def nginx_file_problems(objects):
    """NGINX runs the repository's files and no copies: each is mounted where the image
    reads it, from a key of a ConfigMap that holds it byte for byte."""
    problems = []
    nginx = named(objects, "Deployment", f"{fullname()}-nginx")
    volumes = {v["name"]: v for v in pod_spec(nginx).get("volumes") or []}
    mounts = {m["mountPath"]: m for m in nginx_container(objects).get("volumeMounts") or []}
    for path, source in nginx_sources().items():
        mount = mounts.get(path)
        config_map = (volumes.get(mount["name"], {}) if mount else {}).get("configMap")
        if not mount or not config_map or not mount.get("subPath"):
            problems.append(f"{path}: not a file of a ConfigMap")
            continue
        data = named(objects, "ConfigMap", config_map["name"]).get("data") or {}
        if data.get(mount["subPath"], "").encode() != source.read_bytes():
            problems.append(
                f"{path}: {config_map['name']}'s {mount['subPath']} is not "
                f"{source.relative_to(ROOT)} byte for byte"
            )
    return problems


def template_names():
    """The ${NAMES} that nginx/templates/*.template have envsubst fill in."""
    names = set()
    for template in NGINX_TEMPLATES.glob("*.template"):
        names |= set(re.findall(r"\$\{(\w+)\}", template.read_text()))
    return names


def nginx_env_problems(objects):
    """Every name the templates substitute is in NGINX's environment and matched by
    NGINX_ENVSUBST_FILTER (a regular expression the entrypoint's awk matches names against):
    a name left out stays `${NAME}` in the configuration, which NGINX refuses."""
    env = env_of(nginx_container(objects))
    flt = (env.get("NGINX_ENVSUBST_FILTER") or {}).get("value") or "(?!)"
    problems = []
    for name in sorted(template_names()):
        if name not in env:
            problems.append(f"{name}: not in NGINX's environment")
        if not re.search(flt, name):
            problems.append(f"{name}: not matched by NGINX_ENVSUBST_FILTER {flt}")
    return problems


def files_config_maps(objects):
    """The ConfigMaps that a pod mounts as files: their keys are file names."""
    return {
        v["configMap"]["name"]
        for w in workloads(objects)
        for v in pod_spec(w).get("volumes") or []
        if "configMap" in v
    }


# ---- the tests ----


@pytest.mark.parametrize("lint_profile", sorted(PROFILES))
def test_helm_lints_the_chart_strictly(lint_profile):
    helm(
        "lint",
        "--strict",
        "--kube-version",
        KUBERNETES_VERSION,
        str(CHART),
        *PROFILES[lint_profile],
    )


def test_every_object_validates_against_the_kubernetes_schemas(objects):
    assert len(objects) > 20
    problems = []
    for o in objects:
        try:
            kubernetes_validate.validate(o, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append(f"{o['kind']} {o['metadata']['name']}: {error.message}")
    assert problems == []


def test_every_part_of_the_store_is_there(objects):
    kinds = {(o["kind"], component(o)) for o in workloads(objects)}
    assert kinds == {
        ("Deployment", "nginx"),
        ("Deployment", "api"),
        ("Deployment", "dbsvc"),
        ("Deployment", "logsvc"),
        ("StatefulSet", "postgres"),
        ("StatefulSet", "zookeeper"),
        ("StatefulSet", "kafka"),
        ("Job", "db-migrate"),
        ("Job", "kafka-topic"),
    }
    assert {component(w) for w in workloads(objects)} == COMPONENTS | JOBS


def test_no_container_runs_as_root_or_writes_its_root_filesystem(objects):
    assert run_as_root(objects) == []


def test_every_container_has_limits_and_every_server_probes(objects):
    assert missing_probes_or_limits(objects) == []


def probe_flags(command):
    """grpc_health_probe's flags, -name=value or -name alone (None)."""
    return dict([*arg.split("=", 1), None][:2] for arg in command[1:])


def test_the_go_services_are_probed_over_grpc_health_with_tls_and_the_api_over_http(objects):
    """The services refuse plaintext, so the kubelet's own gRPC probe cannot ask them:
    the images' grpc_health_probe asks, with the service's own certificate, verifying
    the server by its identity; the timing stays values.yaml's."""
    for w in of_kind(objects, "Deployment"):
        (c,) = containers(w)
        name = component(w)
        if name == "nginx":
            continue  # test_nginx_is_probed_on_its_status_port_not_through_the_api
        for probe, kind in (("readinessProbe", "readiness"), ("livenessProbe", "liveness")):
            if name in GO_SERVICES:
                assert "grpc" not in c[probe], f"{name} {probe}: the kubelet's probe has no TLS"
                command = c[probe]["exec"]["command"]
                assert command[0] == HEALTH_PROBE, (name, probe)
                assert probe_flags(command) == {
                    "-addr": f"127.0.0.1:{GO_SERVICES[name]}",
                    "-tls": None,
                    "-tls-ca-cert": f"{TLS_DIR}/ca.crt",
                    "-tls-client-cert": f"{TLS_DIR}/tls.crt",
                    "-tls-client-key": f"{TLS_DIR}/tls.key",
                    "-tls-server-name": name,
                }, (name, probe)
                timing = values()[name]["probes"][kind]
                for field in ("periodSeconds", "timeoutSeconds", "failureThreshold"):
                    assert c[probe][field] == timing[field], (name, probe, field)
            else:
                assert c[probe]["httpGet"]["path"] == "/healthz", (name, probe)
        if name == "api":
            # A replica takes traffic only once it has reached its services (readyz).
            assert c["startupProbe"]["httpGet"]["path"] == "/readyz"


def test_nginx_is_probed_on_its_status_port_not_through_the_api(objects):
    """stub_status answers as long as NGINX runs; /healthz would be the API's answer, and an
    API outage would take every NGINX out of the Service (or restart them)."""
    c = nginx_container(objects)
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    status_port = int(env_of(c)["NGINX_STATUS_PORT"]["value"])
    for probe in ("readinessProbe", "livenessProbe"):
        get = c[probe]["httpGet"]
        assert get["path"] == "/stub_status", probe
        assert ports[get["port"]] == status_port, probe
    assert "location = /stub_status" in (NGINX_TEMPLATES / "default.conf.template").read_text()


def test_writable_paths_are_volumes(objects):
    api = named(objects, "Deployment", f"{fullname()}-api")
    mounts = {m["mountPath"]: m["name"] for m in containers(api)[0]["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec(api)["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    for name in ("postgres", "kafka", "zookeeper"):
        w = named(objects, "StatefulSet", f"{fullname()}-{name}")
        claims = {t["metadata"]["name"] for t in w["spec"]["volumeClaimTemplates"]}
        mounted = {m["name"] for m in containers(w)[0]["volumeMounts"]}
        assert claims <= mounted, name
    # NGINX writes the rendered templates, its pid file (/run/nginx.pid, or /var/run's,
    # a link to /run in both images), the catalog's cache and its temporary files
    # (nginx.org's in /var/cache/nginx, Debian's in /var/lib/nginx).
    nginx = named(objects, "Deployment", f"{fullname()}-nginx")
    volumes = {v["name"]: v for v in pod_spec(nginx)["volumes"]}
    c = nginx_container(objects)
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    for path in ("/etc/nginx/conf.d", "/run", "/var/cache/nginx", "/var/lib/nginx"):
        assert "emptyDir" in volumes[mounts[path]], path
    cache = env_of(c)["NGINX_CACHE_DIR"]["value"]
    assert any(
        cache.startswith(f"{path}/") and "emptyDir" in volumes[name]
        for path, name in mounts.items()
    ), cache


def test_stateless_services_run_twice_roll_without_loss_and_have_budgets(objects):
    hpas = {
        h["spec"]["scaleTargetRef"]["name"]: h for h in of_kind(objects, "HorizontalPodAutoscaler")
    }
    budgets = [
        p["spec"]["selector"]["matchLabels"] for p in of_kind(objects, "PodDisruptionBudget")
    ]
    for w in of_kind(objects, "Deployment"):
        name = w["metadata"]["name"]
        replicas = w["spec"].get("replicas")
        if name in hpas:
            assert replicas is None, f"{name}: the HPA owns the count, helm would reset it"
            replicas = hpas[name]["spec"]["minReplicas"]
        assert replicas >= 2, name
        strategy = w["spec"]["strategy"]
        assert strategy["type"] == "RollingUpdate"
        assert strategy["rollingUpdate"]["maxUnavailable"] == 0, name
        labels = w["spec"]["template"]["metadata"]["labels"]
        assert any(b.items() <= labels.items() for b in budgets), f"{name}: no PodDisruptionBudget"
    (api_hpa,) = of_kind(objects, "HorizontalPodAutoscaler")
    assert api_hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": f"{fullname()}-api",
    }
    (metric,) = api_hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"


def test_only_the_ingress_is_public(objects):
    for service in of_kind(objects, "Service"):
        spec = service["spec"]
        assert spec.get("type", "ClusterIP") == "ClusterIP", service["metadata"]["name"]
        assert not spec.get("externalIPs") and not spec.get("loadBalancerIP")
    for w in workloads(objects):
        assert not pod_spec(w).get("hostNetwork")
        for c in containers(w):
            assert not any("hostPort" in p for p in c.get("ports") or []), c["name"]
    (ingress,) = of_kind(objects, "Ingress")
    backends = {
        path["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert backends == {f"{fullname()}-nginx"}


def test_the_entry_leads_to_nginx_and_nginx_to_the_api(objects):
    """The Ingress sends every request to NGINX's Service, which selects the NGINX pods
    on the port NGINX listens on; NGINX's upstream names two servers, both the API's
    ClusterIP Service (kube-proxy spreads NGINX's connections over the API pods)."""
    pods = pod_labels(objects)
    (ingress,) = of_kind(objects, "Ingress")
    ((backend,),) = [
        [path["backend"]["service"] for path in rule["http"]["paths"]]
        for rule in ingress["spec"]["rules"]
    ]
    nginx_service = named(objects, "Service", backend["name"])
    assert selected_components({"matchLabels": nginx_service["spec"]["selector"]}, pods) == {
        "nginx"
    }
    (port,) = [p for p in nginx_service["spec"]["ports"] if p["name"] == backend["port"]["name"]]
    env = env_of(nginx_container(objects))
    listening = {p["name"]: p["containerPort"] for p in nginx_container(objects)["ports"]}
    assert listening[port["targetPort"]] == int(env["NGINX_PORT"]["value"])
    api_service = named(objects, "Service", f"{fullname()}-api")
    assert api_service["spec"].get("clusterIP") != "None", "NGINX resolves the name once"
    assert selected_components({"matchLabels": api_service["spec"]["selector"]}, pods) == {"api"}
    (api_port,) = api_service["spec"]["ports"]
    upstream = f"{fullname()}-api:{api_port['port']}"
    assert env["API_1_ADDR"]["value"] == env["API_2_ADDR"]["value"] == upstream
    # Both servers are that one Service: one marked down after a failure is both, and NGINX
    # refused every request for 5 s in a rolling update (deploy/k8s/README.md).
    assert env["API_MAX_FAILS"]["value"] == "0", "a failure must not mark the Service down"
    # NGINX closes its connections to a pod that left the Service before the pod does.
    pause = named(objects, "Deployment", f"{fullname()}-api")["spec"]["template"]["spec"][
        "containers"
    ][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    for name in ("API_KEEPALIVE_IDLE", "API_KEEPALIVE_MAX_AGE"):
        seconds = int(env[name]["value"].removesuffix("s"))
        assert 0 < seconds < pause - 1, f"{name}: {seconds} s, the API's preStop pause {pause} s"


def test_network_policies_allow_exactly_the_edges_of_the_architecture(objects):
    assert allowed_edges(objects, ingress_controller_selector()) == EXPECTED_EDGES
    assert unprotected_pods(objects) == set()


def test_nginx_may_reach_the_api_and_dns_only(objects):
    """The one pod that parses what any client sends reaches the API's HTTP port and the
    cluster's resolver, nothing else; the others have no egress rules."""
    restricted, edges = allowed_egress(objects)
    assert restricted == {"nginx"}
    assert edges == {
        ("nginx", "api", "TCP", 5000),
        ("nginx", "*", "UDP", 53),
        ("nginx", "*", "TCP", 53),
    }


def test_the_policies_use_the_ports_the_pods_listen_on(objects):
    listening = {
        (component(w), p["containerPort"])
        for w in workloads(objects)
        for c in containers(w)
        for p in c.get("ports") or []
    }
    zookeeper = named(objects, "StatefulSet", f"{fullname()}-zookeeper")
    for _, target, port in EXPECTED_EDGES:
        if target == "zookeeper" and port != 2181 and zookeeper["spec"]["replicas"] == 1:
            continue  # a lone member has no peers to listen for
        assert (target, port) in listening


def test_configuration_uses_the_names_of_env_example(objects):
    names = set(env_file(ENV_EXAMPLE))
    # The TLS Secrets hold files, under the names a Kubernetes TLS Secret has, and so does
    # NGINX's ConfigMap (test_nginx_runs_the_repositorys_files_byte_for_byte).
    settings = [o for o in of_kind(objects, "Secret") if not is_tls_secret(o)]
    files = files_config_maps(objects)
    assert files == {f"{fullname()}-nginx"}
    config = [o for o in of_kind(objects, "ConfigMap") if o["metadata"]["name"] not in files]
    for o in config + settings:
        keys = set(o.get("data") or {}) | set(o.get("stringData") or {})
        assert keys and keys <= names, f"{o['metadata']['name']}: {sorted(keys - names)}"
    # values.yaml spells them the same way.
    given = values()
    assert set(given["config"]) | set(given["secrets"]) <= names
    assert not any(given["secrets"].values()), "values.yaml holds no secret"


def test_every_reference_names_a_key_that_is_rendered(objects):
    data = {
        (o["kind"], o["metadata"]["name"]): set(o.get("data") or {})
        for o in of_kind(objects, "ConfigMap") + of_kind(objects, "Secret")
    }
    for w in workloads(objects):
        for c in containers(w):
            for e in c.get("env") or []:
                source = e.get("valueFrom") or {}
                for kind, ref in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                    if ref in source:
                        key = (kind, source[ref]["name"])
                        assert source[ref]["key"] in data.get(key, ()), (c["name"], e)
        for volume, secret in secret_volumes(w).items():
            assert ("Secret", secret) in data, (w["metadata"]["name"], volume, secret)
        volumes = {v["name"]: v for v in pod_spec(w).get("volumes") or []}
        for c in containers(w):
            for mount in c.get("volumeMounts") or []:
                # (a StatefulSet's claims are no pod volume)
                config_map = volumes.get(mount["name"], {}).get("configMap")
                if config_map and "subPath" in mount:
                    key = ("ConfigMap", config_map["name"])
                    assert mount["subPath"] in data.get(key, ()), (c["name"], mount)


def secret_keys_of(workload):
    return {
        e["valueFrom"]["secretKeyRef"]["key"]
        for c in containers(workload)
        for e in c.get("env") or []
        if "secretKeyRef" in (e.get("valueFrom") or {})
    }


def test_each_pod_gets_only_the_secrets_it_needs(objects):
    given = {component(w): secret_keys_of(w) for w in workloads(objects)}
    assert given == {
        "nginx": set(),
        "api": {"JWT_SECRET"},
        "dbsvc": {"DBSVC_DB_PASSWORD"},
        "logsvc": set(),
        "postgres": {"POSTGRES_PASSWORD"},
        "zookeeper": set(),
        "kafka": set(),
        "db-migrate": {"POSTGRES_PASSWORD", "DBSVC_DB_PASSWORD", "POSTGRES_EXPORTER_DB_PASSWORD"},
        "kafka-topic": set(),
    }
    for w in workloads(objects):
        for c in containers(w):
            assert "envFrom" not in c, f"{c['name']}: takes whole objects, not its keys"
    # As files: only the certificate and key of the pod's own identity.
    mounted = {component(w): set(secret_volumes(w).values()) for w in workloads(objects)}
    own = {name: {tls_secret_name(name)} for name in IDENTITIES}
    assert mounted == {name: own.get(name, set()) for name in COMPONENTS | JOBS}


def test_each_grpc_party_mounts_its_own_certificate_where_tls_dir_says(objects):
    assert tls_problems(objects) == []


def test_each_identity_has_a_certificate_naming_it_from_the_store_authority(objects):
    assert certificate_problems(objects) == []


def test_grpc_reflection_is_off_unless_asked_for(objects):
    def reflection(objects):
        return {
            component(w): env_of(containers(w)[0]).get("GRPC_REFLECTION", {}).get("value")
            for w in of_kind(objects, "Deployment")
        }

    off = {"nginx": None, "api": None, "dbsvc": "false", "logsvc": "false"}
    assert reflection(objects) == off
    on = reflection(render("default", "--set", "grpc.reflection=true"))
    assert on == {**off, "dbsvc": "true", "logsvc": "true"}


def test_the_db_service_logs_in_as_its_role_and_the_migrations_run_as_the_owner(objects):
    dbsvc = env_of(containers(named(objects, "Deployment", f"{fullname()}-dbsvc"))[0])
    assert dbsvc["POSTGRES_USER"]["valueFrom"]["configMapKeyRef"]["key"] == "DBSVC_DB_USER"
    assert dbsvc["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "DBSVC_DB_PASSWORD"
    migrate = env_of(job(objects, "db-migrate")["spec"]["template"]["spec"]["containers"][0])
    assert migrate["PGUSER"]["valueFrom"]["configMapKeyRef"]["key"] == "POSTGRES_USER"
    assert migrate["PGPASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "POSTGRES_PASSWORD"
    assert "password" not in migrate["GOOSE_DBSTRING"]["value"].lower()


def test_grpc_clients_dial_headless_services_by_dns(objects):
    data = config_data(objects)
    pods = pod_labels(objects)
    for name, port in GO_SERVICES.items():
        service_name = f"{fullname()}-{name}-headless"
        key = f"{name.upper()}_ADDR"
        assert data[key] == f"dns:///{service_name}:{port}"
        service = named(objects, "Service", service_name)
        assert service["spec"]["clusterIP"] == "None", "a ClusterIP pins a channel to one pod"
        assert not service["spec"].get("publishNotReadyAddresses")
        assert [p["port"] for p in service["spec"]["ports"]] == [port]
        assert selected_components({"matchLabels": service["spec"]["selector"]}, pods) == {name}
    api = env_of(containers(named(objects, "Deployment", f"{fullname()}-api"))[0])
    dbsvc = env_of(containers(named(objects, "Deployment", f"{fullname()}-dbsvc"))[0])
    for env, key in ((api, "DBSVC_ADDR"), (api, "LOGSVC_ADDR"), (dbsvc, "LOGSVC_ADDR")):
        assert env[key]["valueFrom"]["configMapKeyRef"]["key"] == key


def test_stateful_parts_and_nginx_run_the_images_of_the_compose_file(objects):
    """The compose file's defaults, `${POSTGRES_IMAGE:-postgres:...}`: the official images."""
    compose = yaml.safe_load(COMPOSE_FILE.read_text())["services"]

    def default_image(service):
        return re.fullmatch(r"\$\{\w+:-([^}]+)\}", compose[service]["image"])[1]

    for name in ("postgres", "zookeeper", "kafka"):
        w = named(objects, "StatefulSet", f"{fullname()}-{name}")
        assert containers(w)[0]["image"] == default_image(name)
    topic = job(objects, "kafka-topic")
    assert containers(topic)[0]["image"] == default_image("kafka-init")
    assert nginx_container(objects)["image"] == default_image("nginx")


def test_the_pools_fit_in_postgres_max_connections(objects):
    data = config_data(objects)
    dbsvc = named(objects, "Deployment", f"{fullname()}-dbsvc")
    surge = dbsvc["spec"]["strategy"]["rollingUpdate"]["maxSurge"]
    postgres = containers(named(objects, "StatefulSet", f"{fullname()}-postgres"))[0]
    (max_connections,) = re.findall(r"max_connections=(\d+)", " ".join(postgres["args"]))
    migrate_job, superuser_reserved = 1, 3
    needed = (
        int(data["DB_POOL_MAX_CONNS"]) * (dbsvc["spec"]["replicas"] + surge)
        + migrate_job
        + superuser_reserved
    )
    assert needed <= int(max_connections)


def test_the_scaled_profile_replicates_the_log_topic():
    objects = render("scaled")
    kafka = named(objects, "StatefulSet", f"{fullname()}-kafka")
    zookeeper = named(objects, "StatefulSet", f"{fullname()}-zookeeper")
    assert kafka["spec"]["replicas"] == 3 and zookeeper["spec"]["replicas"] == 3
    broker = env_of(containers(kafka)[0])
    assert broker["KAFKA_MIN_INSYNC_REPLICAS"]["value"] == "2"
    assert broker["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"]["value"] == "3"
    topic = env_of(containers(job(objects, "kafka-topic"))[0])
    assert topic["REPLICATION_FACTOR"]["value"] == "3"
    assert int(topic["PARTITIONS"]["value"]) > 3
    assert len(config_data(objects)["KAFKA_BROKERS"].split(",")) == 3
    for w in of_kind(objects, "Deployment"):
        replicas = w["spec"].get("replicas")
        assert replicas is None or replicas >= 3, w["metadata"]["name"]


# ---- the checks themselves: a chart broken on purpose fails them ----


# What the first install on a cluster needed fixed (issue 27, deploy/k8s/cluster/store),
# each checked here so that it stays fixed.


def test_the_migrate_job_has_every_variable_the_migrations_substitute(objects):
    """goose's ENVSUB stops a migration whose ${NAME} is unset: 00007 (the exporter's
    role) cannot apply without POSTGRES_EXPORTER_DB_*, which the Job lacked."""
    substituted = set()
    for sql in sorted(MIGRATIONS.glob("*.sql")):
        for block in re.findall(r"ENVSUB ON(.*?)ENVSUB OFF", sql.read_text(), re.S):
            substituted |= set(re.findall(r"\$\{(\w+)", block))
    assert {"DBSVC_DB_PASSWORD", "POSTGRES_EXPORTER_DB_USER"} <= substituted
    migrate = containers(job(objects, "db-migrate"), init=False)[0]
    assert substituted - set(env_of(migrate)) == set()


def test_helm_install_wait_has_no_hook_to_wait_for():
    """`helm install --wait` holds post-install hooks back until every pod is ready, and
    dbsvc is ready only after the migrations, logsvc only once the topic exists: as
    post-install hooks the two Jobs deadlock `--wait` until it times out. On install they are
    plain Jobs of the release; on upgrade hooks, the schema before the new pods, the
    topic after the new brokers, under names of their own."""
    installed = {component(w): w["metadata"] for w in of_kind(render("default"), "Job")}
    assert set(installed) == JOBS
    for meta in installed.values():
        assert "helm.sh/hook" not in (meta.get("annotations") or {}), meta["name"]
    upgraded = {
        component(w): w["metadata"] for w in of_kind(render("default", "--is-upgrade"), "Job")
    }
    hooks = {name: meta["annotations"]["helm.sh/hook"] for name, meta in upgraded.items()}
    assert hooks == {"db-migrate": "pre-upgrade", "kafka-topic": "post-upgrade"}
    for name in JOBS:
        assert installed[name]["name"] != upgraded[name]["name"]


def run_start_command(workload, ordinal, tmp_path):
    """The server container's command run by bash as in a pod of this ordinal, with a
    stub start-server (deploy/images/kafka's entry) that prints the ids it was given."""
    (tmp_path / "start-server").write_text(
        '#!/bin/sh\necho "start-server broker=$KAFKA_BROKER_ID"\n'
    )
    (tmp_path / "start-server").chmod(0o755)
    command = containers(workload, init=False)[0]["command"]
    assert command[0] == "bash"
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=10,
        env={
            "PATH": f"{tmp_path}:/usr/bin:/bin",
            "HOSTNAME": f"{workload['metadata']['name']}-{ordinal}",
        },
    )


@pytest.mark.skipif(Path("/etc/confluent/docker/run").exists(), reason="Confluent's script here")
def test_kafka_starts_from_either_image(objects, tmp_path):
    """Confluent's images start by /etc/confluent/docker/run, deploy/images' Debian image
    by start-server: the broker starts from both, its id the pod's ordinal. This
    machine's cluster runs the Debian image, which has no Confluent path."""
    kafka = named(objects, "StatefulSet", f"{fullname()}-kafka")
    answer = run_start_command(kafka, 2, tmp_path)
    assert (answer.returncode, answer.stdout) == (0, "start-server broker=2\n"), answer.stderr


@pytest.mark.skipif(Path("/etc/confluent/docker/run").exists(), reason="Confluent's script here")
def test_a_zookeeper_ensemble_refuses_an_image_without_confluents_script(tmp_path):
    """deploy/images' start-server has no ZOOKEEPER_SERVERS or myid: three members of it
    would each be an ensemble of one. The member says so and stops instead."""
    zookeeper = named(render("scaled"), "StatefulSet", f"{fullname()}-zookeeper")
    answer = run_start_command(zookeeper, 0, tmp_path)
    assert answer.returncode == 64 and "Confluent" in answer.stderr
    assert "start-server" not in answer.stdout


def test_the_local_cluster_profile_fits_this_machines_cluster():
    """values-local-cluster.yaml: every image one the engine holds and `cluster load`
    loads (never pulled), NGINX on the NodePort the cluster publishes, the API not, no
    Ingress (no controller there), requests that fit the node's 2 cores, and the
    NetworkPolicies the architecture's edges plus any client to NGINX's port."""
    objects = render("local-cluster", *LOCAL_CLUSTER)
    debian = set(env_file(DEBIAN_ENV).values())
    cpu = 0.0
    for w in workloads(objects):
        for c in containers(w):
            assert c["imagePullPolicy"] == "Never", c["name"]
            image = c["image"]
            assert image in debian or image.startswith("merchstore/"), image
            request = str(c["resources"]["requests"]["cpu"])
            count = 1 if w["kind"] == "Job" else w["spec"].get("replicas", 2)
            cpu += count * (float(request[:-1]) / 1000 if request.endswith("m") else float(request))
    assert cpu <= 2.0, f"{cpu} cores requested on a node of 2"
    assert of_kind(objects, "Ingress") == []
    (published,) = re.findall(r"K8S_NODE_PORTS:-([\d ]+)\}", CLUSTER_SCRIPT.read_text())
    nginx = named(objects, "Service", f"{fullname()}-nginx")
    assert nginx["spec"]["type"] == "NodePort"
    (port,) = nginx["spec"]["ports"]
    assert port["nodePort"] == int(published.split()[0]) and port["targetPort"] == "http"
    others = [s for s in of_kind(objects, "Service") if s is not nginx]
    assert all(s["spec"].get("type", "ClusterIP") == "ClusterIP" for s in others)
    edges = allowed_edges(objects, ingress_controller_selector())
    assert edges == EXPECTED_EDGES | {("*", "nginx", 8080)}


def test_the_clusters_test_install_raises_the_rate_limits_as_composes_tests_do():
    """deploy/k8s/cluster/store installs with tests/k8s/values-e2e.yaml too: its suites, like
    compose's, reach NGINX from one address, and get compose's test numbers."""
    exported = dict(
        re.findall(r"\b(RATE_LIMIT_\w+)=(\d+)", (ROOT / "deploy/compose/stack").read_text())
    )
    assert len(exported) == 4, exported
    e2e = ROOT / "tests/k8s/values-e2e.yaml"
    assert str(e2e.relative_to(ROOT)) in CLUSTER_STORE.read_text()
    objects = render("local-cluster", *LOCAL_CLUSTER, "-f", str(e2e))
    data = config_data(objects)
    env = env_of(nginx_container(objects))
    for name, value in exported.items():
        assert env[name]["valueFrom"]["configMapKeyRef"]["key"] == name
        assert data[name] == value, name


def test_a_missing_network_policy_edge_is_noticed():
    objects = render("default")
    controller = ingress_controller_selector()
    broken = [
        o
        for o in objects
        if not (o["kind"] == "NetworkPolicy" and o["metadata"]["name"].endswith("-dbsvc-from-api"))
    ]
    assert len(broken) == len(objects) - 1
    assert EXPECTED_EDGES - allowed_edges(broken, controller) == {("api", "dbsvc", 50051)}
    # A policy that lets anyone in shows up as an edge from '*'.
    opened = copy.deepcopy(objects)
    for o in opened:
        if o["kind"] == "NetworkPolicy" and o["metadata"]["name"].endswith(
            "-postgres-from-dbsvc-db-migrate"
        ):
            o["spec"]["ingress"][0].pop("from")
    assert ("*", "postgres", 5432) in allowed_edges(opened, controller)


def test_a_missing_probe_is_noticed():
    objects = copy.deepcopy(render("default"))
    dbsvc = named(objects, "Deployment", f"{fullname()}-dbsvc")
    del containers(dbsvc)[0]["livenessProbe"]
    assert missing_probes_or_limits(objects) == [
        f"Deployment {fullname()}-dbsvc container dbsvc: no livenessProbe"
    ]


def test_a_pod_with_another_identity_is_noticed():
    objects = copy.deepcopy(render("default"))
    dbsvc = named(objects, "Deployment", f"{fullname()}-dbsvc")
    (tls,) = [v for v in pod_spec(dbsvc)["volumes"] if "secret" in v]
    tls["secret"]["secretName"] = tls_secret_name("api")
    where = f"Deployment {fullname()}-dbsvc container dbsvc"
    assert tls_problems(objects) == [
        f"{where}: {TLS_DIR} is {tls_secret_name('api')}, not {tls_secret_name('dbsvc')}"
    ]
    # A key the pod's user cannot read (no fsGroup), and one anybody can.
    del pod_spec(dbsvc)["securityContext"]["fsGroup"]
    tls["secret"]["secretName"] = tls_secret_name("dbsvc")
    assert tls_problems(objects) == [f"{where}: {KEY_MODE}"]
    pod_spec(dbsvc)["securityContext"]["fsGroup"] = 65532
    tls["secret"]["defaultMode"] = 0o444
    assert tls_problems(objects) == [f"{where}: {KEY_MODE}"]


def test_a_certificate_of_another_identity_or_authority_is_noticed():
    objects = copy.deepcopy(render("default"))
    secrets = {i: named(objects, "Secret", tls_secret_name(i))["data"] for i in IDENTITIES}
    # The API handed logsvc's certificate and key: same authority, wrong name.
    secrets["api"]["tls.crt"] = secrets["logsvc"]["tls.crt"]
    secrets["api"]["tls.key"] = secrets["logsvc"]["tls.key"]
    # dbsvc's from another render, whose authority is another (genCA per render).
    other = named(render("default"), "Secret", tls_secret_name("dbsvc"))["data"]
    secrets["dbsvc"]["tls.crt"] = other["tls.crt"]
    problems = certificate_problems(objects)
    api, dbsvc = tls_secret_name("api"), tls_secret_name("dbsvc")
    assert any(p.startswith(f"{api}: subject 'CN=logsvc'") for p in problems), problems
    assert any(p.startswith(f"{dbsvc}: not signed by its ca.crt for sslserver") for p in problems)
    assert any(p.startswith(f"{dbsvc}: tls.key is not the certificate's key") for p in problems)
    assert not any(p.startswith(tls_secret_name("logsvc")) for p in problems), problems


def test_an_api_pod_leaves_the_endpoints_before_it_stops(objects):
    """A deleted or replaced API pod keeps serving through its preStop pause while
    kube-proxy and the controllers drop it from the Service (on a cluster,
    tests/k8s/test_disruptions.py checks that no read fails meanwhile), then has
    serve.py's 10 s to finish its requests before the kubelet kills it."""
    api = named(objects, "Deployment", f"{fullname()}-api")
    pause = containers(api)[0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pause >= 3, f"preStop sleep of {pause} s: the pod stops while still in the endpoints"
    assert pod_spec(api)["terminationGracePeriodSeconds"] >= pause + 10


def test_an_nginx_pod_leaves_the_endpoints_before_it_stops(objects):
    """NGINX's graceful stop (SIGQUIT) finishes the requests in flight, which may wait on a
    replica up to the template's proxy_read_timeout: the grace period covers the preStop
    pause and that wait, so the kubelet never kills NGINX with a request half answered."""
    nginx = named(objects, "Deployment", f"{fullname()}-nginx")
    pause = nginx_container(objects)["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pause >= 3, f"preStop sleep of {pause} s: the pod stops while still in the endpoints"
    template = (NGINX_TEMPLATES / "default.conf.template").read_text()
    (read_timeout,) = re.findall(r"^\s*proxy_read_timeout (\d+)s;", template, re.M)
    assert pod_spec(nginx)["terminationGracePeriodSeconds"] >= pause + int(read_timeout)


# NGINX (issue 26): the one configuration of the local stack and compose, in the chart too.


def test_nginx_runs_the_repositorys_files_byte_for_byte(objects):
    assert nginx_file_problems(objects) == []


def test_nginx_has_every_name_its_templates_substitute(objects):
    assert {"API_1_ADDR", "NGINX_CACHE_DIR", "RATE_LIMIT_LOGIN_BURST"} <= template_names()
    assert nginx_env_problems(objects) == []


def test_a_packaged_chart_holds_nginxs_files_not_a_link(tmp_path):
    """deploy/k8s/files/nginx is a link to the repository's nginx/: `helm package` must put
    the files themselves into the archive, as `helm template` and `helm lint` read them."""
    helm("package", str(CHART), "--destination", str(tmp_path))
    (archive,) = tmp_path.glob("*.tgz")
    with tarfile.open(archive) as tar:
        chart = tar.getnames()[0].split("/")[0]
        for source in nginx_sources().values():
            relative = source.relative_to(ROOT)
            member = tar.getmember(f"{chart}/files/{relative}")
            assert member.isfile(), f"{relative}: {member.type!r} in the package"
            assert tar.extractfile(member).read() == source.read_bytes(), relative


def test_trusted_proxies_make_nginx_count_the_client_of_x_forwarded_for():
    """Behind an ingress controller NGINX sees the controller's address, and its rate
    limits would count every customer as one client. nginx.trustedProxies adds a file to
    the templates NGINX renders into conf.d/, at the http level, and changes none of the
    repository's."""
    assert (
        "real-ip.conf.template"
        not in named(render("default"), "ConfigMap", f"{fullname()}-nginx")["data"]
    )
    objects = render("default", "--set", "nginx.trustedProxies={10.244.0.0/16,fd00::/8}")
    data = named(objects, "ConfigMap", f"{fullname()}-nginx")["data"]
    real_ip = data["real-ip.conf.template"]
    directives = [line for line in real_ip.splitlines() if line and not line.startswith("#")]
    assert directives == [
        "set_real_ip_from 10.244.0.0/16;",
        "set_real_ip_from fd00::/8;",
        "real_ip_header X-Forwarded-For;",
        "real_ip_recursive on;",
    ]
    assert "${" not in real_ip
    mounts = {m["mountPath"]: m for m in nginx_container(objects)["volumeMounts"]}
    assert (
        mounts["/etc/nginx/templates/real-ip.conf.template"]["subPath"] == "real-ip.conf.template"
    )
    assert "include conf.d/*.conf;" in NGINX_CONF.read_text()
    assert nginx_file_problems(objects) == []


def test_a_changed_nginx_file_or_a_missing_name_is_noticed():
    objects = copy.deepcopy(render("default"))
    data = named(objects, "ConfigMap", f"{fullname()}-nginx")["data"]
    data["default.conf.template"] = data["default.conf.template"].rstrip("\n")
    assert nginx_file_problems(objects) == [
        f"/etc/nginx/templates/default.conf.template: {fullname()}-nginx's "
        "default.conf.template is not nginx/templates/default.conf.template byte for byte"
    ]
    env = nginx_container(objects)["env"]
    env[:] = [e for e in env if e["name"] != "API_2_ADDR"]
    (flt,) = [e for e in env if e["name"] == "NGINX_ENVSUBST_FILTER"]
    flt["value"] = flt["value"].replace("|RATE_LIMIT_LOGIN_BURST", "")
    problems = nginx_env_problems(objects)
    assert problems == [
        "API_2_ADDR: not in NGINX's environment",
        "RATE_LIMIT_LOGIN_BURST: not matched by NGINX_ENVSUBST_FILTER " + flt["value"],
    ]
