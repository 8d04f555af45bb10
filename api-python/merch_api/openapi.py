"""The OpenAPI file, compiled once at start-up into what serves each request.

For every operation of openapi.yaml: its Flask URL rule, whether it needs a bearer token,
and compiled JSON Schema validators (jsonschema-rs) for its path parameters and JSON
body. Nothing here knows a field of the API: every rule comes from the file, so the file
stays the one source of what a request may be.

OpenAPI 3.0's Schema Object is JSON Schema draft 4 with a few extra keywords; the only
one that changes what is valid, `nullable`, becomes a type union here. Draft 4 also
keeps 1.0 from passing as an integer, as OpenAPI 3.0 means.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema_rs
import yaml

from merch_api.problems import bad_request

SPEC_PATH = Path(__file__).resolve().parent.parent / "openapi.yaml"

JSON = "application/json"
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Keywords of OpenAPI's Schema Object that JSON Schema does not know; they document.
_DOCUMENTATION_ONLY = {"example", "nullable", "readOnly", "writeOnly", "xml", "externalDocs"}
# Path integers are read in their one canonical spelling: "7", never "07", "+7" or "7.0".
# Ten digits is as long as a 32-bit id gets; the schema then checks the range.
_CANONICAL_INTEGER = re.compile(r"^(0|[1-9][0-9]{0,9})$")
_TEMPLATE_PARAMETER = re.compile(r"\{([^}/]+)\}")


@dataclass(frozen=True)
class Schema:
    """A Schema Object compiled: the validator, and the JSON Schema it checks, whose
    descriptions explain the rules that have no wording of their own (anyOf, not)."""

    document: dict
    validator: jsonschema_rs.Draft4Validator


@dataclass(frozen=True)
class PathParameter:
    name: str
    is_integer: bool
    schema: Schema


@dataclass(frozen=True)
class HeaderParameter:
    name: str  # as the file spells it, e.g. Idempotency-Key
    required: bool
    schema: Schema

    @property
    def argument(self) -> str:
        """The handler's argument for it, e.g. idempotency_key."""
        return self.name.lower().replace("-", "_")


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str  # upper case
    path: str  # the OpenAPI template, e.g. /orders/{id}
    # What the operation needs of its caller, as its `x-caller` says: None (no token),
    # "token" (a verified bearer token; the operation's own RPC checks it is not revoked)
    # or "user" (the token's user, read from the DB service and checked before the handler).
    caller: str | None
    path_parameters: tuple[PathParameter, ...]
    query_parameters: frozenset[str]
    header_parameters: tuple[HeaderParameter, ...]
    body_schema: Schema | None
    body_required: bool
    responses: dict = field(repr=False, hash=False, compare=False)

    @property
    def no_store(self) -> bool:
        """Whether its success answers carry `Cache-Control: no-store`, as the file says."""
        return any(
            _declared_values(answer, "Cache-Control") == ["no-store"]
            for status, answer in self.responses.items()
            if str(status).startswith("2")
        )

    @property
    def flask_rule(self) -> str:
        return _TEMPLATE_PARAMETER.sub(r"<\1>", self.path)

    def parse_path(self, raw: dict[str, str]) -> dict:
        """The path parameters as the handler takes them: integers as int."""
        values = {}
        for parameter in self.path_parameters:
            value = raw[parameter.name]
            if parameter.is_integer:
                if not _CANONICAL_INTEGER.match(value):
                    raise bad_request(
                        f"path parameter '{parameter.name}' must be an integer written in plain "
                        "decimal digits without a sign or leading zeros, e.g. 42",
                    )
                value = int(value)
            problem = first_problem(parameter.schema, value)
            if problem:
                raise bad_request(f"path parameter '{parameter.name}' {problem}")
            values[parameter.name] = value
        return values

    def check_query(self, names) -> None:
        unknown = sorted(set(names) - self.query_parameters)
        if unknown:
            raise bad_request(
                f"{self.method} {self.path} takes no query parameter "
                f"{', '.join(repr(escape(n)) for n in unknown)}; leave it out",
            )

    def parse_headers(self, headers) -> dict:
        """The header parameters the handler takes, by argument name: None when absent."""
        values = {}
        for parameter in self.header_parameters:
            value = headers.get(parameter.name)
            if value is None:
                if parameter.required:
                    raise bad_request(f"the header '{parameter.name}' is required")
            else:
                problem = first_problem(parameter.schema, value)
                if problem:
                    raise bad_request(f"header '{parameter.name}' {problem}")
            values[parameter.argument] = value
        return values

    def check_body(self, body) -> None:
        problem = first_problem(self.body_schema, body, where="request body")
        if problem:
            raise bad_request(problem)


def _declared_values(answer: dict, header: str) -> list | None:
    """The values the file allows a response's header, when it lists them (an enum)."""
    declared = (answer.get("headers") or {}).get(header) or {}
    return (declared.get("schema") or {}).get("enum")


def first_problem(schema: Schema, value, where: str = "") -> str | None:
    """What is wrong with value, as a person reads it; None when it is valid. Names the
    field and the rule it broke, never the value (it may be a password)."""
    try:
        error = next(iter(schema.validator.iter_errors(value)), None)
    except ValueError as refused:
        # jsonschema-rs converts the value before it checks it and refuses deep nesting
        # ("Recursion limit reached"); orjson lets up to 1024 levels through.
        return f"{where or 'value'} cannot be checked ({refused}); no value of this API is nested"
    if error is None:
        return None
    if error.instance_path:
        subject = "field '" + ".".join(escape(str(p)) for p in error.instance_path) + "'"
    else:
        subject = where
    described = _description_of(schema.document, error.schema_path)
    if described:
        return f"{subject}: {described}" if subject else described
    rule = _describe(error.kind.name, error.kind.as_dict())
    return f"{subject} {rule}" if subject else rule


def _description_of(document: dict, schema_path) -> str | None:
    """The description of the schema whose combining rule (anyOf, oneOf, not) failed:
    those have no wording of their own, so the file words them."""
    *parents, keyword = schema_path
    if keyword not in ("anyOf", "oneOf", "not"):
        return None
    node = document
    for step in parents:
        node = node[step]
    return node.get("description")


def _describe(kind: str, facts: dict) -> str:
    limit = facts.get("limit")
    match kind:
        case "type":
            wanted = facts.get("types") or [facts.get("type")]
            return f"must be of type {' or '.join(str(t) for t in wanted if t)}"
        case "required":
            return f"misses the required field '{facts['property']}'"
        case "additionalProperties":
            names = ", ".join(repr(escape(str(n))) for n in facts.get("unexpected", []))
            return f"has unknown field(s) {names}; remove them"
        case "minLength":
            return f"must be at least {limit} characters long"
        case "maxLength":
            return f"must be at most {limit} characters long"
        case "minimum":
            return f"must be at least {limit}"
        case "maximum":
            return f"must be at most {limit}"
        case "pattern":
            return f"must match the pattern {facts['pattern']}"
        case "format":
            return f"must be a valid {facts['format']}"
        case "enum":
            return f"must be one of {', '.join(map(str, facts['options']))}"
        case "minProperties":
            return f"must have at least {limit} field(s)"
    return f"breaks the rule '{kind}' of the API's schema (see /openapi.yaml)"


def escape(text: str) -> str:
    """text with control characters written as escapes, for details and logs."""
    return text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text


class Spec:
    """openapi.yaml, parsed and compiled."""

    def __init__(self, path: Path = SPEC_PATH) -> None:
        self.path = path
        self.text = path.read_bytes()
        self.document = yaml.safe_load(self.text)
        self.operations = tuple(self._operations())

    def _resolve(self, node):
        """node with every local $ref replaced by what it points at (the file has no
        recursive schemas)."""
        if isinstance(node, dict):
            if "$ref" in node:
                target = self.document
                for part in node["$ref"].removeprefix("#/").split("/"):
                    target = target[part]
                return self._resolve(target)
            return {key: self._resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [self._resolve(item) for item in node]
        return node

    def _operations(self):
        default_security = self.document.get("security", [])
        for path, item in self.document["paths"].items():
            item = self._resolve(item)
            shared = item.get("parameters", [])
            for method in _METHODS:
                if method not in item:
                    continue
                operation = item[method]
                parameters = {(p["in"], p["name"]): p for p in shared}
                parameters.update(
                    {(p["in"], p["name"]): p for p in operation.get("parameters", [])}
                )
                body = operation.get("requestBody")
                yield Operation(
                    operation_id=operation["operationId"],
                    method=method.upper(),
                    path=path,
                    caller=_caller(operation, default_security),
                    path_parameters=tuple(
                        PathParameter(
                            name=p["name"],
                            is_integer=p["schema"].get("type") == "integer",
                            schema=compile_schema(p["schema"]),
                        )
                        for (where, _), p in parameters.items()
                        if where == "path"
                    ),
                    query_parameters=frozenset(
                        name for (where, name) in parameters if where == "query"
                    ),
                    header_parameters=tuple(
                        HeaderParameter(
                            name=p["name"],
                            required=bool(p.get("required")),
                            schema=compile_schema(p["schema"]),
                        )
                        for (where, _), p in parameters.items()
                        if where == "header"
                    ),
                    body_schema=(compile_schema(body["content"][JSON]["schema"]) if body else None),
                    body_required=bool(body and body.get("required")),
                    responses=operation["responses"],
                )


_CALLERS = {"token", "user"}


def _caller(operation: dict, default_security: list) -> str | None:
    """The operation's `x-caller`: required with a bearer token, refused without one."""
    caller = operation.get("x-caller")
    if operation.get("security", default_security):
        if caller not in _CALLERS:
            raise ValueError(
                f"operation {operation['operationId']} takes a bearer token: give it "
                f"x-caller {' or '.join(sorted(_CALLERS))}, not {caller!r}"
            )
        return caller
    if caller is not None:
        raise ValueError(f"operation {operation['operationId']} takes no token: drop x-caller")
    return None


def json_schema(schema):
    """An OpenAPI 3.0 Schema Object (refs resolved) as plain JSON Schema draft 4."""
    if isinstance(schema, list):
        return [json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {}
    for key, value in schema.items():
        if key in _DOCUMENTATION_ONLY:
            continue
        if key == "properties":
            converted[key] = {name: json_schema(s) for name, s in value.items()}
        elif isinstance(value, dict | list) and key != "enum" and key != "required":
            converted[key] = json_schema(value)
        else:
            converted[key] = value
    if schema.get("nullable") and "type" in converted:
        converted["type"] = [converted["type"], "null"]
        if "enum" in converted:
            converted["enum"] = [*converted["enum"], None]
    return converted


def compile_schema(schema) -> Schema:
    document = json_schema(schema)
    # OpenAPI's own formats (int32, password) are documentation; draft 4's (email,
    # date-time) are checked.
    validator = jsonschema_rs.Draft4Validator(
        document, validate_formats=True, ignore_unknown_formats=True
    )
    return Schema(document, validator)
