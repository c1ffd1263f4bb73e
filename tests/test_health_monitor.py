"""The camera health monitor on a real node (SQLite and PostgreSQL), with a settable clock:
a camera with weeks of its own history that goes silent raises one alarm, stored and sent to
its manager's zone only, kept (not re-sent) while it lasts and cleared when reads resume;
a lost heartbeat and a clock ahead are found; a restart does not raise an open alarm again."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest
from prometheus_client import REGISTRY

from kruispunt.access.principals import Principal, Role
from kruispunt.config import Config
from kruispunt.domain.reads import Read
from kruispunt.domain.zones import network_zones
from kruispunt.health.config import HealthConfig
from kruispunt.health.events import AlarmEvent
from kruispunt.health.holidays import easter_sunday
from kruispunt.health.monitor import pair_alarms
from kruispunt.health.profile import bucket_start
from kruispunt.health.routing import manager_zone, may_see, receives_alarm
from kruispunt.health.settings import HealthMonitorConfig
from kruispunt.health.tracker import ReadTracker
from kruispunt.live.hub import Subscription
from kruispunt.live.webhooks import WebhookDispatcher
from kruispunt.node import Node
from kruispunt.processors.traffic_counts import BUCKET_US
from kruispunt.store.base import ReadStore
from kruispunt.store.sql import SqlStore
from tests.backends import require_postgres, unique_name
from tests.conftest import drop_pg_schema, make_camera, make_config, on_both_engines
from tests.people import Clock, p
from tests.test_webhooks import Parts, Receiver, eventually, hook_for
from tests.test_webhooks import parts as parts  # the webhook fixtures
from tests.test_webhooks import receivers as receivers
from tests.test_webhooks import running as running

pytestmark = on_both_engines

SECOND = 1_000_000
MINUTE = 60 * SECOND
DAY = 86_400 * SECOND
A, B = "pz5364", "pz5352"
CAM_A, CAM_B = "pz5364-c101", "pz5352-c101"
HEALTH = {"tick_s": 3600.0, "relearn_s": 86_400.0}


def health_config(tmp_path: Path, engine: str) -> Iterator[Config]:
    if engine == "sqlite":
        yield make_config(tmp_path, health=HEALTH)
        return
    url = require_postgres()
    schema = unique_name("kp_health")
    yield make_config(tmp_path, store={"url": url, "pg_schema": schema}, health=HEALTH)
    drop_pg_schema(url, schema)


@pytest.fixture
def hconfig(tmp_path: Path, engine: str) -> Iterator[Config]:
    yield from health_config(tmp_path, engine)


def start(config: Config) -> Node:
    node = Node(config)
    node.start()
    node.upsert_cameras([
        make_camera(CAM_A, zone=A, manager="PZ Regio Turnhout"),
        make_camera(CAM_B, zone=B, manager="PZ Brasschaat"),
    ])  # fmt: skip
    return node


@pytest.fixture
def hnode(hconfig: Config) -> Iterator[Node]:
    node = start(hconfig)
    yield node
    node.stop()


def history(node: Node, cameras: list[str], now: int, *, per_bucket: int = 40) -> None:
    """Three weeks of steady traffic (and the next hours, so the rate stays usual)."""
    end = bucket_start(now) + 3 * 3600 * SECOND
    counts = {
        (cam, b): (per_bucket, 2, 0)
        for cam in cameras
        for b in range(bucket_start(now) - 21 * DAY, end, BUCKET_US)
    }

    def commit(store: ReadStore) -> None:
        store.commit_processor("test-history", 0, 0, counts)

    node.writer.call(commit).result()


def reads(
    cam: str, zone: str, at_us: int, n: int, *, tag: str, delay_s: float = 0.5, gap_s: float = 1
) -> list[Read]:
    return [
        Read(seq=0, read_id=f"{tag}-{i}", camera_id=cam, zone_id=zone,
             captured_us=at_us - int((i * gap_s + delay_s) * SECOND),
             received_us=at_us - int(i * gap_s * SECOND), plate_raw=f"1-ABC-{i:03d}",
             plate=f"1ABC{i:03d}", country="BE", country_inferred=False, plate_format=None,
             confidence=0.9)
        for i in range(n)
    ]  # fmt: skip


def feed(node: Node, batch: list[Read]) -> None:
    node.writer.submit_reads(batch).result()


async def nothing(sub: Subscription) -> bool:
    try:
        await asyncio.wait_for(sub.get(), 0.2)
    except TimeoutError:
        return True
    return False


def kinds(events: list[AlarmEvent]) -> list[tuple[str, str, str]]:
    return [(e.event, e.alarm.camera_id, e.alarm.kind) for e in events]


def gauge(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_silent_camera_alarms_its_managers_zone_once_and_clears(hnode: Node) -> None:
    node = hnode
    clock = Clock()
    node.health.clock = clock
    t0 = clock.us
    history(node, [CAM_A, CAM_B], t0)
    node.health.relearn(t0)
    feed(node, reads(CAM_A, A, t0, 10, tag="a0"))
    feed(node, reads(CAM_B, B, t0, 10, tag="b0"))
    people = {
        "op-a": p("op-a", A, Role.OPERATOR), "chief-a": p("chief-a", A, Role.ZONE_CHIEF),
        "inv-a": p("inv-a", A, Role.INVESTIGATOR), "op-b": p("op-b", B, Role.OPERATOR),
        "root": p("root", "network", Role.ADMIN),
    }  # fmt: skip
    subs = {name: node.hub.subscribe(who, None) for name, who in people.items()}
    assert node.health.tick() == []
    assert {h.state for h in node.health.health().values()} == {"ok"}

    # Half an hour without a read from A where 40 a quarter hour are usual: silent.
    clock.us = t0 + 30 * MINUTE
    feed(node, reads(CAM_B, B, clock.us, 10, tag="b1"))
    raised = node.health.tick()
    assert kinds(raised) == [("raised", CAM_A, "silence")]
    alarm = raised[0].alarm
    assert raised[0].manager_zone_id == A and alarm.severity == "critical"
    assert "no read for 30.0 min" in alarm.explanation
    for name in ("op-a", "chief-a"):
        message = await asyncio.wait_for(subs[name].get(), 2)
        assert message["type"] == "camera_alarm"
        assert message["alarm"]["event"] == "raised" and message["alarm"]["kind"] == "silence"
        assert message["alarm"]["alarm_id"] == alarm.alarm_id
    for name in ("inv-a", "op-b", "root"):
        assert await nothing(subs[name]), f"{name} heard of A's camera"
    health = node.health.health()
    assert health[CAM_A].state == "alarm" and health[CAM_A].status == "silent"
    assert health[CAM_B].state == "ok"
    # The counts for a dashboard's alerting rule (no camera ids there).
    assert gauge("kruispunt_camera_alarms_open", kind="silence", severity="critical") == 1
    assert gauge("kruispunt_cameras_by_health_state", state="alarm") >= 1

    # Still silent: the same alarm, not sent again.
    clock.us += 5 * MINUTE
    feed(node, reads(CAM_B, B, clock.us, 10, tag="b2"))
    assert node.health.tick() == []
    assert await nothing(subs["op-a"])
    assert node.health.health()[CAM_A].alarms[0].alarm_id == alarm.alarm_id

    # Reads again: cleared, under the same id.
    clock.us += MINUTE
    feed(node, reads(CAM_A, A, clock.us, 10, tag="a1"))
    feed(node, reads(CAM_B, B, clock.us, 10, tag="b3"))
    cleared = node.health.tick()
    assert kinds(cleared) == [("cleared", CAM_A, "silence")]
    assert cleared[0].alarm.alarm_id == alarm.alarm_id
    message = await asyncio.wait_for(subs["op-a"].get(), 2)
    assert message["alarm"]["event"] == "cleared"
    assert node.health.health()[CAM_A].state == "ok"
    assert gauge("kruispunt_camera_alarms_open", kind="silence", severity="critical") == 0

    # Kept for the page and an auditor: raised and cleared, with the explanation.
    stored = node.store.camera_alarm_events()
    assert [(e.event, e.alarm.alarm_id) for e in stored] == [
        ("raised", alarm.alarm_id), ("cleared", alarm.alarm_id),
    ]  # fmt: skip
    assert stored[0].alarm.explanation == alarm.explanation
    assert node.store.open_camera_alarms() == []
    for sub in subs.values():
        sub.close()


def test_an_open_alarm_survives_a_restart_without_being_raised_again(hconfig: Config) -> None:
    node = start(hconfig)
    clock = Clock()
    node.health.clock = clock
    t0 = clock.us
    try:
        history(node, [CAM_A], t0)
        node.health.relearn(t0)
        feed(node, reads(CAM_A, A, t0, 10, tag="a0"))
        clock.us = t0 + 30 * MINUTE
        assert kinds(node.health.tick()) == [("raised", CAM_A, "silence")]
    finally:
        node.stop()
    node = start(hconfig)
    node.health.clock = clock
    try:
        clock.us += MINUTE
        assert node.health.tick() == []  # the silence goes on: nothing new
        assert [a.kind for a in node.health.health()[CAM_A].alarms] == ["silence"]
        assert len(node.store.open_camera_alarms()) == 1
    finally:
        node.stop()


def test_a_lost_heartbeat_alarms_and_a_new_one_clears_it(hnode: Node) -> None:
    node = hnode
    clock = Clock()
    node.health.clock = clock
    node.health.heartbeat(CAM_B)
    clock.us += 60 * SECOND
    assert node.health.tick() == []
    assert node.health.health()[CAM_B].state == "unknown"  # no history: still learning
    clock.us += 120 * SECOND
    lost = node.health.tick()
    assert kinds(lost) == [("raised", CAM_B, "heartbeat_lost")]
    assert lost[0].manager_zone_id == B and "no heartbeat for 180 s" in lost[0].alarm.explanation
    assert node.health.health()[CAM_B].state == "alarm"
    node.health.heartbeat(CAM_B)
    assert kinds(node.health.tick()) == [("cleared", CAM_B, "heartbeat_lost")]


def test_reads_from_the_future_say_the_clock_is_ahead(hnode: Node) -> None:
    node = hnode
    clock = Clock()
    node.health.clock = clock
    t0 = clock.us
    # 12 uploads of 3 reads, 30 s apart, each captured 40 s "after" it arrived.
    for upload in range(12):
        at = t0 - (12 - upload) * 30 * SECOND
        feed(node, reads(CAM_A, A, at, 3, tag=f"u{upload}", delay_s=-40.0, gap_s=0.1))
    events = node.health.tick()
    assert kinds(events) == [("raised", CAM_A, "clock_skew")]
    alarm = events[0].alarm
    assert alarm.severity == "critical" and alarm.explanation.startswith("clock about 40.")
    assert node.health.health()[CAM_A].status == "skewed"
    assert "1ABC" not in alarm.explanation and not any("1ABC" in k for k in alarm.values)


def test_the_profiles_know_the_public_holidays(hnode: Node) -> None:
    node = hnode
    history(node, [CAM_A], Clock().us)
    node.health.relearn()
    year = dt.datetime.now(dt.UTC).year
    profile = node.health._profiles[CAM_A]  # what the ticks judge against
    assert {dt.date(year, 7, 21), dt.date(year + 1, 1, 1)} <= profile.holidays
    assert easter_sunday(year) + dt.timedelta(days=1) in profile.holidays


def test_a_replayed_buffer_raises_no_clock_or_delay_alarm(hnode: Node) -> None:
    node = hnode
    clock = Clock()
    node.health.clock = clock
    t0 = clock.us
    # The camera's buffer of the last two hours, replayed now: hours late, and flagged so.
    for upload in range(12):
        at = t0 - (12 - upload) * 30 * SECOND
        batch = reads(CAM_A, A, at, 3, tag=f"r{upload}", delay_s=7200.0 - upload * 600, gap_s=0.1)
        feed(node, [msgspec.structs.replace(r, backfilled=True) for r in batch])
    assert node.health.tick() == []
    track = node.health.tracker.snapshot(CAM_A, since_us=0)
    assert track is not None and track.arrivals == () and track.last_received_us is not None
    # The same delays on live uploads would be an upload-delay alarm: the flag is what counts.
    for upload in range(12):
        at = t0 - (12 - upload) * 30 * SECOND
        feed(node, reads(CAM_A, A, at, 3, tag=f"l{upload}", delay_s=7200.0 - upload * 600,
                         gap_s=0.1))  # fmt: skip
    assert "upload_delay" in {e.alarm.kind for e in node.health.tick()}


# -- pure parts: who hears, who sees, two cameras' clocks --------------------------------------
def test_the_manager_names_a_zone_by_id_or_name_else_the_cameras_zone_manages() -> None:
    zones = network_zones()
    assert manager_zone(make_camera("x", zone=B, manager="PZ Regio Turnhout"), zones) == A
    assert manager_zone(make_camera("x", zone=B, manager=" pz5364 "), zones) == A
    assert manager_zone(make_camera("x", zone=B, manager="Wegbeheerder AWV"), zones) == B


def test_alarms_reach_operators_chiefs_and_admins_of_the_managers_zone_only() -> None:
    assert receives_alarm(p("o", A, Role.OPERATOR), A)
    assert receives_alarm(p("c", A, Role.ZONE_CHIEF), A)
    assert receives_alarm(p("ad", A, Role.ADMIN), A)
    assert not receives_alarm(p("i", A, Role.INVESTIGATOR), A)
    assert not receives_alarm(p("o", B, Role.OPERATOR), A)
    assert not receives_alarm(Principal(user_id="root", zone_id="network", role=Role.ADMIN), A)
    assert may_see(p("o", B, Role.OPERATOR), B, A) and may_see(p("o", A, Role.OPERATOR), B, A)
    assert not may_see(p("o", "pz5369", Role.OPERATOR), B, A)
    assert may_see(p("aud", "pz5369", Role.AUDITOR), B, A)
    assert not may_see(p("inv", A, Role.INVESTIGATOR), A, A)


def test_two_cameras_both_ways_tell_one_clock_from_the_travel_time() -> None:
    tracker = ReadTracker(pair_window_s=900)
    t = 1_800_000_000 * SECOND
    batch = []
    for i in range(40):
        start = t + i * 20 * SECOND
        # A -> B takes 60 s; B's clock is 5 s ahead: 65 s one way, 55 s the other.
        for plate, first, second, dt_s in (
            (f"1AAA{i:03d}", "cam-a", "cam-b", 65.0 + i % 3),
            (f"1BBB{i:03d}", "cam-b", "cam-a", 55.0 + i % 3),
        ):
            batch.append(_read(plate, first, start))
            batch.append(_read(plate, second, start + int(dt_s * SECOND)))
    batch.sort(key=lambda r: r.captured_us)
    tracker.observe(batch)
    config = HealthMonitorConfig()
    pairs = tracker.pairs(since_us=0, min_pairs=config.pair_min_pairs)
    assert set(pairs) == {("cam-a", "cam-b"), ("cam-b", "cam-a")}
    found = pair_alarms(pairs, now_us=t, config=config)
    assert set(found) == {"cam-b"}
    alarm = found["cam-b"]
    assert alarm.kind == "pair_skew" and abs(alarm.values["offset_s"] - 5.0) < 0.6
    assert "ahead of camera cam-a" in alarm.explanation and "1AAA" not in alarm.explanation
    assert isinstance(config, HealthConfig)


def _read(plate: str, cam: str, at: int) -> Read:
    return Read(seq=0, read_id=f"{cam}-{plate}-{at}", camera_id=cam, zone_id=A, captured_us=at,
                received_us=at, plate_raw=plate, plate=plate, country="BE",
                country_inferred=False, plate_format=None, confidence=0.9)  # fmt: skip


def test_the_alarm_log_stores_an_event_once(hnode: Node) -> None:
    from kruispunt.health.alarms import make_alarm

    alarm = make_alarm(camera_id=CAM_A, kind="silence", severity="critical", since_us=1,
                       observed_us=2, explanation="quiet", values={"gap_s": 1.0})  # fmt: skip
    event = AlarmEvent(seq=0, event="raised", at_us=2, camera_zone_id=A, manager_zone_id=A,
                       alarm=alarm)  # fmt: skip

    def record(store: ReadStore) -> list[AlarmEvent]:
        assert isinstance(store, SqlStore)
        return store.record_camera_alarms([event])

    first = hnode.writer.call(record).result()
    again = hnode.writer.call(record).result()
    assert [e.seq > 0 for e in first] == [True] and again == []
    assert hnode.store.camera_alarm_events(zone_ids=[B]) == []
    assert len(hnode.store.camera_alarm_events(zone_ids=[A], camera_ids=[CAM_A])) == 1


# -- webhooks: the same path as hits ------------------------------------------------------------
async def test_a_webhook_of_the_managers_zone_gets_the_alarm_and_no_other(
    parts: Parts, running: WebhookDispatcher, receivers: Callable[[], Receiver]
) -> None:
    from kruispunt.health.alarms import make_alarm

    def event(cam: str, manager: str, since: int) -> AlarmEvent:
        alarm = make_alarm(camera_id=cam, kind="silence", severity="critical", since_us=since,
                           observed_us=since + 1, explanation="no read for 31.0 min",
                           values={"gap_s": 1860.0})  # fmt: skip
        return AlarmEvent(seq=0, event="raised", at_us=since + 1, camera_zone_id=B,
                          manager_zone_id=manager, alarm=alarm)  # fmt: skip

    def record(events: list[AlarmEvent]) -> list[AlarmEvent]:
        def run(store: ReadStore) -> list[AlarmEvent]:
            assert isinstance(store, SqlStore)
            return store.record_camera_alarms(events)

        return parts.writer.call(run).result()

    record([event(CAM_B, A, 1)])  # before the webhooks existed: not sent
    turnhout, brasschaat = receivers(), receivers()
    hook_for(parts, turnhout, A)
    hook_for(parts, brasschaat, B)
    stored = record([event(CAM_B, A, 2)])
    running.notify_alarms()
    await eventually(lambda: len(turnhout.accepted) == 1)
    delivery, body = turnhout.accepted[0]
    assert delivery.endswith(f":alarm:{stored[0].seq}")
    doc = json.loads(body)
    assert doc["event"] == "raised" and doc["kind"] == "silence" and doc["camera_id"] == CAM_B
    assert doc["manager_zone_id"] == A and doc["explanation"] == "no read for 31.0 min"
    await asyncio.sleep(0.3)
    assert brasschaat.requests == 0 and len(turnhout.accepted) == 1


def test_the_health_section_is_strict_and_bounded(tmp_path: Path) -> None:
    from kruispunt.config import ConfigError

    config = make_config(tmp_path, health={"tick_s": 30, "min_history_days": 7, "learn_days": 7})
    assert config.health.tick_s == 30 and config.health.enabled
    for bad in ({"tick_s": 0}, {"learn_days": 7}, {"colour": "red"}):
        with pytest.raises(ConfigError, match="health"):
            make_config(tmp_path, health=bad)


def test_committed_reads_reach_the_tracker_off_the_writer_thread(hnode: Node) -> None:
    now = time.time_ns() // 1000
    feed(hnode, reads(CAM_A, A, now, 5, tag="f"))
    deadline = time.monotonic() + 5
    while True:  # the follower thread, woken by the commit (no tick pulls here)
        snap = hnode.health.tracker.snapshot(CAM_A, since_us=0)
        if snap is not None and len(snap.arrivals) == 5:
            break
        assert time.monotonic() < deadline, "the follower did not take the reads"
        time.sleep(0.02)
    assert snap.last_received_us == now and hnode.health.skipped_reads == 0
