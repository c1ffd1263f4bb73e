"""The format rule record and how strongly a match on it points at a country."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field


class Inference(enum.IntEnum):
    """How much a match on a rule says about the country when the camera did not say it.

    STRONG: a current, distinctive format; the country is inferred from it (ties between
    countries go to the priority order, Belgium first).
    WEAK: a historic or very broad format; the country is inferred only when no STRONG rule
    matches and no other country has a WEAK match too.
    NEVER: too generic (a bare number); used only to validate a plate whose country is given.
    """

    NEVER = 0
    WEAK = 1
    STRONG = 2


@dataclass(frozen=True, slots=True)
class FormatRule:
    """One plate format, as data.

    ``regex`` applies to the normalised text (A-Z0-9 only) and must match it in full; its
    capture groups are the plate's printed groups. Alternatives may leave groups empty: the
    display form joins the groups that matched with ``separator``.
    """

    key: str
    country: str
    regex: str
    separator: str
    inference: Inference
    example: str
    """A real-looking plate in display form (used by the tests)."""
    description: str
    source: str
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", re.compile(self.regex))
        if not self.key.startswith(self.country + "."):
            raise ValueError(f"rule key {self.key!r} does not start with {self.country!r}.")

    def display(self, plate: str) -> str | None:
        """The display form of a normalised plate, or None when this rule does not match it."""
        m = self.pattern.fullmatch(plate)
        if m is None:
            return None
        return self.separator.join(filter(None, m.groups()))
