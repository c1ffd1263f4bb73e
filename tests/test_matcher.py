"""The hotlist matcher: reads to hits, exactly once, on a real store and writer."""

from __future__ import annotations

from typing import Any

import pytest

from kruispunt.domain.reads import Read
from kruispunt.hits.models import Hit, MatchKind, hit_id
from kruispunt.hits.store import HitStore
from kruispunt.hotlists.index import HotlistIndex, indexed
from kruispunt.hotlists.models import Category, HotlistEntry, HotlistList, Scope, ScopeKind
from kruispunt.processors.base import ProcessorRunner
from kruispunt.processors.hotlist_matcher import HotlistMatcher
from kruispunt.store.base import StoreError
from kruispunt.store.sql import SqlStore
from kruispunt.writer import Writer
from tests.conftest import make_camera
from tests.test_hits_policy import T0

MINUTE = 60_000_000
DAY = 86_400_000_000


def make_entry(entry_id: str = "e-1", plate: str = "1ABC123", **kw: Any) -> HotlistEntry:
    fields: dict[str, Any] = {
        "id": entry_id,
        "list_id": "l-pz5364",
        "plate_raw": plate,
        "plate": plate,
        "country": "BE",
        "category": Category.STOLEN_VEHICLE,
        "action": "intercept",
        "warnings": ("armed - do not stop alone",),
        "source": "ANG",
        "legal_basis": "WPA art. 44/1",
        "scope": Scope(kind=ScopeKind.NETWORK),
        "valid_from_us": T0 - 30 * DAY,
        "expires_at_us": T0 + 30 * DAY,
        "created_us": T0 - 30 * DAY,
        "created_by": "u-owner",
        "note": "PV 123/26",
    }
    fields.update(kw)
    return HotlistEntry(**fields)


def make_list(list_id: str = "l-pz5364", **kw: Any) -> HotlistList:
    fields: dict[str, Any] = {"id": list_id, "name": "Stolen", "owner_zone_id": "pz5364"}
    fields.update(kw)
    return HotlistList(**fields)


def make_read(read_id: str = "r1", plate: str = "1ABC123", **kw: Any) -> Read:
    captured = kw.pop("captured_us", T0 - 2_000_000)
    fields: dict[str, Any] = {
        "seq": 0, "read_id": read_id, "camera_id": "pz5352-c001", "zone_id": "pz5352",
        "captured_us": captured, "received_us": captured + 500_000, "plate_raw": plate,
        "plate": plate, "country": "BE", "country_inferred": True, "plate_format": None,
        "confidence": 0.9, "image_ref": f"img/{read_id}.jpg",
    }  # fmt: skip
    fields.update(kw)
    return Read(**fields)


class FakeHotlists:
    """What the matcher asks of HotlistService: lists and entries, in memory."""

    def __init__(self, lists: list[HotlistList], entries: list[HotlistEntry]):
        self.lists = {lst.id: lst for lst in lists}
        self.entries = {e.id: e for e in entries}
        self.index = HotlistIndex()
        self.index.load(indexed(e) for e in entries)

    def list_of(self, list_id: str) -> HotlistList | None:
        return self.lists.get(list_id)

    def get_entry(self, entry_id: str) -> HotlistEntry | None:
        return self.entries.get(entry_id)


@pytest.fixture
def sqlite(sql_store: SqlStore) -> SqlStore:
    for cam, zone in (("pz5352-c001", "pz5352"), ("pz5364-c001", "pz5364")):
        sql_store.upsert_camera(make_camera(cam, zone=zone), None)
    return sql_store


def matcher(
    hotlists: FakeHotlists, store: SqlStore, sink: list[list[Hit]] | None = None
) -> HotlistMatcher:
    out = [] if sink is None else sink
    return HotlistMatcher(hotlists.index, hotlists, HitStore(store), out.append, clock=lambda: T0)


def test_an_exact_match_is_a_hit_with_a_deterministic_id(sqlite: SqlStore) -> None:
    hotlists = FakeHotlists([make_list()], [make_entry()])
    (hit,) = matcher(hotlists, sqlite).process([make_read(seq=7)])
    assert hit.id == hit_id("pz5352-c001", "r1", "e-1")
    assert (hit.kind, hit.historic, hit.late, hit.read_seq, hit.created_us) == (
        MatchKind.EXACT, False, False, 7, T0
    )  # fmt: skip
    assert (hit.camera_zone_id, hit.owner_zone_id, hit.list_id, hit.entry_id) == (
        "pz5352", "pz5364", "l-pz5364", "e-1"
    )  # fmt: skip
    assert (hit.category, hit.action, hit.warnings, hit.scope) == (
        Category.STOLEN_VEHICLE, "intercept", ("armed - do not stop alone",),
        Scope(kind=ScopeKind.NETWORK),
    )  # fmt: skip
    assert (hit.plate_read, hit.confidence, hit.image_ref) == ("1ABC123", 0.9, "img/r1.jpg")


def test_a_camera_registered_only_for_the_lez_feeds_no_police_hotlist(sqlite: SqlStore) -> None:
    hotlists = FakeHotlists([make_list()], [make_entry()])
    police = {"pz5352-c001": False, "pz5364-c001": True}  # the first: a city's LEZ camera
    m = HotlistMatcher(hotlists.index, hotlists, HitStore(sqlite), [].append, clock=lambda: T0,
                       for_police=police.__getitem__)  # fmt: skip
    assert m.process([make_read(seq=7)]) == []
    (hit,) = m.process([make_read(seq=8, camera_id="pz5364-c001", zone_id="pz5364")])
    assert hit.camera_id == "pz5364-c001"


def test_a_confusable_read_is_a_possible_hit(sqlite: SqlStore) -> None:
    hotlists = FakeHotlists([make_list()], [make_entry(plate="1ABC123")])
    (hit,) = matcher(hotlists, sqlite).process([make_read(plate="IABC1Z3")])
    assert hit.kind is MatchKind.POSSIBLE and hit.entry_plate == "1ABC123"
    assert hit.plate == "IABC1Z3"


def test_most_reads_match_nothing(sqlite: SqlStore) -> None:
    hotlists = FakeHotlists([make_list()], [make_entry()])
    reads = [make_read(f"r{i}", plate=f"2XYZ{i:03d}") for i in range(100)]
    assert matcher(hotlists, sqlite).process(reads) == []


@pytest.mark.parametrize(
    ("lst", "read", "hits"),
    [
        (make_list(active=False), make_read(), 0),
        (make_list(min_confidence=0.95), make_read(confidence=0.9), 0),
        (make_list(min_confidence=0.9), make_read(confidence=0.9), 1),
        (make_list(), make_read(country="NL"), 0),  # both sides know the country
        (make_list(), make_read(country=None), 1),  # the read does not
    ],
)
def test_list_options_and_country(
    sqlite: SqlStore, lst: HotlistList, read: Read, hits: int
) -> None:
    hotlists = FakeHotlists([lst], [make_entry()])
    assert len(matcher(hotlists, sqlite).process([read])) == hits


def test_entries_outside_their_validity_or_gone_do_not_hit(sqlite: SqlStore) -> None:
    hotlists = FakeHotlists(
        [make_list()],
        [
            make_entry("e-expired", plate="1AAA111", expires_at_us=T0),
            make_entry("e-later", plate="1AAA222", valid_from_us=T0),
            make_entry("e-deleted", plate="1AAA333"),
        ],
    )
    del hotlists.entries["e-deleted"]  # deleted between the index look-up and the hit
    reads = [make_read(f"r{p}", plate=p) for p in ("1AAA111", "1AAA222", "1AAA333")]
    assert matcher(hotlists, sqlite).process(reads) == []
    del hotlists.lists["l-pz5364"]  # and a list that no longer exists
    hotlists.entries["e-deleted"] = make_entry("e-deleted", plate="1AAA333")
    assert matcher(hotlists, sqlite).process(reads) == []


def test_late_means_received_long_after_capture(sqlite: SqlStore) -> None:
    hotlists = FakeHotlists([make_list()], [make_entry()])
    m = matcher(hotlists, sqlite)
    on_time = make_read("a", captured_us=T0 - MINUTE, received_us=T0 - MINUTE + 10 * MINUTE)
    late = make_read("b", captured_us=T0 - MINUTE, received_us=T0 - MINUTE + 10 * MINUTE + 1)
    assert [h.late for h in m.process([on_time, late])] == [False, True]


def test_a_backfilled_read_is_late_however_short_the_lag(sqlite: SqlStore) -> None:
    hotlists = FakeHotlists([make_list()], [make_entry()])
    replayed = make_read("c", backfilled=True)  # half a second's lag, but a replay
    (hit,) = matcher(hotlists, sqlite).process([replayed])
    assert hit.late


def test_the_backfill_flag_survives_the_log_tail_not_the_store(sqlite: SqlStore) -> None:
    """It lives in memory (the writer's tail, bus messages); the store keeps no column."""
    writer = Writer(sqlite, max_pending_reads=100, group_max_reads=100)
    writer.start()
    try:
        writer.submit_reads([make_read("d", backfilled=True)]).result()
        (tailed,) = writer.tail.after(0, 10) or []
        assert tailed.backfilled and tailed.seq == 1
        (stored,) = sqlite.reads_after(0, 10)
        assert not stored.backfilled and stored.read_id == "d"
    finally:
        writer.stop()


def test_one_read_on_two_lists_is_two_hits(sqlite: SqlStore) -> None:
    hotlists = FakeHotlists(
        [make_list(), make_list("l-fed", owner_zone_id="fedpol")],
        [make_entry(), make_entry("e-2", list_id="l-fed", category=Category.UNINSURED)],
    )
    got = matcher(hotlists, sqlite).process([make_read()])
    assert {(h.entry_id, h.owner_zone_id) for h in got} == {("e-1", "pz5364"), ("e-2", "fedpol")}
    assert len({h.id for h in got}) == 2


def test_commit_stores_hits_and_cursor_together_and_never_twice(sqlite: SqlStore) -> None:
    sink: list[list[Hit]] = []
    hotlists = FakeHotlists([make_list()], [make_entry()])
    m = matcher(hotlists, sqlite, sink)
    derived = m.process([make_read(seq=1), make_read("r2", seq=2, plate="9ZZZ999")])
    new = m.commit(sqlite, 0, 2, derived)
    assert [h.seq for h in new] == [1] and sqlite.cursor("hotlist_matcher") == 2
    m.after_commit(new)
    assert sink == [new]
    # re-processing the same reads (a cursor reset) stores nothing new and publishes nothing
    assert m.commit(sqlite, 2, 2, derived) == []
    m.after_commit([])
    assert sink == [new]
    assert HitStore(sqlite).last_seq() == 1


def test_a_refused_cursor_move_stores_no_hit(sqlite: SqlStore) -> None:
    hotlists = FakeHotlists([make_list()], [make_entry()])
    m = matcher(hotlists, sqlite)
    derived = m.process([make_read(seq=1)])
    with pytest.raises(StoreError):
        m.commit(sqlite, 5, 6, derived)  # another runner moved it
    assert HitStore(sqlite).since(0, 10) == []


def test_the_runner_publishes_stored_hits_with_their_seq(sqlite: SqlStore) -> None:
    sink: list[list[Hit]] = []
    hotlists = FakeHotlists([make_list()], [make_entry()])
    writer = Writer(sqlite, max_pending_reads=1000, group_max_reads=1000)
    writer.start()
    try:
        runner = ProcessorRunner(matcher(hotlists, sqlite, sink), store=sqlite, writer=writer,
                                 batch_reads=100, idle_sleep_s=0.01)  # fmt: skip
        runner.cursor = sqlite.cursor("hotlist_matcher")
        reads = [make_read(f"r{i}", plate="1ABC123" if i % 3 == 0 else f"2XYZ{i:03d}")
                 for i in range(10)]  # fmt: skip
        writer.submit_reads(reads).result()
        assert runner.step() == 10
    finally:
        writer.stop()
    published = [h for batch in sink for h in batch]
    assert [h.read_id for h in published] == ["r0", "r3", "r6", "r9"]
    assert [h.seq for h in published] == [1, 2, 3, 4]
    assert [h.read_seq for h in published] == [1, 4, 7, 10]
    assert HitStore(sqlite).since(0, 10) == published


def test_hitless_batches_may_defer_the_cursor_without_ever_doubling_hits(
    sqlite: SqlStore,
) -> None:
    tick = [0.0]
    hotlists = FakeHotlists([make_list()], [make_entry()])

    def build() -> HotlistMatcher:
        return HotlistMatcher(hotlists.index, hotlists, HitStore(sqlite), lambda hits: None,
                              cursor_flush_s=1.0, clock=lambda: T0,
                              monotonic=lambda: tick[0])  # fmt: skip

    m = build()
    miss = m.process([make_read("r1", seq=1, plate="9ZZZ999")])
    assert miss == [] and m.commit(sqlite, 0, 1, miss) == []
    assert sqlite.cursor("hotlist_matcher") == 0  # deferred: no transaction
    hit_batch = m.process([make_read("r2", seq=2)])
    assert len(m.commit(sqlite, 1, 2, hit_batch)) == 1  # a hit is stored at once, with cursor
    assert sqlite.cursor("hotlist_matcher") == 2
    assert m.commit(sqlite, 2, 3, []) == [] and sqlite.cursor("hotlist_matcher") == 2
    tick[0] = 1.5
    assert m.commit(sqlite, 3, 4, []) == [] and sqlite.cursor("hotlist_matcher") == 4
    # a crash before the next flush: the new matcher matches again from the stored cursor,
    # and a hit it raises again is neither stored nor published twice
    m.commit(sqlite, 4, 5, [])
    assert sqlite.cursor("hotlist_matcher") == 4
    again = build()
    assert again.commit(sqlite, 4, 5, hit_batch) == []
    assert sqlite.cursor("hotlist_matcher") == 5 and HitStore(sqlite).last_seq() == 1
