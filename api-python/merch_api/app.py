"""Builds the API, a plain WSGI Flask app, from openapi.yaml. The WSGI server runs
create_app() once in each worker process, after it forks."""

import logging
import re

import orjson
from flask import Flask, Response, request
from flask.json.provider import JSONProvider
from flask_swagger_ui import get_swaggerui_blueprint
from werkzeug.middleware.proxy_fix import ProxyFix

from merch_api import metrics, problems, routes, services
from merch_api.config import Settings
from merch_api.observation import Observation
from merch_api.openapi import Spec

# C0, DEL and C1: what no URL path of the API contains.
_CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f]")

# Every body of the API is a small JSON object; NGINX has the same limit.
MAX_BODY_BYTES = 64 * 1024


class OrjsonProvider(JSONProvider):
    """Flask's JSON through orjson, the faster encoder (docs/api-serving.md, "The candidates,
    measured")."""

    def dumps(self, obj, **kwargs) -> str:
        return orjson.dumps(obj).decode()

    def loads(self, s, **kwargs):
        return orjson.loads(s)

    def response(self, *args, **kwargs) -> Response:
        body = self._prepare_response_obj(args, kwargs)
        return self._app.response_class(orjson.dumps(body), mimetype="application/json")


def create_app(settings: Settings | None = None) -> Flask:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = settings or Settings.from_env()
    spec = Spec()
    running = services.Services.start(settings)

    app = Flask(__name__, static_folder=None)
    app.extensions[services.EXTENSION] = running
    app.json = OrjsonProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    problems.install(app)
    app.before_request(_reject_control_characters)
    app.after_request(_without_body_type_on_204)
    app.after_request(_not_framed)
    routes.add_operations(app, spec)
    _add_docs(app, spec)
    # The client's address is the one NGINX appends to X-Forwarded-For: replicas are
    # reachable only through it (loopback locally, the internal network in compose).
    # Outermost, Observation times and records every answer, ProxyFix's too.
    app.wsgi_app = Observation(
        ProxyFix(app.wsgi_app, x_for=1),
        instance=settings.instance,
        submit_log=running.log_shipper.submit,
        record_duration=(
            metrics.instrument(app, spec, running.log_shipper) if metrics.enabled() else None
        ),
    )
    return app


def _add_docs(app: Flask, spec: Spec) -> None:
    """GET /openapi.yaml, the file itself, and Swagger UI at /ui/ reading it."""
    app.add_url_rule(
        "/openapi.yaml",
        endpoint="openapi",
        view_func=lambda: Response(spec.text, mimetype="application/yaml"),
    )
    app.register_blueprint(
        get_swaggerui_blueprint(
            "/ui",
            "/openapi.yaml",
            config={"app_name": spec.document["info"]["title"], "persistAuthorization": True},
        )
    )


def _reject_control_characters():
    # No resource has such a name; saying so beats a 404 that hides the real mistake.
    if _CONTROL_CHARACTERS.search(request.path):
        raise problems.bad_request(
            "the URL path contains control characters; no resource has such a name"
        )


def _not_framed(answer: Response) -> Response:
    # Swagger UI can send requests with your token: no other site may frame it.
    if request.path.startswith("/ui"):
        answer.headers["X-Frame-Options"] = "DENY"
        answer.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
    return answer


def _without_body_type_on_204(answer: Response) -> Response:
    if answer.status_code == 204:
        del answer.headers["Content-Type"]
    return answer
