"""Access tokens: HS256 JWTs that carry the user id and the user's credentials version.

The DB service bumps a user's credentials_version when the password changes and when
the account is deactivated; a token whose `ver` is not the current one is revoked. An
operation that needs the user reads it from the DB service (one indexed read) and checks
the version; the two order writes instead pass the version to their own RPC, which
checks it in the write's transaction (one call instead of two, and no gap between the
check and the write).
"""

import time
from dataclasses import dataclass

import grpc
import jwt
from merchstore.db.v1 import user_pb2

from merch_api.handlers import call_db, running
from merch_api.problems import TOKEN_REVOKED, unauthorized

_ALGORITHM = "HS256"
# What the store issues in `sub` and `ver`: ids and versions are PostgreSQL integers,
# positive. A signed token with anything else was not made by this store's login.
_MAX_INT32 = 2**31 - 1
_LOG_IN_AGAIN = "log in again with POST /auth/login"
_SEND_A_TOKEN = "send Authorization: Bearer <access_token from POST /auth/login>"


def issue_token(user) -> dict:
    settings = running().settings
    now = int(time.time())
    claims = {
        "sub": str(user.id),
        "iat": now,
        "exp": now + settings.jwt_ttl_seconds,
        "ver": user.credentials_version,
    }
    return {
        "access_token": jwt.encode(claims, settings.jwt_secret, algorithm=_ALGORITHM),
        "token_type": "Bearer",
        "expires_in": settings.jwt_ttl_seconds,
    }


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header (the scheme in any case,
    as RFC 9110 has it)."""
    if not authorization:
        raise unauthorized(f"no access token was sent; {_SEND_A_TOKEN}")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized(f"the Authorization header is not a bearer token; {_SEND_A_TOKEN}")
    return token.strip()


@dataclass(frozen=True)
class Token:
    """What a bearer token says, once its signature and expiry are checked; whether it
    is revoked is for the DB service to tell."""

    user_id: int
    credentials_version: int


def verified_token(authorization: str | None) -> Token:
    """The request's bearer token, its signature and expiry checked; a 401 problem when
    there is none, or it is forged or expired."""
    settings = running().settings
    try:
        claims = jwt.decode(
            bearer_token(authorization),
            settings.jwt_secret,
            algorithms=[_ALGORITHM],  # pinned: "none" and other algorithms are refused
            options={"require": ["sub", "iat", "exp", "ver"]},
        )
        sub = str(claims["sub"])
        return Token(
            user_id=_positive_int32(int(sub) if sub.isascii() and sub.isdecimal() else 0),
            credentials_version=_positive_int32(claims["ver"]),
        )
    except jwt.ExpiredSignatureError:
        raise unauthorized(f"the access token has expired; {_LOG_IN_AGAIN}") from None
    except (jwt.InvalidTokenError, ValueError, TypeError):
        raise unauthorized(f"the access token is not valid; {_LOG_IN_AGAIN}") from None


def _positive_int32(value) -> int:
    if type(value) is not int or not 1 <= value <= _MAX_INT32:
        raise ValueError("not an id this store issues")
    return value


def authenticated_user(token: Token):
    """The token's user, read from the DB service; a 401 problem when the token is
    revoked."""
    try:
        user = call_db(running().db.users.GetUser, user_pb2.GetUserRequest(id=token.user_id)).user
    except grpc.RpcError as error:
        if error.code() is not grpc.StatusCode.NOT_FOUND:
            raise
        user = None
    if user is None or not user.active or user.credentials_version != token.credentials_version:
        raise unauthorized(TOKEN_REVOKED)
    return user
