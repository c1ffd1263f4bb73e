"""What every consultation must state: a purpose, a case number and a reason (pure).

``Purpose`` enumerates the purposes the three laws we model tell apart. The names are generic;
each jurisdiction profile says in its ``purpose_notes`` what a purpose means in its own law, and
its tiers list which purposes they allow:

- ``administrative_police``: public order and prevention (Belgian *bestuurlijke politie*,
  allowed only in the first month; UK prevention of crime). Not a ground in the Netherlands.
- ``judicial_police``: investigation and prosecution of offences (Belgian *gerechtelijke
  politie*, the only ground after the first month; UK investigation). The Dutch law admits only
  crimes of art. 67(1) Sv, so there it is not enough on its own.
- ``serious_crime``: a serious crime (Dutch art. 67(1) Sv crime; UK "major and serious
  investigations", the only ground beyond 90 days). In Belgium a judicial-police mission.
- ``traffic_enforcement``: road-traffic offences (Belgium: a judicial-police mission under
  art. 62 of the Road Traffic Act).
- ``missing_person``: a missing person in danger (named by the Belgian law).
- ``fugitive_arrest``: arrest of a fugitive, execution of sentences (Dutch art. 564 Sv; named
  by the Belgian law).

Deliberately absent: statistics, mobility and low-emission-zone purposes. Municipalities may not
consult the police ANPR data for them; they receive anonymised aggregates through the
kruispuntbank instead (DOMAIN.md, VVSG position), which is not a consultation of reads.

Case numbers are checked against the formats the profile lists (data, with the source of each
format); reasons against ``ReasonRules`` (data too), which refuse reasons that say nothing.
"""

from __future__ import annotations

import enum
import functools
import re
import unicodedata
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from kruispunt.law.profiles import JurisdictionProfile


class Purpose(enum.StrEnum):
    """The purpose of a consultation (see the module docstring for what each one covers)."""

    ADMINISTRATIVE_POLICE = "administrative_police"
    JUDICIAL_POLICE = "judicial_police"
    SERIOUS_CRIME = "serious_crime"
    TRAFFIC_ENFORCEMENT = "traffic_enforcement"
    MISSING_PERSON = "missing_person"
    FUGITIVE_ARREST = "fugitive_arrest"


@functools.cache
def _compiled(regex: str) -> re.Pattern[str]:
    return re.compile(regex)


def _prepare(text: str) -> str:
    """Upper case, runs of white space collapsed to one space, ends trimmed."""
    return " ".join(text.upper().split())


class CaseFormat(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One case-number format, as data.

    ``regex`` must match the whole prepared input (upper case, single spaces); its named groups
    are joined by ``parts``, a list of (prefix, group) pairs, into the normalised number; a pair
    whose group did not match is left out. ``zero_pad`` pads numeric groups to a width;
    ``year_groups`` turn a two-digit year into 20YY and must lie in [min_year, now_year].
    ``examples`` must be accepted and ``near_misses`` refused: the loader checks both.
    """

    key: str
    description: str
    regex: str
    parts: tuple[tuple[str, str], ...]
    examples: tuple[str, ...]
    near_misses: tuple[str, ...] = ()
    zero_pad: dict[str, int] = {}
    year_groups: tuple[str, ...] = ()
    min_year: int = 2000
    source: str

    def __post_init__(self) -> None:
        try:
            pattern = _compiled(self.regex)
        except re.error as exc:
            raise ValueError(f"case format {self.key!r}: bad regex: {exc}") from exc
        groups = set(pattern.groupindex)
        named = {g for _, g in self.parts} | set(self.zero_pad) | set(self.year_groups)
        if missing := sorted(named - groups):
            raise ValueError(f"case format {self.key!r}: regex has no group {missing}")
        if not self.examples:
            raise ValueError(f"case format {self.key!r}: give at least one real example")
        for example in self.examples:
            if self.normalise(example) is None:
                raise ValueError(f"case format {self.key!r} refuses its own example {example!r}")
        for miss in self.near_misses:
            if self.normalise(miss) is not None:
                raise ValueError(f"case format {self.key!r} accepts its near-miss {miss!r}")

    def normalise(self, text: str, *, now_year: int | None = None) -> str | None:
        """The normalised case number, or None when ``text`` is not in this format."""
        m = _compiled(self.regex).fullmatch(_prepare(text))
        if m is None:
            return None
        values: dict[str, str] = {}
        for name, value in m.groupdict().items():
            if value is None:
                continue
            if name in self.year_groups:
                year = int(value) + (2000 if len(value) == 2 else 0)
                if year < self.min_year or (now_year is not None and year > now_year):
                    return None
                value = str(year)
            if name in self.zero_pad:
                value = value.zfill(self.zero_pad[name])
            values[name] = value
        return "".join(prefix + values[g] for prefix, g in self.parts if g in values)


def validate_case(
    profile: JurisdictionProfile, case: str, *, now_year: int | None = None
) -> str | None:
    """The case number normalised by the first of the profile's formats that accepts it, or None.

    ``now_year`` (the current year) also refuses case numbers dated in the future.
    """
    for fmt in profile.case_formats:
        normalised = fmt.normalise(case, now_year=now_year)
        if normalised is not None:
            return normalised
    return None


def case_help(profile: JurisdictionProfile) -> str:
    """The message for a refused case number: the formats the profile accepts."""
    accepted = "; or ".join(f.description for f in profile.case_formats)
    return f"not a case number of {profile.name}: expected {accepted}"


# --- reasons -----------------------------------------------------------------------------------


def fold(text: str) -> str:
    """Lower case without accents ("Enquête" -> "enquete"), for comparing words."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_TOKEN = re.compile(r"[a-z0-9]+")


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(fold(text))


class ReasonRules(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """When a free-text reason is too thin to justify a consultation (data, see the TOML file).

    Words in the lists are written folded (lower case, no accents), as ``fold`` writes them.
    """

    min_chars: int = 20
    min_words: int = 4
    max_repeat_run: int = 4
    min_distinct_ratio: float = 0.5
    min_content_words: int = 2
    """Words left after removing vague words, filler words, phrases and codes."""
    vague_phrases: tuple[str, ...] = ()
    filler_words: frozenset[str] = frozenset()
    vague_words: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if min(self.min_chars, self.min_words, self.max_repeat_run) < 1:
            raise ValueError("reasons: min_chars, min_words and max_repeat_run must be >= 1")
        if self.min_content_words < 0:
            raise ValueError("reasons: min_content_words must be >= 0")
        if not 0.0 <= self.min_distinct_ratio <= 1.0:
            raise ValueError("reasons: min_distinct_ratio must lie in [0, 1]")
        for word in self.filler_words | self.vague_words:
            if _tokens(word) != [word]:
                raise ValueError(f"reasons: write {word!r} folded, as one word ({fold(word)!r})")


def _longest_run(text: str) -> tuple[str, int]:
    best, best_len, prev, run = "", 0, "", 0
    for c in text:
        run = run + 1 if c == prev else 1
        prev = c
        if run > best_len and not c.isspace():
            best, best_len = c, run
    return best, best_len


def _is_code(chunk: str) -> bool:
    """Numbers, dates, case numbers, plate parts and short capitals ("AN.12...", "ABC", "PV"):
    they say nothing the case number and the query do not already say."""
    letters = [c for c in chunk if c.isalpha()]
    return any(c.isdigit() for c in chunk) or (0 < len(letters) <= 3 and chunk.isupper())


def _strip_phrases(tokens: list[str], phrases: tuple[str, ...]) -> list[str]:
    joined = f" {' '.join(tokens)} "
    for phrase in phrases:
        words = _tokens(phrase)
        if words:
            joined = joined.replace(f" {' '.join(words)} ", " ")
    return joined.split()


def validate_reason(text: str, rules: ReasonRules | None = None) -> list[str]:
    """The problems with a free-text reason; an empty list when it is acceptable.

    ``rules`` defaults to the ``[reasons]`` table of the packaged jurisdictions file.
    """
    if rules is None:
        from kruispunt.law.profiles import reason_rules  # the loader imports this module

        rules = reason_rules()
    clean = " ".join(text.split())
    if not clean:
        return ["the reason is empty"]
    problems: list[str] = []
    if len(clean) < rules.min_chars:
        problems.append(
            f"the reason is too short: {len(clean)} characters, at least {rules.min_chars}"
        )
    tokens = _tokens(clean)
    words = [t for t in tokens if any(c.isalpha() for c in t)]
    if len(words) < rules.min_words:
        plural = "" if len(words) == 1 else "s"
        problems.append(f"the reason has {len(words)} word{plural}, at least {rules.min_words}")
    char, run = _longest_run(clean)
    if run > rules.max_repeat_run:
        problems.append(f"the reason repeats {char!r} {run} times in a row")
    if len(words) >= 4 and len(set(words)) / len(words) < rules.min_distinct_ratio:
        problems.append("the reason repeats the same words")
    if words:
        plain = " ".join(chunk for chunk in clean.split() if not _is_code(chunk))
        rest = _strip_phrases(_tokens(plain), rules.vague_phrases)
        content = [
            t
            for t in rest
            if len(t) > 1
            and t.isalpha()
            and t not in rules.filler_words
            and t not in rules.vague_words
        ]
        if len(content) < rules.min_content_words:
            said = " ".join(sorted({t for t in words if t in rules.vague_words})) or clean[:40]
            problems.append(
                f"the reason is vague ({said}): say what happened, where and when, and why "
                "these reads are needed"
            )
    return problems
