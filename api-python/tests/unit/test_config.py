"""Settings from the environment: defaults, and a message that says what to set."""

import pytest
from merch_api.config import Settings, positive_int

SECRET = "s" * 32


def test_defaults_with_only_the_secret():
    settings = Settings.from_env(
        {"JWT_SECRET": SECRET, "INSTANCE_NAME": "api-9", "TLS_DIR": "/tls"}
    )
    assert settings == Settings(
        instance="api-9",
        dbsvc_addr="127.0.0.1:50051",
        logsvc_addr="127.0.0.1:50052",
        jwt_secret=SECRET.encode(),
        jwt_ttl_seconds=3600,
        grpc_deadline_seconds=3.0,
        tls_dir="/tls",
    )


def test_every_setting_from_the_environment():
    settings = Settings.from_env(
        {
            "JWT_SECRET": SECRET,
            "INSTANCE_NAME": "api-1",
            "DBSVC_ADDR": "db:1",
            "LOGSVC_ADDR": "log:2",
            "JWT_TTL_SECONDS": "60",
            "GRPC_DEADLINE_SECONDS": "0.5",
            "TLS_DIR": "/tls",
        }
    )
    assert (settings.dbsvc_addr, settings.logsvc_addr) == ("db:1", "log:2")
    assert (settings.jwt_ttl_seconds, settings.grpc_deadline_seconds) == (60, 0.5)


@pytest.mark.parametrize("secret", [None, "", "s" * 31])
def test_a_missing_or_short_secret_refuses_to_start(secret):
    environ = {"TLS_DIR": "/tls"} if secret is None else {"JWT_SECRET": secret, "TLS_DIR": "/tls"}
    with pytest.raises(RuntimeError, match="JWT_SECRET must be set to at least 32"):
        Settings.from_env(environ)


@pytest.mark.parametrize("raw", ["0", "-5", "ten", "1.5"])
def test_a_bad_number_names_the_variable(raw):
    with pytest.raises(RuntimeError, match=f"JWT_TTL_SECONDS={raw!r} is not a positive number"):
        Settings.from_env({"JWT_SECRET": SECRET, "JWT_TTL_SECONDS": raw, "TLS_DIR": "/tls"})


def test_without_a_certificate_the_api_refuses_to_start():
    with pytest.raises(RuntimeError, match="TLS_DIR is not set: the API calls"):
        Settings.from_env({"JWT_SECRET": SECRET})


def test_positive_int_default_when_unset_or_empty():
    assert positive_int({}, "N", 7) == 7
    assert positive_int({"N": ""}, "N", 7) == 7
    assert positive_int({"N": "3"}, "N", 7) == 3


@pytest.mark.parametrize(("raw", "seconds"), [(None, 1), ("", 1), ("0", 0), ("5", 5)])
def test_the_catalog_max_age_defaults_to_a_second(raw, seconds):
    environ = {"JWT_SECRET": SECRET, "TLS_DIR": "/tls"}
    if raw is not None:
        environ["CATALOG_MAX_AGE_SECONDS"] = raw
    assert Settings.from_env(environ).catalog_max_age_seconds == seconds


@pytest.mark.parametrize("raw", ["6", "60", "-1", "1.5", "one"])
def test_a_catalog_max_age_past_a_few_seconds_refuses_to_start(raw):
    environ = {"JWT_SECRET": SECRET, "TLS_DIR": "/tls", "CATALOG_MAX_AGE_SECONDS": raw}
    with pytest.raises(RuntimeError, match="CATALOG_MAX_AGE_SECONDS="):
        Settings.from_env(environ)
