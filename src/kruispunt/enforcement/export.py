"""Offence records for the processing back office: CSV and JSON (pure over offences).

One row per offence, in ``COLUMNS`` order (the CSV's header row; the JSON's keys):

============== ==================================================================================
offence_id     the record's deterministic id (the same finding: the same id)
module         ``section_control`` or ``lez``: which processor found it
eu_category    the EU cross-border-enforcement category (directive 2015/413, amended 2024/3237):
               speeding, seat_belt, red_light, drink_driving, drugs, helmet, forbidden_lane,
               phone, access_restriction
occurred_at    when it happened, ISO 8601 in UTC (``2026-03-01T08:15:00.250000Z``)
day            the local day (Europe/Brussels), YYYY-MM-DD
zone_id        the zone (or city) whose camera saw it
place          the cameras' names, in order (section control: entry → exit)
camera_ids     the cameras' ids, space-separated
plate          the plate as normalised (letters and digits)
country        the registration country (ISO 3166 alpha-2), empty when unknown
rule           the rule applied, as the evidence states it
fine_eur       the fine in euro, empty for a warning
status         new, warning, exported or cancelled
evidence       a one-line summary of the evidence (its figures, how many reads)
============== ==================================================================================

The JSON export carries the same rows, each with the whole evidence beside its summary
(``evidence_detail``), under ``offences``; ``columns`` repeats the order above. The CSV is
UTF-8 with CRLF line ends; a cell that a spreadsheet would run as a formula is prefixed
with an apostrophe.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from kruispunt.enforcement.offences import Offence

FORMAT = "kruispunt-offences/1"
COLUMNS = (
    "offence_id", "module", "eu_category", "occurred_at", "day", "zone_id", "place",
    "camera_ids", "plate", "country", "rule", "fine_eur", "status", "evidence",
)  # fmt: skip
MEDIA = {"csv": "text/csv; charset=utf-8", "json": "application/json"}
_RULE_KEYS = ("rule", "rule_text", "regulation")
_SKIP_IN_SUMMARY = frozenset({*_RULE_KEYS, "reads", "section_name", "computation"})
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_json = msgspec.json.Encoder(order="deterministic")  # a summary's nested values
_document = msgspec.json.Encoder()  # the export: keys in the columns' order


def iso(us: int) -> str:
    """UTC, ISO 8601 with a ``Z`` and microseconds."""
    moment = _EPOCH + dt.timedelta(microseconds=us)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return value
    return _json.encode(value).decode()


def rule_of(o: Offence) -> str:
    """The rule the evidence states (a text, or its fields), else a reading of its figures."""
    for key in _RULE_KEYS:
        value = o.evidence.get(key)
        if isinstance(value, dict):
            return "; ".join(f"{k}={_text(v)}" for k, v in sorted(value.items()))
        if value is not None:
            return _text(value)
    decision = o.evidence.get("decision")
    if isinstance(decision, dict) and decision.get("reason"):  # the LEZ
        return _lez_rule(decision, o.evidence.get("rules"))
    limit = o.evidence.get("limit_kmh")
    if limit is not None:
        text = f"speed limit {_text(limit)} km/h"
        margin = o.evidence.get("margin")
        if isinstance(margin, dict) and margin.get("rule"):
            where = f" ({margin['jurisdiction']})" if margin.get("jurisdiction") else ""
            text += f"; margin{where}: {_text(margin['rule'])}"
        return text
    return str(o.category).replace("_", " ")


def _lez_rule(decision: dict[str, Any], rules: Any) -> str:
    """``LEZ emissions: rule diesel-2020 (diesel euro4); Antwerpen LEZ v2025``."""
    text = f"LEZ {str(decision['reason']).replace('_', ' ')}"
    if decision.get("rule"):
        text += f": rule {_text(decision['rule'])}"
        vehicle = " ".join(str(decision[k]) for k in ("fuel_class", "euro") if decision.get(k))
        text += f" ({vehicle})" if vehicle else ""
    if isinstance(rules, dict) and rules.get("rules"):
        text += f"; {_text(rules['rules'])}"
        text += f" v{_text(rules['version'])}" if rules.get("version") else ""
    return text


def evidence_summary(o: Offence) -> str:
    """One line: the evidence's figures (``key=value``, sorted) and how many reads back it."""
    parts = []
    for key, value in sorted(o.evidence.items()):
        if key in _SKIP_IN_SUMMARY or isinstance(value, dict | list):
            continue
        parts.append(f"{key}={_text(value)}")
    reads = o.evidence.get("reads")
    if not isinstance(reads, list):  # section control: the entry and the exit read
        reads = [v for v in o.evidence.values() if isinstance(v, dict) and "read_id" in v]
    if reads:
        parts.append(f"reads={len(reads)}")
    return "; ".join(parts)


def row(o: Offence, camera_names: Mapping[str, str]) -> dict[str, Any]:
    """The export's row of an offence: ``COLUMNS`` in order."""
    return {
        "offence_id": o.id,
        "module": o.module,
        "eu_category": str(o.category),
        "occurred_at": iso(o.occurred_us),
        "day": o.day,
        "zone_id": o.zone_id,
        "place": " → ".join(camera_names.get(c, c) for c in o.camera_ids),
        "camera_ids": " ".join(o.camera_ids),
        "plate": o.plate,
        "country": o.country or "",
        "rule": rule_of(o),
        "fine_eur": o.fine_eur,
        "status": str(o.status),
        "evidence": evidence_summary(o),
    }


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return value


def to_csv(offences: Sequence[Offence], camera_names: Mapping[str, str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for o in offences:
        r = row(o, camera_names)
        writer.writerow([_cell(r[c]) for c in COLUMNS])
    return out.getvalue().encode("utf-8")


def to_json(
    offences: Sequence[Offence],
    camera_names: Mapping[str, str],
    *,
    generated_us: int,
    truncated: bool,
) -> bytes:
    doc = {
        "format": FORMAT,
        "generated_at": iso(generated_us),
        "columns": list(COLUMNS),
        "count": len(offences),
        "truncated": truncated,
        "offences": [row(o, camera_names) | {"evidence_detail": o.evidence} for o in offences],
    }
    return _document.encode(doc)
