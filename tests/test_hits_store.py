"""The hit log on a real SQLite file: idempotent inserts, seq order, the workflow's steps."""

from __future__ import annotations

import msgspec
import pytest

from kruispunt.hits.models import HitEvent, HitStatus, Outcome
from kruispunt.hits.store import HitStore, OutcomeRequired, TransitionRefused, UnknownHit
from kruispunt.store.sql import SqlStore
from tests.test_hits_policy import T0, make_hit


@pytest.fixture
def sqlite(sql_store: SqlStore) -> SqlStore:
    return sql_store


@pytest.fixture
def hits(sqlite: SqlStore) -> HitStore:
    return HitStore(sqlite)


def event(
    hit_id: str,
    status: HitStatus,
    at: int = T0 + 1,
    *,
    outcome: Outcome | None = None,
    note: str = "",
) -> HitEvent:
    return HitEvent(hit_id=hit_id, at_us=at, actor="u1", actor_zone_id="pz5364",
                    status=status, outcome=outcome, note=note)  # fmt: skip


def test_insert_assigns_seqs_and_ignores_hits_already_stored(
    sqlite: SqlStore, hits: HitStore
) -> None:
    a, b = make_hit(id="h-a", seq=0), make_hit(id="h-b", seq=0)
    with sqlite.transaction() as conn:
        first = hits.insert(conn, [a, b])
    assert [(h.id, h.seq) for h in first] == [("h-a", 1), ("h-b", 2)]
    with sqlite.transaction() as conn:
        again = hits.insert(conn, [b, make_hit(id="h-c", seq=0), a])
    # (PostgreSQL may skip numbers: a refused insert still draws one; order is what counts.)
    assert [h.id for h in again] == ["h-c"] and again[0].seq > first[-1].seq
    assert [h.id for h in hits.since(0, 10)] == ["h-a", "h-b", "h-c"]
    assert hits.last_seq() == again[0].seq


def test_a_stored_hit_reads_back_equal(sqlite: SqlStore, hits: HitStore) -> None:
    hit = make_hit(id="h-x", seq=0, warnings=("armed", "dog"), country=None)
    with sqlite.transaction() as conn:
        (stored,) = hits.insert(conn, [hit])
    assert hits.get("h-x") == stored == msgspec.structs.replace(hit, seq=1)
    assert hits.get("h-nope") is None
    assert hits.last_seq() == 1


def test_since_pages_in_seq_order_and_filters_by_status(sqlite: SqlStore, hits: HitStore) -> None:
    with sqlite.transaction() as conn:
        hits.insert(conn, [make_hit(id=f"h-{i}", seq=0) for i in range(5)])
        hits.transition(conn, event("h-3", HitStatus.ACKNOWLEDGED))
    assert [h.seq for h in hits.since(1, 2)] == [2, 3]
    assert hits.since(5, 10) == []
    assert [h.id for h in hits.since(0, 10, status=HitStatus.ACKNOWLEDGED)] == ["h-3"]
    assert len(hits.since(0, 10, status=HitStatus.NEW)) == 4


def test_the_workflow_moves_forward_with_an_event_per_step(
    sqlite: SqlStore, hits: HitStore
) -> None:
    with sqlite.transaction() as conn:
        hits.insert(conn, [make_hit(id="h-1", seq=0)])
    steps = [
        event("h-1", HitStatus.ACKNOWLEDGED, T0 + 10),
        event("h-1", HitStatus.DISPATCHED, T0 + 20, note="unit 12"),
        event("h-1", HitStatus.CLOSED, T0 + 30, outcome=Outcome.INTERCEPTED, note="stopped"),
    ]
    for step in steps:
        with sqlite.transaction() as conn:
            updated = hits.transition(conn, step)
        assert updated.status is step.status and hits.get("h-1") == updated
    final = hits.get("h-1")
    assert final is not None and final.outcome is Outcome.INTERCEPTED and final.seq == 1
    assert hits.events("h-1") == steps


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ([HitStatus.ACKNOWLEDGED], HitStatus.ACKNOWLEDGED),  # the same step twice
        ([HitStatus.ACKNOWLEDGED, HitStatus.DISPATCHED], HitStatus.ACKNOWLEDGED),  # back
        ([], HitStatus.DISPATCHED),  # skipping the acknowledgement
        ([HitStatus.CLOSED], HitStatus.ACKNOWLEDGED),  # reopening
        ([HitStatus.CLOSED], HitStatus.CLOSED),
    ],
)
def test_impossible_steps_are_refused_and_change_nothing(
    sqlite: SqlStore, hits: HitStore, path: list[HitStatus], refused: HitStatus
) -> None:
    with sqlite.transaction() as conn:
        hits.insert(conn, [make_hit(id="h-1", seq=0)])
    for status in path:
        outcome = Outcome.MISREAD if status is HitStatus.CLOSED else None
        with sqlite.transaction() as conn:
            hits.transition(conn, event("h-1", status, outcome=outcome))
    before, events = hits.get("h-1"), hits.events("h-1")
    outcome = Outcome.OTHER if refused is HitStatus.CLOSED else None
    with pytest.raises(TransitionRefused) as info, sqlite.transaction() as conn:
        hits.transition(conn, event("h-1", refused, outcome=outcome))
    assert info.value.wanted is refused
    assert hits.get("h-1") == before and hits.events("h-1") == events


def test_closing_needs_an_outcome_and_only_closing_takes_one(
    sqlite: SqlStore, hits: HitStore
) -> None:
    with sqlite.transaction() as conn:
        hits.insert(conn, [make_hit(id="h-1", seq=0)])
    with pytest.raises(OutcomeRequired), sqlite.transaction() as conn:
        hits.transition(conn, event("h-1", HitStatus.CLOSED))
    with pytest.raises(OutcomeRequired), sqlite.transaction() as conn:
        hits.transition(conn, event("h-1", HitStatus.ACKNOWLEDGED, outcome=Outcome.MISREAD))
    with pytest.raises(UnknownHit), sqlite.transaction() as conn:
        hits.transition(conn, event("h-none", HitStatus.ACKNOWLEDGED))
    assert hits.events("h-1") == []


def test_window_gives_each_hit_its_first_step(sqlite: SqlStore, hits: HitStore) -> None:
    with sqlite.transaction() as conn:
        hits.insert(conn, [make_hit(id="h-1", seq=0), make_hit(id="h-2", seq=0),
                           make_hit(id="h-old", seq=0, created_us=T0 - 10**9)])  # fmt: skip
        hits.transition(conn, event("h-1", HitStatus.ACKNOWLEDGED, T0 + 5_000_000))
        hits.transition(conn, event("h-1", HitStatus.DISPATCHED, T0 + 9_000_000))
    got = [(h.id, first) for h, first in hits.window(T0 - 1, T0 + 10**9)]
    assert got == [("h-1", T0 + 5_000_000), ("h-2", None)]
