"""Hotlist CSV: parsing with located errors, import in one transaction, export round trip."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kruispunt.access.principals import Principal, Role
from kruispunt.audit import read_audit
from kruispunt.config import load_config
from kruispunt.hotlists.csv_io import COLUMNS, Row, RowError, read_rows
from kruispunt.hotlists.errors import CsvInvalid, HotlistForbidden
from kruispunt.hotlists.index import HotlistIndex
from kruispunt.hotlists.models import HotlistEntry, HotlistList, Scope, ScopeKind
from kruispunt.hotlists.service import HotlistService
from kruispunt.node import Node
from kruispunt.store.sql import SqlStore

ADMIN = Principal(user_id="root", zone_id="network", role=Role.ADMIN)
OPERATOR = Principal(user_id="op1", zone_id="pz5364", role=Role.OPERATOR)
OTHER = Principal(user_id="op9", zone_id="pz5352", role=Role.OPERATOR)
HEADER = ",".join(COLUMNS)


def expiry(days: int = 30) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).isoformat(timespec="seconds")


def row(plate: str = "1-ABC-123", **kw: str) -> str:
    fields = {
        "plate": plate,
        "country": "BE",
        "category": "stolen_vehicle",
        "action": "intercept",
        "warnings": "",
        "source": "PV 123",
        "legal_basis": "WPA art. 44/1",
        "scope": "",
        "scope_zones": "",
        "valid_from": "",
        "expires_at": expiry(),
        "note": "",
    }
    fields.update(kw)
    return ",".join(fields[c] for c in COLUMNS)


def csv_lines(*rows: str, header: str = HEADER) -> list[bytes]:
    return [(line + "\n").encode() for line in (header, *rows)]


def sqlite(node: Node) -> SqlStore:
    assert isinstance(node.store, SqlStore)
    return node.store


@pytest.fixture
def hotlists(node: Node) -> HotlistService:
    service = HotlistService(
        sqlite(node), node.writer, HotlistIndex(), {z.id for z in node.zones}, chunk_rows=3
    )
    service.load()
    service.create_list(HotlistList(id="l1", name="L1", owner_zone_id="pz5364"), actor=ADMIN)
    service.create_list(HotlistList(id="l2", name="L2", owner_zone_id="pz5364"), actor=ADMIN)
    return service


# -- parsing --------------------------------------------------------------------------------
def test_rows_are_read_with_their_line_numbers() -> None:
    text = (
        "\ufeffplate,expires_at,warnings,scope_zones,note\n"
        '1-ABC-123,2030-01-01,"armed; do not stop alone",pz5364;pz5352,"two\nlines"\n'
        "\n"
        "2-XYZ-999,2030-01-01,,,\n"
        "3-XYZ-999,2030-01-01\n"
    )
    rows = list(read_rows(io.StringIO(text)))
    first, second, bad = rows
    assert isinstance(first, Row) and first.line == 2
    assert first.entry.warnings == ["armed", "do not stop alone"]
    assert first.entry.scope_zones == ["pz5364", "pz5352"] and first.entry.note == "two\nlines"
    assert first.entry.category is None  # a missing column reads as empty
    assert isinstance(second, Row) and second.line == 5
    assert isinstance(bad, RowError) and (bad.line, bad.reason) == (6, "row_malformed")


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "csv_empty"),
        ("plate,colour\n", "csv_header_invalid"),
        ("country,expires_at\n", "csv_header_invalid"),
        ("plate,plate\n", "csv_header_invalid"),
    ],
)
def test_a_wrong_header_refuses_the_file(text: str, code: str) -> None:
    with pytest.raises(CsvInvalid) as exc:
        read_rows(io.StringIO(text))
    assert exc.value.code == code


def test_undecodable_bytes_refuse_only_their_row() -> None:
    lines = [b"plate,note\n", b"1-ABC-123,caf\xe9\n", b"2-ABC-123,caf\xc3\xa9\n"]
    bad, good = read_rows(lines)
    assert isinstance(bad, RowError) and (bad.line, bad.reason) == (2, "encoding_invalid")
    assert isinstance(good, Row) and good.entry.note == "café"


# -- import ---------------------------------------------------------------------------------
def test_good_rows_load_and_each_bad_row_is_reported(hotlists: HotlistService, node: Node) -> None:
    lines = csv_lines(
        row("1-ABC-123"),
        row("2-ABC-123", expires_at=""),
        row("3-ABC-123", legal_basis=""),
        row("4-ABC-12#"),
        row("5-ABC-123", scope="named_zones", scope_zones="pz5352;pz5369"),
        row("1ABC123"),  # the same plate as line 2
        row("6-ABC-123", expires_at="2020-01-01"),
        row("7-ABC-123", category="speeding"),
        "8-ABC-123,too,few",
        row("9-ABC-123", warnings="armed;dangerous", valid_from="2026-01-01"),
    )
    report = hotlists.import_csv("l1", lines, actor=OPERATOR)
    assert report.imported == 3 and report.rejected == 7
    assert [(e.line, e.reason) for e in report.errors] == [
        (3, "expiry_missing"),
        (4, "legal_basis_missing"),
        (5, "plate_invalid_characters"),
        (7, "entry_duplicate"),
        (8, "expiry_in_past"),
        (9, "category_invalid"),
        (10, "row_malformed"),
    ]
    entries = {e.plate: e for e in hotlists.entries("l1")}
    assert set(entries) == {"1ABC123", "5ABC123", "9ABC123"}
    assert entries["5ABC123"].scope == Scope(kind=ScopeKind.NAMED_ZONES, zones=("pz5352", "pz5369"))
    assert entries["9ABC123"].warnings == ("armed", "dangerous")
    assert entries["1ABC123"].created_by == "op1"
    now = entries["1ABC123"].created_us
    assert [
        e.entry_id for e, _k in hotlists.index.match("9ABC123", None, at_us=now, now_us=now)
    ] == [entries["9ABC123"].id]
    (record,) = read_audit(sqlite(node).reader(), object_type="hotlist", object_id="l1")[1:]
    assert record.action == "hotlist.import" and record.actor == "op1"
    assert record.detail["imported"] == 3 and record.detail["rejected"] == 7
    assert record.detail["sha256"] == report.sha256 and record.detail["created_us"] == now


def test_duplicates_across_chunks_and_against_the_list(hotlists: HotlistService) -> None:
    hotlists.import_csv("l1", csv_lines(row("1-ABC-123")), actor=OPERATOR)
    plates = ["1-ABC-123", "2-ABC-123", "3-ABC-123", "4-ABC-123", "2ABC123", "5-ABC-123"]
    report = hotlists.import_csv("l1", csv_lines(*map(row, plates)), actor=OPERATOR)
    assert report.imported == 4
    assert [(e.line, e.reason) for e in report.errors] == [
        (2, "entry_duplicate"),
        (6, "entry_duplicate"),
    ]
    again = hotlists.import_csv("l1", csv_lines(row("1-ABC-123")), actor=OPERATOR, replace=True)
    assert (again.imported, again.replaced) == (1, 5)
    assert [e.plate for e in hotlists.entries("l1")] == ["1ABC123"]
    assert len(hotlists.index) == 1


def test_a_store_failure_applies_nothing(hotlists: HotlistService, node: Node) -> None:
    hotlists.import_csv("l1", csv_lines(row("1-ABC-123")), actor=OPERATOR)
    audit_before = len(read_audit(sqlite(node).reader()))

    def fail_on_plate(store: Any) -> None:
        with sqlite(node).transaction() as conn:
            conn.execute(
                "CREATE TRIGGER boom BEFORE INSERT ON hotlist_entries WHEN NEW.plate='9FAIL99' "
                "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
            )

    node.writer.call(fail_on_plate).result()
    plates = [f"2-ABC-{i:03}" for i in range(10)] + ["9-FAIL-99"]  # fails in the 4th chunk
    with pytest.raises(Exception, match="disk on fire"):
        hotlists.import_csv("l1", csv_lines(*map(row, plates)), actor=OPERATOR, replace=True)
    assert [e.plate for e in hotlists.entries("l1")] == ["1ABC123"]  # not even the replace
    assert len(hotlists.index) == 1
    assert len(read_audit(sqlite(node).reader())) == audit_before
    # and the writer is still fine
    assert hotlists.import_csv("l1", csv_lines(row("3-ABC-123")), actor=OPERATOR).imported == 1


def test_a_failure_while_reading_the_file_applies_nothing(hotlists: HotlistService) -> None:
    def broken() -> Iterator[bytes]:
        yield from csv_lines(*[row(f"2-ABC-{i:03}") for i in range(10)])
        raise OSError("the disk went away")

    with pytest.raises(OSError, match="went away"):
        hotlists.import_csv("l1", broken(), actor=OPERATOR)
    assert hotlists.entries("l1") == [] and len(hotlists.index) == 0
    assert hotlists.import_csv("l1", csv_lines(row()), actor=OPERATOR).imported == 1


def test_import_needs_a_good_header_and_the_right_to_change(hotlists: HotlistService) -> None:
    with pytest.raises(CsvInvalid):
        hotlists.import_csv(
            "l1", [b"plate;expires_at\n", b"1-ABC-123;2030-01-01\n"], actor=OPERATOR
        )
    with pytest.raises(HotlistForbidden):
        hotlists.import_csv("l1", csv_lines(row()), actor=OTHER)
    assert hotlists.entries("l1") == []


def test_many_errors_are_counted_but_listed_up_to_a_limit(node: Node) -> None:
    service = HotlistService(sqlite(node), node.writer, HotlistIndex(), {"pz5364"}, max_errors=5)
    service.create_list(HotlistList(id="l", name="L", owner_zone_id="pz5364"), actor=ADMIN)
    report = service.import_csv(
        "l", csv_lines(*[row(f"{i}-AB", expires_at="") for i in range(20)]), actor=ADMIN
    )
    assert (report.imported, report.rejected, len(report.errors)) == (0, 20, 5)
    assert [e.line for e in report.errors] == [2, 3, 4, 5, 6]


# -- export ---------------------------------------------------------------------------------
def _comparable(e: HotlistEntry) -> tuple[Any, ...]:
    return (
        e.plate_raw,
        e.plate,
        e.country,
        e.category,
        e.action,
        e.warnings,
        e.source,
        e.legal_basis,
        e.scope,
        e.valid_from_us,
        e.expires_at_us,
        e.note,
    )


def test_export_round_trips(hotlists: HotlistService) -> None:
    lines = csv_lines(
        row("1-ABC-123", warnings="armed;do not stop alone", note='"says ""hi"", twice\nreally"'),
        row(
            "2-XYZ-999",
            country="",
            scope="named_zones",
            scope_zones="pz5352",
            valid_from="2026-01-01T08:00:00+01:00",
        ),
        row(
            "AB-12-CD",
            country="NL",
            category="investigation",
            scope="own_zone",
            expires_at=expiry(300),
        ),
    )
    assert hotlists.import_csv("l1", lines, actor=OPERATOR).imported == 3
    exported = "".join(hotlists.export_csv("l1", actor=OPERATOR))
    assert exported.splitlines()[0] == HEADER
    report = hotlists.import_csv("l2", io.StringIO(exported), actor=OPERATOR)
    assert report.imported == 3 and report.errors == []
    assert sorted(map(_comparable, hotlists.entries("l1"))) == sorted(
        map(_comparable, hotlists.entries("l2"))
    )
    notes = {e.plate: e.note for e in hotlists.entries("l2")}
    assert notes["1ABC123"] == 'says "hi", twice\nreally'
    shell = Principal(user_id="cli:ops", zone_id="network", role=Role.ADMIN)
    assert "".join(hotlists.export_csv("l2", actor=shell)) == exported
    with pytest.raises(HotlistForbidden):  # the API's administrator reads no zone's entries
        "".join(hotlists.export_csv("l2", actor=ADMIN))


# -- the command line -----------------------------------------------------------------------
def test_cli_imports_with_located_errors_and_exports(tmp_path: Path) -> None:
    from kruispunt.cli_hotlists import hotlists_app

    config = tmp_path / "node.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{tmp_path}/cli.sqlite"\nsynchronous = "NORMAL"\n')
    node = Node(load_config(config, env={}))
    node.start()
    try:
        service = HotlistService(sqlite(node), node.writer, HotlistIndex(), {"pz5364"})
        service.create_list(HotlistList(id="l1", name="L1", owner_zone_id="pz5364"), actor=ADMIN)
    finally:
        node.stop()
    source = tmp_path / "in.csv"
    source.write_bytes(b"".join(csv_lines(row("1-ABC-123"), row("2-ABC-123", legal_basis=""))))
    runner = CliRunner()
    result = runner.invoke(hotlists_app, ["import", str(source), "--list", "l1", "-c", str(config)])
    assert result.exit_code == 1  # a refused row is worth a non-zero exit
    assert "line 3: legal_basis_missing" in result.output
    assert "imported 1, refused 1" in result.output
    missing = runner.invoke(
        hotlists_app, ["import", str(source), "--list", "nope", "-c", str(config)]
    )
    assert missing.exit_code == 1 and "unknown_list" in missing.output
    out = tmp_path / "out.csv"
    result = runner.invoke(hotlists_app, ["export", "l1", "-c", str(config), "-o", str(out)])
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert lines[0] == HEADER and lines[1].startswith("1-ABC-123,BE,stolen_vehicle")
    node = Node(load_config(config, env={}))
    node.start()
    try:
        records = read_audit(sqlite(node).reader(), object_type="hotlist", object_id="l1")
    finally:
        node.stop()
    assert [r.action for r in records] == ["hotlist.create", "hotlist.import", "hotlist.export"]
    assert records[1].actor.startswith("cli:") and records[1].detail["imported"] == 1


def test_a_partners_scope_may_name_known_partners_only() -> None:
    from kruispunt.hotlists.errors import EntryInvalid
    from kruispunt.hotlists.models import Scope, ScopeKind
    from kruispunt.hotlists.validation import check_scope

    known = frozenset({"pz5364", "nl-politie-zeeland-west-brabant"})
    check_scope(Scope(kind=ScopeKind.PARTNERS, zones=("nl-politie-zeeland-west-brabant",)), known)
    check_scope(Scope(kind=ScopeKind.PARTNERS), known)
    with pytest.raises(EntryInvalid) as info:
        check_scope(Scope(kind=ScopeKind.PARTNERS, zones=("somewhere",)), known)
    assert info.value.code == "scope_zone_unknown"
    with pytest.raises(EntryInvalid):
        check_scope(Scope(kind=ScopeKind.NETWORK, zones=("pz5364",)), known)
