"""The live hub: routing, bounded queues, resync of a stalled subscriber, and catch-up after a
reconnect without duplicates or gaps (including hits published while the backlog is read)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from kruispunt.access.principals import Principal, Role
from kruispunt.hits.models import Hit, HitStatus, MatchKind
from kruispunt.hits.views import HitView
from kruispunt.hotlists.models import Category, Scope, ScopeKind
from kruispunt.live import hub as hub_module
from kruispunt.live.hub import HitHub, Message, Subscription, SubscriptionClosed

ZONES = frozenset({"pz5364", "pz5352", "pz5369", "pz5355"})
TURNHOUT = Principal(user_id="op-t", zone_id="pz5364", role=Role.OPERATOR)
BRASSCHAAT = Principal(user_id="op-b", zone_id="pz5352", role=Role.OPERATOR)


def make_hit(seq: int, **kw: Any) -> Hit:
    fields: dict[str, Any] = {
        "id": f"h-{seq:06d}",
        "seq": seq,
        "created_us": 1_700_000_000_000_000 + seq,
        "kind": MatchKind.EXACT,
        "historic": False,
        "late": False,
        "read_seq": 1000 + seq,
        "read_id": f"r{seq}",
        "camera_id": "pz5364-c001",
        "camera_zone_id": "pz5364",
        "captured_us": 1_700_000_000_000_000 + seq,
        "plate_read": "1ABC123",
        "plate": "1ABC123",
        "country": "BE",
        "confidence": 0.9,
        "image_ref": None,
        "entry_id": "e1",
        "list_id": "l1",
        "owner_zone_id": "pz5364",
        "entry_plate": "1ABC123",
        "category": Category.STOLEN_VEHICLE,
        "action": "intercept",
        "warnings": (),
        "scope": Scope(kind=ScopeKind.NETWORK),
    }
    fields.update(kw)
    return Hit(**fields)


class FakeHitStore:
    """The hit store's read side: hits in seq order, readable from any thread. ``gate``
    holds ``since`` (after or before it takes its snapshot) to stage races."""

    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self.lock = threading.Lock()
        self.gate: threading.Event | None = None
        self.snapshot_first = True
        self.entered = threading.Event()
        self.calls = 0

    def add(self, hits: list[Hit]) -> None:
        with self.lock:
            self.hits.extend(hits)

    def _snapshot(self, seq: int, limit: int) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if h.seq > seq][:limit]

    def since(self, seq: int, limit: int) -> list[Hit]:
        self.calls += 1
        gate, self.gate = self.gate, None
        if gate is None:
            return self._snapshot(seq, limit)
        snap = self._snapshot(seq, limit) if self.snapshot_first else None
        self.entered.set()
        assert gate.wait(10)
        return snap if snap is not None else self._snapshot(seq, limit)

    def last_seq(self) -> int:
        with self.lock:
            return self.hits[-1].seq if self.hits else 0


@pytest.fixture
def store() -> FakeHitStore:
    return FakeHitStore()


@pytest.fixture
async def hub(store: FakeHitStore) -> HitHub:
    h = HitHub(store, ZONES, queue_size=50)
    h.bind(asyncio.get_running_loop())
    return h


def commit_and_publish(store: FakeHitStore, hub: HitHub, hits: list[Hit]) -> None:
    """What the matcher does: commit, then publish (from its own thread)."""
    store.add(hits)
    hub.publish(hits)


def in_thread(fn: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=fn, daemon=True)
    thread.start()
    return thread


async def take(sub: Subscription, n: int, within: float = 5.0) -> list[Message]:
    async def go() -> list[Message]:
        return [await sub.get() for _ in range(n)]

    return await asyncio.wait_for(go(), within)


async def nothing_more(sub: Subscription, wait: float = 0.1) -> None:
    with pytest.raises(TimeoutError):
        msg = await asyncio.wait_for(sub.get(), wait)
        pytest.fail(f"unexpected message {msg}")


def seqs(messages: list[Message]) -> list[int]:
    assert all(m["type"] == "hit" for m in messages), messages
    return [m["seq"] for m in messages]


async def test_a_published_hit_reaches_every_zone_that_may_receive_it(
    store: FakeHitStore, hub: HitHub
) -> None:
    turnhout = hub.subscribe(TURNHOUT, None)
    brasschaat = hub.subscribe(BRASSCHAAT, None)
    analyst = hub.subscribe(Principal(user_id="a", zone_id="pz5352", role=Role.ANALYST), None)
    covert = make_hit(2, category=Category.INVESTIGATION, scope=Scope(kind=ScopeKind.NETWORK))
    in_thread(lambda: commit_and_publish(store, hub, [make_hit(1), covert])).join()

    (msg,) = await take(brasschaat, 1)
    assert msg["type"] == "hit" and msg["seq"] == 1
    view = msg["hit"]
    assert isinstance(view, HitView)
    assert view.id == "h-000001" and view.entry_id is None  # not the owner: no entry id
    assert seqs(await take(turnhout, 2)) == [1, 2]  # the owner sees its covert hit
    await nothing_more(brasschaat)  # ... and nobody else does
    await nothing_more(analyst)  # analysts get no live hits


async def test_updates_reach_the_recipients_only(store: FakeHitStore, hub: HitHub) -> None:
    brasschaat = hub.subscribe(BRASSCHAAT, None)
    own_zone = make_hit(1, scope=Scope(kind=ScopeKind.OWN_ZONE))
    turnhout = hub.subscribe(TURNHOUT, None)
    hub.publish_update(make_hit(1, status=HitStatus.ACKNOWLEDGED, scope=own_zone.scope))
    (msg,) = await take(turnhout, 1)
    assert msg["type"] == "hit_update" and msg["hit"].status is HitStatus.ACKNOWLEDGED
    await nothing_more(brasschaat)


async def test_publish_before_bind_and_after_close_is_harmless(store: FakeHitStore) -> None:
    unbound = HitHub(store, ZONES)
    unbound.publish([make_hit(1)])  # no loop yet: nobody can be subscribed
    loop = asyncio.new_event_loop()
    unbound.bind(loop)
    loop.close()
    unbound.publish([make_hit(2)])  # the node is stopping
    assert unbound.stats.published == 0


async def test_a_stalled_subscriber_never_delays_the_others(
    store: FakeHitStore, hub: HitHub
) -> None:
    stalled = hub.subscribe(BRASSCHAAT, None)
    prompt = hub.subscribe(TURNHOUT, None)
    total = 20 * hub.queue_size
    received: list[int] = []
    lags: list[float] = []
    sent_at: dict[int, float] = {}
    caught_up = threading.Semaphore(0)

    def matcher() -> None:
        # Paced by the prompt subscriber (a matcher does not outrun a live operator), while
        # the stalled one falls 20 queues behind.
        for start in range(1, total + 1, 10):
            batch = [make_hit(s) for s in range(start, start + 10)]
            now = time.perf_counter()
            for h in batch:
                sent_at[h.seq] = now
            commit_and_publish(store, hub, batch)
            assert caught_up.acquire(timeout=5)

    thread = in_thread(matcher)
    while len(received) < total:
        msg = await asyncio.wait_for(prompt.get(), 5)
        received.append(msg["seq"])
        lags.append(time.perf_counter() - sent_at[msg["seq"]])
        if msg["seq"] % 10 == 0:
            caught_up.release()
    thread.join()
    assert received == list(range(1, total + 1))
    assert max(lags) < 1.0, f"the prompt subscriber waited {max(lags):.3f}s"
    assert len(stalled._live) <= hub.queue_size  # bounded, whatever the backlog

    # The stalled one is told, then refilled from the store: everything, once, in order.
    first = await take(stalled, 1)
    assert first == [{"type": "resync", "since": 0}]
    assert seqs(await take(stalled, total)) == list(range(1, total + 1))
    await nothing_more(stalled)
    assert hub.stats.resyncs >= 1

    commit_and_publish(store, hub, [make_hit(total + 1)])  # and it is live again
    assert seqs(await take(stalled, 1)) == [total + 1]


async def test_resync_starts_after_the_last_hit_delivered(store: FakeHitStore, hub: HitHub) -> None:
    sub = hub.subscribe(BRASSCHAAT, None)
    commit_and_publish(store, hub, [make_hit(s) for s in range(1, 4)])
    assert seqs(await take(sub, 3)) == [1, 2, 3]
    n = hub.queue_size + 5
    commit_and_publish(store, hub, [make_hit(s) for s in range(4, 4 + n)])
    await asyncio.sleep(0.01)
    assert await take(sub, 1) == [{"type": "resync", "since": 3}]
    assert seqs(await take(sub, n)) == list(range(4, 4 + n))
    await nothing_more(sub)


async def test_resync_goes_back_to_a_hit_dropped_out_of_order(
    store: FakeHitStore, hub: HitHub
) -> None:
    # Two publishers (matcher, retroactive search) may publish out of seq order.
    sub = hub.subscribe(BRASSCHAAT, None)
    store.add([make_hit(s) for s in range(1, hub.queue_size + 3)])
    hub.publish([make_hit(2)])
    hub.publish([make_hit(1)])
    await asyncio.sleep(0.01)
    assert seqs(await take(sub, 1)) == [2]
    hub.publish([make_hit(s) for s in range(3, hub.queue_size + 3)])
    hub.publish([make_hit(1)])  # seen before, but delivery order is the publishers'
    await asyncio.sleep(0.01)
    (resync,) = await take(sub, 1)
    assert resync == {"type": "resync", "since": 0}
    got = seqs(await take(sub, hub.queue_size + 2))
    assert got == list(range(1, hub.queue_size + 3))  # nothing missing; 2 again at most


async def test_reconnect_gets_the_missed_hits_then_live_ones(
    store: FakeHitStore, hub: HitHub
) -> None:
    store.add([make_hit(s) for s in range(1, 11)])
    store.add([make_hit(11, scope=Scope(kind=ScopeKind.OWN_ZONE))])  # not for Brasschaat
    sub = hub.subscribe(BRASSCHAAT, 4)
    assert sub.catching_up
    assert seqs(await take(sub, 6)) == [5, 6, 7, 8, 9, 10]
    commit_and_publish(store, hub, [make_hit(12)])
    assert seqs(await take(sub, 1)) == [12]
    assert not sub.catching_up
    await nothing_more(sub)
    assert sub.last_delivered_seq == 12


@pytest.mark.parametrize("snapshot_first", [True, False], ids=["before", "after"])
@pytest.mark.parametrize("page", [2, 500])
async def test_hits_published_while_the_backlog_is_read_come_once_and_in_order(
    store: FakeHitStore,
    hub: HitHub,
    monkeypatch: pytest.MonkeyPatch,
    snapshot_first: bool,
    page: int,
) -> None:
    """The store read may see the hits committed during it (snapshot after) or not (before):
    either way each hit is delivered exactly once."""
    monkeypatch.setattr(hub_module, "PAGE", page)
    store.add([make_hit(s) for s in range(1, 8)])
    store.gate = gate = threading.Event()
    store.snapshot_first = snapshot_first
    sub = hub.subscribe(BRASSCHAAT, 2)
    reader = asyncio.ensure_future(take(sub, 13))
    assert await asyncio.to_thread(store.entered.wait, 5)
    # The matcher commits and publishes while the backlog read is held.
    in_thread(lambda: commit_and_publish(store, hub, [make_hit(s) for s in range(8, 12)])).join()
    await asyncio.sleep(0.01)  # the fan-out ran: the hits are held aside
    gate.set()
    await asyncio.sleep(0.01)
    commit_and_publish(store, hub, [make_hit(s) for s in range(12, 16)])
    assert seqs(await reader) == list(range(3, 16))
    await nothing_more(sub)


async def test_held_hits_lost_to_overflow_during_catch_up_come_from_the_store(
    store: FakeHitStore, hub: HitHub
) -> None:
    store.add([make_hit(1)])
    store.gate = gate = threading.Event()
    sub = hub.subscribe(BRASSCHAAT, 0)
    reader = asyncio.ensure_future(take(sub, 1 + 3 * hub.queue_size))
    assert await asyncio.to_thread(store.entered.wait, 5)
    more = [make_hit(s) for s in range(2, 2 + 3 * hub.queue_size)]
    commit_and_publish(store, hub, more)  # more than the queue holds, during catch-up
    await asyncio.sleep(0.01)
    gate.set()
    assert seqs(await reader) == list(range(1, 2 + 3 * hub.queue_size))
    await nothing_more(sub)


async def test_a_failing_policy_skips_that_hit_only(store: FakeHitStore) -> None:
    def flaky(hit: Hit, principal: Principal, zones: object) -> bool:
        if hit.seq == 2:
            raise ValueError("bad hit")
        return True

    hub = HitHub(store, ZONES, may_receive=flaky)
    hub.bind(asyncio.get_running_loop())
    sub = hub.subscribe(BRASSCHAAT, None)
    commit_and_publish(store, hub, [make_hit(1), make_hit(2), make_hit(3)])
    assert seqs(await take(sub, 2)) == [1, 3]
    assert hub.stats.policy_errors == 1


async def test_closing_ends_the_subscription(store: FakeHitStore, hub: HitHub) -> None:
    sub = hub.subscribe(BRASSCHAAT, None)
    waiter = asyncio.ensure_future(sub.get())
    await asyncio.sleep(0)
    with sub:
        assert hub.subscribers == 1
    assert hub.subscribers == 0
    with pytest.raises(SubscriptionClosed):
        await waiter
    commit_and_publish(store, hub, [make_hit(1)])
    await asyncio.sleep(0.01)
    assert not sub._live


async def test_shutdown_ends_every_stream_and_refuses_new_ones(
    store: FakeHitStore, hub: HitHub
) -> None:
    sub = hub.subscribe(BRASSCHAAT, None)
    waiter = asyncio.ensure_future(sub.get())
    await asyncio.to_thread(hub.shutdown)  # from the thread that handles the signal
    with pytest.raises(SubscriptionClosed):
        await asyncio.wait_for(waiter, 1)
    late = hub.subscribe(BRASSCHAAT, 0)
    with pytest.raises(SubscriptionClosed):
        await late.get()
    assert hub.subscribers == 0
    hub.bind(asyncio.get_running_loop())  # served again
    assert not hub.subscribe(BRASSCHAAT, None).catching_up and hub.subscribers == 1


async def test_a_new_live_subscriber_resyncs_from_the_store_head(
    store: FakeHitStore, hub: HitHub
) -> None:
    store.add([make_hit(s) for s in range(1, 6)])
    sub = hub.subscribe(BRASSCHAAT, None)  # live only: the 5 old hits are not replayed
    assert sub.last_delivered_seq == 5
    n = hub.queue_size + 1
    commit_and_publish(store, hub, [make_hit(s) for s in range(6, 6 + n)])
    await asyncio.sleep(0.01)
    assert await take(sub, 1) == [{"type": "resync", "since": 5}]
    assert seqs(await take(sub, n)) == list(range(6, 6 + n))


async def test_a_hit_published_after_the_backlog_gave_it_is_not_sent_twice(
    store: FakeHitStore, hub: HitHub
) -> None:
    # Committed, read by the catch-up, and only then published (the matcher's thread was slow).
    store.add([make_hit(s) for s in range(1, 4)])
    sub = hub.subscribe(BRASSCHAAT, 0)
    assert seqs(await take(sub, 3)) == [1, 2, 3]
    assert not sub.catching_up
    hub.publish([make_hit(3), make_hit(4)])
    store.add([make_hit(4)])
    assert seqs(await take(sub, 1)) == [4]
    await nothing_more(sub)
