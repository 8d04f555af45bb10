"""The guessability rule on new passwords: a 422 of its own type, naming the rule, never
the value; the account's own names count as guessable words."""

import pytest
from merch_api.passwords import (
    RATED_CHARACTERS,
    account_words,
    check_new_password,
    is_too_guessable,
)
from merch_api.problems import PASSWORD_TOO_GUESSABLE, Problem


@pytest.mark.parametrize("password", ["password", "12345678", "00000000", "qwerty123", "Password1"])
def test_common_passwords_are_too_guessable(password):
    assert is_too_guessable(password)


@pytest.mark.parametrize("password", ["correct horse 1", "vX9#qL2!mR7$", "sdk password 1"])
def test_less_predictable_ones_pass(password):
    assert not is_too_guessable(password)
    check_new_password("password", password, [])  # no Problem


def test_a_refusal_is_a_422_naming_the_field_and_the_rule_not_the_value():
    with pytest.raises(Problem) as refused:
        check_new_password("new_password", "iloveyou", [])
    assert (refused.value.status, refused.value.type) == (422, PASSWORD_TOO_GUESSABLE)
    assert "'new_password'" in refused.value.detail and "too easy to guess" in refused.value.detail
    assert "iloveyou" not in refused.value.detail


def test_the_accounts_names_and_their_parts_are_guessable_words():
    words = account_words("lin_wei", "wei.lin@sustech.edu.cn", "1203582937", None)
    assert {"lin_wei", "wei", "sustech", "1203582937"} <= set(words)
    for password in ("lin_wei12", "sustech123", "1203582937ab"):
        assert is_too_guessable(password, words), password
        assert not is_too_guessable(password), f"{password} passes without the names"


def test_only_the_start_is_rated_so_a_long_password_costs_no_more():
    common = "password" * (RATED_CHARACTERS // 8)
    assert is_too_guessable(common + "a long, random tail: q8#Lz!")


def test_no_password_is_no_check():
    check_new_password("password", None, ["alice"])
