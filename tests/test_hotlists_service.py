"""The hotlist service on a real store: rules, permissions, audit, and the match index."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import msgspec
import pytest

from kruispunt.access.principals import Principal, Role
from kruispunt.audit import read_audit, verify_chain
from kruispunt.hits.models import MatchKind
from kruispunt.hotlists.errors import (
    EntryInvalid,
    HotlistConflict,
    HotlistForbidden,
    HotlistNotFound,
)
from kruispunt.hotlists.index import HotlistIndex
from kruispunt.hotlists.models import HotlistEntry, HotlistList, Scope, ScopeKind
from kruispunt.hotlists.service import HotlistService
from kruispunt.hotlists.validation import EntryIn, format_time, mask_plate
from kruispunt.node import Node
from kruispunt.store.sql import SqlStore
from tests.conftest import on_both_engines

pytestmark = on_both_engines

ADMIN = Principal(user_id="root", zone_id="network", role=Role.ADMIN)
CHIEF = Principal(user_id="chief1", zone_id="pz5364", role=Role.ZONE_CHIEF)
OPERATOR = Principal(user_id="op1", zone_id="pz5364", role=Role.OPERATOR)
ANALYST = Principal(user_id="an1", zone_id="pz5364", role=Role.ANALYST)
OTHER = Principal(user_id="op9", zone_id="pz5352", role=Role.OPERATOR)
DAY = dt.timedelta(days=1)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def now_us() -> int:
    return time.time_ns() // 1000


def sqlite(node: Node) -> SqlStore:
    assert isinstance(node.store, SqlStore)
    return node.store


def make_service(node: Node, **kw: Any) -> HotlistService:
    zones = {z.id for z in node.zones}
    service = HotlistService(
        sqlite(node), node.writer, HotlistIndex(), zones, plate_tokens=node.plate_tokens, **kw
    )
    service.load()
    return service


def draft(plate: str = "1-ABC-123", **kw: Any) -> EntryIn:
    fields: dict[str, Any] = {
        "plate": plate,
        "category": "stolen_vehicle",
        "action": "intercept",
        "source": "PV AN.12.LB.012345/2026",
        "legal_basis": "WPA art. 44/1",
        "expires_at": (now() + 30 * DAY).isoformat(),
    }
    fields.update(kw)
    return EntryIn(**fields)


def matches(service: HotlistService, plate: str, at: int | None = None) -> list[str]:
    t = now_us() if at is None else at
    return [e.entry_id for e, _kind in service.index.match(plate, None, at_us=t, now_us=t)]


@pytest.fixture
def hotlists(node: Node) -> HotlistService:
    service = make_service(node)
    service.create_list(
        HotlistList(id="stolen", name="Stolen vehicles", owner_zone_id="pz5364"), actor=CHIEF
    )
    return service


def test_an_entry_is_normalised_stored_indexed_and_audited(
    hotlists: HotlistService, node: Node
) -> None:
    entry = hotlists.create_entry("stolen", draft("1-abc-123", country="be"), actor=OPERATOR)
    assert entry.id.startswith("e-") and len(entry.id) == 18
    assert (entry.plate, entry.plate_raw, entry.country) == ("1ABC123", "1-abc-123", "BE")
    assert entry.created_by == "op1" and entry.scope == Scope(kind=ScopeKind.OWN_ZONE)
    assert hotlists.get_entry(entry.id) == entry
    found = hotlists.index.match("1ABC123", "BE", at_us=now_us(), now_us=now_us())
    assert [(e.entry_id, kind) for e, kind in found] == [(entry.id, MatchKind.EXACT)]
    (record,) = read_audit(sqlite(node).reader(), object_type="hotlist_entry")
    assert (record.action, record.actor, record.actor_zone) == ("entry.create", "op1", "pz5364")
    assert record.detail["plate"] == node.plate_tokens.token("1ABC123")
    assert record.detail["plate"].startswith("pt:")
    assert "1ABC123" not in str(record.detail).upper().replace("-", "")
    assert record.detail["legal_basis"] == "WPA art. 44/1"
    assert verify_chain(read_audit(sqlite(node).reader())) is None


def test_masked_plates() -> None:
    assert mask_plate("1-ABC-123") == "1-AB*-***"
    assert mask_plate("AB12") == "AB**"
    assert mask_plate("X") == "*"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"expires_at": None}, "expiry_missing"),
        ({"expires_at": "  "}, "expiry_missing"),
        ({"legal_basis": None}, "legal_basis_missing"),
        ({"legal_basis": " "}, "legal_basis_missing"),
        ({"source": ""}, "source_missing"),
        ({"action": None}, "action_missing"),
        ({"category": "parking"}, "category_invalid"),
        ({"category": None}, "category_missing"),
        ({"plate": ""}, "plate_empty"),
        ({"plate": "1-ABC-12$"}, "plate_invalid_characters"),
        ({"plate": "A"}, "plate_too_short"),
        ({"country": "BEL"}, "country_invalid"),
        ({"expires_at": "2020-01-01"}, "expiry_in_past"),
        ({"expires_at": "next tuesday"}, "expiry_invalid"),
        ({"expires_at": "2030-01-01T10:00:00"}, "expiry_invalid"),  # no UTC offset
        ({"scope": "everyone"}, "scope_invalid"),
        ({"scope": "named_zones"}, "scope_zones_missing"),
        ({"scope": "named_zones", "scope_zones": ["pz0000"]}, "scope_zone_unknown"),
        ({"scope": "network", "scope_zones": ["pz5352"]}, "scope_invalid"),
        ({"warnings": ["armed; dangerous"]}, "warning_invalid"),
        ({"valid_from": (now() + 40 * DAY).isoformat()}, "valid_from_after_expiry"),
    ],
)
def test_bad_entries_are_refused_with_a_code(
    hotlists: HotlistService, changes: dict[str, Any], code: str
) -> None:
    with pytest.raises(EntryInvalid) as exc:
        hotlists.create_entry("stolen", draft(**changes), actor=OPERATOR)
    assert exc.value.code == code
    assert hotlists.entries("stolen") == [] and len(hotlists.index) == 0


def test_expiry_is_bounded_by_the_configured_maximum(node: Node) -> None:
    service = make_service(node, max_expiry_days=30)
    service.create_list(HotlistList(id="l", name="L", owner_zone_id="pz5364"), actor=ADMIN)
    with pytest.raises(EntryInvalid) as exc:
        service.create_entry("l", draft(expires_at=(now() + 31 * DAY).isoformat()), actor=ADMIN)
    assert exc.value.code == "expiry_too_far"
    day = (now() + 29 * DAY).date().isoformat()  # a date: valid through that day
    entry = service.create_entry("l", draft(expires_at=day), actor=ADMIN)
    end = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC) + DAY
    assert entry.expires_at_us == int(end.timestamp()) * 1_000_000


def test_a_typed_entry_meets_the_same_rules(hotlists: HotlistService) -> None:
    entry = hotlists.create_entry("stolen", draft(), actor=OPERATOR)
    copy = msgspec.structs.replace(entry, id="e-copy", plate="2XYZ999", plate_raw="2-XYZ-999")
    with pytest.raises(EntryInvalid) as exc:
        hotlists.add_entry(msgspec.structs.replace(copy, legal_basis=" "), actor=OPERATOR)
    assert exc.value.code == "legal_basis_missing"
    with pytest.raises(EntryInvalid) as exc:
        hotlists.add_entry(msgspec.structs.replace(copy, expires_at_us=now_us() - 1), actor=ADMIN)
    assert exc.value.code == "expiry_in_past"
    with pytest.raises(EntryInvalid) as exc:
        hotlists.add_entry(msgspec.structs.replace(copy, plate="WRONG"), actor=ADMIN)
    assert exc.value.code == "plate_not_normalised"
    assert hotlists.add_entry(copy, actor=ADMIN).created_by == "root"


def test_who_may_change_and_read(hotlists: HotlistService) -> None:
    entry = hotlists.create_entry("stolen", draft(), actor=OPERATOR)
    for who in (OTHER, ANALYST, Principal(user_id="c", zone_id="pz5352", role=Role.ZONE_CHIEF)):
        with pytest.raises(HotlistForbidden):
            hotlists.create_entry("stolen", draft("2-XYZ-999"), actor=who)
        with pytest.raises(HotlistForbidden):
            hotlists.delete_entry(entry.id, actor=who)
        with pytest.raises(HotlistForbidden):
            hotlists.delete_list("stolen", actor=who)
    # the owner zone's editors may read; other zones may not browse; the administrator
    # changes lists but never reads a zone's entries (plates) through the API
    assert hotlists.entries("stolen", actor=OPERATOR) == [entry]
    with pytest.raises(HotlistForbidden):
        hotlists.entries("stolen", actor=ANALYST)  # same zone, no need to know
    with pytest.raises(HotlistForbidden):
        hotlists.get_entry(entry.id, actor=ADMIN)
    shell = Principal(user_id="cli:ops", zone_id="network", role=Role.ADMIN)
    assert hotlists.get_entry(entry.id, actor=shell) == entry
    with pytest.raises(HotlistForbidden):
        hotlists.entries("stolen", actor=OTHER)
    with pytest.raises(HotlistForbidden):
        hotlists.get_entry(entry.id, actor=OTHER)
    with pytest.raises(HotlistForbidden):
        hotlists.export_csv("stolen", actor=OTHER)
    with pytest.raises(HotlistForbidden):
        hotlists.create_list(HotlistList(id="x", name="X", owner_zone_id="pz5364"), actor=OTHER)
    with pytest.raises(HotlistNotFound):
        hotlists.create_entry("nope", draft(), actor=ADMIN)
    assert hotlists.entries("stolen") == [entry]


def test_lists_are_validated(hotlists: HotlistService) -> None:
    with pytest.raises(HotlistConflict) as conflict:
        hotlists.create_list(
            HotlistList(id="stolen", name="again", owner_zone_id="pz5364"), actor=ADMIN
        )
    assert conflict.value.code == "list_exists"
    for changes, code in (
        ({"owner_zone_id": "pz0000"}, "unknown_zone"),
        ({"id": "a b"}, "list_id_invalid"),
        ({"name": " "}, "name_missing"),
        ({"min_confidence": 2.0}, "min_confidence_invalid"),
    ):
        fields: dict[str, Any] = {"id": "a", "name": "A", "owner_zone_id": "pz5364", **changes}
        with pytest.raises(EntryInvalid) as exc:
            hotlists.create_list(HotlistList(**fields), actor=ADMIN)
        assert exc.value.code == code


def test_partners_may_own_lists(node: Node) -> None:
    service = make_service(node, partner_ids=["nl-politie"])
    lst = HotlistList(id="nl", name="NL stolen", owner_zone_id="nl-politie")
    assert service.create_list(lst, actor=ADMIN) == lst
    assert service.list_of("nl") == lst


def test_duplicates_on_a_list_are_refused(hotlists: HotlistService) -> None:
    first = hotlists.create_entry("stolen", draft("1-ABC-123"), actor=OPERATOR)
    with pytest.raises(HotlistConflict) as exc:
        hotlists.create_entry("stolen", draft("1ABC123"), actor=OPERATOR)
    assert exc.value.code == "entry_duplicate" and first.id in exc.value.message
    hotlists.create_entry("stolen", draft("1ABC123", country="NL"), actor=OPERATOR)


def test_deleting_an_entry_stops_its_hits_at_once(hotlists: HotlistService, node: Node) -> None:
    entry = hotlists.create_entry("stolen", draft(), actor=OPERATOR)
    assert matches(hotlists, "1ABC123") == [entry.id]
    deleted = hotlists.delete_entry(entry.id, actor=OPERATOR)
    assert deleted == entry
    assert matches(hotlists, "1ABC123") == [] and hotlists.get_entry(entry.id) is None
    with pytest.raises(HotlistNotFound):
        hotlists.delete_entry(entry.id, actor=OPERATOR)
    actions = [r.action for r in read_audit(sqlite(node).reader(), object_type="hotlist_entry")]
    assert actions == ["entry.create", "entry.delete"]


def test_deleting_a_list_removes_all_its_entries(hotlists: HotlistService, node: Node) -> None:
    hotlists.create_list(HotlistList(id="keep", name="K", owner_zone_id="pz5364"), actor=CHIEF)
    kept = hotlists.create_entry("keep", draft("9-KEP-001"), actor=OPERATOR)
    ids = [
        hotlists.create_entry("stolen", draft(f"1-ABC-{i:03}"), actor=OPERATOR).id for i in range(5)
    ]
    assert hotlists.delete_list("stolen", actor=OPERATOR) == 5
    assert hotlists.list_of("stolen") is None and [lst.id for lst in hotlists.lists()] == ["keep"]
    assert all(matches(hotlists, f"1ABC{i:03}") == [] for i in range(5))
    assert all(hotlists.get_entry(i) is None for i in ids)
    assert matches(hotlists, "9KEP001") == [kept.id]
    (record,) = read_audit(sqlite(node).reader(), object_type="hotlist", object_id="stolen")[1:]
    assert (record.action, record.detail) == ("hotlist.delete", {"entries": 5})
    reloaded = make_service(node)
    assert len(reloaded.index) == 1 and reloaded.list_of("stolen") is None


def test_an_expired_entry_stops_hitting_and_is_purged(hotlists: HotlistService, node: Node) -> None:
    soon = (now() + dt.timedelta(seconds=2)).isoformat()
    short = hotlists.create_entry("stolen", draft("1-ABC-123", expires_at=soon), actor=OPERATOR)
    gone = hotlists.create_entry("stolen", draft("3-ABC-123", expires_at=soon), actor=OPERATOR)
    hotlists.delete_entry(gone.id, actor=OPERATOR)
    long = hotlists.create_entry("stolen", draft("2-XYZ-999"), actor=OPERATOR)
    later = short.expires_at_us + 1
    assert matches(hotlists, "1ABC123") == [short.id]
    assert matches(hotlists, "1ABC123", at=later) == []  # no hit once expired, purged or not
    assert hotlists.expire_due(later) == 1
    assert len(hotlists.index) == 1 and hotlists.get_entry(short.id) is None
    assert hotlists.get_entry(long.id) == long
    # nothing stays past its weed date, not even a deleted entry kept for the audit trail
    ids = [r[0] for r in sqlite(node).reader().execute("SELECT id FROM hotlist_entries")]
    assert ids == [long.id]
    record = read_audit(sqlite(node).reader(), object_type="hotlist")[-1]
    assert (record.action, record.actor) == ("hotlist.expire", "system")
    assert record.detail == {"expired": 1, "purged_deleted": 1}
    assert hotlists.expire_due(later) == 0


def test_hooks_run_after_the_commit_with_the_retro_days(hotlists: HotlistService) -> None:
    seen: list[tuple[str, int, bool]] = []

    def hook(entry: HotlistEntry, days: int) -> None:
        seen.append((entry.id, days, hotlists.get_entry(entry.id) is not None))

    def broken(entry: HotlistEntry, days: int) -> None:
        raise RuntimeError("a failing hook does not undo the entry")

    hotlists.on_entry_added.extend([broken, hook])
    a = hotlists.create_entry("stolen", draft("1-ABC-123"), actor=OPERATOR, retro_days=7)
    b = hotlists.create_entry("stolen", draft("2-XYZ-999"), actor=OPERATOR)
    assert seen == [(a.id, 7, True), (b.id, 0, True)]
    with pytest.raises(EntryInvalid):
        hotlists.create_entry("stolen", draft("3-XYZ-999"), actor=OPERATOR, retro_days=-1)


def test_replacing_an_entry_moves_it_in_the_index(hotlists: HotlistService, node: Node) -> None:
    entry = hotlists.create_entry("stolen", draft("1-ABC-123"), actor=OPERATOR)
    changed = hotlists.replace_entry(
        "stolen",
        entry.id,
        draft(
            "1-ABC-124",
            action="observe",
            warnings=["armed"],
            expires_at=format_time(entry.expires_at_us),
        ),
        actor=CHIEF,
    )
    assert (changed.id, changed.plate, changed.action, changed.warnings) == (
        entry.id,
        "1ABC124",
        "observe",
        ("armed",),
    )
    assert changed.valid_from_us == entry.valid_from_us and changed.created_by == "op1"
    assert matches(hotlists, "1ABC123") == [] and matches(hotlists, "1ABC124") == [entry.id]
    assert hotlists.get_entry(entry.id) == changed
    record = read_audit(sqlite(node).reader(), object_type="hotlist_entry")[-1]
    assert record.action == "entry.update" and record.actor == "chief1"
    assert set(record.detail["changed"]) == {"plate_raw", "plate", "action", "warnings"}
    with pytest.raises(HotlistNotFound):
        hotlists.replace_entry("stolen", "e-nope", draft(), actor=CHIEF)


def test_load_indexes_live_entries_of_active_lists(hotlists: HotlistService, node: Node) -> None:
    hotlists.create_list(HotlistList(id="off", name="Off", owner_zone_id="pz5364"), actor=CHIEF)
    live = hotlists.create_entry("stolen", draft("1-ABC-123"), actor=OPERATOR)
    hotlists.create_entry("off", draft("1-ABC-123"), actor=OPERATOR)
    hotlists.update_list(
        HotlistList(id="off", name="Off", owner_zone_id="pz5364", active=False), actor=CHIEF
    )
    assert matches(hotlists, "1ABC123") == [live.id]
    reloaded = make_service(node)
    assert matches(reloaded, "1ABC123") == [live.id]
    assert reloaded.list_of("off") is not None
    hotlists.update_list(HotlistList(id="off", name="Off", owner_zone_id="pz5364"), actor=CHIEF)
    assert len(matches(hotlists, "1ABC123")) == 2
    with pytest.raises(EntryInvalid):
        hotlists.update_list(HotlistList(id="off", name="Off", owner_zone_id="pz5352"), actor=ADMIN)


def test_entries_page_through_a_list(hotlists: HotlistService) -> None:
    ids = [
        hotlists.create_entry("stolen", draft(f"1-ABC-{i:03}"), actor=OPERATOR).id for i in range(7)
    ]
    seen: list[str] = []
    after = 0
    while True:
        page = hotlists.entries_page("stolen", actor=OPERATOR, after=after, limit=3)
        seen += [e.id for e in page.entries]
        if page.next_after is None:
            break
        after = page.next_after
    assert seen == ids
    one = hotlists.entries_page("stolen", actor=OPERATOR, plate="1ABC004")
    assert [e.id for e in one.entries] == [ids[4]] and one.next_after is None


def test_another_process_catches_up_with_changes_it_was_not_told_of(
    hotlists: HotlistService, node: Node
) -> None:
    """Node processes broadcast hotlist changes; one that missed the broadcast (cut off from
    NATS) still reads them back within one catch-up period."""
    other = make_service(node)  # a second process on the same store
    entry = hotlists.create_entry("stolen", draft("1-abc-123"), actor=OPERATOR)
    assert matches(other, "1ABC123") == []
    assert other.catch_up() >= 1
    assert matches(other, "1ABC123") == [entry.id]
    hotlists.delete_entry(entry.id, actor=OPERATOR)
    other.catch_up()
    assert matches(other, "1ABC123") == []
    hotlists.update_list(
        HotlistList(id="stolen", name="Stolen", owner_zone_id="pz5364", active=False), actor=CHIEF
    )
    other.catch_up()
    assert other.list_of("stolen") is not None and not other.list_of("stolen").active  # type: ignore[union-attr]
