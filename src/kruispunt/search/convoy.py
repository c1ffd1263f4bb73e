"""Convoy: vehicles that pass the same cameras shortly before or after a given vehicle (pure).

For each passage of the target vehicle (a camera and a time), the store gives the other reads
of that camera within ``gap`` either side. A vehicle seen near the target at one passage is
chance; seen near it at several passages, on several cameras, it travels with it. Each
companion counts once per passage (its nearest read), and is ranked by the number of passages
it shared, then the number of distinct cameras, then how close it kept.

Reads whose plate has the target's confusable key are the target itself, misread: not
companions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec

from kruispunt.plates.confusables import confusable_key


class CoRead(msgspec.Struct, frozen=True, array_like=True):
    """Another vehicle's read at the camera of a target passage."""

    plate: str
    country: str | None
    captured_us: int


class TargetPassage(msgspec.Struct, frozen=True, array_like=True):
    camera_id: str
    captured_us: int


class Evidence(msgspec.Struct, frozen=True, kw_only=True):
    camera_id: str
    target_us: int
    other_us: int
    delta_s: float
    """Companion's time minus the target's: negative when it passed first."""


class Companion(msgspec.Struct, frozen=True, kw_only=True):
    plate: str
    country: str | None
    together: int
    """Target passages this vehicle shared (within the gap)."""
    cameras: int
    """Distinct cameras among them."""
    before: int
    after: int
    mean_gap_s: float
    """Mean absolute time between it and the target over the shared passages."""
    evidence: list[Evidence]


@dataclass
class _Tally:
    country: str | None = None
    evidence: list[Evidence] = field(default_factory=list)


def collapse_passages(passages: Sequence[TargetPassage], gap_us: int) -> list[TargetPassage]:
    """Time-ordered passages; a read at the same camera within ``gap_us`` of the previous
    passage there is the same passage (two lanes, a slow queue)."""
    out: list[TargetPassage] = []
    last_at: dict[str, int] = {}
    for p in sorted(passages, key=lambda p: p.captured_us):
        previous = last_at.get(p.camera_id)
        last_at[p.camera_id] = p.captured_us
        if previous is not None and p.captured_us - previous <= gap_us:
            continue
        out.append(p)
    return out


def rank_companions(
    target_plate: str,
    passages: Sequence[TargetPassage],
    co_reads: Sequence[Sequence[CoRead]],
    *,
    gap_us: int,
    min_together: int,
    limit: int = 100,
) -> list[Companion]:
    """Companions of ``target_plate``: ``co_reads[i]`` are the reads at ``passages[i]``'s
    camera. Those within ``gap_us`` count; at least ``min_together`` passages each."""
    if len(passages) != len(co_reads):
        raise ValueError("one list of co-reads per passage")
    target_key = confusable_key(target_plate)
    tallies: dict[str, _Tally] = {}
    for passage, reads in zip(passages, co_reads, strict=True):
        nearest: dict[str, CoRead] = {}
        for r in reads:
            delta = abs(r.captured_us - passage.captured_us)
            if delta > gap_us or confusable_key(r.plate) == target_key:
                continue
            best = nearest.get(r.plate)
            if best is None or delta < abs(best.captured_us - passage.captured_us):
                nearest[r.plate] = r
        for plate, r in nearest.items():
            tally = tallies.setdefault(plate, _Tally())
            tally.country = r.country or tally.country
            tally.evidence.append(
                Evidence(
                    camera_id=passage.camera_id,
                    target_us=passage.captured_us,
                    other_us=r.captured_us,
                    delta_s=round((r.captured_us - passage.captured_us) / 1e6, 3),
                )
            )
    out = [
        Companion(
            plate=plate,
            country=t.country,
            together=len(t.evidence),
            cameras=len({e.camera_id for e in t.evidence}),
            before=sum(e.delta_s < 0 for e in t.evidence),
            after=sum(e.delta_s >= 0 for e in t.evidence),
            mean_gap_s=round(sum(abs(e.delta_s) for e in t.evidence) / len(t.evidence), 3),
            evidence=t.evidence,
        )
        for plate, t in tallies.items()
        if len(t.evidence) >= min_together
    ]
    out.sort(key=lambda c: (-c.together, -c.cameras, c.mean_gap_s, c.plate))
    return out[:limit]
