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


@cache
def _common_passwords() -> frozenset[str]:
    # zxcvbn ships the 30,000 most common passwords from breach corpora; loaded only when a password is set.
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def check_policy(password: str, *, account: str | None = None, phone: str | None = None) -> None:
    """Raise `WeakPassword` unless the password meets API.md §3's policy. No composition rules, no truncation."""
    if not isinstance(password, str):
        raise WeakPassword("must be text")
    length = len(_normalise(password))
    if length < MIN_LENGTH:
        raise WeakPassword(f"must be at least {MIN_LENGTH} characters")
    if length > MAX_LENGTH:
        raise WeakPassword(f"must be at most {MAX_LENGTH} characters")
    lowered = _normalise(password).lower()
    if lowered in _common_passwords() or len(set(lowered)) == 1:
        raise WeakPassword("is a commonly used password")
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
