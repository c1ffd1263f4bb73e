"""recognise(): country and format, from the camera's country or inferred from the format.

Real-looking plates per format; the rule for each is cited from the rule table's ``source``:
- Belgium: Ministerieel besluit van 23 juli 2001 betreffende de inschrijving van voertuigen;
  FOD Mobiliteit, "T, O, M, Q-nummerplaten ..." (since 7 Oct 2014); Wikipedia (de)
  "Kfz-Kennzeichen (Belgien) (1953-2010)".
- Netherlands: Regeling kentekens en kentekenplaten, art. 1 (sidecodes); Wikipedia (nl)
  "Nederlands kenteken".
- France: arrete du 9 fevrier 2009 (SIV); Wikipedia "Vehicle registration plates of France".
- Germany: FZV Anlage 2; KBA glossary "Kennzeichen" (at most 8 characters).
- Luxembourg: reglement grand-ducal du 17 juin 2003; Wikipedia "Vehicle registration plates
  of Luxembourg".
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kruispunt.plates import (
    COUNTRIES,
    FormatRule,
    Inference,
    PlateInfo,
    format_rules,
    normalise,
    recognise,
)

RULES = format_rules()
BY_KEY = {r.key: r for r in RULES}


def plates_of(rule: FormatRule) -> st.SearchStrategy[str]:
    return st.from_regex(rule.pattern, fullmatch=True)


def expected_country(plate: str) -> str | None:
    """The documented ambiguity rule, evaluated the slow way over the whole table."""
    matching = [r for r in RULES if r.pattern.fullmatch(plate)]
    strong = [r.country for r in matching if r.inference is Inference.STRONG]
    if strong:
        return min(strong, key=COUNTRIES.index)
    weak = {r.country for r in matching if r.inference is Inference.WEAK}
    return weak.pop() if len(weak) == 1 else None


# ---- examples per format -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "fmt", "display"),
    [
        # MB 23 July 2001 art. 4; European format since 16 November 2010.
        ("1-ABC-123", "BE.current", "1-ABC-123"),
        ("2-gkb-417", "BE.current", "2-GKB-417"),
        ("2 GKB 417", "BE.current", "2-GKB-417"),
        ("8-AFR-027", "BE.current", "8-AFR-027"),  # international plate before 2014
        ("1-ZXA-120", "BE.current", "1-ZXA-120"),  # green commercial (test-drive) plate
        # FOD Mobiliteit: new index letters since 7 October 2014.
        ("M-ADF-120", "BE.motorcycle", "M-ADF-120"),
        ("M-120-ADF", "BE.motorcycle", "M-120-ADF"),
        ("Q-AAB-042", "BE.trailer", "Q-AAB-042"),
        ("O-MAA-001", "BE.oldtimer", "O-MAA-001"),
        ("T-XAB-015", "BE.taxi", "T-XAB-015"),
        ("T-LAC-001", "BE.taxi", "T-LAC-001"),
        ("S-AAB-123", "BE.moped", "S-AAB-123"),
        # Diplomatic (uncertain layout, see the rule), temporary (MB art. 13).
        ("CD-AB-123", "BE.diplomatic", "CD-AB-123"),
        ("ZZ-25-ABC", "BE.temporary", "ZZ-25-ABC"),
        # Codes 11 and 12 (1973-2010) and the 1953-1973 codes.
        ("JKL-456", "BE.old_1973", "JKL-456"),
        ("TXA-001", "BE.old_1973", "TXA-001"),  # pre-2014 taxi plate
        ("012-BCD", "BE.old_2008", "012-BCD"),
        ("335-UZ", "BE.old_1962", "335-UZ"),
        ("C.001.A", "BE.old_1962", "C-001-A"),
        ("1234.X", "BE.old_1953", "1234-X"),
        # Regeling kentekens en kentekenplaten art. 1: sidecodes.
        ("12-34-DH", "NL.sidecode_2", "12-34-DH"),
        ("KL-12-ZT", "NL.sidecode_4", "KL-12-ZT"),
        ("XS-ZT-45", "NL.sidecode_5", "XS-ZT-45"),
        ("45-ZT-XS", "NL.sidecode_6", "45-ZT-XS"),
        ("01-GBB-1", "NL.sidecode_7", "01-GBB-1"),
        ("1-KZP-12", "NL.sidecode_8", "1-KZP-12"),
        ("GZ-123-B", "NL.sidecode_9", "GZ-123-B"),
        ("K-123-ZT", "NL.sidecode_10", "K-123-ZT"),
        ("GZB-12-K", "NL.sidecode_11", "GZB-12-K"),
        ("N-12-GBX", "NL.sidecode_12", "N-12-GBX"),
        ("1-ZT-234", "NL.sidecode_13", "1-ZT-234"),
        ("123-ZT-4", "NL.sidecode_14", "123-ZT-4"),
        # SIV since 2009 (no I, O, U; 000 not issued) and FNI before it.
        ("GE-479-XZ", "FR.siv", "GE-479-XZ"),
        ("AA-001-AA", "FR.siv", "AA-001-AA"),
        ("1234 AB 75", "FR.fni", "1234 AB 75"),
        ("123 ABC 2A", "FR.fni", "123 ABC 2A"),
        ("45 XY 971", "FR.fni", "45 XY 971"),
        # FZV Anlage 2: district, 1-2 letters, 1-4 digits, at most 8; E/H suffix.
        ("B-MW 1234", "DE.standard", "BMW 1234"),
        ("TÖL-AB 123", "DE.standard", "TOLAB 123"),
        ("M-AB 123E", "DE.standard", "MAB 123E"),
        ("HH-AB 1234H", "DE.standard", "HHAB 1234H"),
        # Reglement grand-ducal 17 June 2003.
        ("AB 1234", "LU.standard", "AB 1234"),
        ("XY 0008", "LU.standard", "XY 0008"),
        ("CD 12-34", "LU.diplomatic", "CD 12 34"),
    ],
)
def test_real_looking_plates_are_recognised_without_a_country(
    raw: str, fmt: str, display: str
) -> None:
    info = recognise(raw)
    assert info == PlateInfo(normalise(raw), BY_KEY[fmt].country, True, fmt, display)


@pytest.mark.parametrize(
    ("raw", "country", "fmt"),
    [
        ("DE-12-34", "NL", "NL.sidecode_1"),  # alone it reads as Luxembourgish
        ("12-DE-34", "NL", "NL.sidecode_3"),  # alone it is ambiguous
        ("MK 286", "LU", "LU.old"),
        ("P 1234", "LU", "LU.old"),
        ("AB 12", "LU", "LU.moped"),
        ("12345", "LU", "LU.numeric"),
        ("P-114", "BE", "BE.official"),
        ("14", "BE", "BE.court"),
        ("M-A 1234", "DE", "DE.standard"),
        ("12 AB 34", "FR", "FR.fni"),
        ("1-ABC-123", "be", "BE.current"),  # the country is upper-cased
    ],
)
def test_a_given_country_selects_its_own_formats(raw: str, country: str, fmt: str) -> None:
    info = recognise(raw, country)
    assert info.country == country.upper()
    assert info.country_inferred is False
    assert info.format == fmt


@pytest.mark.parametrize(
    ("raw", "country"),
    [
        ("1-ABC-123", "NL"),  # a Belgian plate on a camera that says NL: no NL format
        ("AI-123-BC", "FR"),  # SIV does not use I
        ("AB-000-CD", "FR"),  # SIV does not issue 000
        ("ABCDE 1234", "DE"),  # 9 characters without suffix: over the German maximum of 8
        ("1-ABC-123", "PL"),  # unsupported country: kept, but no format
    ],
)
def test_a_given_country_without_matching_format_keeps_the_country(raw: str, country: str) -> None:
    plate = normalise(raw)
    assert recognise(raw, country) == PlateInfo(plate, country, False, None, plate)


def test_an_empty_country_counts_as_unknown() -> None:
    assert recognise("1-ABC-123", "") == recognise("1-ABC-123")


# ---- the ambiguity rule (documented in kruispunt.plates.recognise) -------------------------


@pytest.mark.parametrize(
    ("raw", "country", "fmt"),
    [
        ("ABC123", "BE", "BE.old_1973"),  # also German A-BC 123: Belgian priority, STRONG
        ("AB1234", "LU", "LU.standard"),  # not Dutch sidecode 1 (WEAK) nor German (WEAK)
        ("MA1234", "LU", "LU.standard"),  # German M-A 1234 is indistinguishable: LU wins
        ("CD1234", "LU", "LU.diplomatic"),  # Dutch CD plates on sidecode 1 are WEAK
        ("1ABC23", "NL", "NL.sidecode_8"),  # French FNI "1 ABC 23" is WEAK
        ("GB123H", "NL", "NL.sidecode_9"),  # German GB 123H (historic) is WEAK
        ("ABCD12", "NL", "NL.sidecode_5"),  # German ABCD 12 is WEAK
        ("MAB1234", "DE", "DE.standard"),  # only Germany: a WEAK match, alone
        ("123AB", "BE", "BE.old_1962"),  # only Belgium: a WEAK match, alone
        ("12AB34", None, None),  # Dutch sidecode 3 and French FNI, both WEAK
        ("AB123", None, None),  # BE 1962, LU old, German AB 123: all WEAK
        ("12A34", None, None),  # BE 1953 code 3 and French FNI, both WEAK
        ("1234", None, None),  # digits only (LU custom plate?): NEVER inferred
        ("P114", None, None),  # Belgian parliament plate: NEVER inferred
        ("ZZZZZZZZ", None, None),  # nothing matches: generic
    ],
)
def test_ambiguous_plates_follow_the_priority_rule(
    raw: str, country: str | None, fmt: str | None
) -> None:
    info = recognise(raw)
    assert (info.country, info.format) == (country, fmt)
    assert info.country_inferred is (country is not None)


def test_generic_plate_displays_its_normalised_text() -> None:
    assert recognise("zz-zz-zz-zz") == PlateInfo("ZZZZZZZZ", None, False, None, "ZZZZZZZZ")


# ---- properties over every rule ------------------------------------------------------------


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.key)
@given(data=st.data())
def test_generated_plates_of_every_format(rule: FormatRule, data: st.DataObject) -> None:
    """One draw, four properties (one test keeps the run short)."""
    plate = data.draw(plates_of(rule))
    info = recognise(plate)

    # Without a country: the documented ambiguity rule, checked against a slow evaluation.
    assert info.country == expected_country(plate)
    if info.country is None:
        assert (info.format, info.display, info.country_inferred) == (None, plate, False)
    else:
        chosen = BY_KEY[info.format or ""]
        assert chosen.country == info.country
        assert chosen.pattern.fullmatch(plate)
        assert info.country_inferred

    # A STRONG format is never shadowed: no two countries share a STRONG shape.
    if rule.inference is Inference.STRONG:
        assert info.country == rule.country

    # With the rule's country given: a format of that country, not inferred.
    validated = recognise(plate, rule.country)
    assert validated.format is not None
    assert BY_KEY[validated.format].country == rule.country
    assert (validated.country, validated.country_inferred) == (rule.country, False)

    # The display form reads back as the same plate.
    assert recognise(info.display) == info
    assert recognise(validated.display, rule.country) == validated


@given(st.text(max_size=80), st.sampled_from([None, *COUNTRIES]))
def test_recognise_normalises_and_never_fails(raw: str, country: str | None) -> None:
    info = recognise(raw, country)
    assert info.plate == normalise(raw)
    assert normalise(info.display) == info.plate
    assert info.country_inferred is (country is None and info.country is not None)
    if info.format is not None:
        assert BY_KEY[info.format].pattern.fullmatch(info.plate)


def test_results_are_cached_and_long_input_bypasses_the_cache() -> None:
    assert recognise("1-ABC-123") is recognise("1-ABC-123")
    long_raw = "1-ABC-123" + " " * 100
    assert recognise(long_raw) == recognise("1-ABC-123")


def test_within_a_country_the_strongest_rule_wins_over_table_order() -> None:
    from kruispunt.plates.recognise import _CountryMatcher

    broad = FormatRule(
        "BE.broad", "BE", "([A-Z]+)([0-9]+)", "-", Inference.WEAK, "AB-12", "a broad rule", "t"
    )
    narrow = FormatRule(
        "BE.narrow", "BE", "([A-Z]{3})([0-9]{3})", " ", Inference.STRONG, "ABC 123", "narrow", "t"
    )
    matcher = _CountryMatcher((broad, narrow))
    assert matcher.match("ABC123") == (narrow, "ABC 123")
    assert matcher.match("AB12") == (broad, "AB-12")
    assert matcher.match("12AB") is None
