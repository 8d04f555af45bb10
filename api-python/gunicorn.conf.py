# gunicorn settings of one API replica; the command line adds --bind.
import os

# Connexion 3 is an ASGI app: uvicorn workers run it, the sync Flask views in threads.
worker_class = "uvicorn_worker.UvicornWorker"
# Two cores: two workers per replica, two replicas, next to the Go services and the JVMs.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Each worker builds its own app (and gRPC channels, log shipper thread) after the fork.
preload_app = False
graceful_timeout = 10
accesslog = None  # every request is one record in Kafka instead
errorlog = "-"
