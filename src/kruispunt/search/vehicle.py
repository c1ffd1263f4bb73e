"""One vehicle's reads, and the vehicles around it: the store side of journey and convoy.

Shared by the service (behind the access gate) and the benchmark, so that what is measured is
what the API runs. ``spans`` and ``zones`` are a decision's windows and zones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kruispunt.domain.reads import Read
from kruispunt.search.convoy import Companion, TargetPassage, collapse_passages, rank_companions
from kruispunt.search.patterns import PlatePattern, plan_for
from kruispunt.search.queries import Filters, SearchQueries, Span

MAX_TARGET_READS = 5000
"""Reads of one vehicle looked at (the newest), for a journey or a convoy."""
MAX_SCANNED_FACTOR = 4
"""A plate read more than this many times ``MAX_TARGET_READS`` (a fake plate, 'NOPLATE')
is not paged to its end."""
MAX_PASSAGES = 1000


def vehicle_reads(
    queries: SearchQueries,
    plate: str,
    spans: Sequence[Span],
    zones: frozenset[str],
    *,
    max_reads: int = MAX_TARGET_READS,
    exclude: Sequence[str] = (),
) -> tuple[list[Read], bool]:
    """The plate's reads (oldest first), at most ``max_reads`` (the newest), and whether
    some were left out. ``exclude``: cameras never read (``Filters.exclude``)."""
    plan = plan_for(PlatePattern(plate), confusable=False)
    filters = Filters(zones=zones, exclude=tuple(exclude))
    reads: list[Read] = []
    after = None
    seen = 0
    while True:
        page, more = queries.plate_reads(
            plan, spans, filters, after=after, limit=queries.caps.max_page
        )
        reads = (reads + page)[-max_reads:]
        seen += len(page)
        if not more:
            return reads, seen > len(reads)
        if seen >= MAX_SCANNED_FACTOR * max_reads:
            return reads, True
        after = (page[-1].captured_us, page[-1].seq)


@dataclass(frozen=True, slots=True)
class ConvoyResult:
    companions: list[Companion]
    passages: int
    truncated: bool


def convoy(
    queries: SearchQueries,
    plate: str,
    spans: Sequence[Span],
    zones: frozenset[str],
    *,
    gap_us: int,
    min_together: int,
    limit: int,
    exclude: Sequence[str] = (),
) -> ConvoyResult:
    """Vehicles that pass the plate's cameras within ``gap_us`` of it, at least
    ``min_together`` times (``convoy.rank_companions``). ``exclude``: cameras never read,
    neither for the target nor around it."""
    reads, truncated = vehicle_reads(queries, plate, spans, zones, exclude=exclude)
    passages = collapse_passages([TargetPassage(r.camera_id, r.captured_us) for r in reads], gap_us)
    if len(passages) > MAX_PASSAGES:
        passages, truncated = passages[-MAX_PASSAGES:], True
    around = queries.around(
        [(p.camera_id, p.captured_us) for p in passages], gap_us, spans,
        Filters(zones=zones, exclude=tuple(exclude)),
    )  # fmt: skip
    ranked = rank_companions(
        plate, passages, around, gap_us=gap_us, min_together=min_together, limit=limit
    )
    return ConvoyResult(companions=ranked, passages=len(passages), truncated=truncated)
