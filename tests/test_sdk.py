"""The API as a client developer meets it: OpenAPI Generator (the course's tool) makes a
Python SDK from the spec the store serves at /openapi.yaml, and a customer's whole path
runs through that SDK against the running store. Its method and model names are what
the contract calls things, never the server's module paths."""

import importlib
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

GENERATOR = Path(
    os.environ.get(
        "OPENAPI_GENERATOR_JAR",
        Path(__file__).resolve().parents[1] / ".state/tools/openapi-generator-cli.jar",
    )
)
PACKAGE = "merch_store_client"
OPERATIONS = {
    "greeting",
    "liveness",
    "readiness",
    "list_products",
    "get_product",
    "register",
    "login",
    "get_user",
    "update_user",
    "deactivate_user",
    "place_order",
    "list_my_orders",
    "get_order",
    "cancel_order",
}


@pytest.fixture(scope="module")
def sdk(http, base_url, tmp_path_factory):
    if not GENERATOR.is_file():
        pytest.fail(f"{GENERATOR} is missing: `make tools` fetches it from Maven Central")
    folder = tmp_path_factory.mktemp("sdk")
    served = http.get(f"{base_url}/openapi.yaml")
    assert served.status_code == 200
    (folder / "openapi.yaml").write_bytes(served.content)
    subprocess.run(
        ["java", "-jar", str(GENERATOR), "generate", "-g", "python", "-i", "openapi.yaml",
         "-o", "client", "--package-name", PACKAGE],
        cwd=folder, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    sys.path.insert(0, str(folder / "client"))
    try:
        yield importlib.import_module(PACKAGE), folder / "client" / PACKAGE
    finally:
        sys.path.remove(str(folder / "client"))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def test_sdk_names_are_the_contracts_not_the_servers(sdk):
    _, source = sdk
    methods = set()
    for api in (source / "api").glob("*_api.py"):
        methods |= set(re.findall(r"^    def ([a-z]\w*)\(", api.read_text(), re.MULTILINE))
    public = {m for m in methods if not m.endswith(("_with_http_info", "_without_preload_content"))}
    assert public == OPERATIONS
    models = {p.stem for p in (source / "models").glob("*.py")} - {"__init__"}
    for name in public | models:
        assert not re.search(r"merch_api|handlers|_\d{3}_response", name), name


def test_a_customer_walks_the_whole_path_through_the_sdk(sdk, base_url):
    client, _ = sdk
    configuration = client.Configuration(host=base_url)
    api = client.ApiClient(configuration)
    users, orders, products = client.UsersApi(api), client.OrdersApi(api), client.ProductsApi(api)

    suffix = uuid.uuid4().hex[:12]
    password = "sdk password 1"
    me = users.register(client.NewUser(sid=suffix, username=f"sdk_{suffix}", password=password))
    assert me.username == f"sdk_{suffix}" and me.email is None

    token = users.login(client.LoginRequest(username=f"sdk_{suffix}", password=password))
    assert token.token_type == "Bearer" and token.expires_in > 0
    configuration.access_token = token.access_token
    assert users.get_user("me").id == me.id

    product = products.get_product(2)
    order = orders.place_order(client.NewOrder(product_id=2, quantity=2))
    assert (order.user_id, order.quantity, order.status) == (me.id, 2, "placed")
    assert order.total_price == f"{2 * float(product.price):.2f}"
    assert [o.id for o in orders.list_my_orders()] == [order.id]
    assert orders.get_order(order.id).status == "placed"
    cancelled = orders.cancel_order(order.id)
    assert cancelled.status == "cancelled" and cancelled.cancelled_at is not None

    change = client.UserUpdate(email=f"sdk_{suffix}@example.com", current_password=password)
    updated = users.update_user("me", change)
    assert updated.email == f"sdk_{suffix}@example.com"

    users.deactivate_user("me", client.Reauthentication(current_password=password))
    with pytest.raises(client.ApiException) as revoked:
        users.get_user("me")
    assert revoked.value.status == 401
    assert revoked.value.headers["Content-Type"].startswith("application/problem+json")
