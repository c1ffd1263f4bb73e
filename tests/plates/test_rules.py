"""The format table as data: well-formed records, each with a source and a matching example."""

from __future__ import annotations

import re

import pytest

from kruispunt.plates import COUNTRIES, FormatRule, Inference, format_rules, normalise

RULES = format_rules()


def test_countries_are_the_supported_set_in_priority_order() -> None:
    assert COUNTRIES == ("BE", "NL", "FR", "DE", "LU")


def test_keys_are_unique_and_prefixed_by_a_supported_country() -> None:
    keys = [r.key for r in RULES]
    assert len(keys) == len(set(keys))
    for rule in RULES:
        assert rule.country in COUNTRIES
        assert rule.key.startswith(rule.country + ".")


def test_every_country_can_be_inferred() -> None:
    for country in COUNTRIES:
        assert any(r.country == country and r.inference is not Inference.NEVER for r in RULES)


def test_table_is_grouped_by_country_in_priority_order() -> None:
    order = [COUNTRIES.index(r.country) for r in RULES]
    assert order == sorted(order)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.key)
def test_rule_is_documented(rule: FormatRule) -> None:
    assert len(rule.description) >= 20
    assert len(rule.source) >= 10


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.key)
def test_regex_only_uses_plate_characters(rule: FormatRule) -> None:
    # \d and \w would admit other scripts' digits; normalised text has only A-Z0-9.
    assert "\\d" not in rule.regex and "\\w" not in rule.regex and "." not in rule.regex
    assert rule.pattern.fullmatch("") is None


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.key)
def test_example_matches_its_rule_and_displays_as_written(rule: FormatRule) -> None:
    plate = normalise(rule.example)
    assert rule.display(plate) == rule.example


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.key)
def test_display_keeps_the_characters_in_order(rule: FormatRule) -> None:
    plate = normalise(rule.example)
    shown = rule.display(plate)
    assert shown is not None
    assert re.sub(r"[^A-Z0-9]", "", shown) == plate


def test_a_rule_key_must_match_its_country() -> None:
    with pytest.raises(ValueError, match="does not start with"):
        FormatRule("NL.x", "BE", "[A-Z]{2}", "-", Inference.WEAK, "AB", "a description", "src")


def test_display_is_none_when_the_rule_does_not_match() -> None:
    be_current = next(r for r in RULES if r.key == "BE.current")
    assert be_current.display("ABC123") is None
    assert be_current.display("1ABC123X") is None  # fullmatch, not a prefix
