"""Section (average-speed) control: the pure rules, the processor, and a real node.

Margins as docs/DOMAIN.md gives them: Belgium 6 km/h up to 100 km/h and 6% above (press
reports of the federal practice: on a 120 km/h motorway a fine follows from a measured
129 km/h); the Netherlands 3 km/h up to 100 km/h and 3% above, sections of at least 200 m,
one fine for the section with the highest excess on a route of chained sections.
"""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import msgspec
import pytest

from kruispunt.config import Config, ConfigError, load_config
from kruispunt.domain.cameras import Camera, Purpose
from kruispunt.domain.reads import Read
from kruispunt.enforcement.offences import Offence, OffenceQuery, OffenceStore
from kruispunt.enforcement.section_control import (
    SWEEP_US,
    ArrivalClockEstimator,
    SectionControl,
    SectionFindings,
    SectionsFileError,
    StaticClocks,
    load_plan,
    open_passage_bytes,
)
from kruispunt.enforcement.sections import (
    US,
    ClockStatus,
    Outcome,
    ReadRef,
    SectionPlan,
    applicable_limit,
    average_speed_kmh,
    clock_error_shift_kmh,
    corrected_kmh,
    judge,
    margin_kmh,
    pair_clock_checked,
)
from kruispunt.enforcement.stats import SpeedStatsStore
from kruispunt.node import Node
from kruispunt.sim.geo import distance_m, to_lambert
from kruispunt.sim.layout import build_province_cameras
from tests.conftest import make_camera, on_both_engines

pytestmark = on_both_engines

BXL = zoneinfo.ZoneInfo("Europe/Brussels")
T0 = 1_795_000_000_000_000  # 2026-11-18, a Wednesday: 12:06 in Brussels
BE = {"fixed_kmh": 6, "up_to_kmh": 100, "percent": 6, "source": "DOMAIN.md (BE)"}
NL = {"fixed_kmh": 3, "up_to_kmh": 100, "percent": 3, "route_rule": "highest_excess",
      "min_section_m": 200, "source": "DOMAIN.md (NL)"}  # fmt: skip


def section(
    sid: str = "s1", entry: str = "cam-a", exit: str = "cam-b", **kw: Any
) -> dict[str, Any]:
    return {"id": sid, "name": sid.upper(), "entry_camera": entry, "exit_camera": exit,
            "length_m": 1000.0, "limit_kmh": 50, "jurisdiction": "BE", **kw}  # fmt: skip


def make_plan(*sections: dict[str, Any]) -> SectionPlan:
    return SectionPlan.model_validate(
        {"schema": 1, "margins": {"BE": BE, "NL": NL}, "sections": list(sections or [section()])}
    )


def ref(camera: str, at_us: int, *, skew_us: int = 0, vclass: str | None = "car") -> ReadRef:
    return ReadRef(camera, f"{camera}-{at_us}", 1, at_us, 0.95, skew_us, vclass)


def at_kmh(length_m: float, kmh: float) -> int:
    """The travel time over ``length_m`` at ``kmh``, in µs."""
    return round(length_m / (kmh / 3.6) * US)


# -- the computation ------------------------------------------------------------------------
def test_one_second_of_clock_error_over_1_km_at_70_kmh_is_about_1_4_kmh() -> None:
    assert clock_error_shift_kmh(1000, 70, 1.0) == pytest.approx(1.4, abs=0.02)
    # The same with two reads: the exit camera's clock 1 s behind shortens the duration.
    entry, exit = ref("a", T0), ref("b", T0 + at_kmh(1000, 70) - US, skew_us=-US)
    assert average_speed_kmh(1000, exit.at_us - entry.at_us) - 70 == pytest.approx(1.4, abs=0.02)


def test_pairs_with_a_clock_skew_above_the_bound_are_excluded() -> None:
    bound = 500_000
    good, late = ClockStatus("a", 200_000, 32, "t"), ClockStatus("b", -US, 32, "t")
    assert pair_clock_checked(good, ClockStatus("b", -bound, 32, "t"), bound)
    assert not pair_clock_checked(good, late, bound)  # the 1.4 km/h pair above
    assert not pair_clock_checked(late, good, bound)
    assert not pair_clock_checked(good, None, bound)  # never measured: not checked
    assert not pair_clock_checked(good, ClockStatus("b", None, 2, "t"), bound)


@pytest.mark.parametrize(
    ("limit", "measured", "offence"),
    [(120, 128.0, False), (120, 129.0, True), (70, 76.9, False), (70, 77.0, True),
     (50, 56.99, False), (90, 97.0, True)],
)  # fmt: skip
def test_belgian_margin(limit: int, measured: float, offence: bool) -> None:
    rule = make_plan().margins["BE"]
    assert (corrected_kmh(rule, measured, limit) > limit) is offence


def test_belgian_margin_is_6_kmh_up_to_100_and_6_percent_above() -> None:
    rule = make_plan().margins["BE"]
    assert margin_kmh(rule, 99.0, 90) == 6.0
    assert margin_kmh(rule, 129.0, 120) == pytest.approx(7.74)
    assert corrected_kmh(rule, 129.0, 120) == 121.0  # 121.26 rounded down


@pytest.mark.parametrize(
    ("limit", "measured", "offence"),
    [(80, 83.9, False), (80, 84.0, True), (130, 135.0, False), (130, 136.0, True)],
)
def test_dutch_margin(limit: int, measured: float, offence: bool) -> None:
    rule = make_plan().margins["NL"]
    assert (corrected_kmh(rule, measured, limit) > limit) is offence


def test_judge_computes_average_speed_margin_and_excess() -> None:
    s = make_plan().sections[0]
    verdict = judge(s, make_plan().margins["BE"], ref("cam-a", T0), ref("cam-b", T0 + 45 * US),
                    BXL)  # fmt: skip
    assert verdict.outcome is Outcome.OFFENCE
    assert verdict.average_kmh == pytest.approx(80.0)  # 1000 m in 45 s
    assert (verdict.margin_kmh, verdict.corrected_kmh, verdict.excess_kmh) == (6.0, 74.0, 24.0)
    slow = judge(s, make_plan().margins["BE"], ref("cam-a", T0), ref("cam-b", T0 + 64 * US), BXL)
    assert slow.outcome is Outcome.COMPLIANT  # 56.25 km/h - 6 = 50: not above 50


def test_a_late_exit_or_an_impossible_pair_is_no_offence() -> None:
    s, rule = make_plan().sections[0], make_plan().margins["BE"]
    assert s.window_us == 180 * US  # 1000 m at 20 km/h
    late = judge(s, rule, ref("cam-a", T0), ref("cam-b", T0 + s.window_us + 1), BXL)
    assert late.outcome is Outcome.TOO_LATE
    backwards = judge(s, rule, ref("cam-a", T0), ref("cam-b", T0 - US), BXL)
    assert backwards.outcome is Outcome.IMPLAUSIBLE
    rocket = judge(s, rule, ref("cam-a", T0), ref("cam-b", T0 + 10 * US), BXL)  # 360 km/h
    assert rocket.outcome is Outcome.IMPLAUSIBLE


def test_limits_by_vehicle_class_and_time_favour_the_driver() -> None:
    s = make_plan(
        section(limit_kmh=70, limits=[
            {"limit_kmh": 60, "vehicle_classes": ["truck"]},
            {"limit_kmh": 30, "from_time": "22:00", "until_time": "06:00", "weekdays": [3]},
        ])
    ).sections[0]  # fmt: skip
    noon = dt.datetime(2026, 11, 18, 12, 0, tzinfo=BXL)  # a Wednesday
    night = dt.datetime(2026, 11, 18, 23, 0, tzinfo=BXL)
    assert applicable_limit(s, {"car"}, (noon,)) == (70, "section")
    assert applicable_limit(s, {"truck"}, (noon,)) == (60, "limits[0]")
    assert applicable_limit(s, {"truck", None}, (noon,)) == (70, "section")  # one camera: ?
    assert applicable_limit(s, {"car"}, (night,)) == (30, "limits[1]")
    assert applicable_limit(s, {"car"}, (night + dt.timedelta(days=1),)) == (70, "section")
    assert applicable_limit(s, {"car"}, (night, noon))[0] == 70  # the limit changed: the highest


def test_the_plan_refuses_what_would_give_wrong_offences() -> None:
    with pytest.raises(ValueError, match="shorter than 200 m"):
        make_plan(section(jurisdiction="NL", length_m=150))
    with pytest.raises(ValueError, match="min_speed_kmh above a limit"):
        make_plan(section(min_speed_kmh=60))
    with pytest.raises(ValueError, match="no margins for jurisdiction 'FR'"):
        make_plan(section(jurisdiction="FR"))
    with pytest.raises(ValueError, match="must chain"):
        make_plan(section("s1", "a", "b", route="r"), section("s2", "c", "d", route="r"))


def test_the_packaged_sections_are_the_simulated_section_control_pairs() -> None:
    plan = load_plan()
    cameras = {c.id: c for c in build_province_cameras()}
    assert len(plan.sections) == 4
    for s in plan.sections:
        a, b = cameras[s.entry_camera], cameras[s.exit_camera]
        assert Purpose.SECTION_CONTROL in a.purposes and Purpose.SECTION_CONTROL in b.purposes
        assert a.road == b.road
        straight = distance_m(to_lambert(a.lon, a.lat), to_lambert(b.lon, b.lat))
        assert straight <= s.length_m <= 1.25 * straight  # along the road (the N153 bends)


def test_a_bad_sections_file_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "sections.toml"
    same = SECTIONS_TOML.replace("pz5352-c101", "pz5364-c101")  # exit = entry
    bad.write_text(same)
    with pytest.raises(SectionsFileError, match="entry and exit are the same camera"):
        load_plan(bad)
    with pytest.raises(ConfigError, match="sections"):
        load_config(None, env={}, overrides={"sections": {"file": str(bad)}})


# -- the processor, without a store -----------------------------------------------------------
def cam(cam_id: str, *purposes: Purpose) -> Camera:
    return make_camera(cam_id, zone="pz5364", purposes=purposes or (Purpose.SECTION_CONTROL,))


class Feed:
    """A processor fed by hand: reads get the next seq; findings are collected."""

    def __init__(self, processor: SectionControl):
        self.processor = processor
        self.seq = 0
        self.offences: list[Offence] = []
        self.speeds: dict[Any, int] = {}

    def __call__(self, *reads: Read) -> SectionFindings:
        numbered = []
        for r in reads:
            self.seq += 1
            numbered.append(msgspec.structs.replace(r, seq=self.seq))
        found = self.processor.process(numbered)
        self.offences += found.offences
        for k, n in found.speeds.items():
            self.speeds[k] = self.speeds.get(k, 0) + n
        return found

    def later(self, at_us: int) -> None:
        """Time passes: a read of some other camera arrives at ``at_us``."""
        self(read("elsewhere", at_us, plate="9ZZZ999"))


def read(camera: str, at_us: int, plate: str = "1ABC123", **kw: Any) -> Read:
    delay = kw.pop("delay_us", 200_000)
    fields: dict[str, Any] = {
        "seq": 0, "read_id": f"{camera}-{plate}-{at_us}", "camera_id": camera,
        "zone_id": kw.pop("zone", "pz5364"), "captured_us": at_us, "received_us": at_us + delay,
        "plate_raw": plate, "plate": plate, "country": "BE", "country_inferred": False,
        "plate_format": "BE.current", "confidence": 0.95, "vehicle_class": "car",
    }  # fmt: skip
    fields.update(kw)
    return Read(**fields)


def processor(plan: SectionPlan, cameras: Sequence[Camera] = (), **kw: Any) -> Feed:
    cams = cameras or [cam(c) for s in plan.sections for c in (s.entry_camera, s.exit_camera)]
    kw.setdefault("clocks", StaticClocks({c.id: 0 for c in cams}))
    kw.setdefault("max_skew_us", US)
    kw.setdefault("grace_us", 60 * US)
    return Feed(SectionControl(plan, cameras={c.id: c for c in cams}, **kw))


def test_a_speeding_passage_is_an_offence_with_its_evidence() -> None:
    feed = processor(make_plan())
    feed(read("cam-a", T0))
    assert feed.processor.open_passages() == 1
    feed(read("cam-b", T0 + 45 * US, zone="pz5352"))
    (offence,) = feed.offences
    assert (offence.plate, offence.country, offence.zone_id) == ("1ABC123", "BE", "pz5352")
    assert offence.camera_ids == ("cam-a", "cam-b")
    assert offence.day == "2026-11-18" and offence.occurred_us == T0 + 45 * US
    ev = offence.evidence
    assert ev["section_id"] == "s1" and ev["length_m"] == 1000.0 and ev["duration_s"] == 45.0
    assert (ev["average_kmh"], ev["corrected_kmh"], ev["limit_kmh"]) == (80.0, 74.0, 50)
    assert ev["margin"]["margin_kmh"] == 6.0 and ev["margin"]["jurisdiction"] == "BE"
    assert ev["entry"]["read_id"] == f"cam-a-1ABC123-{T0}" and ev["exit"]["camera_id"] == "cam-b"
    assert ev["clock"]["max_skew_s"] == 1.0
    low, high = ev["clock"]["speed_range_kmh"]
    assert low < 80.0 < high
    assert feed.processor.open_passages() == 0


def test_a_compliant_passage_leaves_no_trace() -> None:
    feed = processor(make_plan())
    feed(read("cam-a", T0), read("cam-a", T0 + US, plate="2XYZ987"))
    feed(read("cam-b", T0 + 70 * US))  # 51 km/h: within the margin
    assert feed.offences == [] and feed.processor.open_passages() == 1
    assert sum(feed.speeds.values()) == 1  # a count in a 5 km/h bin, no plate
    feed.later(T0 + 180 * US + 60 * US + SWEEP_US + US)  # the window and grace have passed
    assert feed.processor.open_passages() == 0 and feed.processor.stats["expired"] == 1


def test_never_exiting_or_exiting_too_late_is_no_offence() -> None:
    feed = processor(make_plan())
    feed(read("cam-a", T0), read("cam-a", T0, plate="2XYZ987"))
    # Exits after the window (less than 20 km/h): no offence.
    feed(read("cam-b", T0 + 181 * US, plate="2XYZ987"))
    assert feed.processor.stats["too_late"] == 1
    # Never exits: forgotten once the window and the grace have passed ...
    feed.later(T0 + 180 * US + 60 * US + SWEEP_US + US)
    assert feed.processor.open_passages() == 0
    # ... so an exit read arriving later than that finds nothing.
    feed(read("cam-b", T0 + 30 * US, delay_us=10 * 60 * US))
    assert feed.offences == [] and feed.processor.stats["exit_unmatched"] == 1


def test_reads_of_a_camera_whose_clock_drifts_are_not_used() -> None:
    plan = make_plan()
    skewed = processor(plan, clocks=StaticClocks({"cam-a": 0, "cam-b": 1_200_000}))
    skewed(read("cam-a", T0))
    skewed(read("cam-b", T0 + 45 * US))
    assert skewed.offences == []
    assert skewed.processor.stats["clock_excluded"] == 1
    assert skewed.processor.stats["pairs_clock_excluded"] == 1
    assert skewed.processor.drifting_cameras() == ["cam-b"]
    within = processor(plan, clocks=StaticClocks({"cam-a": 0, "cam-b": 800_000}))
    within(read("cam-a", T0))
    within(read("cam-b", T0 + 45 * US))
    assert len(within.offences) == 1


def test_the_arrival_estimate_catches_a_clock_running_ahead() -> None:
    clocks = ArrivalClockEstimator(samples=8, min_samples=3)
    feed = processor(make_plan(), clocks=clocks)
    for i in range(3):  # cam-a is fine; cam-b's clock is 2 s ahead: reads "arrive early"
        feed(read("cam-a", T0 - 600 * US + i * US, plate=f"W{i}"))
        feed(read("cam-b", T0 - 600 * US + i * US, plate=f"V{i}", delay_us=-1_800_000))
    status = clocks.status("cam-b")
    assert status is not None and status.skew_us == 1_800_000
    feed(read("cam-a", T0))
    feed(read("cam-b", T0 + 45 * US, delay_us=-1_800_000))
    assert feed.offences == [] and feed.processor.stats["pairs_clock_excluded"] == 1


def test_a_replayed_buffer_is_no_evidence_of_a_clock() -> None:
    clocks = ArrivalClockEstimator(samples=8, min_samples=3)
    feed = processor(make_plan(), clocks=clocks)
    for i in range(5):  # arrived two hours late, flagged as a back-fill: the clock is unknown
        late = read("cam-b", T0 - 7200 * US + i * US, plate=f"V{i}", delay_us=7200 * US)
        feed(msgspec.structs.replace(late, backfilled=True))
    assert clocks.status("cam-b") is None
    for i in range(3):  # then live uploads a second after capture
        feed(read("cam-b", T0 + i * US, plate=f"W{i}", delay_us=US))
    status = clocks.status("cam-b")
    assert status is not None and status.skew_us == -US


def test_only_cameras_registered_for_section_control_count() -> None:
    plan = make_plan()
    feed = processor(plan, [cam("cam-a", Purpose.POLICE), cam("cam-b")])
    feed(read("cam-a", T0))
    feed(read("cam-b", T0 + 45 * US))
    assert feed.offences == [] and feed.processor.stats["purpose_excluded"] == 1


def chained(jurisdiction: str) -> SectionPlan:
    return make_plan(
        section("s1", "cam-a", "cam-b", route="r", jurisdiction=jurisdiction),
        section("s2", "cam-b", "cam-c", route="r", jurisdiction=jurisdiction),
    )


def test_chained_sections_nl_one_fine_for_the_highest_excess() -> None:
    feed = processor(chained("NL"))
    feed(read("cam-a", T0))
    feed(read("cam-b", T0 + 50 * US))  # s1: 72 km/h, corrected 69, excess 19
    assert feed.offences == [] and feed.processor.pending_routes() == 1
    feed(read("cam-c", T0 + 50 * US + 60 * US))  # s2: 60 km/h, corrected 57, excess 7
    (offence,) = feed.offences
    assert offence.evidence["section_id"] == "s1" and offence.evidence["excess_kmh"] == 19.0
    route = offence.evidence["route"]
    assert route["rule"] == "highest_excess"
    assert [o["section_id"] for o in route["offending"]] == ["s1", "s2"]
    assert feed.processor.pending_routes() == 0


def test_chained_sections_nl_route_ends_when_the_next_section_is_not_driven() -> None:
    feed = processor(chained("NL"))
    feed(read("cam-a", T0))
    feed(read("cam-b", T0 + 50 * US))
    assert feed.offences == []
    feed.later(T0 + 50 * US + 180 * US + 60 * US + SWEEP_US + US)  # s2's window has passed
    (offence,) = feed.offences
    assert offence.evidence["section_id"] == "s1"


def test_chained_sections_be_each_section_on_its_own() -> None:
    feed = processor(chained("BE"))
    feed(read("cam-a", T0))
    feed(read("cam-b", T0 + 50 * US))  # one read: the exit of s1 and the entry of s2
    feed(read("cam-c", T0 + 50 * US + 60 * US))
    assert [o.evidence["section_id"] for o in feed.offences] == ["s1", "s2"]
    assert len({o.id for o in feed.offences}) == 2


def test_an_open_passage_is_small() -> None:
    assert open_passage_bytes(2000) < 600


# -- a real node ------------------------------------------------------------------------------
SECTIONS_TOML = """
schema = 1
[margins.BE]
fixed_kmh = 6
up_to_kmh = 100
percent = 6
source = "DOMAIN.md"
[[sections]]
id = "n12-test"
name = "N12 test"
entry_camera = "pz5364-c101"
exit_camera = "pz5352-c101"
length_m = 3200
limit_kmh = 70
jurisdiction = "BE"
"""


@pytest.fixture
def sc_config(config: Config, tmp_path: Path) -> Config:
    path = tmp_path / "sections.toml"
    path.write_text(SECTIONS_TOML)
    return config.model_copy(
        update={
            "processors": config.processors.model_copy(update={"enabled": ("section_control",)}),
            "sections": config.sections.model_copy(
                update={"file": path, "clock_min_samples": 1, "clock_samples": 4}
            ),
        }
    )


@pytest.fixture
def sc_node(sc_config: Config) -> Iterator[Node]:
    node = start_node(sc_config)
    yield node
    node.stop()


def start_node(config: Config) -> Node:
    node = Node(config)
    node.start()
    purposes = (Purpose.POLICE, Purpose.SECTION_CONTROL)
    node.upsert_cameras([
        make_camera("pz5364-c101", purposes=purposes),
        make_camera("pz5352-c101", zone="pz5352", purposes=purposes),
    ])  # fmt: skip
    return node


def offences(node: Node, want: int) -> list[Offence]:
    deadline = time.monotonic() + 10
    while True:
        found = OffenceStore.query(node.store.reader(), OffenceQuery(module="section_control"))
        if len(found) >= want or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def wait_cursor(node: Node, seq: int) -> None:
    deadline = time.monotonic() + 10
    while node.store.cursor("section_control") < seq:
        assert time.monotonic() < deadline, "section control did not catch up"
        time.sleep(0.05)


NOW = (time.time_ns() // 1000) - 3600 * US  # an hour ago: well inside retention


def test_node_stores_offences_with_evidence_and_forgets_compliant_passages(
    sc_node: Node,
) -> None:
    trip = at_kmh(3200, 90)  # 90 km/h on a 70 road: corrected 84
    reads = [
        read("pz5364-c101", NOW, "1ABC123"),
        read("pz5364-c101", NOW + US, "2XYZ987"),
        read("pz5352-c101", NOW + trip, "1ABC123", zone="pz5352"),
        read("pz5352-c101", NOW + US + at_kmh(3200, 72), "2XYZ987", zone="pz5352"),
    ]
    result = sc_node.writer.submit_reads(reads).result()
    (offence,) = offences(sc_node, 1)
    wait_cursor(sc_node, max(result.seqs))
    assert offence.plate == "1ABC123" and offence.zone_id == "pz5352"
    ev = offence.evidence
    assert ev["section_id"] == "n12-test" and ev["average_kmh"] == pytest.approx(90.0, abs=0.01)
    assert (ev["corrected_kmh"], ev["limit_kmh"], ev["excess_kmh"]) == (84.0, 70, 14.0)
    assert ev["entry"]["seq"] == result.seqs[0] and ev["exit"]["seq"] == result.seqs[2]
    assert ev["clock"]["source"] == "arrival_delay"
    # The compliant car (72 km/h, corrected 66) is a count in the speed histogram only.
    day = offence.day
    bins = SpeedStatsStore.distribution(sc_node.store.reader(), zones={"pz5352"},
                                        since_day=day, until_day=day)  # fmt: skip
    assert bins == {70: 1, 90: 1}
    (runner,) = sc_node.runners
    assert isinstance(runner.processor, SectionControl)
    assert runner.processor.open_passages() == 0


def test_node_rebuilds_open_passages_after_a_restart(sc_config: Config) -> None:
    node = start_node(sc_config)
    result = node.writer.submit_reads([read("pz5364-c101", NOW, "1ABC123")]).result()
    wait_cursor(node, result.seqs[0])
    node.stop()

    node = start_node(sc_config)
    try:
        exit = read("pz5352-c101", NOW + at_kmh(3200, 100), "1ABC123", zone="pz5352")
        node.writer.submit_reads([exit]).result()
        (offence,) = offences(node, 1)
        assert offence.evidence["entry"]["seq"] == result.seqs[0]
        (runner,) = node.runners
        assert isinstance(runner.processor, SectionControl)
        assert runner.processor.stats["rebuilt_from_reads"] == 1
    finally:
        node.stop()
