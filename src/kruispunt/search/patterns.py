"""Plates and partial plates as searches, and how the plate index answers them (pure).

A search plate is written as people write plates (``1-AB?-12*``): separators are dropped,
letters upper-cased, ``?`` stands for exactly one unknown character and ``*`` for any run of
them (none included). ``parse_pattern`` turns it into a ``PlatePattern`` or refuses it with a
clear message (``SearchInvalid``).

``plan_for`` says how the plate index ``(plate, captured_us)`` answers it:

- an exact plate: equality on the index (with confusable tolerance, every variant that differs
  only by characters OCR confuses, 0/O/D/Q, 1/I/L, 2/Z, 5/S, 6/G, 8/B, as long as they are few);
- a pattern with known leading characters: a range scan per prefix (``1AB`` reads the plates
  from ``1AB`` up to ``1AC``), then the pattern as a residual ``LIKE`` on the plate (or on its
  confusable key);
- a pattern that starts with a wildcard: no plate range can answer it; the store scans by
  camera and time instead, which the caller must keep within its caps.

Every expansion is bounded (``max_variants``): a confusable prefix with more variants than
that is shortened, never exploded.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass

from kruispunt.plates.confusables import CONFUSABLE_CLASSES, confusable_key
from kruispunt.search.errors import SearchInvalid

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
"""Plate characters in index (byte) order."""
WILDCARDS = frozenset("?*")
SEPARATORS = frozenset(" -.·")
MAX_RAW = 32
MAX_POSITIONS = 12
"""Longest plate (``kruispunt.plates.text.MAX_LENGTH``): a pattern needs no more."""
MIN_KNOWN = 2
"""Known characters a pattern needs whatever approval it has: one character scans half of
every plate ever read."""
MAX_WILDCARDS = 8
MAX_EXACT_VARIANTS = 64
"""Confusable variants of an exact plate probed one by one; more: prefix ranges + key."""

_CLASS_OF = {ch: cls for cls in CONFUSABLE_CLASSES for ch in cls}
_KEY_SQL_PAIRS = tuple((ch, cls[0]) for cls in CONFUSABLE_CLASSES for ch in cls[1:])


def key_sql(column: str = "plate") -> str:
    """SQL (both engines) for the confusable key of ``column``: ``confusable_key`` as nested
    ``replace`` calls (SQLite has no ``translate``)."""
    expr = column
    for ch, rep in _KEY_SQL_PAIRS:
        expr = f"replace({expr}, '{ch}', '{rep}')"
    return expr


@dataclass(frozen=True, slots=True)
class PlatePattern:
    """A normalised plate (A-Z0-9) or partial plate (with ``?`` and ``*``)."""

    text: str

    @property
    def wildcard(self) -> bool:
        return any(c in WILDCARDS for c in self.text)

    @property
    def prefix(self) -> str:
        """The known characters before the first wildcard (the whole plate when exact)."""
        for i, c in enumerate(self.text):
            if c in WILDCARDS:
                return self.text[:i]
        return self.text

    @property
    def known(self) -> int:
        return sum(c not in WILDCARDS for c in self.text)

    @property
    def like(self) -> str:
        """The pattern as SQL ``LIKE`` (plates hold neither ``_`` nor ``%``)."""
        return self.text.replace("?", "_").replace("*", "%")

    @property
    def key_like(self) -> str:
        """``like`` over confusable keys: matches every plate a confusable variant matches."""
        return confusable_key(self.text).replace("?", "_").replace("*", "%")

    def regex(self, *, confusable: bool = False) -> re.Pattern[str]:
        parts = []
        for c in self.text:
            if c == "?":
                parts.append("[A-Z0-9]")
            elif c == "*":
                parts.append("[A-Z0-9]*")
            elif confusable and c in _CLASS_OF:
                parts.append(f"[{_CLASS_OF[c]}]")
            else:
                parts.append(c)
        return re.compile("".join(parts))

    def matches(self, plate: str, *, confusable: bool = False) -> bool:
        return self.regex(confusable=confusable).fullmatch(plate) is not None


def parse_pattern(raw: str) -> PlatePattern:
    """The search plate ``raw`` normalised, or ``SearchInvalid`` saying what is wrong."""
    if len(raw) > MAX_RAW:
        raise SearchInvalid(f"plate: at most {MAX_RAW} characters", "invalid_pattern")
    chars: list[str] = []
    for ch in raw.strip().upper():
        if ch in SEPARATORS:
            continue
        if ch in WILDCARDS or (ch.isascii() and ch.isalnum()):
            if ch == "*" and chars and chars[-1] == "*":
                continue  # '**' is '*'
            chars.append(ch)
            continue
        raise SearchInvalid(
            f"plate: {ch!r} is not a plate character; use A-Z, 0-9, '?' for one unknown "
            "character and '*' for any run of them",
            "invalid_pattern",
        )
    text = "".join(chars)
    pattern = PlatePattern(text)
    if not text:
        raise SearchInvalid("plate: empty", "invalid_pattern")
    if pattern.known < MIN_KNOWN:
        raise SearchInvalid(
            f"plate: at least {MIN_KNOWN} known characters (not wildcards)", "invalid_pattern"
        )
    if len(text.replace("*", "")) > MAX_POSITIONS:
        raise SearchInvalid(f"plate: at most {MAX_POSITIONS} characters", "invalid_pattern")
    if sum(c in WILDCARDS for c in text) > MAX_WILDCARDS:
        raise SearchInvalid(f"plate: at most {MAX_WILDCARDS} wildcards", "invalid_pattern")
    return pattern


def successor(prefix: str) -> str | None:
    """The smallest plate text above every plate that starts with ``prefix`` and stays in
    the plate alphabet (a collation-safe upper bound); None when there is none (``ZZZ``)."""
    chars = list(prefix)
    while chars:
        i = ALPHABET.find(chars[-1])
        if 0 <= i < len(ALPHABET) - 1:
            chars[-1] = ALPHABET[i + 1]
            return "".join(chars)
        chars.pop()
    return None


def prefix_variants(prefix: str, max_variants: int) -> list[str]:
    """The prefixes that cover ``prefix`` and its confusable variants, at most
    ``max_variants``: the longest leading part whose variants fit, all of its variants."""
    sizes = [len(_CLASS_OF.get(c, c)) for c in prefix]
    k = len(prefix)
    while k > 0 and math.prod(sizes[:k]) > max_variants:
        k -= 1
    if k == 0:
        return []
    choices = [_CLASS_OF.get(c, c) for c in prefix[:k]]
    return ["".join(v) for v in itertools.product(*choices)]


@dataclass(frozen=True, slots=True)
class PlatePlan:
    """How the plate index answers a search (see the module docstring)."""

    equals: tuple[str, ...] = ()
    """Exact plates: one index probe each."""
    ranges: tuple[tuple[str, str | None], ...] = ()
    """Prefix ranges ``[lo, hi)`` on the plate (hi None: no upper bound)."""
    like: str | None = None
    """Residual ``plate LIKE`` filter."""
    key_like: str | None = None
    """Residual ``LIKE`` on the plate's confusable key."""

    @property
    def time_scan(self) -> bool:
        """No plate range answers it: scan by camera and time."""
        return not (self.equals or self.ranges)


def plan_for(pattern: PlatePattern, *, confusable: bool, max_variants: int = 32) -> PlatePlan:
    """The index plan for ``pattern`` (confusable: tolerate OCR-confusable characters)."""
    if not pattern.wildcard and not confusable:
        return PlatePlan(equals=(pattern.text,))
    if not pattern.wildcard:
        variants = exact_variants(pattern.text, MAX_EXACT_VARIANTS)
        if variants is not None:
            return PlatePlan(equals=tuple(variants))
    prefixes = prefix_variants(pattern.prefix, max_variants) if confusable else [pattern.prefix]
    ranges = tuple((p, successor(p)) for p in prefixes if p)
    if confusable:
        return PlatePlan(ranges=ranges, key_like=pattern.key_like)
    return PlatePlan(ranges=ranges, like=pattern.like)


def exact_variants(plate: str, limit: int) -> list[str] | None:
    """``plate`` and every confusable variant of it, or None when there are more than
    ``limit`` (the caller then scans a prefix range with the confusable key)."""
    count = math.prod(len(_CLASS_OF.get(c, c)) for c in plate)
    if count > limit:
        return None
    return ["".join(v) for v in itertools.product(*(_CLASS_OF.get(c, c) for c in plate))]


def match_kind(pattern: PlatePattern, plate: str) -> str:
    """How a read's plate matched: ``exact``, ``pattern`` (a wildcard matched) or
    ``confusable`` (only through confusable characters: check the image)."""
    if plate == pattern.text:
        return "exact"
    if pattern.wildcard and pattern.matches(plate):
        return "pattern"
    return "confusable"
