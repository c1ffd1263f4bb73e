"""File replay: back-fill a camera's local buffer after an outage from CSV or JSON Lines.

Each row or line is a native read (the fields of ``ReadIn``; ``read_id`` optional, else a
hash of the row). Reads keep their capture time and the result is marked back-filled.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Literal

import msgspec
import pydantic

from kruispunt.ingest.adapters import parsing as p
from kruispunt.ingest.adapters.base import AdapterConfig, Decoded, DecodeError, VendorDecoder
from kruispunt.ingest.wire import ReadIn

FIELDS = frozenset(ReadIn.__struct_fields__)


class ReplayConfig(AdapterConfig):
    format: Literal["csv", "jsonl"] = pydantic.Field(
        default="jsonl", description="Used when the content type does not say."
    )
    max_rows: int = pydantic.Field(default=100_000, ge=1, le=1_000_000)


class ReplayDecoder(VendorDecoder):
    type_key = "replay"
    config_model = ReplayConfig
    config: ReplayConfig

    def _decode(self, payload: bytes, content_type: str) -> Decoded:
        ct = content_type.lower()
        fmt = "csv" if "csv" in ct else "jsonl" if "json" in ct else self.config.format
        try:
            body = payload.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DecodeError(f"not UTF-8 at byte {exc.start}") from None
        rows = self._csv(body) if fmt == "csv" else self._jsonl(body)
        reads = tuple(self._read(row, f"{fmt} row {n}") for n, row in enumerate(rows, 1))
        return Decoded(reads=reads, backfilled=True)

    def _jsonl(self, body: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for n, line in enumerate(body.splitlines(), 1):
            if not line.strip():
                continue
            self._count(len(rows))
            raw = line.encode()
            try:
                row: dict[str, Any] = p.decode_json(raw, dict[str, Any])
            except (msgspec.DecodeError, msgspec.ValidationError, DecodeError) as exc:
                raise DecodeError(f"jsonl line {n}: {exc}") from None
            row.setdefault("read_id", self.payload_id(raw))
            rows.append(row)
        return rows

    def _csv(self, body: str) -> list[dict[str, Any]]:
        reader = csv.DictReader(io.StringIO(body, newline=""), strict=True)
        unknown = set(reader.fieldnames or ()) - FIELDS
        if not reader.fieldnames or unknown:
            raise DecodeError(f"CSV header has unknown or no columns: {sorted(unknown)[:5]}")
        rows: list[dict[str, Any]] = []
        for row in reader:
            self._count(len(rows))
            if None in row:
                raise DecodeError(f"csv line {reader.line_num}: more cells than columns")
            clean = {k: v for k, v in row.items() if v not in ("", None)}
            clean.setdefault("read_id", self.payload_id(repr(sorted(row.items())).encode()))
            rows.append(clean)
        return rows

    def _count(self, n: int) -> None:
        if n >= self.config.max_rows:
            raise DecodeError(f"more than {self.config.max_rows} rows")

    def _read(self, row: dict[str, Any], where: str) -> ReadIn:
        try:
            return self.read(**row)
        except msgspec.ValidationError as exc:
            raise DecodeError(f"{where}: {exc}") from None
