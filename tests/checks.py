"""Assertions the end-to-end tests share: what every error answer must look like."""

PROBLEM = "application/problem+json"


def assert_problem(answer, status):
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"].startswith(PROBLEM)
    body = answer.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def assert_unauthorized(answer):
    assert_problem(answer, 401)
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
