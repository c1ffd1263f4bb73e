"""HitService on a real store and writer: audited reads, the workflow, statistics, the
retroactive search and the pursuit trail."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from kruispunt.access.policy import PolicyGate
from kruispunt.access.principals import Role
from kruispunt.audit import PlateTokens, read_audit, verify_chain
from kruispunt.domain.reads import Read
from kruispunt.hits.models import Hit, HitStatus, MatchKind, Outcome
from kruispunt.hits.service import HitNotActive, HitService, build_stats, count, recent_passages
from kruispunt.hits.store import HitStore, OutcomeRequired, TransitionRefused, UnknownHit
from kruispunt.hotlists.models import Category, Scope, ScopeKind
from kruispunt.law.profiles import profile
from kruispunt.store.sql import SqlStore
from kruispunt.writer import Writer
from tests.conftest import make_camera
from tests.test_hits_policy import NETWORK, T0, make_hit, who
from tests.test_matcher import DAY, MINUTE, FakeHotlists, make_entry, make_list, make_read

OPERATOR_5364 = who("pz5364", Role.OPERATOR, "op-5364")
OPERATOR_5352 = who("pz5352", Role.OPERATOR, "op-5352")


@dataclass
class Clock:
    now: int = T0

    def __call__(self) -> int:
        return self.now


@dataclass
class World:
    store: SqlStore
    writer: Writer
    service: HitService
    hotlists: FakeHotlists
    clock: Clock
    published: list[list[Hit]] = field(default_factory=list)

    def add_hits(self, *hits: Hit) -> list[Hit]:
        hit_store = self.service.hit_store

        def write(_: object) -> list[Hit]:
            with self.store.transaction() as conn:
                return hit_store.insert(conn, hits)

        return self.writer.call(write).result()

    def add_reads(self, *reads: Read) -> None:
        self.writer.submit_reads(reads).result()

    def audit(self, action: str | None = None) -> list[tuple[str, str, str, str]]:
        records = read_audit(self.store.reader())
        assert verify_chain(records) is None
        return [(r.action, r.actor, r.object_type, r.object_id) for r in records
                if action is None or r.action == action]  # fmt: skip


@pytest.fixture
def world(sql_store: SqlStore) -> Iterator[World]:
    store = sql_store
    for cam, zone in (("pz5352-c001", "pz5352"), ("pz5352-c002", "pz5352"),
                      ("pz5364-c001", "pz5364")):  # fmt: skip
        store.upsert_camera(make_camera(cam, zone=zone), None)
    writer = Writer(store, max_pending_reads=10_000, group_max_reads=10_000)
    writer.start()
    hotlists = FakeHotlists([make_list()], [make_entry()])
    clock = Clock()
    service = HitService(store=store, writer=writer, hit_store=HitStore(store), hotlists=hotlists,
                         network_zone_ids=NETWORK, retro_max_days=30, clock=clock)  # fmt: skip
    w = World(store, writer, service, hotlists, clock)
    service.on_hits.append(w.published.append)
    yield w
    writer.stop()


def _fail(hit: Hit) -> None:
    raise RuntimeError(f"consumer down for {hit.id}")


# -- reading ----------------------------------------------------------------------------------
def test_a_person_lists_only_the_hits_they_receive_and_the_read_is_audited(world: World) -> None:
    world.add_hits(
        make_hit(id="h-net", seq=0),
        make_hit(id="h-own", seq=0, scope=Scope(kind=ScopeKind.OWN_ZONE)),
        make_hit(id="h-covert", seq=0, category=Category.INVESTIGATION),
    )
    page = world.service.list_hits(OPERATOR_5352)
    assert [v.id for v in page.hits] == ["h-net"] and page.next_since == 3
    assert page.hits[0].entry_id is None  # not the owner zone
    owner = world.service.list_hits(OPERATOR_5364)
    assert [v.id for v in owner.hits] == ["h-net", "h-own", "h-covert"]
    assert world.audit("hits.view") == [
        ("hits.view", "op-5352", "hits", "list"), ("hits.view", "op-5364", "hits", "list")
    ]  # fmt: skip
    # nothing shown, nothing audited; the admin and an analyst see nothing
    assert world.service.list_hits(OPERATOR_5352, since=3).hits == []
    assert world.service.list_hits(who("network", Role.ADMIN, "admin")).hits == []
    assert world.service.list_hits(who("pz5364", Role.ANALYST)).hits == []
    assert len(world.audit("hits.view")) == 2


def test_pages_skip_hits_for_others_and_say_where_to_go_on(world: World) -> None:
    own = Scope(kind=ScopeKind.OWN_ZONE)
    world.add_hits(*[make_hit(id=f"h-{i}", seq=0, scope=own if i % 2 else Scope(
        kind=ScopeKind.NETWORK)) for i in range(6)])  # fmt: skip
    first = world.service.list_hits(OPERATOR_5352, limit=2)
    assert [v.id for v in first.hits] == ["h-0", "h-2"] and first.next_since == 3
    second = world.service.list_hits(OPERATOR_5352, since=first.next_since, limit=2)
    assert [v.id for v in second.hits] == ["h-4"] and second.next_since == 6
    acked = world.service.list_hits(OPERATOR_5364, status=HitStatus.ACKNOWLEDGED)
    assert acked.hits == []


def test_a_hit_for_someone_else_does_not_exist(world: World) -> None:
    world.add_hits(make_hit(id="h-covert", seq=0, category=Category.INVESTIGATION))
    with pytest.raises(UnknownHit):
        world.service.get("h-covert", principal=OPERATOR_5352)
    with pytest.raises(UnknownHit):
        world.service.get("h-none", principal=OPERATOR_5364)
    detail = world.service.get("h-covert", principal=OPERATOR_5364)
    assert detail.hit.id == "h-covert" and detail.events == []
    assert world.audit("hits.view") == [("hits.view", "op-5364", "hit", "h-covert")]


# -- workflow ---------------------------------------------------------------------------------
def test_the_workflow_is_attributed_timestamped_and_audited(world: World) -> None:
    world.add_hits(make_hit(id="h-1", seq=0))
    updates: list[Hit] = []
    world.service.on_update.append(updates.append)
    world.service.on_update.insert(0, _fail)  # a failing consumer changes nothing
    world.clock.now = T0 + 30_000_000
    acked = world.service.acknowledge("h-1", principal=OPERATOR_5352, note="seen")
    assert acked.status is HitStatus.ACKNOWLEDGED
    world.clock.now = T0 + 60_000_000
    world.service.dispatch("h-1", principal=OPERATOR_5352)
    world.clock.now = T0 + 900_000_000
    closed = world.service.close("h-1", principal=OPERATOR_5364, outcome=Outcome.INTERCEPTED,
                                 note="driver arrested")  # fmt: skip
    assert (closed.status, closed.outcome) == (HitStatus.CLOSED, Outcome.INTERCEPTED)
    assert [(h.status, h.seq) for h in updates] == [
        (HitStatus.ACKNOWLEDGED, 1), (HitStatus.DISPATCHED, 1), (HitStatus.CLOSED, 1)
    ]  # fmt: skip
    events = world.service.get("h-1", principal=OPERATOR_5364).events
    assert [(e.status, e.actor, e.actor_zone_id, e.at_us, e.note) for e in events] == [
        (HitStatus.ACKNOWLEDGED, "op-5352", "pz5352", T0 + 30_000_000, "seen"),
        (HitStatus.DISPATCHED, "op-5352", "pz5352", T0 + 60_000_000, ""),
        (HitStatus.CLOSED, "op-5364", "pz5364", T0 + 900_000_000, "driver arrested"),
    ]
    assert [a[:2] for a in world.audit() if a[0] != "hits.view"] == [
        ("hits.acknowledged", "op-5352"), ("hits.dispatched", "op-5352"),
        ("hits.closed", "op-5364"),
    ]  # fmt: skip


def test_impossible_or_unauthorised_steps_change_nothing(world: World) -> None:
    world.add_hits(make_hit(id="h-1", seq=0, category=Category.INVESTIGATION))
    with pytest.raises(UnknownHit):  # not a recipient: as if it did not exist
        world.service.acknowledge("h-1", principal=OPERATOR_5352)
    with pytest.raises(UnknownHit):
        world.service.acknowledge("h-1", principal=who("pz5364", Role.AUDITOR))
    with pytest.raises(TransitionRefused):
        world.service.dispatch("h-1", principal=OPERATOR_5364)
    with pytest.raises(OutcomeRequired):
        world.service.close("h-1", principal=OPERATOR_5364, outcome=None)
    world.service.close("h-1", principal=OPERATOR_5364, outcome=Outcome.MISREAD)
    with pytest.raises(TransitionRefused):
        world.service.acknowledge("h-1", principal=OPERATOR_5364)
    assert [e.status for e in world.service.hit_store.events("h-1")] == [HitStatus.CLOSED]
    assert [a[0] for a in world.audit()] == ["hits.closed"]


# -- statistics -------------------------------------------------------------------------------
def test_count_gives_times_to_acknowledge_and_the_misread_share() -> None:
    closed = HitStatus.CLOSED
    rows: list[tuple[Hit, int | None]] = [
        (make_hit(id="a"), T0 + 10_000_000),
        (make_hit(id="b", kind=MatchKind.POSSIBLE, status=closed, outcome=Outcome.MISREAD),
         T0 + 20_000_000),
        (make_hit(id="c", kind=MatchKind.POSSIBLE, status=closed, outcome=Outcome.MISREAD),
         T0 + 30_000_000),
        (make_hit(id="d", status=closed, outcome=Outcome.INTERCEPTED), T0 + 100_000_000),
        (make_hit(id="e"), None),
        (make_hit(id="f", historic=True), T0 + 999_000_000),  # no reaction time for these
    ]  # fmt: skip
    c = count(rows)
    assert (c.hits, c.exact, c.possible, c.historic, c.open, c.closed) == (6, 4, 2, 1, 3, 3)
    assert (c.ack_median_s, c.ack_p90_s) == (25.0, 100.0)
    assert c.outcomes == {"intercepted": 1, "misread": 2}
    assert c.misread_share == pytest.approx(2 / 3)
    empty = count([])
    assert (empty.hits, empty.ack_median_s, empty.misread_share) == (0, None, None)


def test_statistics_are_per_receiving_zone_and_per_list() -> None:
    rows: list[tuple[Hit, int | None]] = [
        (make_hit(id="net", scope=Scope(kind=ScopeKind.NETWORK)), None),
        (make_hit(id="own", scope=Scope(kind=ScopeKind.OWN_ZONE)), None),
        (make_hit(id="cov", category=Category.INVESTIGATION, list_id="l-obs"), None),
    ]
    mine = build_stats(rows, OPERATOR_5352, NETWORK, since_us=0, until_us=T0)
    assert [(z.zone_id, z.counts.hits) for z in mine.zones] == [("pz5352", 1)]
    assert [(s.list_id, s.counts.hits) for s in mine.lists] == [("l-pz5364", 1)]
    owner = build_stats(rows, OPERATOR_5364, NETWORK, since_us=0, until_us=T0)
    assert [(s.list_id, s.counts.hits) for s in owner.lists] == [("l-obs", 1), ("l-pz5364", 2)]
    chief = build_stats(rows, who("pz5352", Role.ZONE_CHIEF), NETWORK, since_us=0, until_us=T0)
    assert {z.zone_id: z.counts.hits for z in chief.zones} == {
        **{z: 1 for z in NETWORK}, "pz5364": 2
    }  # fmt: skip
    # another zone's chief sees no trace of the covert hit, in no row at all
    assert [(s.list_id, s.counts.hits) for s in chief.lists] == [("l-pz5364", 2)]


def test_stats_read_the_store_window(world: World) -> None:
    world.add_hits(make_hit(id="h-1", seq=0), make_hit(id="h-old", seq=0, created_us=T0 - DAY))
    world.clock.now = T0 + 40_000_000
    world.service.close("h-1", principal=OPERATOR_5352, outcome=Outcome.MISREAD)
    stats = world.service.stats(OPERATOR_5352, since_us=T0 - MINUTE)
    (zone,) = stats.zones
    assert (zone.zone_id, zone.counts.hits, zone.counts.misread_share) == ("pz5352", 1, 1.0)
    assert zone.counts.ack_median_s == 40.0 and stats.until_us == T0 + 40_000_000


# -- retroactive search -----------------------------------------------------------------------
def test_a_new_entry_finds_its_past_reads_as_historic_hits(world: World) -> None:
    world.add_reads(
        make_read("old", captured_us=T0 - 40 * DAY),  # beyond the cap of 30 days
        make_read("d20", captured_us=T0 - 20 * DAY),
        make_read("d2", captured_us=T0 - 2 * DAY),
        make_read("nl", captured_us=T0 - DAY, country="NL"),
        make_read("weak", captured_us=T0 - DAY, confidence=0.5),
        make_read("other", captured_us=T0 - DAY, plate="1ABC128"),  # confusable: not retro
    )
    world.hotlists.lists["l-pz5364"] = make_list(min_confidence=0.8)
    entry = make_entry("e-new", created_us=T0, valid_from_us=T0)
    hits = world.service.retro_match(entry, 90)
    assert [(h.read_id, h.historic, h.kind) for h in hits] == [
        ("d20", True, MatchKind.EXACT), ("d2", True, MatchKind.EXACT)
    ]  # fmt: skip
    assert all(h.seq > 0 for h in hits) and world.published == [hits]
    assert world.service.hit_store.since(0, 10) == hits
    assert world.service.retro_match(entry, 90) == []  # never twice
    assert world.published == [hits]
    assert world.audit("hits.retro_match") == [
        ("hits.retro_match", "u-owner", "hotlist_entry", "e-new")
    ] * 2  # fmt: skip


def test_retro_search_respects_days_the_list_and_the_expiry(world: World) -> None:
    world.add_reads(make_read("d3", captured_us=T0 - 3 * DAY))
    assert world.service.retro_match(make_entry("e-a"), 2) == []
    assert world.service.retro_match(make_entry("e-b", expires_at_us=T0), 7) == []
    world.hotlists.lists["l-pz5364"] = make_list(active=False)
    assert world.service.retro_match(make_entry("e-c"), 7) == []
    world.hotlists.lists["l-pz5364"] = make_list()
    world.service.on_entry_added(make_entry("e-d"), 0)
    assert world.service.hit_store.since(0, 10) == []
    world.service.on_entry_added(make_entry("e-e"), 7)
    assert [h.entry_id for h in world.service.hit_store.since(0, 10)] == ["e-e"]


# -- the pursuit trail ------------------------------------------------------------------------
def test_the_trail_shows_the_last_cameras_of_an_active_hit_only(world: World) -> None:
    world.add_reads(
        make_read("p-20m", camera_id="pz5364-c001", zone_id="pz5364",
                  captured_us=T0 - 20 * MINUTE),  # before the window
        make_read("p-10m", camera_id="pz5364-c001", zone_id="pz5364",
                  captured_us=T0 - 10 * MINUTE, direction="N"),
        make_read("p-5m", camera_id="pz5352-c002", captured_us=T0 - 5 * MINUTE),
        make_read("p-nl", camera_id="pz5352-c002", captured_us=T0 - 4 * MINUTE, country="NL"),
        make_read("p-0", captured_us=T0),
        make_read("p+3m", camera_id="pz5352-c002", captured_us=T0 + 3 * MINUTE),
    )  # fmt: skip
    world.add_hits(make_hit(id="h-1", seq=0, captured_us=T0, created_us=T0 + 1))
    world.clock.now = T0 + 4 * MINUTE
    trail = world.service.trail("h-1", principal=OPERATOR_5352)
    assert [(p.camera_id, p.captured_us) for p in trail.passages] == [
        ("pz5352-c002", T0 + 3 * MINUTE), ("pz5352-c001", T0),
        ("pz5352-c002", T0 - 5 * MINUTE), ("pz5364-c001", T0 - 10 * MINUTE),
    ]  # fmt: skip
    assert trail.passages[-1].direction == "N"
    assert (trail.since_us, trail.until_us) == (T0 - 15 * MINUTE, T0 + 4 * MINUTE)
    assert world.audit("hits.trail") == [("hits.trail", "op-5352", "hit", "h-1")]
    assert len(world.service.trail("h-1", principal=OPERATOR_5352, limit=2).passages) == 2

    with pytest.raises(UnknownHit):  # not a recipient
        world.service.trail("h-1", principal=who("pz5364", Role.ANALYST))
    world.clock.now = T0 + 16 * MINUTE  # the pursuit window is over
    with pytest.raises(HitNotActive):
        world.service.trail("h-1", principal=OPERATOR_5352)
    world.clock.now = T0 + 5 * MINUTE
    world.service.close("h-1", principal=OPERATOR_5352, outcome=Outcome.VEHICLE_NOT_FOUND)
    with pytest.raises(HitNotActive):
        world.service.trail("h-1", principal=OPERATOR_5352)
    assert len(world.audit("hits.trail")) == 2


def test_recent_passages_newest_first_within_the_window(world: World) -> None:
    world.add_reads(*[make_read(f"r{i}", captured_us=T0 + i * MINUTE) for i in range(8)])
    got = recent_passages(world.store, "1ABC123", since_us=T0 + MINUTE, until_us=T0 + 6 * MINUTE,
                          limit=3)  # fmt: skip
    assert [p.captured_us for p in got] == [T0 + 6 * MINUTE, T0 + 5 * MINUTE, T0 + 4 * MINUTE]
    assert recent_passages(world.store, "9ZZZ999", since_us=T0, until_us=T0 + DAY) == []


# -- under the jurisdiction's law ---------------------------------------------------------------
def _under(world: World, country: str) -> HitService:
    """The same store and hits, with the policy gate of ``country``'s profile."""
    gate = PolicyGate(profile(country), zones=_OwnZone(), plate_tokens=PlateTokens(b"k" * 32),
                      clock=world.clock)  # fmt: skip
    return HitService(
        store=world.store, writer=world.writer, hit_store=world.service.hit_store,
        hotlists=world.hotlists, network_zone_ids=NETWORK, retro_max_days=60,
        clock=world.clock, policy=gate, plate_tokens=PlateTokens(b"k" * 32),
    )  # fmt: skip


class _OwnZone:
    def visible_zones(self, principal: object, at_us: int | None = None) -> set[str]:
        return set()


def test_a_retro_search_reads_only_what_the_law_opens_for_the_entry(world: World) -> None:
    world.add_reads(
        make_read("d45", captured_us=T0 - 45 * DAY),  # past the first month (BE)
        make_read("d20", captured_us=T0 - 20 * DAY),
    )
    hits = _under(world, "BE").retro_match(make_entry("e-be", created_us=T0), 60)
    assert [h.read_id for h in hits] == ["d20"]  # no prosecutor authorisation for the rest
    (record,) = [r for r in read_audit(world.store.reader()) if r.action == "hits.retro_match"]
    assert record.purpose == "judicial_police" and record.results == 1
    assert record.detail["cut"][0]["code"] == "authorisation_required"
    assert record.scope is not None and str(record.scope["plates"][0]).startswith("pt:")
    assert "1ABC123" not in str(record.detail) + str(record.scope)
    # The Dutch profile: every query needs a prosecutor's order: nothing is read.
    assert _under(world, "NL").retro_match(make_entry("e-nl", created_us=T0), 20) == []


def test_the_trail_of_a_hit_is_audited_with_its_purpose(world: World) -> None:
    world.add_reads(make_read("p-5m", camera_id="pz5352-c002", captured_us=T0 - 5 * MINUTE))
    world.add_hits(make_hit(id="h-trail", seq=0, captured_us=T0, created_us=T0 + 1))
    world.clock.now = T0 + MINUTE
    trail = _under(world, "BE").trail("h-trail", principal=OPERATOR_5352)
    assert [p.camera_id for p in trail.passages] == ["pz5352-c002"]
    (record,) = [r for r in read_audit(world.store.reader()) if r.action == "hits.trail"]
    assert (record.purpose, record.role, record.results) == ("judicial_police", "operator", 1)
    assert _under(world, "NL").trail("h-trail", principal=OPERATOR_5352).passages == []
