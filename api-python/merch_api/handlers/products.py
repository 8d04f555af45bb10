"""The catalog: the two reads of ../../openapi.yaml's products tag. Their answers are
cacheable for CATALOG_MAX_AGE_SECONDS (contract, "Catalog caching"): a strong ETag of
the exact body, so that it changes with any field, the stock included, and `304 Not
Modified` for a client that already holds it. The API itself keeps no copy: every
request it answers is read from the DB service now (NGINX's microcache is what reuses
answers, and a `Cache-Control: no-cache` request passes it by)."""

import time

from flask import Response, current_app
from merchstore.db.v1 import product_pb2
from werkzeug.http import parse_etags

from merch_api import representations
from merch_api.handlers import call_db, db, running

STALE_IF_ERROR_SECONDS = 60


def list_products(if_none_match: str | None):
    answer = call_db(db().products.ListProducts, product_pb2.ListProductsRequest())
    return _cacheable([representations.product(p) for p in answer.products], if_none_match)


def get_product(id: int, if_none_match: str | None):
    answer = call_db(db().products.GetProduct, product_pb2.GetProductRequest(id=id))
    return _cacheable(representations.product(answer.product), if_none_match)


def _cacheable(body, if_none_match: str | None) -> Response:
    answer = current_app.json.response(body)
    answer.cache_control.public = True
    max_age = running().settings.catalog_max_age_seconds
    answer.cache_control.max_age = max_age
    # RFC 5861: a cache may still answer with it this long after max-age when the API
    # cannot answer at all, which keeps the catalog readable through an outage of every
    # replica (NGINX's microcache honours it) and bounds how old it may then be.
    answer.cache_control.stale_if_error = STALE_IF_ERROR_SECONDS
    # For NGINX's microcache, which hides it from clients: it keeps an answer through the
    # whole second its max-age ends in, so up to max-age + 1 s after it arrived. This names
    # the last whole second in which the answer is at most max-age old. After Cache-Control,
    # because NGINX reads Cache-Control's stale-if-error only when it comes first.
    # (max-age=0 is cached nowhere.)
    if max_age:
        answer.headers["X-Accel-Expires"] = f"@{int(time.time()) + max_age - 1}"
    answer.add_etag()  # strong: a hash of the exact bytes
    # If-None-Match compares weakly (RFC 9110, 13.1.2), and `*` matches any.
    if parse_etags(if_none_match).contains_weak(answer.get_etag()[0]):
        return Response(
            status=304,
            headers={key: answer.headers[key] for key in ("ETag", "Cache-Control")},
        )
    return answer
