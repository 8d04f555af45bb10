"""Access tokens: HS256 JWTs that carry the user id and the user's credentials version.

The DB service bumps a user's credentials_version when the password changes and when
the account is deactivated; a token whose `ver` is not the current one is revoked. So
every authenticated request asks the DB service for the user (one indexed read).
"""

import asyncio
import time

import grpc
import jwt
from merchstore.db.v1 import user_pb2

from merch_api import services
from merch_api.problems import unauthorized

_ALGORITHM = "HS256"
_LOG_IN_AGAIN = "log in again with POST /auth/login"


def issue_token(user) -> dict:
    settings = services.current().settings
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


async def verify_bearer_token(token: str, request) -> dict:
    """Connexion's bearer check (x-bearerInfoFunc in openapi.yaml). Returns the token
    info handlers receive as token_info, with the current user under "user"."""
    settings = services.current().settings
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=[_ALGORITHM],  # pinned: "none" and other algorithms are refused
            options={"require": ["sub", "iat", "exp", "ver"]},
        )
        user_id = int(claims["sub"])
    except jwt.ExpiredSignatureError:
        raise unauthorized(f"the access token has expired; {_LOG_IN_AGAIN}") from None
    except (jwt.InvalidTokenError, ValueError):
        raise unauthorized(f"the access token is not valid; {_LOG_IN_AGAIN}") from None

    request_id = request.headers.get("x-request-id", "")
    # The gRPC stub blocks; keep the event loop free for other requests.
    user = await asyncio.to_thread(_current_user, user_id, request_id)
    if user is None or not user.active or user.credentials_version != claims["ver"]:
        raise unauthorized(f"the access token has been revoked; {_LOG_IN_AGAIN}")
    return {"sub": claims["sub"], "user": user}


def _current_user(user_id: int, request_id: str):
    db = services.current().db
    try:
        return db.call(db.users.GetUser, user_pb2.GetUserRequest(id=user_id), request_id).user
    except grpc.RpcError as error:
        if error.code() is grpc.StatusCode.NOT_FOUND:
            return None
        raise
