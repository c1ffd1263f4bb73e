"""Plate strings by country, for the simulation only (no validation logic lives here).

Formats generated, as printed on the plate:

- BE current (since 2010): ``1-ABC-123`` (first digit 1 or 2); older: ``ABC-123``.
- NL sidecodes 4-11 (letters without vowels, C and Q): ``XX-99-XX`` ... ``XXX-99-X``.
- FR SIV (since 2009): ``AB-123-CD`` (no I, O, U; digits 001-999).
- DE: district code, 1-2 letters, 1-4 digits: ``AN-XY 123`` (as many readers print it).
- LU: ``AB 1234``.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable

DIGITS = string.digits
LETTERS = string.ascii_uppercase
NL_LETTERS = "BDFGHJKLNPRSTVXZ"
FR_LETTERS = "".join(c for c in LETTERS if c not in "IOU")

# Dutch sidecodes as patterns: X = letter, 9 = digit.
NL_SIDECODES: dict[int, str] = {
    4: "XX-99-XX",
    5: "XX-XX-99",
    6: "99-XX-XX",
    7: "99-XXX-9",
    8: "9-XXX-99",
    9: "XX-999-X",
    10: "X-999-XX",
    11: "XXX-99-X",
}
# Newer sidecodes are more common on the road today.
NL_SIDECODE_WEIGHTS = (2, 3, 6, 14, 16, 20, 22, 17)

# German district codes of the regions nearest to Antwerp, plus a few large cities.
DE_DISTRICTS = ("AC", "KLE", "BOR", "VIE", "NE", "D", "K", "DU", "E", "KR", "WES", "B", "M", "HH")


def _fill(pattern: str, rng: random.Random, letters: str) -> str:
    out = []
    for ch in pattern:
        if ch == "X":
            out.append(rng.choice(letters))
        elif ch == "9":
            out.append(rng.choice(DIGITS))
        else:
            out.append(ch)
    return "".join(out)


def belgian_plate(rng: random.Random, *, legacy: bool = False) -> str:
    if legacy:
        return _fill("XXX-999", rng, LETTERS)
    first = rng.choices("12", weights=(3, 1))[0]
    return first + _fill("-XXX-999", rng, LETTERS)


def dutch_plate(rng: random.Random, sidecode: int | None = None) -> str:
    if sidecode is None:
        sidecode = rng.choices(list(NL_SIDECODES), weights=NL_SIDECODE_WEIGHTS)[0]
    return _fill(NL_SIDECODES[sidecode], rng, NL_LETTERS)


def french_plate(rng: random.Random) -> str:
    number = rng.randint(1, 999)
    return f"{_fill('XX', rng, FR_LETTERS)}-{number:03d}-{_fill('XX', rng, FR_LETTERS)}"


def german_plate(rng: random.Random) -> str:
    district = rng.choice(DE_DISTRICTS)
    letters = _fill("X" * rng.randint(1, 2), rng, LETTERS)
    max_digits = min(4, 8 - len(district) - len(letters))
    number = rng.randint(1, 10**max_digits - 1)
    return f"{district}-{letters} {number}"


def luxembourg_plate(rng: random.Random) -> str:
    return _fill("XX 9999", rng, LETTERS)


def _belgian_any(rng: random.Random) -> str:
    return belgian_plate(rng, legacy=rng.random() < 0.06)


GENERATORS: dict[str, Callable[[random.Random], str]] = {
    "BE": _belgian_any,
    "NL": dutch_plate,
    "FR": french_plate,
    "DE": german_plate,
    "LU": luxembourg_plate,
}
COUNTRIES = tuple(GENERATORS)


def plate_for(country: str, rng: random.Random) -> str:
    """A plate of an ISO 3166-1 alpha-2 country (one of ``COUNTRIES``)."""
    return GENERATORS[country](rng)
