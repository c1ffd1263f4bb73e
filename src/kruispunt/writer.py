"""The single writer: one thread that owns every write to the store.

Ingest batches queue here and are committed together (group commit: several HTTP batches in
one transaction, one fsync). A caller learns the outcome only after the commit, so a camera
is acknowledged only for what is durable. The queue is bounded by the number of reads waiting;
beyond that ``submit_reads`` refuses at once (the API turns that into 429 + Retry-After).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import msgspec

from kruispunt.domain.reads import Read
from kruispunt.log_tail import LogTail
from kruispunt.store.base import AppendResult, ReadStore

log = logging.getLogger(__name__)
T = TypeVar("T")


class ReadSink(Protocol):
    """Where ingest hands validated reads: the writer (embedded log) or JetStream."""

    @property
    def pending_reads(self) -> int: ...

    @property
    def alive(self) -> bool: ...

    def submit_reads(self, reads: Sequence[Read]) -> Future[AppendResult]:
        """Resolves once the reads are durable; raises Saturated / WriterStopped at once."""
        ...


class Saturated(Exception):
    """Too many reads are waiting for the store; try again later."""


class WriterStopped(Exception):
    """The writer is not running; nothing was accepted."""


@dataclass(slots=True)
class _Append:
    reads: Sequence[Read]
    future: Future[AppendResult] = field(default_factory=Future)


@dataclass(slots=True)
class _Call:
    fn: Callable[[ReadStore], Any]
    future: Future[Any] = field(default_factory=Future)


_STOP = object()
_URGENT = object()  # "look at the urgent lane"


@dataclass(slots=True)
class WriterStats:
    commits: int = 0
    reads_committed: int = 0
    saturated: int = 0
    failures: int = 0


class Writer:
    def __init__(
        self,
        store: ReadStore,
        *,
        max_pending_reads: int,
        group_max_reads: int,
        tail_reads: int = 100_000,
    ):
        self._store = store
        self._max_pending = max_pending_reads
        self._group_max = group_max_reads
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._pending = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._running = False
        self.stats = WriterStats()
        self.tail = LogTail(max_reads=tail_reads)
        self._urgent: deque[_Call] = deque()
        # Called on the writer thread after each commit of reads (e.g. to wake processors).
        self.on_commit: list[Callable[[], None]] = []

    @property
    def pending_reads(self) -> int:
        return self._pending

    def start(self) -> None:
        self.tail.reset(self._store.last_seq())
        self._running = True
        self._thread = threading.Thread(target=self._run, name="kruispunt-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Drain what is queued, then stop."""
        if self._thread is None:
            return
        with self._lock:
            self._running = False
            self._queue.put(_STOP)
        self._thread.join()
        self._thread = None

    @property
    def alive(self) -> bool:
        return self._running and self._thread is not None and self._thread.is_alive()

    def submit_reads(self, reads: Sequence[Read]) -> Future[AppendResult]:
        with self._lock:
            if not self._running:
                raise WriterStopped()
            if self._pending + len(reads) > self._max_pending and self._pending > 0:
                self.stats.saturated += 1
                raise Saturated()
            self._pending += len(reads)
            job = _Append(reads)
            # Queued under the lock: nothing can slip in behind the stop marker.
            self._queue.put(job)
        return job.future

    def call(self, fn: Callable[[ReadStore], T], *, urgent: bool = False) -> Future[T]:
        """Run ``fn(store)`` on the writer thread (for every other write: cursors, cameras).

        ``urgent`` jobs (hits on their way to an operator) go before any queued batch of
        reads: they wait for at most the commit in progress, not for the whole queue."""
        with self._lock:
            if not self._running:
                raise WriterStopped()
            job = _Call(fn)
            if urgent:
                self._urgent.append(job)
                self._queue.put(_URGENT)  # wakes the writer if it is idle
            else:
                self._queue.put(job)
        return job.future

    def _run_urgent(self) -> None:
        while self._urgent:
            self._run_call(self._urgent.popleft())

    def _run(self) -> None:
        carry: object | None = None
        while True:
            item = carry if carry is not None else self._queue.get()
            carry = None
            try:
                self._run_urgent()
            except Exception:
                log.exception("writer: unexpected failure; continuing")
            if item is _STOP:
                return
            if item is _URGENT:
                continue
            try:
                carry = self._handle(item)
            except Exception:  # never let the one writer die: ingest would stall silently
                log.exception("writer: unexpected failure; continuing")

    def _handle(self, item: object) -> object | None:
        """Run one queued job, grouping queued appends; returns a job taken but not run."""
        carry: object | None = None
        if isinstance(item, _Call):
            self._run_call(item)
        elif isinstance(item, _Append):
            group = [item]
            size = len(item.reads)
            while size < self._group_max:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _URGENT:
                    break  # commit what is grouped so far; the urgent job runs next
                if not isinstance(nxt, _Append):
                    carry = nxt
                    break
                group.append(nxt)
                size += len(nxt.reads)
            self._commit_group(group, size)
        return carry

    def _run_call(self, job: _Call) -> None:
        if not job.future.set_running_or_notify_cancel():
            return
        try:
            job.future.set_result(job.fn(self._store))
        except BaseException as exc:
            job.future.set_exception(exc)

    def _commit_group(self, group: list[_Append], size: int) -> None:
        reads: list[Read] = []
        live: list[bool] = []
        for job in group:
            reads.extend(job.reads)
            # A caller that gave up (camera disconnected) still gets its reads stored: the
            # camera will resend, and resending is idempotent.
            live.append(job.future.set_running_or_notify_cancel())
        try:
            outcome = self._append(reads)
            if isinstance(outcome, BaseException) and len(group) > 1:
                # Commit each batch alone, so one bad batch does not fail the other cameras.
                for job, alive in zip(group, live, strict=True):
                    self._deliver([job], [alive], self._append(job.reads))
            else:
                self._deliver(group, live, outcome)
        finally:
            with self._lock:
                self._pending -= size

    def _append(self, reads: Sequence[Read]) -> AppendResult | BaseException:
        try:
            result = self._store.append(reads)
        except BaseException as exc:
            self.stats.failures += 1
            log.error("append of %d reads failed, none acknowledged: %s", len(reads), exc)
            # The store may have moved on in ways the tail cannot know: processors read from
            # the store until the tail has caught up again.
            self.tail.reset(self._store.last_seq())
            return exc
        self.stats.commits += 1
        self.stats.reads_committed += len(reads)
        replace = msgspec.structs.replace
        self.tail.append(
            [
                replace(r, seq=seq)
                for r, seq, dup in zip(reads, result.seqs, result.duplicate, strict=True)
                if not dup
            ]
        )
        for callback in self.on_commit:
            try:
                callback()
            except Exception:
                log.exception("writer: on_commit callback failed")
        return result

    @staticmethod
    def _deliver(
        group: list[_Append], live: list[bool], outcome: AppendResult | BaseException
    ) -> None:
        start = 0
        for job, alive in zip(group, live, strict=True):
            end = start + len(job.reads)
            if alive:
                if isinstance(outcome, BaseException):
                    job.future.set_exception(outcome)
                else:
                    job.future.set_result(
                        AppendResult(outcome.seqs[start:end], outcome.duplicate[start:end])
                    )
            start = end
