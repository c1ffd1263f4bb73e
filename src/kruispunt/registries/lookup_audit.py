"""The audit of registry look-ups, written in batches.

Every look-up (answered from the cache or by the registry, or failed at the registry) is one
audit record: action ``registry.lookup``, actor ``system``, the purpose (the module that
asked) in the record's context, object ``vehicle`` named by its plate token (never the
plate) or ``holder`` named by its pseudonymous id, and in the detail the registry, the
adapter, ``cache`` (hit or miss), ``outcome`` (found, none, error), the plate's country and
the zone the question was about. A look-up the breaker refused sent nothing anywhere and is
not recorded (it is counted in the metrics).

**Batching.** A burst of reads can cause thousands of look-ups a second; one transaction
each would swamp the single writer. Look-ups are queued in memory and written together:

- a background thread writes what is queued every ``audit_flush_s`` (default 1 s), or at
  once when ``audit_batch_max`` records (default 500) are waiting, one transaction per
  ``audit_batch_max`` records;
- a processor that looks up (``registry_checks``) takes what is queued into the transaction
  that stores its hits and moves its cursor (``take`` / ``write``; ``requeue`` if that
  transaction fails), so its look-ups cost no transaction of their own and are stored
  together with the progress they belong to;
- the queue needs no bound of its own: look-ups come from processors, whose own commits
  wait on the same writer, so a writer that lags stops the look-ups too (and a caller never
  waits for the writer here: on the distributed log, processors run on the writer thread);
- ``stop`` writes what is left (the node stops the registries before the writer).

A crash loses at most the records of the last ``audit_flush_s``. A processor's look-ups of
a slice whose commit did not happen are looked up (and audited) again when the log is
re-processed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, TypeVar

from kruispunt.audit import PlateTokens, write_audit
from kruispunt.store.base import ReadStore
from kruispunt.store.sql import Conn, SqlStore

log = logging.getLogger(__name__)
T = TypeVar("T")
ACTION = "registry.lookup"
UNKEYED = "pt:none"  # no key loaded, or no plate characters: never the plate itself


class CallWriter(Protocol):
    """What the auditor needs of the node's single writer."""

    def call(self, fn: Callable[[ReadStore], T], *, urgent: bool = False) -> Future[T]: ...


@dataclass(frozen=True, slots=True)
class Lookup:
    """One look-up, as it will be audited."""

    at_us: int
    registry: str
    """vehicles, insurance, licences or cross_border."""
    adapter: str
    plate: str | None
    """The plate asked about (kept in memory only; the record holds its token)."""
    holder_id: str | None
    country: str | None
    purpose: str
    zone_id: str | None
    cache: str
    """hit or miss."""
    outcome: str
    """found, none or error."""


def write_lookups(conn: Conn, lookups: Sequence[Lookup], tokens: PlateTokens) -> None:
    """Append one audit record per look-up, inside the caller's transaction."""
    for lookup in lookups:
        if lookup.plate is not None:
            token = tokens.token(lookup.plate) if lookup.plate else None
            object_type, object_id = "vehicle", token or UNKEYED
        else:
            object_type, object_id = "holder", lookup.holder_id or ""
        detail: dict[str, Any] = {
            "registry": lookup.registry, "adapter": lookup.adapter, "cache": lookup.cache,
            "outcome": lookup.outcome,
        }  # fmt: skip
        if lookup.country is not None:
            detail["country"] = lookup.country
        if lookup.zone_id is not None:
            detail["zone_id"] = lookup.zone_id
        write_audit(
            conn, actor="system", actor_zone=None, action=ACTION, object_type=object_type,
            object_id=object_id, detail=detail, at_us=lookup.at_us, purpose=lookup.purpose,
            source=f"registry:{lookup.registry}",
        )  # fmt: skip


def _now_us() -> int:
    return time.time_ns() // 1000


class LookupAuditor:
    """Queues look-ups and writes them in batches (module docstring)."""

    def __init__(
        self,
        *,
        writer: CallWriter,
        tokens: PlateTokens,
        batch_max: int = 500,
        flush_s: float = 1.0,
        clock_us: Callable[[], int] = _now_us,
    ):
        self._writer = writer
        self.tokens = tokens
        self.batch_max = batch_max
        self.flush_s = flush_s
        self.clock_us = clock_us
        self._pending: list[Lookup] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()  # one flush at a time keeps the records in order
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.written = 0

    def record(self, lookup: Lookup) -> None:
        with self._lock:
            self._pending.append(lookup)
            waiting = len(self._pending)
        if waiting >= self.batch_max:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    # -- in another transaction -------------------------------------------------------------
    def take(self) -> list[Lookup]:
        """Everything queued, for a caller's transaction (``write``, else ``requeue``)."""
        with self._lock:
            taken, self._pending = self._pending, []
        return taken

    def requeue(self, lookups: Sequence[Lookup]) -> None:
        """Put back what a failed transaction did not store (before anything newer)."""
        if lookups:
            with self._lock:
                self._pending[:0] = lookups

    def write(self, conn: Conn, lookups: Sequence[Lookup]) -> None:
        write_lookups(conn, lookups, self.tokens)
        self.written += len(lookups)

    # -- on its own ---------------------------------------------------------------------------
    def flush(self) -> int:
        """Write what is queued now, one transaction per batch; returns how many."""
        done = 0
        with self._flush_lock:
            while True:
                with self._lock:
                    batch = self._pending[: self.batch_max]
                    del self._pending[: self.batch_max]
                if not batch:
                    return done
                try:
                    self._writer.call(partial(self._write_batch, batch=batch)).result()
                except Exception:
                    self.requeue(batch)
                    raise
                done += len(batch)

    def _write_batch(self, store: ReadStore, *, batch: Sequence[Lookup]) -> None:
        assert isinstance(store, SqlStore)
        with store.transaction() as conn:
            self.write(conn, batch)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="registry-audit", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and write what is left (call it before the writer stops)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        try:
            self.flush()
        except Exception:
            log.exception("registry look-ups: %d audit records could not be written", self.pending)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.flush()
            except Exception:
                log.exception("registry look-ups: audit batch failed; will retry")
                self._stop.wait(self.flush_s)
