"""Hotlist entries as CSV: one row per entry, streamed both ways (no file is held in memory).

Columns (header required, any order; only ``plate`` must be present, a missing column reads
as empty)::

    plate,country,category,action,warnings,source,legal_basis,scope,scope_zones,
    valid_from,expires_at,note

``warnings`` and ``scope_zones`` separate their items with ``;``. Times: ISO 8601 with an
offset, or a date (see ``validation``). Export writes times in UTC, so it re-imports as is.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import msgspec

from kruispunt.hotlists.errors import CsvInvalid
from kruispunt.hotlists.models import HotlistEntry, ScopeKind
from kruispunt.hotlists.validation import EntryIn, format_time

COLUMNS = (
    "plate", "country", "category", "action", "warnings", "source", "legal_basis", "scope",
    "scope_zones", "valid_from", "expires_at", "note",
)  # fmt: skip


class RowError(msgspec.Struct, frozen=True, kw_only=True):
    line: int
    reason: str  # machine-readable code
    message: str = ""


@dataclass(frozen=True, slots=True)
class Row:
    line: int  # where the row starts in the file (1 = the header)
    entry: EntryIn


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(";") if item.strip()] if value else []


class _Lines:
    """Text lines; bytes are decoded as UTF-8 (a BOM is dropped). Undecodable bytes survive
    as surrogates and make the reader ``dirty``, so that their row alone is refused."""

    def __init__(self, lines: Iterable[bytes | str]):
        self._lines = iter(lines)
        self._first = True
        self.dirty = False

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        if isinstance(line, bytes):
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                text = line.decode("utf-8", "surrogateescape")
                self.dirty = True
        else:
            text = line
            self.dirty = self.dirty or not text.isascii()
        if self._first:
            self._first = False
            text = text.removeprefix("\ufeff")
        return text


def _header(reader: Iterator[list[str]]) -> list[str]:
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise CsvInvalid("the file is empty: a header line is required", "csv_empty") from None
    except csv.Error as exc:
        raise CsvInvalid(f"line 1: unreadable header: {exc}", "csv_header_invalid") from None
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise CsvInvalid(
            f"line 1: unknown column(s) {', '.join(unknown)}; expected {','.join(COLUMNS)}",
            "csv_header_invalid",
        )
    if len(set(header)) != len(header):
        raise CsvInvalid("line 1: a column is named twice", "csv_header_invalid")
    if "plate" not in header:
        raise CsvInvalid("line 1: the plate column is missing", "csv_header_invalid")
    return header


def read_rows(lines: Iterable[bytes | str]) -> Iterator[Row | RowError]:
    """Each data row as an ``EntryIn`` (still to be validated) or a ``RowError``.

    Reads the header at once: raises ``CsvInvalid`` when it is missing or wrong (nothing
    can be read), before any row is looked at."""
    text = _Lines(lines)
    reader = csv.reader(text, strict=True)
    return _rows(reader, _header(reader), text)


def _rows(reader: Any, header: list[str], text: _Lines) -> Iterator[Row | RowError]:
    width = len(header)
    # Where each of COLUMNS is in this file's rows (-1: not in the file).
    where = tuple(header.index(c) if c in header else -1 for c in COLUMNS)
    line_num = reader.line_num
    while True:
        line = line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield RowError(line=line, reason="row_malformed", message=str(exc))
            continue
        finally:
            line_num = reader.line_num
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue  # blank line
        if len(fields) != width:
            yield RowError(
                line=line, reason="row_malformed",
                message=f"{len(fields)} fields, the header has {width}",
            )  # fmt: skip
            continue
        if text.dirty and not all(map(_is_utf8, fields)):
            yield RowError(line=line, reason="encoding_invalid", message="not UTF-8")
            continue
        yield Row(line=line, entry=_entry_in([fields[i] if i >= 0 else "" for i in where]))


def _is_utf8(field: str) -> bool:
    if field.isascii():  # O(1)
        return True
    try:
        field.encode("utf-8")
    except UnicodeEncodeError:  # a surrogate left by an undecodable byte
        return False
    return True


def _entry_in(values: list[str]) -> EntryIn:
    """``values`` in the order of COLUMNS."""
    (plate, country, category, action, warnings, source, legal_basis, scope, scope_zones,
     valid_from, expires_at, note) = (v.strip() for v in values)  # fmt: skip
    return EntryIn(
        plate=plate or None,
        country=country or None,
        category=category or None,
        action=action or None,
        warnings=_split(warnings),
        source=source or None,
        legal_basis=legal_basis or None,
        scope=scope or None,
        scope_zones=_split(scope_zones),
        valid_from=valid_from or None,
        expires_at=expires_at or None,
        note=note,
    )


def entry_row(entry: HotlistEntry) -> list[str]:
    zones = ";".join(entry.scope.zones) if entry.scope.kind == ScopeKind.NAMED_ZONES else ""
    return [
        entry.plate_raw, entry.country or "", entry.category.value, entry.action,
        ";".join(entry.warnings), entry.source, entry.legal_basis, entry.scope.kind.value, zones,
        format_time(entry.valid_from_us), format_time(entry.expires_at_us), entry.note,
    ]  # fmt: skip


def write_csv(entries: Iterable[HotlistEntry], *, rows_per_chunk: int = 1000) -> Iterator[str]:
    """The header, then the entries, as chunks of CSV text."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for n, entry in enumerate(entries, start=1):
        writer.writerow(entry_row(entry))
        if n % rows_per_chunk == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    if buf.tell():
        yield buf.getvalue()
