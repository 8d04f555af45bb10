"""NGINX on the cluster (issue 26): each NGINX pod runs the repository's template rendered
with the release's values, so its rate limits and its catalog microcache are the ones of
compose and the local stack; and the node port's catalog reads come from that cache.
What the limits do is tests/test_rate_limits.py's, on the local stack: the suites here
share one client address, for which this install raises them (tests/k8s/values-e2e.yaml)."""

import re
import time
from pathlib import Path

import requests

TEMPLATE = Path(__file__).resolve().parents[2] / "nginx/templates/default.conf.template"


def environment(release, pod):
    lines = release.kubectl("exec", pod, "--", "env").stdout.splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def envsubst(text, env, names):
    """What envsubst makes of text given SHELL-FORMAT `names`: $NAME and ${NAME} of those
    names replaced by their values (empty when unset), everything else left alone."""

    def value(match):
        name = match[1] or match[2]
        return env.get(name, "") if name in names else match[0]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, text)


def test_each_nginx_pod_runs_the_template_with_the_releases_values(release):
    """The rendered file is the repository's template with the pod's own values of the
    names NGINX_ENVSUBST_FILTER admits, to the byte; `nginx -T` shows NGINX loaded it,
    with the rate limits of the release's ConfigMap and the catalog cache."""
    pods = sorted(release.pods("nginx"))
    assert len(pods) >= 2, pods
    config = release.get("configmap", f"{release.name}-config")["data"]
    for pod in pods:
        env = environment(release, pod)
        names = {name for name in env if re.search(env["NGINX_ENVSUBST_FILTER"], name)}
        rendered = release.kubectl("exec", pod, "--", "cat", "/etc/nginx/conf.d/default.conf")
        assert rendered.stdout == envsubst(TEMPLATE.read_text(), env, names), pod
        loaded = release.kubectl("exec", pod, "--", "nginx", "-T").stdout
        assert "# configuration file /etc/nginx/conf.d/default.conf:" in loaded, pod
        login, register = (
            config[f"RATE_LIMIT_{name}_PER_MINUTE"] for name in ("LOGIN", "REGISTER")
        )
        for directive in (
            f"limit_req_zone $login_client zone=login:10m rate={login}r/m;",
            f"limit_req_zone $register_client zone=register:10m rate={register}r/m;",
            f"limit_req zone=login burst={config['RATE_LIMIT_LOGIN_BURST']} nodelay;",
            f"limit_req zone=register burst={config['RATE_LIMIT_REGISTER_BURST']} nodelay;",
            f"server {release.name}-api:5000 max_fails=0 fail_timeout=5s;",
            "keepalive_time 2s;",
            f"proxy_cache_path {env['NGINX_CACHE_DIR']} levels=1 keys_zone=catalog:1m",
            "proxy_cache catalog;",
        ):
            assert directive in loaded, f"{pod}: no `{directive}` in nginx -T"
        print(f"{pod}: {', '.join(f'{n}={env[n]}' for n in sorted(names))}")


def test_a_catalog_read_is_answered_from_nginxs_cache_on_the_node_port(release):
    """GET /products twice on one connection (one NGINX pod; each pod has its own cache):
    the second within the answer's max-age comes from NGINX's cache. A first read in the
    last moment of its second may see the answer expire: a few tries."""
    with requests.Session() as session:
        for _ in range(5):
            first = session.get(f"{release.base_url}/products", timeout=10)
            second = session.get(f"{release.base_url}/products", timeout=10)
            statuses = (first.headers.get("X-Cache-Status"), second.headers.get("X-Cache-Status"))
            print(f"X-Cache-Status {statuses[0]}, then {statuses[1]}")
            if statuses[1] == "HIT":
                break
            time.sleep(0.3)
    assert first.status_code == second.status_code == 200
    assert second.headers["X-Cache-Status"] == "HIT"
    assert second.headers["X-Served-By"] == "nginx"
    assert second.json() == first.json()
