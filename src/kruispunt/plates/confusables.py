"""Characters OCR confuses, for fuzzy matching: a match on a variant is only a *possible* hit.

Inputs are normalised plates (A-Z0-9); other characters are left as they are.
"""

from __future__ import annotations

import itertools

CONFUSABLE_CLASSES: tuple[str, ...] = ("0ODQ", "1IL", "8B", "5S", "2Z", "6G")
"""Each class's first character is its representative in the confusable key."""

_KEY_TABLE = str.maketrans({ch: cls[0] for cls in CONFUSABLE_CLASSES for ch in cls})
_CLASS_OF = {ch: cls for cls in CONFUSABLE_CLASSES for ch in cls}


def confusable_key(plate: str) -> str:
    """The plate with every character replaced by its class representative ("OB5" -> "085").

    Two plates that differ only by confusable characters have the same key.
    """
    return plate.translate(_KEY_TABLE)


def is_confusable_match(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` differ, but only by confusable characters."""
    return a != b and len(a) == len(b) and confusable_key(a) == confusable_key(b)


def confusable_variants(plate: str, max_variants: int = 256) -> list[str]:
    """Every other plate with the same confusable key, at most ``max_variants`` of them.

    Deterministic order: one substitution first (left to right, class order), then two, and
    so on, so the cap keeps the likeliest OCR errors.
    """
    if max_variants < 0:
        raise ValueError("max_variants must be >= 0")
    positions = [i for i, ch in enumerate(plate) if ch in _CLASS_OF]
    out: list[str] = []
    for k in range(1, len(positions) + 1):
        for chosen in itertools.combinations(positions, k):
            others = [[c for c in _CLASS_OF[plate[i]] if c != plate[i]] for i in chosen]
            for replacement in itertools.product(*others):
                if len(out) >= max_variants:
                    return out
                chars = list(plate)
                for i, c in zip(chosen, replacement, strict=True):
                    chars[i] = c
                out.append("".join(chars))
    return out
