"""Passwords, lock-out and hostile text: the store's security constants and checks.

Thresholds follow OWASP ASVS 4.0.3: V2.1.1 (passwords of at least 12 characters), V2.2.1 (anti-automation:
soft lock-out after repeated failures rather than a permanent one, so an attacker cannot lock clinicians
out for good) and V2.4.1 (a memory-hard hash: Argon2id, via pwdlib's recommended parameters).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from zxcvbn import zxcvbn

from taperwise.errors import RequestValidationError

MIN_PASSWORD_LENGTH = 12  # ASVS V2.1.1
MAX_PASSWORD_LENGTH = 128  # ASVS V2.1.2 allows at most 128
MIN_PASSWORD_SCORE = 3  # zxcvbn's 0–4 scale: 3 resists an online attack well (see check_password_strength)
CONTEXT_WORDS = ("taperwise", "opioid", "taper")
MIN_CONTEXT_WORD = 4  # a context word this long or longer may not appear in the password at all
MAX_FAILED_LOGINS = 5  # ASVS V2.2.1: failures before the account locks
LOCKOUT = dt.timedelta(minutes=15)  # ASVS V2.2.1: a soft lock, lifted by time or by `taperwise users unlock`
# ASVS V2.2.1 also asks to limit failures per client: one address failing this many times within the
# window (whatever the accounts) is refused until the window has passed, so it can neither guess on nor
# lock out account after account.
MAX_FAILED_PER_ADDRESS = 20
ADDRESS_WINDOW = dt.timedelta(minutes=15)

_hasher = PasswordHash((Argon2Hasher(),))
# Verified against when the username is unknown, so that a failed login takes as long either way and
# response times do not reveal which usernames exist.
_DUMMY_HASH = _hasher.hash("taperwise-no-such-user-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str) -> tuple[bool, str | None]:
    """(matches, a fresher hash to store when the parameters have changed since it was made)."""
    return _hasher.verify_and_update(password, password_hash)


def burn_verification(password: str) -> None:
    _hasher.verify(password, _DUMMY_HASH)


def check_password_strength(password: str, context: Iterable[str] = ()) -> None:
    """Refuse a password that is short, padded with spaces, or easy to guess.

    Guessability is zxcvbn's estimate (the maintained port of Dropbox's estimator: lists of common and
    leaked passwords, names, words, keyboard patterns, dates, and `context`, the words an attacker would
    try first for this account — the user name, the display name — plus "taperwise"). A score below
    MIN_PASSWORD_SCORE (of 0–4; 3 is "safely unguessable" for an online attack) is refused with zxcvbn's
    own hint. ASVS V2.1.7 asks for a check against breached passwords; NIST SP 800-63B 5.1.1.2 against
    common and context-specific words.
    """
    reject_nul("password", password)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise RequestValidationError(
            "password", f"is too short: use at least {MIN_PASSWORD_LENGTH} characters (a passphrase is best)"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise RequestValidationError("password", f"is too long: use at most {MAX_PASSWORD_LENGTH} characters")
    if password.strip() != password or not password.strip():
        raise RequestValidationError("password", "must not start or end with spaces")
    words = [word for word in (*CONTEXT_WORDS, *context) if word]
    lowered = password.lower()
    for word in words:
        if len(word) >= MIN_CONTEXT_WORD and word.lower() in lowered:
            raise RequestValidationError(
                "password", f"contains {word!r}, a word an attacker tries first for this account"
            )
    # zxcvbn's cost grows with length; the first 100 characters decide whether a password is guessable.
    estimate = zxcvbn(password[:100], user_inputs=words)
    if estimate["score"] < MIN_PASSWORD_SCORE:
        hint = estimate["feedback"]["warning"] or "it is close to common passwords or to the account's names"
        tips = " ".join(estimate["feedback"]["suggestions"])
        raise RequestValidationError(
            "password",
            f"is too easy to guess ({hint.rstrip('.')}). {tips or 'Use a longer passphrase.'}".strip(),
        )


def reject_nul(field: str, value: object) -> None:
    """Refuse text with a NUL byte: PostgreSQL cannot store one and would fail mid-transaction."""
    if isinstance(value, str) and "\x00" in value:
        raise RequestValidationError(field, "contains a NUL byte (\\x00); remove it and try again")


def reject_nul_in(parameters: Any, where: str) -> None:
    """Every string among a statement's parameters (a mapping, a sequence, or a list of either)."""
    if isinstance(parameters, Mapping):
        for key, value in parameters.items():
            reject_nul(f"{where}.{key}", value)
    elif isinstance(parameters, Iterable) and not isinstance(parameters, str | bytes):
        for position, value in enumerate(parameters):
            if isinstance(value, Mapping | list | tuple):
                reject_nul_in(value, where)
            else:
                reject_nul(f"{where}[{position}]", value)


def printable(text: str, limit: int = 500) -> str:
    """Text safe to keep in the audit log even when an attacker wrote it: NUL bytes shown, length capped."""
    shown = text.replace("\x00", "\\x00")
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


MAX_FREE_TEXT = 4000  # a clinician's note, reason or plan: longer is refused, never cut


def clean_text(field: str, value: str, limit: int = MAX_FREE_TEXT) -> str:
    """A clinician's free text as stored: stripped, no NUL byte, and refused (naming `field`) when longer
    than `limit` — a note is never silently cut."""
    text = value.strip()
    reject_nul(field, text)
    if len(text) > limit:
        raise RequestValidationError(field, f"is longer than {limit} characters")
    return text
