"""OCR misreads as real readers make them, and the confidence they report."""

from __future__ import annotations

import random

# Characters that plate readers confuse (both directions).
CONFUSABLE: dict[str, str] = {
    "0": "ODQ",
    "O": "0DQ",
    "D": "0O",
    "Q": "0O",
    "1": "IL",
    "I": "1L",
    "L": "1I",
    "8": "B",
    "B": "8",
    "5": "S",
    "S": "5",
    "2": "Z",
    "Z": "2",
    "6": "G",
    "G": "6",
}
DROP_SHARE = 0.2  # of misreads, the share that loses a character instead


def misread(plate: str, rng: random.Random) -> str:
    """The plate with one confusable substitution, or with one character dropped.

    Always differs from ``plate`` in its letters and digits.
    """
    positions = [i for i, ch in enumerate(plate) if ch in CONFUSABLE]
    if positions and rng.random() >= DROP_SHARE:
        i = rng.choice(positions)
        return plate[:i] + rng.choice(CONFUSABLE[plate[i]]) + plate[i + 1 :]
    alnum = [i for i, ch in enumerate(plate) if ch.isalnum()]
    i = rng.choice(alnum)
    return plate[:i] + plate[i + 1 :]


def confidence(rng: random.Random, *, misread: bool) -> float:
    """Reader confidence in [0, 1]: misreads are reported with lower confidence."""
    if misread:
        return round(rng.uniform(0.35, 0.78), 3)
    return round(min(0.999, max(0.6, rng.gauss(0.93, 0.035))), 3)
