"""What a worker does with one partition's batch of the distributed log.

1. Archive: append the reads to the store with the seqs the log gave them. The store drops
   reads it already holds (a redelivery after a crash, or a camera resending after the
   log's duplicate window) and says so.
2. Derive: every processor gets the reads that are new to the log (a resend of a stored
   read has another seq and is skipped) and above its cursor for this partition, and
   commits its records together with that cursor (compare-and-set). A redelivered batch
   therefore derives nothing twice, whichever worker gets it.
3. Only then does the worker acknowledge the batch to JetStream (``PartitionWorker``).

On PostgreSQL steps 1 and 2 are one transaction (one commit per batch). Each partition has
its own processor instances and cursors: per-vehicle state stays with the one worker that
holds the partition.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kruispunt import metrics
from kruispunt.domain.reads import Read
from kruispunt.processors.base import Processor
from kruispunt.store.sql import SqlStore
from kruispunt.writer import Writer

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PartitionStats:
    batches: int = 0
    reads: int = 0
    archived: int = 0
    resent: int = 0  # already in the store under another seq: not derived again
    last_seq: int = 0


@dataclass
class PartitionPipeline:
    writer: Writer
    make_processors: Callable[[], list[Processor]]
    stats: dict[int, PartitionStats] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._processors: dict[int, list[Processor]] = {}
        self._cursors: dict[str, int] = {}
        self._lock = threading.Lock()

    def processors(self, partition: int) -> list[Processor]:
        with self._lock:
            procs = self._processors.get(partition)
            if procs is None:
                procs = self.make_processors()
                for p in procs:
                    p.partition = partition
                self._processors[partition] = procs
            return procs

    def forget(self, partition: int) -> None:
        """The partition went to another worker: its cursors may move without us."""
        with self._lock:
            for p in self._processors.pop(partition, []):
                self._cursors.pop(p.name, None)

    def handle(self, partition: int, reads: Sequence[Read]) -> None:
        """Archive and derive one batch, durably; raises (nothing acknowledged) on failure."""
        if not reads:
            return
        procs = self.processors(partition)
        top = max(r.seq for r in reads)
        try:
            fresh, archived, done = self.writer.call(
                lambda store: self._work(store, procs, reads, top),  # type: ignore[arg-type]
                urgent=any(p.urgent_commit for p in procs),
            ).result()
        except Exception:
            # E.g. the partition was another worker's for a while and a cursor moved: read
            # them again from the store when the batch is retried.
            for p in procs:
                self._cursors.pop(p.name, None)
            raise
        for processor, committed, cursor in done:
            self._cursors[processor.name] = cursor
            if committed is not None:
                try:
                    processor.after_commit(committed)
                except Exception:  # stored already; a failed notification must not replay
                    log.exception("processor %s: after_commit failed", processor.name)
        stats = self.stats.setdefault(partition, PartitionStats())
        stats.batches += 1
        stats.reads += len(reads)
        stats.archived += archived
        metrics.READS_ARCHIVED.inc(archived)
        stats.resent += len(reads) - len(fresh)
        stats.last_seq = max(stats.last_seq, top)

    def _work(
        self, store: SqlStore, procs: list[Processor], reads: Sequence[Read], top: int
    ) -> tuple[list[Read], int, list[tuple[Processor, Any, int]]]:
        """On the writer thread: archive, then each processor's records and cursor."""
        done: list[tuple[Processor, Any, int]] = []
        with store.batch():
            result = store.append(reads)
            fresh = [r for r, seq in zip(reads, result.seqs, strict=True) if seq == r.seq]
            for processor in procs:
                name = processor.name
                cursor = self._cursors.get(name)
                if cursor is None:
                    cursor = store.cursor(name)
                if top <= cursor:  # a redelivery of what this processor committed already
                    done.append((processor, None, cursor))
                    continue
                derived = processor.process([r for r in fresh if r.seq > cursor])
                committed = None
                if processor.wants_commit(derived, cursor):
                    committed = processor.commit(store, cursor, top, derived)
                done.append((processor, committed, top))
        return fresh, sum(not d for d in result.duplicate), done
