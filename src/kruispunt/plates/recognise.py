"""Recognise a plate: its normalised text, country and format, on the ingest hot path.

Country inference when the camera does not give one (the ambiguity rule):

1. Countries are tried in the priority order of COUNTRIES (Belgium first: this is a Belgian
   network, so a Belgian reading of an ambiguous plate is the likeliest).
2. Within a country, the matching rule with the strongest Inference wins (table order breaks
   ties). The same choice is made when the camera gives the country.
3. The first country, in priority order, whose best rule is STRONG is the answer.
4. Otherwise, if exactly one country has a WEAK match, that country is the answer.
5. Otherwise (no match, only NEVER rules, or WEAK matches in several countries) the plate is
   generic: country None, format None.

For example "ABC123" is Belgian (BE.old_1973, STRONG) although a German plate can normalise to
it (DE.standard, WEAK); "AB1234" is Luxembourgish (STRONG), not Dutch sidecode 1 (WEAK);
"12AB34" is generic (Dutch sidecode 3 and French FNI, both WEAK).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from kruispunt.plates.formats import FormatRule, Inference
from kruispunt.plates.rules import COUNTRIES, RULES
from kruispunt.plates.text import normalise

_CACHE_SIZE = 65536
_CACHEABLE_RAW = 64  # longer strings are absurd anyway; keep them out of the cache


@dataclass(frozen=True, slots=True)
class PlateInfo:
    plate: str
    """Normalised text: upper-case A-Z and 0-9 only (what matching uses)."""
    country: str | None
    """ISO alpha-2 code, or None when unknown."""
    country_inferred: bool
    """True when the country was inferred from the format rather than given."""
    format: str | None
    """Key of the matching FormatRule, or None when no known format matches."""
    display: str
    """Human display form ("1-ABC-123"); the normalised text for a generic plate."""


class _CountryMatcher:
    """All of one country's rules in one regex: one call finds the country's best rule.

    Each rule becomes a named alternative, strongest inference first; fullmatch takes the
    first alternative that matches in full, so ``lastgroup`` names the best rule.
    """

    __slots__ = ("_by_name", "_pattern")

    def __init__(self, rules: tuple[FormatRule, ...]) -> None:
        ordered = sorted(rules, key=lambda r: -r.inference)  # stable: table order in a tie
        parts: list[str] = []
        self._by_name: dict[str, tuple[FormatRule, int]] = {}
        group = 1
        for i, rule in enumerate(ordered):
            name = f"r{i}"
            parts.append(f"(?P<{name}>{rule.regex})")
            self._by_name[name] = (rule, group)  # rule's own groups follow its named group
            group += 1 + rule.pattern.groups
        self._pattern = re.compile("|".join(parts)) if parts else None

    def match(self, plate: str) -> tuple[FormatRule, str] | None:
        """The best rule matching ``plate`` and the plate's display form under it."""
        if self._pattern is None:
            return None
        m = self._pattern.fullmatch(plate)
        if m is None or m.lastgroup is None:
            return None
        rule, group = self._by_name[m.lastgroup]
        inner = m.groups()[group : group + rule.pattern.groups]
        return rule, rule.separator.join(filter(None, inner))


def _matchers(rules: tuple[FormatRule, ...]) -> dict[str, _CountryMatcher]:
    grouped: dict[str, list[FormatRule]] = {}
    for rule in rules:
        grouped.setdefault(rule.country, []).append(rule)
    return {country: _CountryMatcher(tuple(rs)) for country, rs in grouped.items()}


_BY_COUNTRY = _matchers(RULES)
_NO_RULES = _CountryMatcher(())
_PRIORITY = tuple(_BY_COUNTRY.get(c, _NO_RULES) for c in COUNTRIES)


def _infer(plate: str) -> tuple[FormatRule, str] | None:
    weak: tuple[FormatRule, str] | None = None
    weak_countries = 0
    for matcher in _PRIORITY:
        hit = matcher.match(plate)
        if hit is None:
            continue
        inference = hit[0].inference
        if inference is Inference.STRONG:
            return hit
        if inference is Inference.WEAK:
            weak = hit
            weak_countries += 1
    return weak if weak_countries == 1 else None


def _recognise(raw: str, country: str | None) -> PlateInfo:
    plate = normalise(raw)
    if country:
        country = country.upper()
        hit = _BY_COUNTRY.get(country, _NO_RULES).match(plate)
        if hit is None:
            return PlateInfo(plate, country, False, None, plate)
        return PlateInfo(plate, country, False, hit[0].key, hit[1])
    hit = _infer(plate)
    if hit is None:
        return PlateInfo(plate, None, False, None, plate)
    return PlateInfo(plate, hit[0].country, True, hit[0].key, hit[1])


_recognise_cached = functools.lru_cache(maxsize=_CACHE_SIZE)(_recognise)


def recognise(raw: str, country: str | None = None) -> PlateInfo:
    """Normalise ``raw`` and find its format.

    With ``country`` (a camera that says it; upper-cased, "" counts as None) the plate is
    validated against that country's formats only: format None when none matches, and the
    country is kept even when it is not supported. Without it, the country is inferred by
    the rule in this module's docstring. Results are cached: plates repeat a lot.
    """
    if len(raw) > _CACHEABLE_RAW:
        return _recognise(raw, country)
    return _recognise_cached(raw, country)
