"""The pure parts of investigation searches: plate patterns and their index plans, confusable
characters, drawn areas, journeys, convoy and multi-site rankings (no store, no server)."""

from __future__ import annotations

import itertools
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kruispunt.domain.cameras import Camera
from kruispunt.plates import confusable_key
from kruispunt.search.area import cameras_in, parse_area
from kruispunt.search.convoy import CoRead, TargetPassage, collapse_passages, rank_companions
from kruispunt.search.errors import SearchInvalid
from kruispunt.search.journey import Passage, haversine_m, journey
from kruispunt.search.multisite import SiteVehicle, rank_multi_site
from kruispunt.search.patterns import (
    PlatePattern,
    key_sql,
    match_kind,
    parse_pattern,
    plan_for,
    prefix_variants,
    successor,
)

S = 1_000_000


# -- patterns -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("1-ab?-12*", "1AB?12*"),
        (" 1 ABC 123 ", "1ABC123"),
        ("1AB**3", "1AB*3"),
        ("AB.12?", "AB12?"),
    ],
)
def test_patterns_are_normalised_as_plates_are(raw: str, text: str) -> None:
    assert parse_pattern(raw).text == text


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("", "empty"),
        ("1AB%12", "not a plate character"),
        ("1AB_12", "not a plate character"),
        ("?*1", "at least 2 known"),
        ("1" * 13, "at most 12"),
        ("1?????????2", "at most 8 wildcards"),
        ("x" * 40, "at most 32"),
        ("1ÄB123", "not a plate character"),
    ],
)
def test_malformed_patterns_are_refused_with_a_clear_message(raw: str, says: str) -> None:
    with pytest.raises(SearchInvalid, match=says) as info:
        parse_pattern(raw)
    assert info.value.status == 400 and info.value.code == "invalid_pattern"


def test_successor_stays_in_the_plate_alphabet() -> None:
    assert successor("1AB") == "1AC"
    assert successor("1A9") == "1AA"  # never ':' (a collation may ignore punctuation)
    assert successor("1AZ") == "1B"
    assert successor("ZZ") is None


def test_confusable_prefixes_are_bounded_by_shortening_never_by_dropping() -> None:
    assert set(prefix_variants("1AB", 32)) == {"1AB", "1A8", "IAB", "IA8", "LAB", "LA8"}
    many = prefix_variants("0000", 32)  # 4^4 = 256 variants: shortened to two characters
    assert len(many) == 16 and all(len(p) == 2 for p in many)
    assert set(many) == {a + b for a in "0ODQ" for b in "0ODQ"}
    assert prefix_variants("0000", 3) == []  # not even one character fits: no range


def test_index_plans() -> None:
    exact = plan_for(parse_pattern("1ABC123"), confusable=False)
    assert exact.equals == ("1ABC123",) and not exact.time_scan
    tolerant = plan_for(parse_pattern("1ABC123"), confusable=True)
    assert len(tolerant.equals) == 3 * 2 * 3 * 2  # 1/I/L, B/8, 1/I/L, 2/Z
    assert {"1ABC123", "IA8C1Z3", "LABCL23"} <= set(tolerant.equals)
    heavy = plan_for(parse_pattern("0D0Q0O"), confusable=True)  # 4^6 variants: too many
    assert not heavy.equals and heavy.ranges and heavy.key_like == "000000"
    partial = plan_for(parse_pattern("1-AB?-12*"), confusable=False)
    assert partial.ranges == (("1AB", "1AC"),) and partial.like == "1AB_12%"
    assert plan_for(parse_pattern("?AB123"), confusable=False).time_scan


def _sqlite_like(value: str, pattern: str, *, key: bool = False) -> bool:
    conn = sqlite3.connect(":memory:")
    expr = key_sql("?") if key else "?"
    return bool(conn.execute(f"SELECT {expr} LIKE ?", (value, pattern)).fetchone()[0])


plate_chars = st.sampled_from("0123456789ABDGILOQSZ8")
plates = st.text(plate_chars, min_size=2, max_size=8)
patterns = st.lists(st.one_of(plate_chars, st.just("?"), st.just("*")), min_size=2, max_size=8).map(
    "".join
)


@settings(max_examples=300, deadline=None)
@given(plates, patterns, st.booleans())
def test_the_plan_finds_exactly_what_the_pattern_matches(
    plate: str, raw: str, confusable: bool
) -> None:
    """What the store selects (index ranges, then the residual LIKE on the plate or on its
    confusable key, evaluated by SQLite itself) is what the pattern means."""
    try:
        pattern = parse_pattern(raw)
    except SearchInvalid:
        return
    plan = plan_for(pattern, confusable=confusable)
    in_index = (
        plate in plan.equals
        if plan.equals
        else plan.time_scan
        or any(lo <= plate and (hi is None or plate < hi) for lo, hi in plan.ranges)
    )
    selected = in_index
    if plan.like is not None:
        selected = selected and _sqlite_like(plate, plan.like)
    if plan.key_like is not None:
        selected = selected and _sqlite_like(plate, plan.key_like, key=True)
    assert selected == pattern.matches(plate, confusable=confusable)


def test_confusable_key_in_sql_is_the_domain_key() -> None:
    for plate in ("1ABC123", "OD0Q-IL1", "S5Z2G6B8", "XYZ"):
        conn = sqlite3.connect(":memory:")
        assert conn.execute(f"SELECT {key_sql('?')}", (plate,)).fetchone()[0] == confusable_key(
            plate
        )


def test_match_kinds() -> None:
    assert match_kind(PlatePattern("1ABC123"), "1ABC123") == "exact"
    assert match_kind(PlatePattern("1ABC123"), "IABC123") == "confusable"
    assert match_kind(PlatePattern("1AB?123"), "1ABX123") == "pattern"
    assert match_kind(PlatePattern("1AB?123"), "IABX123") == "confusable"


# -- areas ----------------------------------------------------------------------------------
def _camera(cam_id: str, lon: float, lat: float) -> Camera:
    return Camera(id=cam_id, name=cam_id, owner="x", manager="x", zone_id="pz5364", lon=lon,
                  lat=lat)  # fmt: skip


def _box(lon: float, lat: float, d: float) -> dict[str, object]:
    ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d]]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def test_an_area_is_the_cameras_inside_it() -> None:
    cams = [_camera("in", 4.9446, 51.3227), _camera("out", 4.99, 51.35)]
    area = parse_area(_box(4.9446, 51.3227, 0.005))
    assert 0.3 < area.km2 < 0.8  # ~700 m x ~1100 m
    assert cameras_in(area, cams) == ["in"]
    feature = {"type": "Feature", "properties": {}, "geometry": _box(4.9446, 51.3227, 0.005)}
    assert cameras_in(parse_area(feature), cams) == ["in"]


@pytest.mark.parametrize(
    ("doc", "code"),
    [
        (_box(4.5, 51.0, 1.0), "area_too_large"),  # ~15,000 km²: no scene is that big
        ({"type": "Point", "coordinates": [4.9, 51.3]}, "invalid_area"),
        ({"type": "Polygon", "coordinates": [[[4.9, 51.3], [4.91, 51.31], [4.9, 51.31],
                                              [4.91, 51.3], [4.9, 51.3]]]}, "invalid_area"),
        ({"type": "Polygon", "coordinates": [[[400, 51], [401, 51], [401, 52], [400, 51]]]},
         "invalid_area"),
        ({"type": "Polygon", "coordinates": "nonsense"}, "invalid_area"),
        ("not an object", "invalid_area"),
    ],
)  # fmt: skip
def test_absurd_or_broken_areas_are_refused(doc: object, code: str) -> None:
    with pytest.raises(SearchInvalid) as info:
        parse_area(doc)
    assert info.value.code == code and info.value.status == 400


# -- journeys -------------------------------------------------------------------------------
POSITIONS = {"a": (51.0, 4.0), "b": (51.009, 4.0), "c": (51.018, 4.0), "far": (50.0, 4.0)}


def test_haversine_is_the_great_circle_distance() -> None:
    assert haversine_m(51.0, 4.0, 51.009, 4.0) == pytest.approx(1000.8, abs=1.0)
    assert haversine_m(51.0, 4.0, 51.0, 4.0) == 0.0


def test_a_journey_is_trips_of_legs_with_average_speeds() -> None:
    t0 = 1_700_000_000 * S
    trips = journey(
        [
            Passage(seq=1, camera_id="a", captured_us=t0),
            Passage(seq=2, camera_id="a", captured_us=t0 + 3 * S),  # second lane: same passage
            Passage(seq=3, camera_id="b", captured_us=t0 + 60 * S),
            Passage(seq=4, camera_id="c", captured_us=t0 + 120 * S),
            Passage(seq=5, camera_id="c", captured_us=t0 + 7200 * S),  # two hours later
            Passage(seq=6, camera_id="far", captured_us=t0 + 7260 * S),  # 111 km in a minute
        ],
        POSITIONS,
        trip_gap_us=1800 * S,
    )
    assert [t.cameras for t in trips] == [["a", "b", "c"], ["c", "far"]]
    first = trips[0]
    assert [round(leg.avg_kmh or 0) for leg in first.legs] == [60, 60]
    assert first.distance_m == pytest.approx(2001.6, abs=2)
    assert not any(leg.implausible for leg in first.legs)
    assert trips[1].legs[0].implausible  # a cloned plate or a misread
    unknown = journey(
        [Passage(seq=1, camera_id="a", captured_us=t0),
         Passage(seq=2, camera_id="nowhere", captured_us=t0 + S)], POSITIONS,
    )  # fmt: skip
    assert unknown[0].legs[0].distance_m is None and unknown[0].legs[0].avg_kmh is None


# -- convoys --------------------------------------------------------------------------------
def test_convoy_ranks_vehicles_by_shared_passages_with_the_evidence() -> None:
    t = [1_700_000_000 * S + i * 3600 * S for i in range(4)]
    passages = [TargetPassage("a", t[0]), TargetPassage("b", t[1]), TargetPassage("c", t[2]),
                TargetPassage("a", t[3])]  # fmt: skip
    around = [
        [CoRead("FOLLOW1", "BE", t[0] + 20 * S), CoRead("ONCE", "BE", t[0] - 5 * S),
         CoRead("1ABC123", "BE", t[0])],  # the target itself
        [CoRead("FOLLOW1", "BE", t[1] + 25 * S), CoRead("AHEAD", "NL", t[1] - 30 * S),
         CoRead("FOLLOW1", "BE", t[1] + 50 * S)],  # its nearest read counts, once
        [CoRead("FOLLOW1", "BE", t[2] + 15 * S), CoRead("AHEAD", "NL", t[2] - 40 * S),
         CoRead("IABC123", "BE", t[2] + 1 * S)],  # a misread of the target
        [CoRead("LATE", "BE", t[3] + 500 * S), CoRead("AHEAD", None, t[3] - 35 * S)],
    ]  # fmt: skip
    ranked = rank_companions("1ABC123", passages, around, gap_us=60 * S, min_together=2)
    # Same passages and cameras: the one that kept closer first.
    assert [(c.plate, c.together, c.cameras) for c in ranked] == [
        ("FOLLOW1", 3, 3), ("AHEAD", 3, 3),
    ]  # fmt: skip
    follow, ahead = ranked
    assert follow.after == 3 and follow.before == 0 and follow.mean_gap_s == pytest.approx(20)
    assert [e.delta_s for e in follow.evidence] == [20, 25, 15]
    assert ahead.country == "NL" and ahead.before == 3
    assert all(c.plate not in ("ONCE", "LATE", "IABC123", "1ABC123") for c in ranked)
    assert rank_companions("1ABC123", passages, around, gap_us=60 * S, min_together=4) == []


def test_convoy_passages_at_one_camera_within_the_gap_are_one() -> None:
    t0 = 1_700_000_000 * S
    got = collapse_passages(
        [TargetPassage("a", t0 + 30 * S), TargetPassage("a", t0), TargetPassage("b", t0 + 40 * S),
         TargetPassage("a", t0 + 900 * S)], 60 * S,
    )  # fmt: skip
    assert got == [TargetPassage("a", t0), TargetPassage("b", t0 + 40 * S),
                   TargetPassage("a", t0 + 900 * S)]  # fmt: skip


# -- multi-site -----------------------------------------------------------------------------
def _v(plate: str, reads: int = 1, at: int = 0) -> SiteVehicle:
    return SiteVehicle(plate=plate, country="BE", reads=reads, first_us=at, last_us=at,
                       cameras=["c"])  # fmt: skip


def test_multi_site_ranks_by_sites_then_reads() -> None:
    sites = [
        {"A": _v("A"), "B": _v("B", 5), "C": _v("C")},
        {"A": _v("A"), "B": _v("B")},
        {"A": _v("A"), "D": _v("D")},
    ]
    ranked = rank_multi_site(sites, ["north", None, "south"], min_sites=2)
    assert [(v.plate, v.sites, v.reads) for v in ranked] == [("A", 3, 3), ("B", 2, 6)]
    assert [s.label for s in ranked[0].sightings] == ["north", None, "south"]
    assert [v.plate for v in rank_multi_site(sites, ["", "", ""], min_sites=3)] == ["A"]
    with pytest.raises(ValueError, match="at least 2"):
        rank_multi_site(sites, ["", "", ""], min_sites=1)


def test_every_partial_plate_the_policy_allows_has_an_index_range() -> None:
    """Four known characters and no leading wildcard (the caps without approval) always give
    a plate range, confusable or not: such searches never fall back to a scan."""
    for raw in ("1AB?12*", "1ABC*", "1?B?1?3", "OO0D*", "QQQQ??"):
        for confusable in (False, True):
            plan = plan_for(parse_pattern(raw), confusable=confusable)
            assert not plan.time_scan, (raw, confusable)
    assert len(list(itertools.islice(prefix_variants("OO0D", 32), 100))) <= 32
