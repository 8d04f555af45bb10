"""schemathesis hooks of the fuzz tests: test_fuzz.py imports this module, and its
stateful run loads it through SCHEMATHESIS_HOOKS.

The store refuses new passwords that are too easy to guess (zxcvbn rates them 0), a
rule that JSON Schema cannot state; the OpenAPI file states it in words. A weak password
that the schema allows is therefore no finding: before such a request is sent, its
password becomes a strong one of the same length. Every phase goes through this hook,
the coverage phase's edge cases (e.g. "00000000") included."""

import sys
from pathlib import Path

import schemathesis

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api-python"))
from merch_api.passwords import is_too_guessable  # the API's own rule

NEW_PASSWORD_OPERATIONS = {("POST", "/users"), ("PATCH", "/users/{id}")}
# zxcvbn rates every prefix of 8 or more characters of this at least 2.
STRONG = "vX9#qL2!mR7$"


@schemathesis.hook
def before_call(ctx, case, kwargs):
    operation = (case.operation.method.upper(), case.operation.path)
    body = case.body
    if operation not in NEW_PASSWORD_OPERATIONS or not isinstance(body, dict):
        return
    password = body.get("password")
    if isinstance(password, str) and 8 <= len(password) <= 128 and is_too_guessable(password):
        case.body = {**body, "password": (STRONG + password)[: len(password)]}
