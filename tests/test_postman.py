"""The Postman collections of postman/ against the OpenAPI file, without a store: the
generated one has exactly the file's operations (regenerate it with `make
postman-generate` when they change) and tests every answer for a server error; the
environments name the one variable the collections need. Newman runs both against the
store in `make postman`."""

import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
POSTMAN = ROOT / "postman"
HTTP_METHODS = {"get", "put", "post", "patch", "delete", "head", "options"}


def requests_of(items):
    for item in items:
        if "item" in item:
            yield from requests_of(item["item"])
        else:
            yield item["request"]


def collection(name):
    return json.loads((POSTMAN / f"{name}.postman_collection.json").read_text())


def test_the_generated_collection_has_exactly_the_operations_of_the_openapi_file():
    spec = yaml.safe_load((ROOT / "api-python/openapi.yaml").read_text())
    operations = {
        (method.upper(), path.replace("{", ":").replace("}", "").strip("/"))
        for path, item in spec["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }
    generated = {
        (request["method"], "/".join(request["url"]["path"]))
        for request in requests_of(collection("store")["item"])
    }
    assert generated == operations, "run `make postman-generate` after changing openapi.yaml"


def test_the_generated_collection_tests_every_answer_for_a_server_error():
    scripts = [e["script"]["exec"] for e in collection("store")["event"] if e["listen"] == "test"]
    assert any("to.be.below(500)" in line for script in scripts for line in script)


def test_the_customer_path_tests_every_step_and_both_environments_set_the_base_url():
    path = collection("customer-path")
    for item in path["item"]:
        tests = [e for e in item.get("event", []) if e["listen"] == "test"]
        assert tests, f"{item['name']} checks nothing"
    for name in ("local", "compose"):
        environment = json.loads((POSTMAN / f"{name}.postman_environment.json").read_text())
        assert {v["key"] for v in environment["values"]} == {"baseUrl"}
