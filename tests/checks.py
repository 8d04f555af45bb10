"""Assertions the end-to-end tests share: what every error answer must look like."""

PROBLEM = "application/problem+json"
# A catalog read that must reach a replica and the database now, not NGINX's microcache
# (contract: "Catalog caching"): stock right after a write, a request id that must reach
# a replica's log record, which replica answers.
FRESH = {"Cache-Control": "no-cache"}


def assert_problem(answer, status):
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"].startswith(PROBLEM)
    body = answer.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def assert_unauthorized(answer):
    assert_problem(answer, 401)
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
