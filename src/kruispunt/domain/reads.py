"""The Read: one plate seen by one camera, as it lives in the log."""

from __future__ import annotations

import msgspec


# gc=False: a Read holds only scalars and strings, so it can never be part of a reference
# cycle; untracked, millions of them in flight cost the cyclic collector nothing.
class Read(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """A validated read, ready for (or taken from) the log.

    Times are integer microseconds since the Unix epoch, UTC: cheap to store, compare and
    partition. ``seq`` is 0 until the log assigns it at the durable append.
    """

    seq: int
    read_id: str
    camera_id: str
    zone_id: str
    captured_us: int
    received_us: int
    plate_raw: str
    plate: str
    country: str | None
    country_inferred: bool
    plate_format: str | None
    confidence: float
    direction: str | None = None
    lane: int | None = None
    vehicle_class: str | None = None
    make: str | None = None
    colour: str | None = None
    image_ref: str | None = None
    # A camera replaying its buffer after an outage: hits from it are late whatever the lag.
    # Not a store column: it travels with the read in memory (the writer's log tail, the
    # JetStream messages); a read taken back from the store has False, and then only the
    # arrival lag makes a hit late.
    backfilled: bool = False
