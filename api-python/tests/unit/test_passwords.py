"""The guessability rule on new passwords: refused by name of the rule, never by value."""

import pytest
from merch_api.passwords import RATED_CHARACTERS, check_new_password, is_too_guessable
from merch_api.problems import Problem


@pytest.mark.parametrize("password", ["password", "12345678", "00000000", "qwerty123", "Password1"])
def test_common_passwords_are_too_guessable(password):
    assert is_too_guessable(password)


@pytest.mark.parametrize("password", ["correct horse 1", "vX9#qL2!mR7$", "sdk password 1"])
def test_less_predictable_ones_pass(password):
    assert not is_too_guessable(password)
    check_new_password("password", password)  # no Problem


def test_a_refusal_names_the_field_and_the_rule_not_the_value():
    with pytest.raises(Problem) as refused:
        check_new_password("new_password", "iloveyou")
    assert refused.value.status == 400
    assert "'new_password'" in refused.value.detail and "too easy to guess" in refused.value.detail
    assert "iloveyou" not in refused.value.detail


def test_only_the_start_is_rated_so_a_long_password_costs_no_more():
    common = "password" * (RATED_CHARACTERS // 8)
    assert is_too_guessable(common + "a long, random tail: q8#Lz!")


def test_no_password_is_no_check():
    check_new_password("password", None)
