"""Processors: consumers of the log, each with its own cursor.

A processor turns a slice of the log into derived records (pure ``process``), and the runner
commits those records together with the new cursor in one store transaction. After a crash
the runner resumes from the committed cursor, so nothing is derived twice.
"""

from __future__ import annotations

import abc
import logging
import threading
from collections.abc import Sequence
from typing import Any, ClassVar

from kruispunt import metrics
from kruispunt.domain.reads import Read
from kruispunt.store.base import ReadStore
from kruispunt.writer import Writer, WriterStopped

log = logging.getLogger(__name__)


class Processor(abc.ABC):
    type_key: ClassVar[str]
    # Commits jump the writer's queue (hits: an operator is waiting).
    urgent_commit: ClassVar[bool] = False
    # Least time between two slices (batching for processors nobody waits on).
    min_interval_s: ClassVar[float] = 0.0
    # One instance per partition of the distributed log, each with its own cursor.
    partition: int | None = None

    @property
    def name(self) -> str:
        """The cursor's name: the type key, plus the partition on the distributed log."""
        if self.partition is None:
            return self.type_key
        return f"{self.type_key}@p{self.partition:03d}"

    @abc.abstractmethod
    def process(self, reads: Sequence[Read]) -> Any:
        """Derive records from reads (no I/O)."""

    @abc.abstractmethod
    def commit(self, store: ReadStore, from_cursor: int, cursor: int, derived: Any) -> Any:
        """Store the derived records and move the cursor from ``from_cursor`` to ``cursor``,
        atomically (runs on the writer thread). What it returns goes to ``after_commit``."""

    def wants_commit(self, derived: Any, from_cursor: int) -> bool:
        """False: nothing worth a transaction yet (the runner skips the writer round trip
        and ``commit`` gets the skipped slices' reads with the next one)."""
        return True

    def after_commit(self, committed: Any) -> None:  # noqa: B027 (optional hook)
        """Called on the processor's thread once the commit is durable (e.g. publish hits)."""


class ProcessorRunner:
    """Feeds one processor from the log on its own thread."""

    def __init__(
        self,
        processor: Processor,
        *,
        store: ReadStore,
        writer: Writer,
        batch_reads: int,
        idle_sleep_s: float,
    ):
        self.processor = processor
        self._store = store
        self._writer = writer
        self._batch = batch_reads
        self._idle = idle_sleep_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.cursor = 0
        self.processed = 0
        self.errors = 0

    def start(self) -> None:
        self.cursor = self._store.cursor(self.processor.name)
        self._thread = threading.Thread(
            target=self._run, name=f"processor-{self.processor.name}", daemon=True
        )
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    @property
    def name(self) -> str:
        return self.processor.name

    def lag(self) -> int:
        return max(0, self._store.last_seq() - self.cursor)

    def step(self) -> int:
        """Process one slice of the log; returns how many reads it covered."""
        reads = self._writer.tail.after(self.cursor, self._batch)
        if reads is None:  # behind the in-memory tail: catch up from the store
            reads = self._store.reads_after(self.cursor, self._batch)
        if not reads:
            return 0
        derived = self.processor.process(reads)
        old_cursor, new_cursor = self.cursor, reads[-1].seq
        name = self.processor.name
        processor = self.processor
        if not processor.wants_commit(derived, old_cursor):
            self.cursor = new_cursor
            self.processed += len(reads)
            return len(reads)
        committed = self._writer.call(
            lambda s: processor.commit(s, old_cursor, new_cursor, derived),
            urgent=processor.urgent_commit,
        ).result()
        self.cursor = new_cursor
        try:
            processor.after_commit(committed)
        except Exception:  # the records are stored; a failed notification must not replay
            log.exception("processor %s: after_commit failed", name)
        self.processed += len(reads)
        metrics.PROCESSOR_LAG.labels(name).set(self.lag())
        return len(reads)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                done = self.step()
            except WriterStopped:
                return
            except Exception:
                self.errors += 1
                log.exception("processor %s failed; retrying from its stored cursor", self.name)
                done = 0
                self._stop.wait(self._idle)
                try:
                    self.cursor = self._store.cursor(self.name)
                except Exception:
                    log.exception("processor %s cannot read its cursor", self.name)
            if done == 0:
                self._wake.wait(self._idle)
                self._wake.clear()
            elif self.processor.min_interval_s and done < self._batch:
                # Caught up: let reads gather. Behind: go on at once.
                self._stop.wait(self.processor.min_interval_s)
