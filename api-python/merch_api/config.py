"""Settings from the environment, read once per process."""

import os
import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    instance: str  # INSTANCE_NAME: this replica's name, in X-Served-By and in the logs
    dbsvc_addr: str  # DBSVC_ADDR
    logsvc_addr: str  # LOGSVC_ADDR
    jwt_secret: bytes  # JWT_SECRET, at least 32 bytes
    jwt_ttl_seconds: int  # JWT_TTL_SECONDS
    grpc_deadline_seconds: float  # GRPC_DEADLINE_SECONDS: per call to the DB service
    tls_dir: str  # TLS_DIR: the API's certificate for mutual TLS with the services
    # CATALOG_MAX_AGE_SECONDS: how long a catalog read may be reused (Cache-Control max-age)
    catalog_max_age_seconds: int = 1

    @classmethod
    def from_env(cls, environ=os.environ) -> "Settings":
        secret = environ.get("JWT_SECRET", "").encode()
        if len(secret) < 32:
            raise RuntimeError(
                "JWT_SECRET must be set to at least 32 random bytes, e.g. "
                'python3 -c "import secrets; print(secrets.token_hex(32))"'
            )
        tls_dir = environ.get("TLS_DIR", "")
        if not tls_dir:
            raise RuntimeError(
                "TLS_DIR is not set: the API calls the DB and logging services over mutual "
                "TLS; set it to a directory with ca.crt, tls.crt and tls.key (make up makes "
                ".state/tls/api, compose a volume)"
            )
        return cls(
            instance=environ.get("INSTANCE_NAME") or socket.gethostname(),
            dbsvc_addr=environ.get("DBSVC_ADDR", "127.0.0.1:50051"),
            logsvc_addr=environ.get("LOGSVC_ADDR", "127.0.0.1:50052"),
            jwt_secret=secret,
            jwt_ttl_seconds=positive_int(environ, "JWT_TTL_SECONDS", 3600),
            grpc_deadline_seconds=_positive_float(environ, "GRPC_DEADLINE_SECONDS", 3.0),
            tls_dir=tls_dir,
            catalog_max_age_seconds=_catalog_max_age(environ),
        )


# The stock a shopper sees may be this old at most: an order still checks the live stock,
# but a page that lags by more than a few seconds misleads.
_MAX_CATALOG_AGE_SECONDS = 5


def _catalog_max_age(environ) -> int:
    raw = environ.get("CATALOG_MAX_AGE_SECONDS") or "1"
    if not raw.isdecimal() or int(raw) > _MAX_CATALOG_AGE_SECONDS:
        raise RuntimeError(
            f"CATALOG_MAX_AGE_SECONDS={raw!r} is not a whole number of seconds from 0 to "
            f"{_MAX_CATALOG_AGE_SECONDS}; unset it for 1"
        )
    return int(raw)


def positive_int(environ, name: str, default: int) -> int:
    """environ[name] as a positive integer, default when unset; a RuntimeError that says
    what to set otherwise."""
    return int(_positive_float(environ, name, default, cast=int))


def _positive_float(environ, name: str, default: float, cast=float) -> float:
    raw = environ.get(name)
    if raw in (None, ""):
        return default
    try:
        value = cast(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise RuntimeError(f"{name}={raw!r} is not a positive number; unset it for {default}")
    return value
