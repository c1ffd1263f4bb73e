"""What one node process tells the others, so that every process acts on the same state.

- ``hits``: hits a worker stored; every API process pushes them to its live subscribers
  (an operator sees a hit whichever process their console is connected to).
- ``hit_update``: a hit's workflow step, taken in one API process.
- ``hotlist``: a list (``entry_id`` None) or one entry changed; each process reads it back
  into its index (workers match against it).
- ``users`` / ``cameras``: reload the users' tokens and roles, the camera registry.

Handling runs on one thread of its own, in arrival order, so a slow reload never stalls
the NATS connection. Camera and user reloads coalesce: 150 cameras imported at once cost
one reload, not 150.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from typing import TYPE_CHECKING

import msgspec

from kruispunt.bus.fanout import NatsFanout
from kruispunt.hits.models import Hit

if TYPE_CHECKING:
    from kruispunt.node import Node

log = logging.getLogger(__name__)

SUBJECT = "kruispunt.events"
COALESCE_S = 0.2


class HitsEvent(msgspec.Struct, tag="hits", frozen=True):
    hits: list[Hit]


class HitUpdateEvent(msgspec.Struct, tag="hit_update", frozen=True):
    hit: Hit


class HotlistEvent(msgspec.Struct, tag="hotlist", frozen=True):
    list_id: str
    entry_id: str | None = None


class UsersEvent(msgspec.Struct, tag="users", frozen=True):
    pass


class CamerasEvent(msgspec.Struct, tag="cameras", frozen=True):
    pass


Event = HitsEvent | HitUpdateEvent | HotlistEvent | UsersEvent | CamerasEvent
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Event)
_STOP = object()


class NodeEvents:
    def __init__(self, url: str, node: Node, *, subject: str = SUBJECT):
        self._node = node
        self.origin = uuid.uuid4().hex
        self._fanout = NatsFanout(url, subject, self._received, origin=self.origin)
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._due: dict[type, float] = {}  # coalesced reloads and when they run
        self.handled = 0
        self.failures = 0

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="node-events", daemon=True)
        self._thread.start()
        self._fanout.start()

    def stop(self) -> None:
        self._fanout.stop()
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None

    # -- telling the others -----------------------------------------------------------------
    def _publish(self, event: Event) -> None:
        try:
            self._fanout.publish(_encoder.encode(event))
        except Exception:  # the others then resync from the store (consoles re-read)
            self.failures += 1
            log.exception("could not tell the other node processes (%s)", type(event).__name__)

    def hits(self, hits: list[Hit]) -> None:
        if hits:
            self._publish(HitsEvent(hits))

    def hit_update(self, hit: Hit) -> None:
        self._publish(HitUpdateEvent(hit))

    def hotlist(self, list_id: str, entry_id: str | None) -> None:
        self._publish(HotlistEvent(list_id, entry_id))

    def users(self) -> None:
        self._publish(UsersEvent())

    def cameras(self) -> None:
        self._publish(CamerasEvent())

    # -- hearing from them ------------------------------------------------------------------
    def _received(self, payload: bytes) -> None:
        try:
            self._queue.put(_decoder.decode(payload))
        except msgspec.DecodeError:
            self.failures += 1
            log.warning("ignored an undecodable node event (%d bytes)", len(payload))

    def _run(self) -> None:
        while True:
            timeout = None
            if self._due:
                timeout = max(0.0, min(self._due.values()) - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            if item is _STOP:
                return
            if item is not None:
                self._apply(item)
            self._run_due()

    def _apply(self, event: object) -> None:
        node = self._node
        try:
            if isinstance(event, HitsEvent):
                node.hub.publish(event.hits)
                node.webhook_dispatcher.notify()
            elif isinstance(event, HitUpdateEvent):
                node.hub.publish_update(event.hit)
            elif isinstance(event, HotlistEvent):
                node.hotlists.refresh(event.list_id, event.entry_id)
            elif isinstance(event, UsersEvent | CamerasEvent):
                self._due.setdefault(type(event), time.monotonic() + COALESCE_S)
            self.handled += 1
        except Exception:
            self.failures += 1
            log.exception("applying a node event failed")

    def _run_due(self) -> None:
        now = time.monotonic()
        for kind, at in list(self._due.items()):
            if at > now:
                continue
            del self._due[kind]
            try:
                if kind is UsersEvent:
                    self._node.users.load()
                else:
                    self._node.registry.replace(self._node.store.cameras())
            except Exception:
                self.failures += 1
                log.exception("reloading after a node event failed")
