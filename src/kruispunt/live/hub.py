"""Live fan-out of hits to connected operators (WebSocket and Server-Sent Events).

The matcher publishes hits from its own thread; ``publish`` only schedules the fan-out on the
event loop that serves the streams (``loop.call_soon_threadsafe``), so it never waits for a
subscriber. Each subscription has a bounded queue. A subscriber that falls behind loses its
queue, is told so (``{"type": "resync", "since": N}``) and is refilled from the hit store,
while the others carry on undisturbed.

A subscription starting from a known hit (``since``, e.g. after a reconnect) reads the missed
hits from the store page by page, then switches to live delivery. Hits published while the
store is being read are held aside and merged by sequence number: the store's single writer
assigns hit sequence numbers in commit order, and a hit is published only after its commit,
so every hit is either in a store page already read or still to come, never both and never
neither. Messages (``Message``) are plain dicts ready for JSON:

* ``{"type": "hit", "seq": n, "hit": <HitView>}``
* ``{"type": "hit_update", "seq": n, "hit": <HitView>}`` (a hit's workflow moved on)
* ``{"type": "resync", "since": n}`` (hits after ``n`` follow, re-read from the store)
* ``{"type": "camera_alarm", "alarm": <event_view>}`` (a camera's health alarm raised or
  cleared, to the people of the camera's manager zone only: ``kruispunt.health.routing``;
  no plate). Not replayed on reconnect: the health page and ``/api/v1/health/alarms`` hold
  them; a subscriber that falls behind loses the oldest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Protocol

from kruispunt.access.principals import Principal
from kruispunt.health.events import AlarmEvent, event_view
from kruispunt.health.routing import receives_alarm
from kruispunt.hits import policy
from kruispunt.hits.models import Hit

log = logging.getLogger(__name__)

Message = dict[str, Any]
Kind = Literal["hit", "hit_update"]
MayReceive = Callable[[Hit, Principal, Collection[str]], bool]
ViewFor = Callable[[Hit, Principal], Any]

PAGE = 500  # hits read from the store per catch-up step


class HitSource(Protocol):
    """What the hub needs of the hit store (``kruispunt.hits.store.HitStore``)."""

    def since(self, seq: int, limit: int) -> list[Hit]: ...

    def last_seq(self) -> int: ...


class SubscriptionClosed(Exception):
    """The subscription was closed (the hub stopped or the client went away)."""


@dataclass(slots=True)
class HubStats:
    published: int = 0
    updates: int = 0
    resyncs: int = 0
    policy_errors: int = 0
    alarms: int = 0


class Subscription:
    """One client's stream. Use it from the hub's event loop, with one consumer at a time."""

    def __init__(self, hub: HitHub, principal: Principal, since_seq: int | None, size: int):
        self.principal = principal
        self._hub = hub
        self._size = size
        self._live: deque[tuple[Kind, Hit]] = deque()
        self._page: deque[Hit] = deque()  # read from the store, to deliver before live ones
        self._pending: deque[tuple[Kind, Hit]] = deque()  # live ones held during catch-up
        self._pending_lost = False
        self._alarms: deque[Message] = deque(maxlen=size)
        self._ready = asyncio.Event()
        self._resync: int | None = None
        self._closed = False
        self._catching_up = since_seq is not None
        self._store_cursor = since_seq if since_seq is not None else 0
        self.last_delivered_seq = since_seq if since_seq is not None else hub.high_seq()

    @property
    def catching_up(self) -> bool:
        return self._catching_up

    # -- fed by the hub (on the loop) -------------------------------------------------------
    def _offer(self, kind: Kind, hit: Hit) -> None:
        if self._closed:
            return
        if kind == "hit" and hit.seq <= self._store_cursor:
            return  # committed before a store page was read: it came (or comes) from there
        if self._catching_up:
            if len(self._pending) >= self._size:
                # Every held hit is committed: the store will give it; read once more.
                self._pending.clear()
                self._pending_lost = True
            self._pending.append((kind, hit))
            return
        if len(self._live) >= self._size:
            self._overflow(hit if kind == "hit" else None)
            return
        self._live.append((kind, hit))
        self._ready.set()

    def _offer_alarm(self, message: Message) -> None:
        if not self._closed:
            self._alarms.append(message)
            self._ready.set()

    def _overflow(self, incoming: Hit | None) -> None:
        """Drop what is queued and refill from the store from the last hit delivered (or the
        first one dropped, should publishers have run out of sequence order)."""
        since = self.last_delivered_seq
        for kind, hit in self._live:
            if kind == "hit":
                since = min(since, hit.seq - 1)
        if incoming is not None:
            since = min(since, incoming.seq - 1)
        since = max(since, 0)
        self._live.clear()
        self._page.clear()
        self._pending.clear()
        self._pending_lost = False
        self._catching_up = True
        self._store_cursor = since
        self._resync = since
        self._hub.stats.resyncs += 1
        self._ready.set()

    # -- consumed by the stream handler -----------------------------------------------------
    async def get(self) -> Message:
        """The next message; waits for one. Safe to cancel (e.g. by a heartbeat timeout)."""
        while True:
            if self._closed:
                raise SubscriptionClosed()
            if self._resync is not None:
                since, self._resync = self._resync, None
                return {"type": "resync", "since": since}
            if self._alarms:
                return self._alarms.popleft()
            if self._page:
                return self._message("hit", self._page.popleft())
            if self._catching_up:
                await self._read_page()
                continue
            if self._live:
                kind, hit = self._live.popleft()
                return self._message(kind, hit)
            self._ready.clear()
            await self._ready.wait()

    async def _read_page(self) -> None:
        cursor = self._store_cursor
        hits = await asyncio.to_thread(self._hub.source.since, cursor, PAGE)
        if self._closed or not self._catching_up or self._store_cursor != cursor:
            return  # closed or restarted while reading: this page is stale
        if hits:
            self._store_cursor = max(h.seq for h in hits)
            self._page.extend(h for h in hits if self._hub.receives(h, self.principal))
            top = self._store_cursor
            kept = [(k, h) for k, h in self._pending if k != "hit" or h.seq > top]
            self._pending = deque(kept)
        if len(hits) < PAGE:
            if self._pending_lost:
                self._pending_lost = False  # held hits were dropped: they are in the store
                return
            self._catching_up = False
            self._live, self._pending = self._pending, deque()

    def _message(self, kind: Kind, hit: Hit) -> Message:
        if kind == "hit":
            self.last_delivered_seq = max(self.last_delivered_seq, hit.seq)
        return {"type": kind, "seq": hit.seq, "hit": self._hub.view(hit, self.principal)}

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._hub._remove(self)
            self._ready.set()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class HitHub:
    """Routes published hits to the subscriptions that may receive them."""

    def __init__(
        self,
        hit_store: HitSource,
        network_zone_ids: Collection[str],
        queue_size: int = 1000,
        *,
        may_receive: MayReceive = policy.may_receive,
        view_for: ViewFor = policy.view_for,
    ):
        self.source = hit_store
        self.network_zone_ids = frozenset(network_zone_ids)
        self.queue_size = queue_size
        self._may_receive = may_receive
        self._view_for = view_for
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subs: set[Subscription] = set()
        self._high: int | None = None  # highest hit seq seen
        self._closing = False
        self.stats = HubStats()
        # Called on the loop after each fan-out (e.g. to wake the webhook dispatcher).
        self.on_published: list[Callable[[], None]] = []

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The event loop that serves the streams; fan-out runs there."""
        self._loop = loop
        self._closing = False

    def shutdown(self) -> None:
        """End every stream now and refuse new ones (thread-safe). Call it when the server
        starts to stop: an open stream would otherwise hold the graceful shutdown."""
        self._closing = True
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed already
                loop.call_soon_threadsafe(self.close_all)

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def high_seq(self) -> int:
        if self._high is None:
            self._high = self.source.last_seq()
        return self._high

    # -- any thread -------------------------------------------------------------------------
    def publish(self, hits: Sequence[Hit]) -> None:
        """New hits (stored, with their seq). Thread-safe; never waits for a subscriber."""
        self._schedule("hit", tuple(hits))

    def publish_update(self, hit: Hit) -> None:
        """A hit whose workflow status changed. Thread-safe."""
        self._schedule("hit_update", (hit,))

    def publish_alarms(self, events: Sequence[AlarmEvent]) -> None:
        """Camera alarms raised or cleared (stored). Thread-safe."""
        loop = self._loop
        if loop is None or not events:
            return
        try:
            loop.call_soon_threadsafe(self._fan_out_alarms, tuple(events))
        except RuntimeError:  # the loop is closed: the node is stopping
            log.debug("hub: loop closed, %d camera alarms not fanned out", len(events))

    def _fan_out_alarms(self, events: tuple[AlarmEvent, ...]) -> None:
        self.stats.alarms += len(events)
        for event in events:
            message: Message = {"type": "camera_alarm", "alarm": event_view(event)}
            for sub in list(self._subs):
                if receives_alarm(sub.principal, event.manager_zone_id):
                    sub._offer_alarm(message)

    def _schedule(self, kind: Kind, hits: tuple[Hit, ...]) -> None:
        loop = self._loop
        if loop is None or not hits:
            return
        try:
            loop.call_soon_threadsafe(self._fan_out, kind, hits)
        except RuntimeError:  # the loop is closed: the node is stopping
            log.debug("hub: loop closed, %d %s messages not fanned out", len(hits), kind)

    # -- on the loop ------------------------------------------------------------------------
    def subscribe(self, principal: Principal, since_seq: int | None) -> Subscription:
        """A stream for this principal: hits after ``since_seq`` from the store first, then
        live ones; ``None``: live ones only. Call it on the serving loop (which binds the hub
        to that loop if ``bind`` was not called)."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        sub = Subscription(self, principal, since_seq, self.queue_size)
        self._subs.add(sub)
        if self._closing:
            sub.close()
        return sub

    def _remove(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def close_all(self) -> None:
        for sub in list(self._subs):
            sub.close()

    def receives(self, hit: Hit, principal: Principal) -> bool:
        try:
            return self._may_receive(hit, principal, self.network_zone_ids)
        except Exception:  # one bad hit must not stop the fan-out to everyone
            self.stats.policy_errors += 1
            log.exception("hub: routing policy failed for hit %s", hit.id)
            return False

    def view(self, hit: Hit, principal: Principal) -> Any:
        return self._view_for(hit, principal)

    def _fan_out(self, kind: Kind, hits: tuple[Hit, ...]) -> None:
        if kind == "hit":
            self.stats.published += len(hits)
            top = max(h.seq for h in hits)
            self._high = top if self._high is None else max(self._high, top)
        else:
            self.stats.updates += len(hits)
        for sub in list(self._subs):
            for hit in hits:
                if self.receives(hit, sub.principal):
                    sub._offer(kind, hit)
        for callback in self.on_published:
            try:
                callback()
            except Exception:
                log.exception("hub: on_published callback failed")
