"""Bulk import: a CSV file of any size into one transaction, with bounded memory.

Two phases. The caller's thread reads and validates the whole file, writing the good rows,
ready to insert, to a spool file (``prepare``: memory holds one chunk). Then the writer runs
one transaction that inserts the spooled rows chunk by chunk (``insert_prepared``) and
commits. The single writer is held only for the inserts, not while the file is parsed (other
writes, such as camera reads, wait less), and a failure in either phase applies nothing.
"""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import msgspec

from kruispunt.hotlists.csv_io import Row, RowError
from kruispunt.hotlists.models import HotlistEntry
from kruispunt.hotlists.store import EntryRow, HotlistStore, entry_row
from kruispunt.store.sql import Conn

SPOOL_IN_MEMORY = 16_000_000
"""Spooled rows stay in memory up to this many bytes, then go to a temporary file."""

_LENGTH = struct.Struct("<I")
_chunk_decoder = msgspec.msgpack.Decoder(list[tuple[int, list[object]]])


class ImportReport(msgspec.Struct, frozen=True, kw_only=True):
    imported: int
    rejected: int  # rows refused; ``errors`` lists the first of them (by line)
    errors: list[RowError]
    replaced: int = 0  # entries deleted first (replace)
    sha256: str = ""  # of the file as read; also in the audit record


@dataclass(slots=True)
class Refused:
    """Rows refused, counted; the first ``max_errors`` kept with their line and reason."""

    max_errors: int
    count: int = 0
    errors: list[RowError] = field(default_factory=list)

    def add(self, error: RowError) -> None:
        self.count += 1
        if len(self.errors) < self.max_errors:
            self.errors.append(error)


class Prepared:
    """Validated rows, ready to insert, in length-prefixed msgpack chunks."""

    def __init__(self) -> None:
        self._file = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
        self.rows = 0
        self.refused: Refused | None = None

    def add(self, chunk: list[tuple[int, EntryRow]]) -> None:
        data = msgspec.msgpack.encode(chunk)
        self._file.write(_LENGTH.pack(len(data)))
        self._file.write(data)
        self.rows += len(chunk)

    def chunks(self) -> Iterator[list[tuple[int, list[object]]]]:
        self._file.seek(0)
        while header := self._file.read(_LENGTH.size):
            (size,) = _LENGTH.unpack(header)
            yield _chunk_decoder.decode(self._file.read(size))

    def close(self) -> None:
        self._file.close()


def prepare(
    rows: Iterable[Row | RowError],
    parse: Callable[[Row], HotlistEntry | RowError],
    *,
    now_us: int,
    chunk_rows: int,
    max_errors: int,
) -> Prepared:
    """Phase one, on the caller's thread: validate every row, spool the good ones."""
    prepared = Prepared()
    refused = Refused(max_errors)
    chunk: list[tuple[int, EntryRow]] = []
    try:
        for row in rows:
            entry = row if isinstance(row, RowError) else parse(row)
            if isinstance(entry, RowError):
                refused.add(entry)
                continue
            assert isinstance(row, Row)
            chunk.append((row.line, entry_row(entry, now_us)))
            if len(chunk) >= chunk_rows:
                prepared.add(chunk)
                chunk = []
        if chunk:
            prepared.add(chunk)
    except BaseException:
        prepared.close()
        raise
    prepared.refused = refused
    return prepared


def insert_prepared(conn: Conn, prepared: Prepared, *, now_us: int) -> Refused:
    """Phase two, on the writer thread inside its transaction: insert the spooled rows,
    refusing duplicates (a plate already live on the list, or earlier in the file)."""
    assert prepared.refused is not None
    dups = Refused(prepared.refused.max_errors)
    seen: dict[tuple[object, object], int] = {}  # per chunk; earlier chunks are in the table
    for chunk in prepared.chunks():
        seen.clear()
        good: list[list[object]] = []
        for line, params in chunk:
            entry_id, list_id, plate, country = params[:4]
            key = (plate, country)
            earlier = seen.get(key)
            existing = None
            if not earlier:
                existing = HotlistStore.duplicate(conn, list_id, plate, country, entry_id, now_us)
            if earlier or existing:
                where = f"line {earlier}" if earlier else existing
                message = f"the plate is already on the list ({where})"
                dups.add(RowError(line=line, reason="entry_duplicate", message=message))
                continue
            seen[key] = line
            good.append(params)
        HotlistStore.insert_entries(conn, good)
    return dups
