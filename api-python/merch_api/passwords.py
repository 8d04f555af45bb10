"""The rule a new password must pass beyond its length: not one of the passwords that
guessing tries first, nor one made of the account's own names. zxcvbn (Dropbox's
estimator, whose lists hold the most common passwords, names and words, with their
keyboard patterns, repeats and l33t spellings) rates it from 0 (too guessable) to 4,
given the username, email and student id as words a guesser would try too; below 2 is
refused, with a 422: the OpenAPI file allows the value, the store's rule does not.

The estimator is zxcvbn-rs, the Rust port, through zxcvbn-rs-py: the same scores as
Dropbox's Python port, about ten times as fast, and its lists are loaded on first use
into 9 MiB instead of 13 MiB of Python objects at import, in every API worker
(docs/api-serving.md, "Memory"). Its time still grows with length, so it rates the first
RATED_CHARACTERS only; longer passwords whose start is common are refused too, and no
common password is longer than that."""

import re
from collections.abc import Iterable

from zxcvbn_rs_py import zxcvbn

from merch_api.problems import PASSWORD_TOO_GUESSABLE, unprocessable

RATED_CHARACTERS = 32
LOWEST_ACCEPTED_SCORE = 2


def account_words(*values: str | None) -> list[str]:
    """The account's names as a guesser would try them: whole, and each part of them
    (`alice.liu@sustech.edu.cn` gives `alice`, `liu`, `sustech`, ...)."""
    words = set()
    for value in filter(None, values):
        words.add(value)
        words.update(part for part in re.split(r"[\W_]+", value) if len(part) >= 3)
    return sorted(words)


def is_too_guessable(password: str, user_inputs: Iterable[str] = ()) -> bool:
    rated = zxcvbn(password[:RATED_CHARACTERS], user_inputs=list(user_inputs))
    return int(rated.score) < LOWEST_ACCEPTED_SCORE


def check_new_password(field: str, password: str | None, user_inputs: Iterable[str]) -> None:
    """422 for a new password that is too easy to guess, naming the rule, not the value."""
    if password is not None and is_too_guessable(password, user_inputs):
        raise unprocessable(
            PASSWORD_TOO_GUESSABLE,
            f"field '{field}' is too easy to guess: it is a common password, word or "
            "pattern, or close to your username, email or student id (zxcvbn rates it "
            f"below {LOWEST_ACCEPTED_SCORE} of 4); choose a longer, less predictable one",
        )
