"""Law as code: the jurisdiction profiles, their tiers, case numbers, reasons and wide searches.

The expected table below is written from the sources, independently of the data file: BE
(WPA art. 44/11/3decies: 12 months; first month administrative and judicial police; after it
judicial police with a prosecutor's written, reasoned decision), NL (Sv art. 126jj: four weeks;
every consultation on the order of the officier van justitie, only for art. 67(1) crimes or a
fugitive), UK (NASPLE: 12 months; beyond 90 days a senior officer's authorisation and a
serious-crime purpose).
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from importlib import resources
from typing import Any, TypeVar

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kruispunt.law.decide import (
    Access,
    Authorisation,
    AuthorisationKind,
    AuthorisationScope,
    QueryScope,
    RefusalCode,
    WideSearchCaps,
    access_at,
    allowed_windows,
    image_visible,
    needs_approval,
)
from kruispunt.law.profiles import (
    JurisdictionProfile,
    ProfileError,
    Requirement,
    default_profile,
    load,
    profile,
    profiles,
)
from kruispunt.law.purpose import Purpose, ReasonRules, validate_case, validate_reason

T = TypeVar("T")
DAY = 86_400_000_000
HOUR = 3_600_000_000
NOW = 1_780_000_000_000_000  # 2026-05-28, microseconds since the epoch
P = Purpose
ALL = frozenset(Purpose)
JUDICIAL = ALL - {P.ADMINISTRATIVE_POLICE}


@dataclasses.dataclass(frozen=True)
class Row:
    from_day: int
    until_day: int
    purposes: frozenset[Purpose]
    needs: str  # "none" or the AuthorisationKind value
    every_query: bool = False


EXPECTED: dict[str, tuple[int, tuple[Row, ...]]] = {
    "BE": (365, (Row(0, 30, ALL, "none"), Row(30, 365, JUDICIAL, "prosecutor"))),
    "NL": (
        28,
        (Row(0, 28, frozenset({P.SERIOUS_CRIME, P.FUGITIVE_ARREST}), "prosecutor_order", True),),
    ),
    "UK": (
        365,
        (Row(0, 90, ALL, "none"), Row(90, 365, frozenset({P.SERIOUS_CRIME}), "senior_officer")),
    ),
}
CASE = {"BE": "AN.12.LB.012345/2026", "NL": "13/123456-26", "UK": "43/12345/26"}
OTHER_CASE = {"BE": "AN.12.LB.099999/2026", "NL": "13/999999-26", "UK": "43/99999/26"}
DATA_TEXT = resources.files("kruispunt.data").joinpath("jurisdictions.toml").read_text("utf-8")


OPEN = AuthorisationScope()


def auth(
    key: str,
    kind: AuthorisationKind,
    *,
    ref: str = "AUTH-1",
    valid: tuple[int, int] = (NOW - DAY, NOW + DAY),
    case: str | None = None,
    issued_by: str = "prosecutor-antwerpen",
    grounds: str = "Armed robbery; the escape vehicle must be traced",
    scope: AuthorisationScope = OPEN,
    query_id: str | None = None,
) -> Authorisation:
    return Authorisation(
        kind=kind,
        reference=ref,
        issued_by=issued_by,
        grounds=grounds,
        case=CASE[key] if case is None else case,
        valid_from_us=valid[0],
        valid_until_us=valid[1],
        scope=scope,
        query_id=query_id,
    )


def query(key: str, **kw: Any) -> QueryScope:
    return msgspec.structs.replace(QueryScope(case=CASE[key], user="alice", query_id="q1"), **kw)


def at(key: str, purpose: Purpose, age_days: float, *auths: Authorisation, **kw: Any) -> Access:
    return access_at(
        profile(key),
        purpose,
        captured_us=NOW - int(age_days * DAY),
        now_us=NOW,
        authorisations=auths,
        scope=query(key, **kw),
    )


# --- the data file ------------------------------------------------------------------------------


def test_data_file_loads_with_the_three_profiles_and_belgium_by_default() -> None:
    assert set(profiles()) == {"BE", "NL", "UK"}
    assert default_profile().key == "BE"
    assert profile("be") is profile("BE")
    assert profile("UK").country == "GB"


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_profile_tiers_are_the_expected_table(key: str) -> None:
    p = profile(key)
    max_days, rows = EXPECTED[key]
    assert p.reads_max_days == max_days
    got = tuple(
        Row(
            t.from_day,
            t.until_day,
            frozenset(t.purposes),
            t.authorisation.kind.value if t.authorisation.kind else "none",
            t.authorisation.every_query,
        )
        for t in p.tiers
    )
    assert got == rows


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_every_rule_cites_a_source(key: str) -> None:
    p = profile(key)
    cited = [p.reads_source, p.images_source, *(t.source for t in p.tiers)]
    cited += [f.source for f in p.case_formats]
    for source_id in cited:
        src = p.source(source_id)
        assert src.title and src.summary and src.checked
    assert set(p.purpose_notes) == set(Purpose)  # each profile says what each purpose means


def test_unknown_profile_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ProfileError, match=r"unknown jurisdiction profile 'FR'; known: BE, NL, UK"):
        profile("FR")


def _broken(old: str, new: str, count: int = 1) -> str:
    assert old in DATA_TEXT, old
    return DATA_TEXT.replace(old, new, count)


BE_TIER_2 = """[[profiles.BE.tiers]]
label = "BE tier 2 (after the first month)"
from_day = 30"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_broken("from_day = 30", "from_day = 29"), r"profile 'BE'.*tiers overlap"),
        (_broken("from_day = 30", "from_day = 31"), r"profile 'BE'.*gap between tiers"),
        (
            _broken(BE_TIER_2 + "\nuntil_day = 365", BE_TIER_2 + "\nuntil_day = 400"),
            r"profile 'BE'.*ends at day 400, past reads_max_days = 365",
        ),
        (
            _broken("reads_max_days = 365 ", "reads_max_days = 300 "),
            r"profile 'BE'.*last tier .* ends at day 365, past reads_max_days = 300",
        ),
        (
            _broken("reads_max_days = 28 ", "reads_max_days = 60 "),
            r"profile 'NL'.*ends at day 28, short of reads_max_days = 60",
        ),
        (
            _broken('purposes = ["serious_crime", "fugitive_arrest"]', 'purposes = ["statistics"]'),
            r"profile 'NL'.*Invalid enum value 'statistics'",
        ),
        (
            _broken('source = "sv-126jj"', 'source = "sv-999"'),
            r"profile 'NL'.*cites unknown source 'sv-999'",
        ),
        (
            _broken('"AN.12.LB.012345/2026", "TG', '"AN.12.LB.012345", "TG'),
            r"profile 'BE'.*refuses its own example 'AN.12.LB.012345'",
        ),
        (
            _broken('near_misses = ["12345"', 'near_misses = ["43/12345/24"'),
            r"profile 'UK'.*accepts its near-miss '43/12345/24'",
        ),
        (
            _broken('authorisation = "senior_officer"', 'authorisation = "sergeant"'),
            r"profile 'UK'.*Invalid enum value 'sergeant'",
        ),
        (
            _broken("images_max_days = 30 ", "images_max_days = 400 "),
            r"profile 'BE'.*images_max_days must lie in",
        ),
        (_broken('default = "BE"', 'default = "FR"'), r"default 'FR' is not one of"),
        (_broken("[profiles.BE]", "[profiles.BE"), r"not valid TOML"),
        (_broken("min_words = 4", "min_words = 0"), r"\[reasons\].*min_words"),
        (_broken('"testen",', '"Enquête",'), r"\[reasons\].*write 'Enquête' folded"),
        (_broken("schema = 1", "schema = 2"), r"schema must be 1"),
    ],
)
def test_a_broken_copy_of_the_data_file_fails_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(ProfileError, match=re.compile(message, re.S)):
        load(text, origin="copy.toml")


def test_the_intact_copy_loads() -> None:
    assert set(load(DATA_TEXT).profiles) == {"BE", "NL", "UK"}


# --- tiers: the property ------------------------------------------------------------------------


def expected_readable(
    key: str, purpose: Purpose, captured: int, auths: list[Authorisation], q: QueryScope
) -> bool:
    """The table, applied to one read, written without the code under test."""
    max_days, rows = EXPECTED[key]
    age = max(NOW - captured, 0)
    if age >= max_days * DAY:
        return False
    row = next(r for r in rows if age < r.until_day * DAY)
    if purpose not in row.purposes:
        return False
    if row.needs == "none":
        return True
    for a in auths:
        ok = (
            a.kind.value == row.needs
            and a.valid_from_us <= NOW < a.valid_until_us
            and a.case == q.case
            and a.issued_by != q.user
            and a.grounds.strip() != ""
            and (a.query_id == q.query_id if a.query_id is not None else not row.every_query)
            and (
                not a.scope.cameras or (bool(q.cameras) and set(q.cameras) <= set(a.scope.cameras))
            )
            and (not a.scope.plates or (bool(q.plates) and set(q.plates) <= set(a.scope.plates)))
            and (a.scope.since_us is None or captured >= a.scope.since_us)
            and (a.scope.until_us is None or captured <= a.scope.until_us)
        )
        if ok:
            return True
    return False


EDGES = sorted(
    {d for _, rows in EXPECTED.values() for r in rows for d in (r.from_day, r.until_day)}
)
ages = st.one_of(
    st.integers(-DAY, 400 * DAY),
    st.builds(lambda d, e: d * DAY + e, st.sampled_from(EDGES), st.integers(-2, 2)),
)
keys = st.sampled_from(sorted(EXPECTED))
subsets = st.lists(st.sampled_from(["c1", "c2", "c3"]), unique=True, max_size=3).map(tuple)
plate_sets = st.lists(st.sampled_from(["1ABC123", "2XYZ999"]), unique=True, max_size=2).map(tuple)
periods = st.one_of(
    st.just((None, None)),
    st.tuples(st.integers(NOW - 400 * DAY, NOW), st.integers(0, 200 * DAY)).map(
        lambda t: (t[0], t[0] + t[1])
    ),
)


NEEDED = {
    "BE": AuthorisationKind.PROSECUTOR,
    "NL": AuthorisationKind.PROSECUTOR_ORDER,
    "UK": AuthorisationKind.SENIOR_OFFICER,
}


@st.composite
def mostly(draw: st.DrawFn, good: T, other: st.SearchStrategy[T]) -> T:
    """``good`` seven times in eight, so that usable authorisations are common."""
    bad = draw(other)
    return draw(st.sampled_from([good] * 7 + [bad]))


@st.composite
def authorisations(draw: st.DrawFn, key: str) -> Authorisation:
    start = NOW + draw(st.integers(-10 * DAY, DAY))
    valid = draw(
        mostly((NOW - DAY, NOW + DAY), st.just((start, start + draw(st.integers(0, 20 * DAY)))))
    )
    since, until = draw(mostly((None, None), periods))
    return auth(
        key,
        draw(mostly(NEEDED[key], st.sampled_from(AuthorisationKind))),
        ref=f"AUTH-{draw(st.integers(0, 99))}",
        valid=valid,
        case=draw(mostly(CASE[key], st.just(OTHER_CASE[key]))),
        issued_by=draw(mostly("prosecutor-antwerpen", st.just("alice"))),
        grounds=draw(mostly("Armed robbery; escape vehicle sought", st.just(""))),
        scope=AuthorisationScope(
            cameras=draw(mostly((), subsets)),
            plates=draw(mostly((), plate_sets)),
            since_us=since,
            until_us=until,
        ),
        query_id=draw(st.sampled_from([None, "q1", "q1", "q2"])),
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[str, Purpose, list[Authorisation], QueryScope]:
    key = draw(keys)
    q = QueryScope(
        case=CASE[key], user="alice", query_id="q1", cameras=draw(subsets), plates=draw(plate_sets)
    )
    return key, draw(st.sampled_from(Purpose)), draw(st.lists(authorisations(key), max_size=3)), q


def ages_for(key: str) -> st.SearchStrategy[int]:
    """Any age, an age inside the profile's retention, or one next to a tier edge."""
    return st.one_of(ages, st.integers(0, EXPECTED[key][0] * DAY - 1))


@settings(max_examples=500, deadline=None)
@given(cases(), st.data())
def test_a_read_is_readable_iff_the_table_says_so(
    case: tuple[str, Purpose, list[Authorisation], QueryScope], data: st.DataObject
) -> None:
    age = data.draw(ages_for(case[0]))
    key, purpose, auths, q = case
    captured = NOW - age
    got = access_at(
        profile(key), purpose, captured_us=captured, now_us=NOW, authorisations=auths, scope=q
    )
    assert got.readable(captured) == expected_readable(key, purpose, captured, auths, q)
    assert got.readable(captured) != bool(got.refused)


@settings(max_examples=300, deadline=None)
@given(cases(), ages, st.integers(0, 400 * DAY), st.lists(st.floats(0, 1), max_size=10))
def test_windows_and_refusals_tile_the_period_and_agree_with_the_table(
    case: tuple[str, Purpose, list[Authorisation], QueryScope],
    age: int,
    length: int,
    fractions: list[float],
) -> None:
    key, purpose, auths, q = case
    p = profile(key)
    since, until = NOW - age - length, NOW - age
    got = allowed_windows(
        p, purpose, now_us=NOW, since_us=since, until_us=until, authorisations=auths, scope=q
    )
    spans = sorted(
        [(w.since_us, w.until_us) for w in got.windows]
        + [(r.since_us, r.until_us) for r in got.refused]
    )
    assert spans[0][0] == since and spans[-1][1] == until
    for (_, b), (c, _) in itertools.pairwise(spans):
        assert c == b + 1  # no gap, no overlap
    oldest = NOW - p.reads_max_days * DAY + 1
    for w in got.windows:
        assert since <= w.since_us <= w.until_us <= until
        assert w.since_us >= oldest  # never beyond the retention limit
    # Every span's ends (where a mistake would sit) and some points inside the period.
    probes = [x for a, b in spans for x in (a, b)] + [since + int(f * length) for f in fractions]
    for captured in probes:
        assert got.readable(captured) == expected_readable(key, purpose, captured, auths, q)


# --- tiers: examples ----------------------------------------------------------------------------


def test_be_first_month_is_open_to_administrative_and_judicial_police() -> None:
    for purpose in (P.ADMINISTRATIVE_POLICE, P.JUDICIAL_POLICE, P.TRAFFIC_ENFORCEMENT):
        assert at("BE", purpose, 29.9).readable(NOW - int(29.9 * DAY))


def test_be_after_the_first_month_administrative_police_is_refused_even_with_authorisation() -> (
    None
):
    a = auth("BE", AuthorisationKind.PROSECUTOR)
    got = at("BE", P.ADMINISTRATIVE_POLICE, 31, a)
    assert not got.windows
    assert [r.code for r in got.refused] == [RefusalCode.PURPOSE_NOT_ALLOWED]


def test_be_after_the_first_month_judicial_police_needs_the_prosecutor() -> None:
    got = at("BE", P.JUDICIAL_POLICE, 31)
    assert not got.windows
    (refusal,) = got.refused
    assert refusal.code is RefusalCode.AUTHORISATION_REQUIRED
    assert refusal.needs is Requirement.PROSECUTOR
    assert refusal.message == (
        "reads older than 30 days need a prosecutor's written, reasoned authorisation "
        "(BE tier 2 (after the first month))"
    )
    assert "44/11/3decies" in refusal.source
    opened = at("BE", P.JUDICIAL_POLICE, 31, auth("BE", AuthorisationKind.PROSECUTOR, ref="PK-7"))
    assert [w.authorisation for w in opened.windows] == ["PK-7"] and opened.complete


def test_a_store_reads_one_merged_span_when_the_tiers_are_all_open() -> None:
    a = auth("BE", AuthorisationKind.PROSECUTOR, ref="PK-7")
    got = allowed_windows(
        profile("BE"),
        P.JUDICIAL_POLICE,
        now_us=NOW,
        since_us=NOW - 60 * DAY,
        until_us=NOW,
        authorisations=[a],
        scope=query("BE"),
    )
    assert [w.authorisation for w in got.windows] == ["PK-7", None]
    assert got.spans() == [(NOW - 60 * DAY, NOW)]


def test_be_a_sixty_day_search_without_authorisation_returns_only_the_first_month() -> None:
    p = profile("BE")
    got = allowed_windows(
        p, P.JUDICIAL_POLICE, now_us=NOW, since_us=NOW - 60 * DAY, until_us=NOW, scope=query("BE")
    )
    assert [(w.since_us, w.until_us, w.authorisation) for w in got.windows] == [
        (NOW - 30 * DAY + 1, NOW, None)
    ]
    assert [(r.since_us, r.until_us) for r in got.refused] == [(NOW - 60 * DAY, NOW - 30 * DAY)]


def test_an_authorisation_opens_only_its_data_period() -> None:
    period = AuthorisationScope(since_us=NOW - 60 * DAY, until_us=NOW - 50 * DAY)
    a = auth("BE", AuthorisationKind.PROSECUTOR, scope=period)
    got = allowed_windows(
        profile("BE"),
        P.JUDICIAL_POLICE,
        now_us=NOW,
        since_us=NOW - 100 * DAY,
        until_us=NOW,
        authorisations=[a],
        scope=query("BE"),
    )
    assert [(w.since_us, w.until_us) for w in got.windows] == [
        (NOW - 60 * DAY, NOW - 50 * DAY),
        (NOW - 30 * DAY + 1, NOW),
    ]
    assert [(r.since_us, r.until_us) for r in got.refused] == [
        (NOW - 100 * DAY, NOW - 60 * DAY - 1),
        (NOW - 50 * DAY + 1, NOW - 30 * DAY),
    ]


def test_nothing_past_the_retention_limit_even_with_every_authorisation() -> None:
    every = [auth(k, kind) for k in ("BE",) for kind in AuthorisationKind]
    got = at("BE", P.SERIOUS_CRIME, 365.001, *every)
    assert not got.windows
    assert [r.code for r in got.refused] == [RefusalCode.BEYOND_RETENTION]


def test_nl_every_query_needs_an_order_given_for_that_query() -> None:
    assert not at("NL", P.SERIOUS_CRIME, 0.5).windows
    order = auth("NL", AuthorisationKind.PROSECUTOR_ORDER, ref="OVJ-1", query_id="q1")
    assert at("NL", P.SERIOUS_CRIME, 0.5, order).complete
    assert at("NL", P.FUGITIVE_ARREST, 27.9, order).complete
    other = at("NL", P.SERIOUS_CRIME, 0.5, order, query_id="q2")
    assert not other.windows
    assert [i.problem for i in other.ignored] == ["given for another query"]
    standing = auth("NL", AuthorisationKind.PROSECUTOR_ORDER, ref="OVJ-2")
    got = at("NL", P.SERIOUS_CRIME, 0.5, standing)
    assert not got.windows
    assert [i.problem for i in got.ignored] == ["an order must be given for this very query"]


def test_nl_only_art_67_crimes_and_fugitives_and_four_weeks() -> None:
    order = auth("NL", AuthorisationKind.PROSECUTOR_ORDER, query_id="q1")
    for purpose in ALL - {P.SERIOUS_CRIME, P.FUGITIVE_ARREST}:
        got = at("NL", purpose, 1, order)
        assert [r.code for r in got.refused] == [RefusalCode.PURPOSE_NOT_ALLOWED]
    assert [r.code for r in at("NL", P.SERIOUS_CRIME, 28, order).refused] == [
        RefusalCode.BEYOND_RETENTION
    ]


def test_uk_ninety_days_then_a_senior_officer_and_serious_crime() -> None:
    assert at("UK", P.JUDICIAL_POLICE, 89.9).complete
    assert [r.code for r in at("UK", P.JUDICIAL_POLICE, 90).refused] == [
        RefusalCode.PURPOSE_NOT_ALLOWED
    ]
    (refusal,) = at("UK", P.SERIOUS_CRIME, 90).refused
    assert refusal.message == (
        "reads older than 90 days need a senior officer's authorisation "
        "(UK tier 2 (beyond 90 days))"
    )
    senior = auth("UK", AuthorisationKind.SENIOR_OFFICER, issued_by="supt-jones")
    assert at("UK", P.SERIOUS_CRIME, 200, senior).complete
    wrong_kind = auth("UK", AuthorisationKind.PROSECUTOR)
    assert not at("UK", P.SERIOUS_CRIME, 200, wrong_kind).windows


DEFECTS: dict[str, dict[str, Any]] = {
    "expired": {"valid": (NOW - 10 * DAY, NOW)},
    "not valid yet": {"valid": (NOW + 1, NOW + DAY)},
    "given for another case": {"case": "AN.12.LB.099999/2026"},
    "issued by the user who runs the query": {"issued_by": "Alice"},
    "no grounds recorded": {"grounds": "  "},
    "given for another query": {"query_id": "q9"},
    "does not cover 1 of the query's cameras": {"scope": AuthorisationScope(cameras=("c1",))},
    "limited to some plates": {"scope": AuthorisationScope(plates=("1ABC123",))},
}


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_an_expired_or_out_of_scope_authorisation_opens_nothing(defect: str) -> None:
    a = auth("BE", AuthorisationKind.PROSECUTOR, **DEFECTS[defect])
    got = at("BE", P.JUDICIAL_POLICE, 45, a, cameras=("c1", "c2"))
    assert not got.windows
    assert [r.code for r in got.refused] == [RefusalCode.AUTHORISATION_REQUIRED]
    (ignored,) = got.ignored
    assert defect in ignored.problem


def test_a_scope_that_covers_the_query_opens_the_tier() -> None:
    scope = AuthorisationScope(cameras=("c1", "c2", "c3"), plates=("1-ABC-123",))
    a = auth("BE", AuthorisationKind.PROSECUTOR, scope=scope)
    assert at("BE", P.JUDICIAL_POLICE, 45, a, cameras=("c1",), plates=("1ABC123",)).complete


def test_a_query_without_a_case_can_use_no_authorisation() -> None:
    a = auth("BE", AuthorisationKind.PROSECUTOR)
    got = access_at(
        profile("BE"), P.JUDICIAL_POLICE, captured_us=NOW - 45 * DAY, now_us=NOW, authorisations=[a]
    )
    assert not got.windows and "given for another case" in got.ignored[0].problem


def test_reversed_period_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="after"):
        allowed_windows(
            profile("BE"), P.JUDICIAL_POLICE, now_us=NOW, since_us=NOW, until_us=NOW - 1
        )


# --- images -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "age_days", "linked", "visible"),
    [
        ("BE", 29.9, False, True),
        ("BE", 30, False, False),  # Antwerp police: at most one month ...
        ("BE", 200, True, True),  # ... unless relevant to a case (up to the 12-month limit)
        ("BE", 365, True, False),
        ("NL", 27.9, False, True),
        ("NL", 28, True, False),  # art. 126jj(2): the photograph goes after four weeks
        ("UK", 364, False, True),
        ("UK", 365, True, False),
    ],
)
def test_image_visible(key: str, age_days: float, linked: bool, visible: bool) -> None:
    captured = NOW - int(age_days * DAY)
    got = image_visible(profile(key), captured_us=captured, now_us=NOW, linked_to_case=linked)
    assert got is visible


# --- case numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "text", "normalised"),
    [
        ("BE", "AN.12.LB.012345/2026", "AN.12.LB.012345/2026"),
        ("BE", "TG.69.L3.00572/24", "TG.69.L3.000572/2024"),  # the source's own example
        ("BE", "  an . 55 . l7 . 123456 / 2019 ", "AN.55.L7.123456/2019"),
        ("NL", "PL07B3 2023123456-1", "PL07B3 2023123456-1"),  # Schadefonds' example
        ("NL", "pl1300-2019123456", "PL1300 2019123456"),
        ("NL", "13/123456-19", "13/123456-19"),
        ("UK", "43/12345/24", "43/12345/24"),
        ("UK", "mps-1234567-2024", "MPS/1234567/2024"),
    ],
)
def test_case_numbers_accept_real_examples(key: str, text: str, normalised: str) -> None:
    assert validate_case(profile(key), text) == normalised


@pytest.mark.parametrize(
    ("key", "text"),
    [
        ("BE", "AN.12.LB.012345"),  # no year
        ("BE", "AN.12.LB.0123456/2026"),  # seven digits
        ("BE", "A.12.LB.012345/2026"),
        ("BE", "AN.12.LB.012345/1999"),
        ("BE", "13/123456-19"),  # a Dutch parketnummer is no Belgian PV
        ("BE", "onderzoek"),
        ("NL", "PL07B3 202312345-1"),
        ("NL", "AN.12.LB.012345/2026"),
        ("NL", "13/12345-19"),
        ("UK", "12345"),
        ("UK", "CR/24"),
        ("UK", ""),
    ],
)
def test_case_numbers_refuse_near_misses(key: str, text: str) -> None:
    assert validate_case(profile(key), text) is None


def test_case_numbers_from_the_future_are_refused_when_the_year_is_known() -> None:
    assert validate_case(profile("BE"), "AN.12.LB.012345/2027", now_year=2026) is None
    assert validate_case(profile("BE"), "AN.12.LB.012345/26", now_year=2026) is not None


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_every_format_accepts_its_examples_and_refuses_its_near_misses(key: str) -> None:
    for fmt in profile(key).case_formats:
        assert all(fmt.normalise(e) for e in fmt.examples)
        assert not any(fmt.normalise(m) for m in fmt.near_misses)


# --- reasons ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reason",
    [
        "test",
        "onderzoek",
        "enquête",
        "Routine check",
        "investigation",
        "zie dossier",
        "voir dossier AN.12.LB.012345/2026",
        "Controle in het kader van dossier AN.12.LB.012345/2026",
        "Routine check on vehicle ABC 123 for the ongoing investigation",
        "Ermittlung siehe Akte, Kontrolle des Fahrzeugs",
        "test test test test test test",
        "aaaaaaaaaaaaaaaaaaaaaaaaa",
        "asdf qwerty lorem ipsum dolor",
        "",
    ],
)
def test_vague_reasons_are_refused(reason: str) -> None:
    assert validate_reason(reason)


@pytest.mark.parametrize(
    "reason",
    [
        "Overval op juwelier in de Pelikaanstraat, vluchtwagen richting E19 gezien",
        "Vol avec violence à Anvers le 3 mars, véhicule suspect vu par un témoin",
        "Burglary at 12 High Street on 2 May, witness saw a blue van leaving",
        "Vermiste bejaarde man met dementie, vertrok gisteren met eigen wagen uit Geel",
    ],
)
def test_specific_reasons_are_accepted(reason: str) -> None:
    assert validate_reason(reason) == []


def test_reason_problems_say_what_is_wrong() -> None:
    problems = validate_reason("test")
    assert "the reason is too short: 4 characters, at least 20" in problems
    assert "the reason has 1 word, at least 4" in problems
    assert any(p.startswith("the reason is vague (test)") for p in problems)
    assert validate_reason("   ") == ["the reason is empty"]


def test_reason_thresholds_are_configurable() -> None:
    lenient = ReasonRules(min_chars=1, min_words=1, min_content_words=1)
    assert validate_reason("Carjacking", lenient) == []
    assert validate_reason("Carjacking") != []


VAGUE = ["test", "onderzoek", "enquete", "controle", "check", "investigation", "routine", "dossier"]
FILLER = ["de", "het", "the", "of", "le", "la", "der", "in", "zie", "voir", "AN.12.LB.012345/2026"]


@given(st.lists(st.sampled_from(VAGUE + FILLER), min_size=1, max_size=12))
def test_a_reason_of_only_vague_and_filler_words_is_always_refused(words: list[str]) -> None:
    assert any("vague" in p for p in validate_reason(" ".join(words)))


# --- wide searches ------------------------------------------------------------------------------

CAPS = profile("BE").wide_search


def test_an_exact_plate_over_a_week_needs_no_approval() -> None:
    scope = QueryScope(plates=("1ABC123",))
    assert needs_approval(CAPS, scope, since_us=NOW - 7 * DAY, until_us=NOW) == []


@pytest.mark.parametrize(
    ("scope", "days", "problem"),
    [
        (QueryScope(plates=("1ABC123",)), 30, "the period spans 30.0 days, more than 14"),
        (QueryScope(plates=tuple(f"1ABC{i:03}" for i in range(11))), 1, "11 plates, more than 10"),
        (QueryScope(plate_patterns=("1AB*",)), 1, "partial plate 1 has 3 known characters"),
        (QueryScope(plate_patterns=("*ABC12",)), 1, "partial plate 1 starts with a wildcard"),
        (QueryScope(plate_patterns=("1?B?C?2?",)), 1, "partial plate 1 has 4 wildcards"),
        (QueryScope(), 0.1, "a search without a plate over every camera"),
        (QueryScope(cameras=tuple(f"c{i}" for i in range(26))), 0.1, "over 26 cameras"),
        (QueryScope(zones=("pz5364", "pz5351")), 0.1, "over 2 zones"),
        (QueryScope(cameras=("c1",)), 0.5, "over 12.0 hours, more than 4"),
    ],
)
def test_wide_searches_need_approval(scope: QueryScope, days: float, problem: str) -> None:
    got = needs_approval(CAPS, scope, since_us=NOW - int(days * DAY), until_us=NOW)
    assert any(problem in p for p in got), got


def test_a_short_search_at_a_few_cameras_needs_no_approval() -> None:
    scope = QueryScope(cameras=("c1", "c2"))
    assert needs_approval(CAPS, scope, since_us=NOW - HOUR, until_us=NOW) == []
    assert (
        needs_approval(
            CAPS, QueryScope(plate_patterns=("1-ABC-1*",)), since_us=NOW - DAY, until_us=NOW
        )
        == []
    )


def test_caps_are_data_per_profile() -> None:
    assert isinstance(CAPS, WideSearchCaps) and CAPS.basis == "project policy"
    assert profile("NL").wide_search.max_days == 28


def test_profiles_are_frozen() -> None:
    p: JurisdictionProfile = profile("BE")
    with pytest.raises(AttributeError):
        p.reads_max_days = 999  # type: ignore[misc]
