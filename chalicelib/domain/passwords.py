"""Password hashing (argon2id, OWASP parameters) and the password policy of API.md §3 (NIST SP 800-63B)."""

from __future__ import annotations

import re
import secrets
import unicodedata
from functools import cache

from chalicelib.errors import ValidationFailed

MIN_LENGTH = 8
MAX_LENGTH = 128
# OWASP Password Storage Cheat Sheet: argon2id, m = 19 MiB, t = 2, p = 1.
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1


class WeakPassword(ValidationFailed):
    code = "weak_password"
    message = "The password does not meet the password policy."

    def __init__(self, reason: str):
        super().__init__(f"The password is too weak: {reason}.", details={"reason": reason})


@cache
def _hasher():
    from argon2 import PasswordHasher, Type

    return PasswordHasher(
        time_cost=ARGON2_TIME_COST,
        memory_cost=ARGON2_MEMORY_KIB,
        parallelism=ARGON2_PARALLELISM,
        hash_len=32,
        salt_len=16,
        type=Type.ID,
    )


def _normalise(password: str) -> str:
    # NIST 800-63B 5.1.1.2: apply Unicode normalisation (NFKC) before hashing, so equivalent input matches.
    return unicodedata.normalize("NFKC", password)


def hash_password(password: str) -> str:
    return _hasher().hash(_normalise(password))


def verify_password(stored_hash: str, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return _hasher().verify(stored_hash, _normalise(password))
    except (VerificationError, InvalidHashError):
        return False


@cache
def dummy_hash() -> str:
    """A hash of a random password: unknown accounts are verified against it so they cost the same."""
    return hash_password(secrets.token_urlsafe(16))


# Runs of neighbouring characters people type as "random": alphabet, digits, keyboard rows and columns.
_SEQUENCES = ("abcdefghijklmnopqrstuvwxyz", "01234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm",
              "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p", "qazwsxedcrfvtgbyhnujmikolp", "147258369", "159357")
_MIN_RUN = 3


@cache
def _common_passwords() -> frozenset[str]:
    """zxcvbn's 30,000 most common breached passwords plus our list of common Chinese ones (a few thousand, see
    common_passwords.txt); loaded on the first password set, never on the cold path of a login."""
    from pathlib import Path

    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    text = (Path(__file__).with_name("common_passwords.txt")).read_text(encoding="utf-8")
    ours = {line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")}
    return frozenset(FREQUENCY_LISTS["passwords"]) | frozenset(ours)


def _is_run(segment: str) -> bool:
    """A single repeated character, or neighbours on one of `_SEQUENCES` in either direction."""
    if len(set(segment)) == 1:
        return True
    return any(segment in row or segment in row[::-1] for row in _SEQUENCES)


def _only_runs(text: str) -> bool:
    """True if `text` is nothing but runs of at least 3 neighbouring characters (`12341234`, `987654321`,
    `qwerty123`, `abc123xyz`): whatever the length, such a password is among the first an attacker tries."""
    covered = [True] + [False] * len(text)
    for end in range(_MIN_RUN, len(text) + 1):
        covered[end] = any(covered[start] and _is_run(text[start:end])
                           for start in range(0, end - _MIN_RUN + 1))
    return covered[len(text)]


def _looks_like_a_date(text: str) -> bool:
    if not (len(text) == 8 and text.isdigit()):
        return False
    year, month, day = int(text[:4]), int(text[4:6]), int(text[6:])
    return 1900 <= year <= 2099 and 1 <= month <= 12 and 1 <= day <= 31


def _weakness(lowered: str) -> str | None:
    """Why a (lower-cased, normalised) password is guessable, or None."""
    bare = lowered.rstrip("!@#$%^&*.?~_-")  # `woaini1314!` is as common as `woaini1314`
    if re.fullmatch(r"(.+?)\1+", lowered) or re.fullmatch(r"(.+?)\1+", bare):
        return "repeats a short pattern"
    if _only_runs(lowered) or (len(bare) >= MIN_LENGTH and _only_runs(bare)):
        return "is a sequence of neighbouring keys or characters"
    if _looks_like_a_date(lowered):
        return "looks like a date"
    if lowered in _common_passwords() or bare in _common_passwords():
        return "is a commonly used password"
    return None


def check_policy(password: str, *, account: str | None = None, phone: str | None = None) -> None:
    """Raise `WeakPassword` unless the password meets API.md §3's policy. No composition rules, no truncation.

    Refused: common passwords (breach lists and our Chinese list, any case), repeated units (`123123123`),
    runs of neighbouring keys or characters (`12341234`, `987654321`, `qwertyui`), dates, and passwords
    containing the account name or phone number; `details.reason` says which.
    """
    if not isinstance(password, str):
        raise WeakPassword("must be text")
    length = len(_normalise(password))
    if length < MIN_LENGTH:
        raise WeakPassword(f"must be at least {MIN_LENGTH} characters")
    if length > MAX_LENGTH:
        raise WeakPassword(f"must be at most {MAX_LENGTH} characters")
    lowered = _normalise(password).lower()
    reason = _weakness(lowered)
    if reason:
        raise WeakPassword(reason)
    if account and len(account) >= 3 and account.lower() in lowered:
        raise WeakPassword("contains the account name")
    if phone:
        national = re.sub(r"\D", "", phone)[-11:]
        digits_only = re.sub(r"\D", "", password)
        if len(national) >= 7 and (national in digits_only or national[-8:] in digits_only):
            raise WeakPassword("contains the phone number")


def generate_initial_password() -> str:
    """A random initial password (shown once) that always passes the policy: 16 chars from `secrets`."""
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(16))
