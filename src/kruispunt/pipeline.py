"""What a worker does with one partition's batch of the distributed log.

1. Archive: append the reads to the store with the seqs the log gave them. The store drops
   reads it already holds (a redelivery after a crash, or a camera resending after the
   log's duplicate window) and says so.
2. Derive: every processor gets the reads that are new to the log (a resend of a stored
   read has another seq and is skipped) and above its cursor for this partition, and
   commits its records together with that cursor (compare-and-set). A redelivered batch
   therefore derives nothing twice, whichever worker gets it.
3. Only then does the worker acknowledge the batch to JetStream (``PartitionWorker``).

Each partition has its own processor instances (and cursors): per-vehicle state stays with
the one worker that holds the partition.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from kruispunt.domain.reads import Read
from kruispunt.processors.base import Processor
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

    def handle(self, partition: int, reads: Sequence[Read]) -> None:
        """Archive and derive one batch, durably; raises (nothing acknowledged) on failure."""
        if not reads:
            return
        result = self.writer.call(lambda s: s.append(reads)).result()
        fresh = [r for r, seq in zip(reads, result.seqs, strict=True) if seq == r.seq]
        stats = self.stats.setdefault(partition, PartitionStats())
        stats.batches += 1
        stats.reads += len(reads)
        stats.archived += sum(not d for d in result.duplicate)
        stats.resent += len(reads) - len(fresh)
        top = max(r.seq for r in reads)
        for processor in self.processors(partition):
            self._derive(processor, fresh, top)
        stats.last_seq = max(stats.last_seq, top)

    def _derive(self, processor: Processor, fresh: list[Read], top: int) -> None:
        name = processor.name
        cursor = self._cursors.get(name)
        if cursor is None:
            cursor = self.writer.call(lambda s: s.cursor(name)).result()
        if top <= cursor:
            self._cursors[name] = cursor
            return  # a redelivery of what this processor already committed
        todo = [r for r in fresh if r.seq > cursor]
        derived = processor.process(todo)
        if processor.wants_commit(derived, cursor):
            old = cursor
            try:
                committed = self.writer.call(
                    lambda s: processor.commit(s, old, top, derived),
                    urgent=processor.urgent_commit,
                ).result()
            except Exception:
                # E.g. the partition was another worker's for a while and its cursor moved:
                # read it again from the store when the batch is retried.
                self._cursors.pop(name, None)
                raise
            try:
                processor.after_commit(committed)
            except Exception:  # the records are stored; a failed notification must not replay
                log.exception("processor %s: after_commit failed", name)
        self._cursors[name] = top
