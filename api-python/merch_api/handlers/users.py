from merchstore.db.v1 import user_pb2

from merch_api import representations
from merch_api.auth import issue_token
from merch_api.handlers import call_db, created, db, ok
from merch_api.problems import forbidden

_INT32_MAX = 2**31 - 1


def register(body: dict):
    # "email": null means no email, like leaving it out.
    fields = {name: value for name, value in body.items() if value is not None}
    answer = call_db(db().users.CreateUser, user_pb2.CreateUserRequest(**fields))
    user = answer.user
    return created(representations.user(user), f"/users/{user.id}")


def login(body: dict):
    answer = call_db(
        db().users.VerifyCredentials,
        user_pb2.VerifyCredentialsRequest(username=body["username"], password=body["password"]),
    )
    return ok(issue_token(answer.user))


def get_user(id: str, token_info: dict):
    return ok(representations.user(_own_account(id, token_info)))


def update_user(id: str, body: dict, token_info: dict):
    me = _own_account(id, token_info)
    answer = call_db(db().users.UpdateUser, user_pb2.UpdateUserRequest(id=me.id, **body))
    return ok(representations.user(answer.user))


def deactivate_user(id: str, token_info: dict):
    me = _own_account(id, token_info)
    call_db(db().users.DeactivateUser, user_pb2.DeactivateUserRequest(id=me.id))
    return None, 204


def _own_account(path_id: str, token_info: dict):
    """The caller's user when path_id is "me" or the caller's id; 403 for any other id,
    whether it exists or not."""
    me = token_info["user"]
    if path_id != "me" and (int(path_id) > _INT32_MAX or int(path_id) != me.id):
        raise forbidden(
            f"you can only use your own account (id {me.id}, or `me`), not user {path_id}"
        )
    return me
