"""The pure parts of signing in: password hashes, the password policy, TOTP, lock-out.

Nothing here touches the store or the clock; ``kruispunt.access.sessions`` holds the state
and passes the time in, so each rule is tested on its own.

- Passwords people choose are kept as argon2id hashes (argon2-cffi's RFC 9106 defaults):
  slow and memory-hard on purpose, unlike the SHA-256 kept for random API tokens.
- TOTP is RFC 6238 with what every authenticator app speaks (SHA-1, 30 s, 6 digits), one step
  of tolerance either side for clock drift, and a code never accepted twice: the caller keeps
  the last step used and passes it back in.
- Lock-out is a pure function of (state, now), so every process applies the same rule to the
  state it reads from the store.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import hmac
import secrets
import unicodedata
from urllib.parse import quote, urlencode

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# -- passwords ------------------------------------------------------------------------------

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; a megabyte "password" is an attack

_hasher = PasswordHasher()  # argon2id, t=3, m=64 MiB, p=4 (RFC 9106 low-memory profile)

# The first words every spraying list tries, compared case-blind and with the digits and
# punctuation people add to reach a length rule stripped from both ends ("Password1234!").
COMMON_PASSWORDS = frozenset(
    {
        "password", "passw0rd", "wachtwoord", "motdepasse", "passwort", "welkom", "welcome",
        "bienvenue", "qwerty", "qwertyuiop", "azerty", "azertyuiop", "letmein", "iloveyou",
        "admin", "administrator", "changeme", "secret", "monkey", "dragon", "football",
        "sunshine", "princess", "trustno", "abc", "abcdef", "abcdefgh", "kruispunt", "politie",
        "police", "anpr", "zomer", "winter", "lente", "herfst", "summer", "spring", "autumn",
        "belgie", "belgium", "brussel", "antwerpen", "gent",
    }
)  # fmt: skip
_PADDING = "0123456789!@#$%^&*()-_=+.,;:?/\\|~`'\" "


def _normal(password: str) -> str:
    """One spelling per password: the same characters typed on another keyboard or OS (NFC
    vs NFD accents, full-width digits) must hash the same (NIST SP 800-63B 5.1.1.2)."""
    return unicodedata.normalize("NFKC", password)


def hash_password(password: str) -> str:
    """The argon2id hash to store (PHC string: algorithm, parameters, salt and hash)."""
    return _hasher.hash(_normal(password))


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches; False for a wrong one or a hash that is not argon2."""
    try:
        return _hasher.verify(password_hash, _normal(password))
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's: re-hash on the next
    successful login, while the password is at hand."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError):
        return True


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))  # made once, on first need, not at import


def burn_verify(password: str) -> None:
    """Spend a verification's time for a user without a password (or unknown), so timing
    does not tell which user ids exist."""
    verify_password(_dummy_hash(), password)


def _classes(password: str) -> int:
    kinds = set()
    for ch in password:
        if ch.islower():
            kinds.add("lower")
        elif ch.isupper():
            kinds.add("upper")
        elif ch.isdigit():
            kinds.add("digit")
        else:
            kinds.add("other")
    return len(kinds)


def password_problems(password: str, *, user_id: str | None = None) -> list[str]:
    """What is wrong with a new password (empty: acceptable). Messages, never the password."""
    pw = _normal(password)
    problems: list[str] = []
    if len(pw) < MIN_PASSWORD_LENGTH:
        problems.append(f"at least {MIN_PASSWORD_LENGTH} characters")
    if len(pw) > MAX_PASSWORD_LENGTH:
        problems.append(f"at most {MAX_PASSWORD_LENGTH} characters")
    if pw and _classes(pw) < 2:
        problems.append("mix at least two kinds of character (lower, upper, digits, other)")
    folded = pw.casefold()
    if user_id and user_id.strip() and user_id.strip().casefold() in folded:
        problems.append("must not contain the user id")
    core = folded.strip(_PADDING)
    if folded in COMMON_PASSWORDS or core in COMMON_PASSWORDS:
        problems.append("too common")
    elif len(set(folded)) <= 2:
        problems.append("too repetitive")
    return problems


# -- TOTP (RFC 6238 over RFC 4226 HOTP) -------------------------------------------------------

TOTP_PERIOD_S = 30
TOTP_DIGITS = 6
TOTP_WINDOW = 1  # steps accepted either side of now: a phone clock a little off still works


def hotp(key: bytes, counter: int, *, digits: int = TOTP_DIGITS, algorithm: str = "sha1") -> str:
    """RFC 4226: the ``digits``-digit code for ``counter`` (dynamic truncation)."""
    mac = hmac.new(key, counter.to_bytes(8, "big"), getattr(hashlib, algorithm)).digest()
    offset = mac[-1] & 0x0F
    value = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def totp_step(at_s: float, *, period_s: int = TOTP_PERIOD_S) -> int:
    """The RFC 6238 time step (T) for a Unix time in seconds."""
    return int(at_s // period_s)


def new_totp_secret() -> str:
    """A fresh 160-bit secret (RFC 4226's recommended length), base32 without padding as
    authenticator apps expect it."""
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def decode_secret(secret: str) -> bytes:
    """The key bytes of a base32 secret (case, spaces and missing padding forgiven)."""
    clean = secret.replace(" ", "").upper()
    return base64.b32decode(clean + "=" * (-len(clean) % 8))


def totp(secret: str, at_s: float) -> str:
    """The current code of ``secret`` at ``at_s`` (what the phone shows)."""
    return hotp(decode_secret(secret), totp_step(at_s))


def verify_totp(secret: str, code: str, *, at_s: float, last_step: int | None) -> int | None:
    """The time step ``code`` belongs to, or None when it is wrong, outside the window or
    from a step at or before ``last_step`` (a code seen once, even by an eavesdropper, never
    signs in again). Store the returned step as the new ``last_step``."""
    code = code.replace(" ", "")
    if len(code) != TOTP_DIGITS or not code.isascii() or not code.isdigit():
        return None
    key = decode_secret(secret)
    now = totp_step(at_s)
    found: int | None = None
    # Every candidate is computed and compared: timing does not tell which step matched.
    for step in range(max(0, now - TOTP_WINDOW), now + TOTP_WINDOW + 1):
        if hmac.compare_digest(hotp(key, step), code) and found is None:
            found = step
    if found is None or (last_step is not None and found <= last_step):
        return None
    return found


def provisioning_uri(secret: str, user_id: str, issuer: str = "Kruispunt") -> str:
    """The ``otpauth://`` URI an authenticator app reads from a QR code."""
    label = quote(f"{issuer}:{user_id}", safe=":@")
    query = urlencode(
        {"secret": secret, "issuer": issuer, "algorithm": "SHA1", "digits": TOTP_DIGITS,
         "period": TOTP_PERIOD_S},
        quote_via=quote,
    )  # fmt: skip
    return f"otpauth://totp/{label}?{query}"


# -- lock-out --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class LockoutState:
    """Failed sign-ins since the last success, and until when (µs) the account is locked."""

    failures: int = 0
    locked_until_us: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """After ``max_failures`` failures in a row the account refuses even the right password
    for ``lock_s`` seconds; then the count starts again from zero. Guessing is thereby held
    to a handful of tries per ten minutes whatever the attacker's speed."""

    max_failures: int = 5
    lock_s: int = 600

    def is_locked(self, state: LockoutState, now_us: int) -> bool:
        return now_us < state.locked_until_us

    def locked_for_s(self, state: LockoutState, now_us: int) -> int:
        """Seconds until the lock lifts (0: not locked), for Retry-After."""
        return max(0, -(-(state.locked_until_us - now_us) // 1_000_000))

    def after_failure(self, state: LockoutState, now_us: int) -> LockoutState:
        """One more failure. While locked nothing changes: attempts are refused unchecked,
        and an attacker cannot keep the owner out for longer by hammering."""
        if self.is_locked(state, now_us):
            return state
        failures = state.failures + 1
        if failures >= self.max_failures:
            return LockoutState(0, now_us + self.lock_s * 1_000_000)
        return LockoutState(failures, state.locked_until_us)

    def after_success(self, state: LockoutState) -> LockoutState:
        return LockoutState()
