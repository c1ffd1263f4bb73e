"""The store interface that business code sees (never a connection).

Stores are adapters: a small base class, a type key, a config. The write methods are called
from one writer thread only (see ``kruispunt.log``); read methods may be called from any thread.
"""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from kruispunt.domain.cameras import Camera
from kruispunt.domain.reads import Read


class StoreError(Exception):
    """The store could not do what was asked; nothing of the operation was applied."""


@dataclass(frozen=True, slots=True)
class AppendResult:
    """Per read, in order: its sequence number and whether it was already in the log."""

    seqs: list[int]
    duplicate: list[bool]


@dataclass(frozen=True, slots=True)
class Segment:
    """One day of reads (by UTC capture day): the unit retention drops."""

    day: dt.date
    min_seq: int
    max_seq: int
    rows: int


@dataclass(frozen=True, slots=True)
class CameraRecord:
    camera: Camera
    token_hash: str | None


@dataclass(frozen=True, slots=True)
class TrafficCount:
    camera_id: str
    bucket_us: int
    reads: int
    low_confidence: int
    foreign: int


class ReadStore(abc.ABC):
    type_key: ClassVar[str]

    # -- life cycle -------------------------------------------------------------------------
    @abc.abstractmethod
    def open(self) -> None:
        """Create or migrate the schema; safe to call on an existing store."""

    @abc.abstractmethod
    def close(self) -> None: ...

    # -- the log (writer thread) ------------------------------------------------------------
    @abc.abstractmethod
    def append(self, reads: Sequence[Read]) -> AppendResult:
        """Durably append reads in one transaction, all or nothing.

        A read whose (camera, read id) is already stored is not stored again; its original
        sequence number is returned with ``duplicate=True``. Raises StoreError on failure.
        """

    @abc.abstractmethod
    def commit_processor(
        self,
        name: str,
        from_cursor: int,
        cursor: int,
        counts: Mapping[tuple[str, int], tuple[int, int, int]],
    ) -> None:
        """Add a processor's derived traffic counts and move its cursor, atomically.

        Refuses (StoreError) when the stored cursor is not ``from_cursor``: two runners on
        one cursor would derive everything twice.
        """

    @abc.abstractmethod
    def drop_segment(self, day: dt.date) -> int:
        """Delete one day of reads; returns the number of reads deleted."""

    @abc.abstractmethod
    def upsert_camera(self, camera: Camera, token_hash: str | None) -> None: ...

    @abc.abstractmethod
    def set_token_hash(self, camera_id: str, token_hash: str) -> bool:
        """Replace a (not deleted) camera's token; False when there is no such camera."""

    @abc.abstractmethod
    def delete_camera(self, camera_id: str) -> bool: ...

    # -- reading ----------------------------------------------------------------------------
    @abc.abstractmethod
    def last_seq(self) -> int: ...

    @abc.abstractmethod
    def reads_after(self, seq: int, limit: int) -> list[Read]:
        """Reads with a sequence number above ``seq``, in sequence order."""

    @abc.abstractmethod
    def cursor(self, name: str) -> int: ...

    @abc.abstractmethod
    def cursors(self) -> dict[str, int]: ...

    @abc.abstractmethod
    def segments(self) -> list[Segment]: ...

    @abc.abstractmethod
    def cameras(self) -> list[CameraRecord]: ...

    @abc.abstractmethod
    def traffic_counts(self, since_us: int, camera_id: str | None = None) -> list[TrafficCount]: ...

    @abc.abstractmethod
    def reads_of_plate(self, plate: str, since_us: int, until_us: int) -> list[Read]:
        """Internal: a plate's reads. Consultation by people goes through the access layer."""

    def count_reads(self) -> int:
        return sum(s.rows for s in self.segments())
