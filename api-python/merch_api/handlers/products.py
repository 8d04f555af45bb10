from merchstore.db.v1 import product_pb2

from merch_api import representations
from merch_api.handlers import call_db, db


def list_products():
    answer = call_db(db().products.ListProducts, product_pb2.ListProductsRequest())
    return [representations.product(p) for p in answer.products]


def get_product(id: int):
    answer = call_db(db().products.GetProduct, product_pb2.GetProductRequest(id=id))
    return representations.product(answer.product)
