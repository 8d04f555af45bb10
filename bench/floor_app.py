"""The floor an API replica is measured against: the least a Flask app can do to answer
GET /products/{id}, the same gRPC call and the same JSON, with nothing else (no spec, no
validation, no tokens, no log records). bench/ serves it with the replica's own server and
worker count, so the ratio of the two is what the store's layers cost.

    python -c "from merch_api.serve import main; main('floor_app:create_app')"
    (run from bench/ with api-python and bench on PYTHONPATH, as floor.py does)
"""

import os

from flask import Flask
from merch_api.mutual_tls import DB_SERVICE, MutualTLS
from merchstore.db.v1 import product_pb2, product_pb2_grpc


def create_app() -> Flask:
    app = Flask(__name__)
    # The replica's own channel: mutual TLS with the API's certificate.
    channel = MutualTLS.load(os.environ["TLS_DIR"]).channel(
        os.environ.get("DBSVC_ADDR", "127.0.0.1:50051"), DB_SERVICE, []
    )
    products = product_pb2_grpc.ProductServiceStub(channel)

    @app.get("/products/<int:product_id>")
    def get_product(product_id: int):
        p = products.GetProduct(product_pb2.GetProductRequest(id=product_id), timeout=3).product
        return {
            "id": p.id,
            "name": p.name,
            "description": p.description,
            "category": p.category,
            "price": f"{p.price_cents // 100}.{p.price_cents % 100:02d}",
            "slogan": p.slogan,
            "stock": p.stock,
            "created_at": p.created_at.ToJsonString(),
        }

    return app
