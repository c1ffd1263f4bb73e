"""normalise() and check(): the matching form of a plate and the absurd-string filter."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kruispunt.plates import PlateProblem, check, normalise

PLATE_CHARS = st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
SEPARATOR = st.sampled_from([" ", "-", ".", "·"])


@given(st.text(max_size=40))
def test_normalise_is_idempotent(raw: str) -> None:
    once = normalise(raw)
    assert normalise(once) == once


@given(st.text(max_size=40))
def test_normalise_keeps_only_ascii_upper_letters_and_digits(raw: str) -> None:
    assert re.fullmatch(r"[A-Z0-9]*", normalise(raw))


@given(st.lists(st.tuples(PLATE_CHARS, st.lists(SEPARATOR, max_size=2)), max_size=10))
def test_normalise_drops_separators_and_case(parts: list[tuple[str, list[str]]]) -> None:
    bare = "".join(ch for ch, _ in parts)
    spaced = "".join(ch.lower() + "".join(seps) for ch, seps in parts)
    assert normalise(spaced) == bare


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1-abc-123", "1ABC123"),
        ("TÖL-AB 123", "TOLAB123"),  # German district with an umlaut
        ("TO\u0308L AB 12", "TOLAB12"),  # the same umlaut, decomposed
        ("BÜS·AB.12", "BUSAB12"),
        ("ÄÉÑ 1", "AEN1"),
        ("AB-123-CD\n", "AB123CD"),
        ("АВ123", "123"),  # Cyrillic look-alikes are not Latin letters: dropped
        ("", ""),
    ],
)
def test_normalise_examples(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


@given(st.lists(st.tuples(PLATE_CHARS, st.lists(SEPARATOR, max_size=1)), min_size=2, max_size=12))
def test_check_accepts_plausible_plate_texts(parts: list[tuple[str, list[str]]]) -> None:
    raw = "".join(ch + "".join(seps) for ch, seps in parts)
    assert len(raw) <= 32
    assert check(raw) is None


@pytest.mark.parametrize(
    "raw", ["1-ABC-123", "ab 1234", "TÖL-AB 123", "AB·12·34", "12", "ABCDEFGHIJKL"]
)
def test_check_accepts_examples(raw: str) -> None:
    assert check(raw) is None


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("", PlateProblem.EMPTY),
        ("   ", PlateProblem.EMPTY),
        ("-.-·", PlateProblem.EMPTY),
        ("A", PlateProblem.TOO_SHORT),
        ("-7-", PlateProblem.TOO_SHORT),
        ("ABCDEFGHIJKLM", PlateProblem.TOO_LONG),  # 13 characters normalised
        ("A" * 40, PlateProblem.TOO_LONG),
        ("1-ABC-123" + " " * 30, PlateProblem.TOO_LONG),  # raw longer than 32
        ("🚗🚗🚗", PlateProblem.INVALID_CHARACTERS),
        ("1-ABC-12🚓", PlateProblem.INVALID_CHARACTERS),
        ("'; DROP TABLE reads;--", PlateProblem.INVALID_CHARACTERS),
        ("1' OR '1'='1", PlateProblem.INVALID_CHARACTERS),
        ("ABC\x00123", PlateProblem.INVALID_CHARACTERS),
        ("ABC\t123", PlateProblem.INVALID_CHARACTERS),
        ("ABC\n123", PlateProblem.INVALID_CHARACTERS),
        ("<script>", PlateProblem.INVALID_CHARACTERS),
        ("AB?123", PlateProblem.INVALID_CHARACTERS),
        ("АВС123", PlateProblem.INVALID_CHARACTERS),  # Cyrillic
        ("١٢٣ABC", PlateProblem.INVALID_CHARACTERS),  # Arabic-Indic digits
    ],
)
def test_check_flags_absurd_strings(raw: str, problem: PlateProblem) -> None:
    assert check(raw) is problem


@given(
    st.text(min_size=1, max_size=10),
    st.characters(categories=["Cc", "So", "Sm", "Cs", "Co"]),
    st.text(max_size=10),
)
def test_check_flags_any_control_character_or_symbol(before: str, bad: str, after: str) -> None:
    assert check(before + bad + after) is not None


@given(st.text(max_size=60))
def test_check_never_passes_what_normalises_to_an_implausible_length(raw: str) -> None:
    if check(raw) is None:
        assert 2 <= len(normalise(raw)) <= 12
        assert len(raw) <= 32


def test_problems_are_machine_readable_strings() -> None:
    assert {p.value for p in PlateProblem} >= {
        "plate_empty",
        "plate_too_short",
        "plate_too_long",
        "plate_invalid_characters",
    }
    assert str(PlateProblem.EMPTY) == "plate_empty"
