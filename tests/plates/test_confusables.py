"""Confusable characters (DOMAIN.md, Plates: OCR confuses 0/O/D/Q, 1/I/L, 8/B, 5/S, 2/Z, 6/G)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kruispunt.plates import (
    CONFUSABLE_CLASSES,
    confusable_key,
    confusable_variants,
    is_confusable_match,
)

CLASS_OF = {ch: cls for cls in CONFUSABLE_CLASSES for ch in cls}
PLATES = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=9)


@st.composite
def confusable_pairs(draw: st.DrawFn) -> tuple[str, str]:
    """A plate and a copy with some characters swapped inside their class."""
    plate = draw(PLATES)
    swapped = "".join(draw(st.sampled_from(CLASS_OF[ch])) if ch in CLASS_OF else ch for ch in plate)
    return plate, swapped


def test_classes_are_the_documented_ones() -> None:
    assert {frozenset(c) for c in CONFUSABLE_CLASSES} == {
        frozenset("0ODQ"),
        frozenset("1IL"),
        frozenset("8B"),
        frozenset("5S"),
        frozenset("2Z"),
        frozenset("6G"),
    }
    assert sum(len(c) for c in CONFUSABLE_CLASSES) == len(CLASS_OF)  # disjoint


@pytest.mark.parametrize(
    ("plate", "key"),
    [
        ("1ABC123", "1A8C123"),
        ("IABC123", "1A8C123"),
        ("LABC12Z", "1A8C122"),
        ("OQD0", "0000"),
        ("S5G6", "5566"),
        ("XYZ", "XY2"),
        ("", ""),
    ],
)
def test_confusable_key_examples(plate: str, key: str) -> None:
    assert confusable_key(plate) == key


@given(confusable_pairs())
def test_key_is_invariant_under_swaps_within_a_class(pair: tuple[str, str]) -> None:
    plate, swapped = pair
    assert confusable_key(plate) == confusable_key(swapped)


@given(PLATES, PLATES)
def test_equal_keys_mean_only_confusable_differences(a: str, b: str) -> None:
    if confusable_key(a) == confusable_key(b):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert x == y or CLASS_OF.get(x) == CLASS_OF.get(y) is not None


@given(confusable_pairs())
def test_is_confusable_match_on_swaps(pair: tuple[str, str]) -> None:
    plate, swapped = pair
    assert is_confusable_match(plate, swapped) is (plate != swapped)


@given(PLATES, PLATES)
def test_is_confusable_match_is_symmetric_and_irreflexive(a: str, b: str) -> None:
    assert is_confusable_match(a, b) is is_confusable_match(b, a)
    assert not is_confusable_match(a, a)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1ABC123", "IABC123", True),
        ("1ABC123", "1A8C1Z3", True),
        ("1ABC123", "1ABC124", False),  # 3 and 4 are not confusable
        ("1ABC123", "1ABC12", False),  # different length
        ("0", "O", True),
        ("D0", "QO", True),
    ],
)
def test_is_confusable_match_examples(a: str, b: str, expected: bool) -> None:
    assert is_confusable_match(a, b) is expected


@given(PLATES)
def test_variants_share_the_key_are_distinct_and_exclude_the_plate(plate: str) -> None:
    variants = confusable_variants(plate)
    assert plate not in variants
    assert len(set(variants)) == len(variants)
    assert all(confusable_key(v) == confusable_key(plate) for v in variants)
    assert all(is_confusable_match(plate, v) for v in variants)


@given(PLATES)
def test_variants_are_complete_under_the_cap(plate: str) -> None:
    total = math.prod(len(CLASS_OF[ch]) for ch in plate if ch in CLASS_OF) - 1
    variants = confusable_variants(plate, max_variants=10_000)
    assert len(variants) == min(total, 10_000)


@given(PLATES, st.integers(min_value=0, max_value=300))
def test_variants_are_capped_and_deterministic(plate: str, cap: int) -> None:
    variants = confusable_variants(plate, max_variants=cap)
    assert len(variants) <= cap
    assert variants == confusable_variants(plate, max_variants=cap)
    assert variants == confusable_variants(plate, max_variants=cap + 50)[: len(variants)]


def test_single_substitutions_come_first() -> None:
    variants = confusable_variants("1B0", max_variants=5)
    assert variants == ["IB0", "LB0", "180", "1BO", "1BD"]
    assert confusable_variants("1B0")[-1] == "L8Q"  # the last: every character swapped
    assert len(confusable_variants("1B0")) == 3 * 2 * 4 - 1


def test_plate_without_confusable_characters_has_no_variants() -> None:
    assert confusable_variants("AXY") == []


def test_negative_cap_is_an_error() -> None:
    with pytest.raises(ValueError, match="max_variants"):
        confusable_variants("1AB", max_variants=-1)
