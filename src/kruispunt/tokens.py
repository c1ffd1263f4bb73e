"""API tokens of cameras and users: random 256-bit secrets, kept only as their SHA-256 (a
password hash like argon2 is for secrets people choose; these are never guessable)."""

from __future__ import annotations

import hashlib
import secrets


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)
