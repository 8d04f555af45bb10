from flask import request
from merchstore.db.v1 import user_pb2

from merch_api import representations
from merch_api.auth import issue_token
from merch_api.handlers import call_db, created, db
from merch_api.passwords import account_words, check_new_password
from merch_api.problems import forbidden


def register(body: dict):
    words = account_words(body["username"], body.get("email"), body["sid"])
    check_new_password("password", body["password"], words)
    # "email": null means no email, like leaving it out.
    fields = {name: value for name, value in body.items() if value is not None}
    answer = call_db(db().users.CreateUser, user_pb2.CreateUserRequest(**fields))
    user = answer.user
    return created(representations.user(user), f"/users/{user.id}")


def login(body: dict):
    answer = call_db(
        db().users.VerifyCredentials,
        user_pb2.VerifyCredentialsRequest(
            username=body["username"],
            password=body["password"],
            client_address=_client_address(),
        ),
    )
    return issue_token(answer.user)


def get_user(id: str, user):
    return representations.user(_own_account(id, user))


def update_user(id: str, body: dict, user):
    me = _own_account(id, user)
    # The names the account has and the ones it is getting.
    words = account_words(me.username, me.email, me.sid, body.get("username"), body.get("email"))
    check_new_password("password", body.get("password"), words)
    answer = call_db(
        db().users.UpdateUser,
        user_pb2.UpdateUserRequest(
            id=me.id,
            client_address=_client_address(),
            # The version the token was checked at: the DB service refuses the change
            # if the password changed or the account was deactivated since.
            credentials_version=me.credentials_version,
            **body,
        ),
    )
    return representations.user(answer.user)


def deactivate_user(id: str, body: dict, user):
    me = _own_account(id, user)
    call_db(
        db().users.DeactivateUser,
        user_pb2.DeactivateUserRequest(
            id=me.id,
            current_password=body["current_password"],
            client_address=_client_address(),
            credentials_version=me.credentials_version,
        ),
    )
    return "", 204


def _client_address() -> str:
    """The caller's address as NGINX saw it (ProxyFix): failed logins and wrong current
    passwords are counted per username from each address."""
    return request.remote_addr or ""


def _own_account(path_id: str, me):
    """The caller's user when path_id is "me" or the caller's id; 403 for any other id,
    whether it exists or not."""
    if path_id != "me" and int(path_id) != me.id:
        raise forbidden(
            f"you can only use your own account (id {me.id}, or `me`), not user {int(path_id)}"
        )
    return me
