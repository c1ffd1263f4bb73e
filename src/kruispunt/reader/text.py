"""From the characters the OCR read in a candidate to a plate: normalise, correct, validate.

The plate module (``kruispunt.plates``) decides what a valid plate is and infers its
country; nothing here duplicates it. This module only proposes texts to it:

- the read as it is, separators dropped;
- without a leading EU-band code (``B``, ``NL``, ``F``, ``D``, ``L``) or a stray first or
  last character (a star of the band, a screw, the border), which the OCR often reads with
  the plate;
- with OCR-confusable characters swapped (``0``/``O``/``D``/``Q``, ``1``/``I``/``L``, ``8``/``B``
  ... the plate module's classes, fewest swaps first) and with the OCR's own second choice
  at one position.

Dropped characters are tried only when the whole read has no valid form: a reading that
explains every character wins. Among the valid forms the best score wins: OCR confidence x
the strength of the format (STRONG 1, WEAK 0.85; a NEVER-only match is not a plate) x 0.85
per swapped character x 0.92 per dropped one. A read with no valid form is kept only when
asked (``require_format=False``), its confidence halved. (The EU band itself is cut off
before, by position: ``locate.band_end``.)
"""

from __future__ import annotations

from dataclasses import dataclass

from kruispunt.plates import Inference, PlateInfo, check, confusable_variants, recognise
from kruispunt.plates.rules import format_rules
from kruispunt.reader.ocr import TextRead

BAND_CODES = ("NL", "B", "F", "D", "L")
MAX_VARIANTS = 96
SWAP_FACTOR = 0.85
DROP_FACTOR = 0.92
UNVALIDATED_FACTOR = 0.5
MIN_UNVALIDATED_LENGTH = 4
_WEIGHT = {Inference.STRONG: 1.0, Inference.WEAK: 0.85}
_INFERENCE = {rule.key: rule.inference for rule in format_rules()}


@dataclass(frozen=True, slots=True)
class PlateText:
    plate: str
    """Normalised (A-Z0-9)."""
    country: str | None
    display: str
    format: str | None
    """The plate module's rule key; None for an unvalidated read."""
    confidence: float
    raw: str
    """What the OCR read."""


def _weight(info: PlateInfo) -> float:
    if info.format is None:
        return 0.0
    return _WEIGHT.get(_INFERENCE[info.format], 0.0)


def _bases(chars: str, alts: str) -> list[tuple[str, str, int]]:
    """(text, per-position OCR alternatives, characters dropped) to try, most likely first."""
    out = [(chars, alts, 0)]
    for code in BAND_CODES:
        if chars.startswith(code) and len(chars) - len(code) >= 4:
            out.append((chars[len(code) :], alts[len(code) :], len(code)))
    if len(chars) >= 6:
        out.append((chars[1:], alts[1:], 1))
        out.append((chars[:-1], alts[:-1], 1))
    unique: dict[str, tuple[str, str, int]] = {}
    for base in out:
        unique.setdefault(base[0], base)
    return list(unique.values())


def _variants(text: str, alts: str) -> list[str]:
    """The text, each single swap for the OCR's second choice, then confusable swaps."""
    singles = [text[:i] + a + text[i + 1 :] for i, a in enumerate(alts) if a != text[i]]
    return [text, *singles, *confusable_variants(text, MAX_VARIANTS)]


def _swaps(a: str, b: str) -> int:
    return sum(x != y for x, y in zip(a, b, strict=True))


def interpret(
    read: TextRead, *, country: str | None = None, require_format: bool = True
) -> PlateText | None:
    """The likeliest plate in ``read``, or None when none of its forms is a plate."""
    kept = [c for c in read.chars if c.char.isalnum()]
    chars = "".join(c.char for c in kept)
    # Where the second choice is a separator, the character itself: no swap there.
    alts = "".join(c.alt if c.alt.isalnum() else c.char for c in kept)
    if not chars:
        return None
    best: tuple[float, PlateInfo] | None = None
    for text, text_alts, dropped in _bases(chars, alts):
        if dropped and best is not None:
            break  # a reading that explains every character beats one that drops some
        factor = DROP_FACTOR**dropped
        for variant in _variants(text, text_alts):
            bound = read.confidence * factor * SWAP_FACTOR ** _swaps(text, variant)
            if best is not None and bound <= best[0]:
                break  # variants come fewest swaps first: none left can win
            info = recognise(variant, country)
            weight = _weight(info)
            if weight == 0.0:
                continue
            score = read.confidence * weight * factor * SWAP_FACTOR ** _swaps(text, variant)
            if best is None or score > best[0]:
                best = (score, info)
    if best is not None:
        score, info = best
        return PlateText(info.plate, info.country, info.display, info.format, score, read.text)
    if require_format or len(chars) < MIN_UNVALIDATED_LENGTH or check(chars) is not None:
        return None
    info = recognise(chars, country)
    return PlateText(
        info.plate, info.country, info.display, None,
        read.confidence * UNVALIDATED_FACTOR, read.text,
    )  # fmt: skip
