"""The rule a new password must pass beyond its length: not one of the passwords that
guessing tries first. zxcvbn (Dropbox's estimator, whose lists hold the most common
passwords, names and words, with their keyboard patterns, repeats and l33t spellings)
rates it from 0 (too guessable) to 4; 0 is refused.

zxcvbn's time grows fast with length (a random 48-character password takes a third of a
second), so it rates the first RATED_CHARACTERS only. Longer passwords whose start is
common are refused too; no common password is longer than that."""

from zxcvbn import zxcvbn

from merch_api.problems import bad_request

RATED_CHARACTERS = 32
LOWEST_ACCEPTED_SCORE = 1


def is_too_guessable(password: str) -> bool:
    return zxcvbn(password[:RATED_CHARACTERS])["score"] < LOWEST_ACCEPTED_SCORE


def check_new_password(field: str, password: str | None) -> None:
    """400 for a new password that is too easy to guess, naming the rule, not the value."""
    if password is not None and is_too_guessable(password):
        raise bad_request(
            f"field '{field}' is too easy to guess: it is a common password, word or "
            "pattern (zxcvbn rates it 0 of 4); choose a longer, less predictable one"
        )
