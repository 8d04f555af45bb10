"""The store's REST API: a WSGI Flask app built from ../openapi.yaml, served by granian."""
