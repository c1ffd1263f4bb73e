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

A swap or a drop must be backed by the recogniser's own evidence: swapping a character costs
0.85 where the recogniser hesitated on it (its second choice had some probability, and the
swap is to that second choice or the character itself was unsure), and is not made at all
where it was sure (a Czech ``5AU5341`` is not bent into a Belgian ``5AUS341``, nor the word
``POLICE`` into a Dutch ``P01ICE``). Dropping a stray first or last character costs 0.92
where the recogniser was unsure of it, 0.5 where it was sure (band codes: 0.92 a letter).

Dropped characters are tried only when the whole read has no valid form: a reading that
explains every character wins. Among the valid forms the best score wins: OCR confidence x
the strength of the format (STRONG 1, WEAK 0.85; a NEVER-only match is not a plate) x the
swap and drop factors. A plate-shaped read (5-8 letters and digits, at least one of each)
that no format matches as it is is reported unvalidated (no country, no format, 0.6 x its
confidence) when that beats every valid form: a plate of a country not supported, read
right. Any other read with no valid form is kept only when asked
(``require_format=False``), its confidence halved. (The EU band itself is cut off before, by
position: ``locate.band_end``.)
"""

from __future__ import annotations

from dataclasses import dataclass

from kruispunt.plates import Inference, PlateInfo, check, confusable_variants, recognise
from kruispunt.plates.rules import format_rules
from kruispunt.reader.ocr import CharRead, TextRead

BAND_CODES = ("NL", "B", "F", "D", "L")
MAX_VARIANTS = 96
SWAP_FACTOR = 0.85
"""Per swapped character where the recogniser was unsure of it (see ``_swap_factor``)."""
CONFIDENT_SWAP_FACTOR = 0.0
"""Per swapped character the recogniser was sure of: a confident read is not bent into a
format (a Czech ``5AU5341`` must not become a Belgian ``5AUS341``)."""
DROP_FACTOR = 0.92
CONFIDENT_DROP_FACTOR = 0.5
"""Per stray character dropped that the recogniser was sure of (band codes excepted)."""
UNSURE_PROB = 0.9
"""Below this probability the recogniser was unsure of a character."""
ALT_PROB = 0.02
"""From this probability the recogniser's second choice counts as a real alternative."""
UNVALIDATED_FACTOR = 0.5
PLATE_SHAPED_FACTOR = 0.6
"""Confidence kept for a plate-shaped read no supported format matches (a foreign plate)."""
MIN_UNVALIDATED_LENGTH = 4
PLATE_SHAPED_LENGTH = (5, 8)
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


def _unsure(c: CharRead) -> bool:
    return c.prob < UNSURE_PROB


def _swap_factor(c: CharRead, to: str) -> float:
    """What swapping the read character for ``to`` costs: cheap where the recogniser
    hesitated (its second choice was a real one) and ``to`` is that second choice or the
    character itself was unsure; else a confident read would be overruled."""
    if c.alt_prob >= ALT_PROB and (c.alt == to or _unsure(c)):
        return SWAP_FACTOR
    return CONFIDENT_SWAP_FACTOR


def _bases(kept: tuple[CharRead, ...]) -> list[tuple[tuple[CharRead, ...], float]]:
    """(characters, factor for the ones dropped) to try, the whole read first."""
    chars = "".join(c.char for c in kept)
    out = [(kept, 1.0)]
    for code in BAND_CODES:
        if chars.startswith(code) and len(chars) - len(code) >= 4:
            out.append((kept[len(code) :], DROP_FACTOR ** len(code)))
    if len(chars) >= 6:
        for rest, gone in ((kept[1:], kept[0]), (kept[:-1], kept[-1])):
            out.append((rest, DROP_FACTOR if _unsure(gone) else CONFIDENT_DROP_FACTOR))
    unique: dict[str, tuple[tuple[CharRead, ...], float]] = {}
    for base in out:
        text = "".join(c.char for c in base[0])
        if text not in unique or unique[text][1] < base[1]:
            unique[text] = base
    return list(unique.values())


def _variants(text: str, alts: str) -> list[str]:
    """The text, each single swap for the OCR's second choice, then confusable swaps."""
    singles = [text[:i] + a + text[i + 1 :] for i, a in enumerate(alts) if a != text[i]]
    return [text, *singles, *confusable_variants(text, MAX_VARIANTS)]


def _swaps(a: str, b: str) -> int:
    return sum(x != y for x, y in zip(a, b, strict=True))


def _evidence(chars: tuple[CharRead, ...], variant: str) -> float:
    """The product of the swap factors from the read to ``variant``."""
    factor = 1.0
    for c, v in zip(chars, variant, strict=True):
        if c.char != v:
            factor *= _swap_factor(c, v)
    return factor


def plate_shaped(text: str) -> bool:
    """5-8 letters and digits, at least one of each: a plate of a country not supported."""
    low, high = PLATE_SHAPED_LENGTH
    return (
        low <= len(text) <= high
        and text.isalnum()
        and any(c.isdigit() for c in text)
        and any(c.isalpha() for c in text)
    )


def interpret(
    read: TextRead, *, country: str | None = None, require_format: bool = True
) -> PlateText | None:
    """The likeliest plate in ``read``, or None when none of its forms is a plate."""
    kept = tuple(c for c in read.chars if c.char.isalnum())
    chars = "".join(c.char for c in kept)
    if not chars:
        return None
    best: tuple[float, PlateInfo] | None = None
    for base, factor in sorted(_bases(kept), key=lambda b: b[1] < 1.0):
        if factor < 1.0 and best is not None:
            break  # a reading that explains every character beats one that drops some
        text = "".join(c.char for c in base)
        # Where the second choice is a separator, the character itself: no swap there.
        alts = "".join(c.alt if c.alt.isalnum() else c.char for c in base)
        for variant in _variants(text, alts):
            bound = read.confidence * factor * SWAP_FACTOR ** _swaps(text, variant)
            if best is not None and bound <= best[0]:
                break  # variants come fewest swaps first: none left can win
            evidence = _evidence(base, variant)
            if evidence == 0.0:
                continue
            info = recognise(variant, country)
            weight = _weight(info)
            if weight == 0.0:
                continue
            score = read.confidence * weight * factor * evidence
            if best is None or score > best[0]:
                best = (score, info)
    # A plate-shaped read as it is, of a country no format covers, rather than one bent
    # into a format against the recogniser's own evidence.
    if country is None and plate_shaped(chars) and check(chars) is None:
        shaped = read.confidence * PLATE_SHAPED_FACTOR
        if best is None or shaped > best[0]:
            info = recognise(chars)
            return PlateText(info.plate, None, info.display, None, shaped, read.text)
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
