"""Plate text: normalisation for matching, and a sanity check for absurd strings.

Matching uses the normalised text only: upper-case A-Z and 0-9, nothing else. What the camera
read is kept elsewhere, untouched.
"""

from __future__ import annotations

import enum
import functools
import re
import unicodedata

MAX_RAW_LENGTH = 32
"""Longest raw string (code points) worth looking at; longer is never a plate."""
MIN_LENGTH = 2
MAX_LENGTH = 12
"""Bounds on the normalised text. Real plates here have 2 to 9 characters; the rare
one-digit Belgian court plates are given up as noise."""

SEPARATORS = frozenset(" -.·")
"""Characters a camera may put between the groups of a plate."""

_NOT_PLATE_CHAR = re.compile(r"[^A-Z0-9]+")
_ASCII_ALLOWED = re.compile(r"[A-Za-z0-9 .\-]*")
_LETTER_OR_DIGIT = frozenset({"Lu", "Ll", "Lt", "Nd"})


class PlateProblem(enum.StrEnum):
    """Why a plate string is absurd (machine-readable; stored as a rejection reason).

    There is deliberately no "needs letters and digits" problem: Luxembourg custom plates and
    Belgian court plates are digits only, Belgian personalised plates may be letters only.
    """

    EMPTY = "plate_empty"
    TOO_SHORT = "plate_too_short"
    TOO_LONG = "plate_too_long"
    INVALID_CHARACTERS = "plate_invalid_characters"


def normalise(raw: str) -> str:
    """Upper-case A-Z0-9 form of a plate: separators dropped, diacritics folded (Ö -> O).

    Anything else is dropped, including symbols that merely decompose to letters (℠). Idempotent.
    """
    if raw.isascii():
        return _NOT_PLATE_CHAR.sub("", raw.upper())
    return "".join(map(_fold_char, raw))


@functools.lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    """A letter or digit as ASCII upper-case (Ö -> O, Ａ -> A), anything else as ""."""
    if unicodedata.category(ch) not in _LETTER_OR_DIGIT:
        return ""
    decomposed = unicodedata.normalize("NFKD", ch).upper()
    folded = "".join(c for c in decomposed if not unicodedata.combining(c))
    return folded if folded.isascii() and folded.isalnum() else ""


def _char_allowed(ch: str) -> bool:
    """A separator, a (decomposed) diacritic, or a character that folds to A-Z0-9."""
    return ch in SEPARATORS or bool(unicodedata.combining(ch)) or _fold_char(ch) != ""


def check(raw: str) -> PlateProblem | None:
    """The reason ``raw`` cannot be a plate text, or None when it is plausible.

    Checked in this order: raw length, characters, then the normalised length.
    """
    if len(raw) > MAX_RAW_LENGTH:
        return PlateProblem.TOO_LONG
    if raw.isascii():
        if _ASCII_ALLOWED.fullmatch(raw) is None:
            return PlateProblem.INVALID_CHARACTERS
    elif not all(_char_allowed(ch) for ch in raw):
        return PlateProblem.INVALID_CHARACTERS
    n = len(normalise(raw))
    if n == 0:
        return PlateProblem.EMPTY
    if n < MIN_LENGTH:
        return PlateProblem.TOO_SHORT
    if n > MAX_LENGTH:
        return PlateProblem.TOO_LONG
    return None
