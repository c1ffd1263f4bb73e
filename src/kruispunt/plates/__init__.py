"""Plates: pure functions on plate text. No I/O, no framework.

- ``normalise``/``check``: the matching form of a plate, and whether a string is absurd.
- ``recognise``: normalised text, country and format (the format table is data: ``rules``).
- ``confusable_*``: OCR-confusable characters for fuzzy (possible) hits.
"""

from kruispunt.plates.confusables import (
    CONFUSABLE_CLASSES,
    confusable_key,
    confusable_variants,
    is_confusable_match,
)
from kruispunt.plates.formats import FormatRule, Inference
from kruispunt.plates.recognise import PlateInfo, recognise
from kruispunt.plates.rules import COUNTRIES, format_rules
from kruispunt.plates.text import PlateProblem, check, normalise

__all__ = [
    "CONFUSABLE_CLASSES",
    "COUNTRIES",
    "FormatRule",
    "Inference",
    "PlateInfo",
    "PlateProblem",
    "check",
    "confusable_key",
    "confusable_variants",
    "format_rules",
    "is_confusable_match",
    "normalise",
    "recognise",
]
