"""Traffic counts per camera per 15 minutes: the network's pulse (and, later, camera health).

Counts hold no plate, so they are not personal data and outlive the reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from kruispunt.domain.reads import Read
from kruispunt.processors.base import Processor
from kruispunt.store.base import ReadStore

BUCKET_US = 15 * 60 * 1_000_000
LOW_CONFIDENCE = 0.7
HOME_COUNTRY = "BE"

Counts = dict[tuple[str, int], tuple[int, int, int]]


def count_reads(reads: Sequence[Read], *, bucket_us: int = BUCKET_US) -> Counts:
    """(camera, bucket start) -> (reads, low-confidence reads, foreign plates)."""
    acc: dict[tuple[str, int], list[int]] = {}
    for r in reads:
        key = (r.camera_id, r.captured_us - r.captured_us % bucket_us)
        slot = acc.get(key)
        if slot is None:
            slot = acc[key] = [0, 0, 0]
        slot[0] += 1
        if r.confidence < LOW_CONFIDENCE:
            slot[1] += 1
        if r.country is not None and r.country != HOME_COUNTRY:
            slot[2] += 1
    return {k: (v[0], v[1], v[2]) for k, v in acc.items()}


class TrafficCounts(Processor):
    type_key: ClassVar[str] = "traffic_counts"
    min_interval_s: ClassVar[float] = 1.0  # counts per quarter hour: no need to commit per batch

    def process(self, reads: Sequence[Read]) -> Counts:
        return count_reads(reads)

    def commit(
        self,
        store: ReadStore,
        from_cursor: int,
        cursor: int,
        derived: Mapping[tuple[str, int], tuple[int, int, int]],
    ) -> None:
        store.commit_processor(self.name, from_cursor, cursor, derived)


PROCESSORS: dict[str, type[Processor]] = {TrafficCounts.type_key: TrafficCounts}
