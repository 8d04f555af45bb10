"""The store's REST API: a Connexion (Flask) app built from ../openapi.yaml."""
