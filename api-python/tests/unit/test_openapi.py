"""openapi.yaml compiled into what serves each request: its operations, the canonical
path integers, and error details that name the field and the rule, never the value."""

import copy

import pytest
import yaml
from merch_api.openapi import Spec, compile_schema, first_problem, json_schema
from merch_api.problems import Problem


@pytest.fixture(scope="module")
def spec():
    return Spec()


@pytest.fixture(scope="module")
def operation(spec):
    def find(operation_id):
        return next(o for o in spec.operations if o.operation_id == operation_id)

    return find


CONTRACT_OPERATIONS = {
    ("GET", "/"), ("GET", "/products"), ("GET", "/products/{id}"), ("POST", "/users"),
    ("POST", "/auth/login"), ("GET", "/users/{id}"), ("PATCH", "/users/{id}"),
    ("DELETE", "/users/{id}"), ("POST", "/orders"), ("GET", "/orders"),
    ("GET", "/orders/{id}"), ("DELETE", "/orders/{id}"), ("GET", "/healthz"), ("GET", "/readyz"),
}  # fmt: skip


def test_the_file_compiles_into_the_contracts_operations(spec):
    assert {(o.method, o.path) for o in spec.operations} == CONTRACT_OPERATIONS
    ids = [o.operation_id for o in spec.operations]
    assert len(ids) == len(set(ids))


def test_which_operations_need_a_token(spec):
    public = {(o.method, o.path) for o in spec.operations if o.caller is None}
    assert public == {
        ("GET", "/"), ("GET", "/products"), ("GET", "/products/{id}"), ("POST", "/users"),
        ("POST", "/auth/login"), ("GET", "/healthz"), ("GET", "/readyz"),
    }  # fmt: skip


def test_what_each_operation_needs_of_its_caller_is_the_files_x_caller(operation):
    assert operation("placeOrder").caller == operation("cancelOrder").caller == "token"
    assert operation("getUser").caller == operation("listMyOrders").caller == "user"
    assert operation("register").caller is None


@pytest.mark.parametrize(
    ("security", "caller", "words"),
    [
        ([{"bearerAuth": []}], None, "give it x-caller token or user"),
        ([{"bearerAuth": []}], "admin", "give it x-caller token or user"),
        ([], "user", "takes no token: drop x-caller"),
    ],
)
def test_a_file_whose_x_caller_does_not_fit_its_security_is_refused(
    spec, tmp_path, security, caller, words
):
    document = copy.deepcopy(spec.document)
    operation = document["paths"]["/orders"]["get"]
    operation["security"] = security
    operation.pop("x-caller")
    if caller:
        operation["x-caller"] = caller
    path = tmp_path / "openapi.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(ValueError, match=words):
        Spec(path)


def test_flask_rules_and_no_store(operation):
    assert operation("getOrder").flask_rule == "/orders/<id>"
    assert operation("login").no_store and not operation("listProducts").no_store
    for orders in ("placeOrder", "listMyOrders", "getOrder", "cancelOrder"):
        assert operation(orders).no_store, orders


@pytest.mark.parametrize("raw", ["07", "+7", "7.0", "0x7", "", " 7", "12345678901"])
def test_a_path_integer_has_one_spelling(operation, raw):
    with pytest.raises(Problem) as rejected:
        operation("getProduct").parse_path({"id": raw})
    assert rejected.value.status == 400 and "'id'" in rejected.value.detail


@pytest.mark.parametrize("raw", ["0", "2147483648"])
def test_a_path_integer_must_be_a_positive_int32(operation, raw):
    with pytest.raises(Problem, match="path parameter 'id' must be at"):
        operation("getProduct").parse_path({"id": raw})


def test_a_good_path_integer_is_an_int(operation):
    assert operation("getProduct").parse_path({"id": "2147483647"}) == {"id": 2147483647}


def test_an_undeclared_query_parameter_is_named_escaped(operation):
    with pytest.raises(Problem) as rejected:
        operation("listProducts").check_query(["a\x1bb"])
    assert "takes no query parameter 'a\\" in rejected.value.detail
    assert "\x1b" not in rejected.value.detail  # the ESC itself never reaches a terminal
    operation("listProducts").check_query([])


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"product_id": 1}, "request body misses the required field 'quantity'"),
        ({"product_id": 1, "quantity": 4}, "field 'quantity' must be at most 3"),
        ({"product_id": 1, "quantity": "2"}, "field 'quantity' must be of type integer"),
        ({"product_id": 1, "quantity": 1, "total": "0.01"}, "has unknown field(s) 'total'"),
        ([], "request body must be of type object"),
    ],
)
def test_a_bad_body_gets_a_detail_a_person_can_act_on(operation, body, words):
    with pytest.raises(Problem) as rejected:
        operation("placeOrder").check_body(body)
    assert words in rejected.value.detail


def test_a_rejected_password_is_never_in_the_detail(operation):
    secret = "hunter2"
    for body in (
        {"sid": "1", "username": "valid_name", "password": secret},  # too short
        {"sid": "1", "username": "valid_name", "password": "x" * 129},
    ):
        with pytest.raises(Problem) as rejected:
            operation("register").check_body(body)
        assert "'password'" in rejected.value.detail
        assert secret not in rejected.value.detail and "xxx" not in rejected.value.detail


def test_json_nested_too_deep_is_a_problem_not_a_crash(operation):
    nested = []
    for _ in range(5000):
        nested = [nested]
    detail = first_problem(operation("register").body_schema, {"email": nested}, "request body")
    assert detail and ("cannot be checked" in detail or "must be" in detail)


def test_nullable_becomes_a_type_union_and_documentation_keywords_go():
    assert json_schema({"type": "string", "nullable": True, "example": "x"}) == {
        "type": ["string", "null"]
    }
    assert json_schema({"type": "string", "enum": ["a"], "nullable": True}) == {
        "type": ["string", "null"],
        "enum": ["a", None],
    }
    schema = compile_schema({"type": "object", "properties": {"n": {"type": "integer"}}})
    assert first_problem(schema, {"n": 1.0}) is not None  # draft 4: 1.0 is no integer
    assert first_problem(schema, {"n": 1}) is None
