"""Connexion's request validators, with errors a person can act on."""

from connexion.datastructures import MediaTypeDict
from connexion.exceptions import BadRequestProblem
from connexion.validators import VALIDATOR_MAP, JSONRequestBodyValidator, ParameterValidator


class NamedParameterValidator(ParameterValidator):
    """Connexion's own says "0 is less than the minimum of 1" followed by a dump of the
    JSON schema; this one names the parameter and leaves the schema out."""

    @staticmethod
    def validate_parameter(parameter_type, value, param, param_name=None):
        error = ParameterValidator.validate_parameter(parameter_type, value, param, param_name)
        if error and "\n\nFailed validating" in error:
            return f"{parameter_type} parameter '{param['name']}': {error.split(chr(10))[0]}"
        return error


class JSONBodyValidator(JSONRequestBodyValidator):
    """Connexion's own answers a body that is not UTF-8 with a 500."""

    async def _parse(self, stream, scope):
        try:
            return await super()._parse(stream, scope)
        except UnicodeDecodeError as error:
            raise BadRequestProblem(
                detail=f"the request body is not UTF-8 encoded JSON ({error.reason} at byte "
                f"{error.start}); send UTF-8"
            ) from None


VALIDATORS = {
    **VALIDATOR_MAP,
    "parameter": NamedParameterValidator,
    "body": MediaTypeDict({**VALIDATOR_MAP["body"], "*/*json": JSONBodyValidator}),
}


class RejectControlCharactersInPath:
    """ASGI middleware: a 400 for a path with control characters (e.g. /users/%0A).
    Starlette's router and Flask's (werkzeug's) disagree on such paths, and Connexion then
    runs the Flask view without its operation context: a 500 instead of a clear answer.
    No path of the API has them."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and any(
            ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in scope["path"]
        ):
            raise BadRequestProblem(
                detail="the URL path contains control characters; no resource has such a name"
            )
        await self.app(scope, receive, send)
