"""Builds the API from openapi.yaml. gunicorn runs create_app() once in each worker."""

import logging
from pathlib import Path

import connexion
import grpc
from connexion.exceptions import ProblemException
from connexion.middleware import MiddlewarePosition

from merch_api import problems, services
from merch_api.config import Settings
from merch_api.request_context import RequestContextMiddleware
from merch_api.validation import VALIDATORS, RejectControlCharactersInPath

SPEC = Path(__file__).resolve().parent.parent / "openapi.yaml"


def create_app(settings: Settings | None = None) -> connexion.FlaskApp:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = settings or Settings.from_env()
    running = services.Services.start(settings)
    services.install(running)

    app = connexion.FlaskApp(__name__, specification_dir=SPEC.parent)
    app.add_api(
        SPEC.name,
        strict_validation=True,  # unknown query parameters are a 400 too
        validator_map=VALIDATORS,
        swagger_ui_options=connexion.options.SwaggerUIOptions(spec_path="/openapi.yaml"),
    )
    app.add_error_handler(ProblemException, problems.from_problem)
    app.add_error_handler(grpc.RpcError, problems.from_rpc_error)
    app.add_error_handler(Exception, problems.from_unexpected)
    # After the exception middleware, so that its 400 is a problem like any other.
    app.add_middleware(RejectControlCharactersInPath, position=MiddlewarePosition.BEFORE_SWAGGER)
    app.add_middleware(
        RequestContextMiddleware,
        position=MiddlewarePosition.BEFORE_EXCEPTION,
        instance=settings.instance,
        submit_log=running.log_shipper.submit,
    )
    return app
