"""Transparency and abuse reports: the pure rules, and the figures of a seeded store read
through the service, the API and the command line (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from typer.testing import CliRunner

from kruispunt.access.principals import Role, User
from kruispunt.audit import AuditRecord, iter_audit, read_audit, verify_chain, write_audit
from kruispunt.config import ENV_KEYS, ConfigError, OversightConfig, load_config
from kruispunt.hits.models import HitStatus, Outcome
from kruispunt.hotlists.models import Category
from kruispunt.node import Node
from kruispunt.oversight.abuse import FlagKind, build_abuse, detect, why_wide
from kruispunt.oversight.period import PeriodError, period_from
from kruispunt.oversight.service import Kind, OversightService, ReportRefused, report_zone
from kruispunt.oversight.transparency import Jurisdiction, TransparencyReport
from kruispunt.store.base import ReadStore
from kruispunt.store.sql import SqlStore
from tests.conftest import make_camera, on_both_engines
from tests.people import p
from tests.test_live_hub import make_hit

pytestmark = on_both_engines

TZ = "Europe/Brussels"
BRUSSELS = zoneinfo.ZoneInfo(TZ)
A, B = "pz5364", "pz5352"
ZONES = (A, B, "pz5369", "pz5355", "pz5345", "fedpol")
RULES = OversightConfig()
TODAY = dt.datetime.now(BRUSSELS).date()
# The period of the seeded tests: ten local days that ended yesterday at midnight.
SINCE = TODAY - dt.timedelta(days=10)
LAST = TODAY - dt.timedelta(days=2)  # the last day in the period (``until`` as a date)


def at(day: dt.date, hour: int, minute: int = 0, second: int = 0) -> int:
    """Microseconds of a local (Brussels) time."""
    moment = dt.datetime.combine(day, dt.time(hour, minute, second), BRUSSELS)
    return int(moment.timestamp()) * 1_000_000


def day(n: int) -> dt.date:
    """The n-th day of the period (0: its first)."""
    return SINCE + dt.timedelta(days=n)


# -- pure: periods and who reads what --------------------------------------------------------
def test_a_period_from_dates_counts_the_last_day_whole() -> None:
    now = at(TODAY, 12)
    period = period_from(
        "2026-03-01", "2026-03-31", now_us=now, timezone=TZ, default_days=30, max_days=400
    )
    assert period.since_us == at(dt.date(2026, 3, 1), 0)
    assert period.until_us == at(dt.date(2026, 4, 1), 0)  # after the switch to summer time
    assert period.days == pytest.approx(31 - 1 / 24)  # one hour shorter: the clocks went on
    default = period_from(None, None, now_us=now, timezone=TZ, default_days=30, max_days=400)
    assert default.until_us == now and default.days == 30
    naive = period_from("2026-06-01T08:00", "2026-06-01T09:00+00:00", now_us=now,
                        timezone=TZ, default_days=30, max_days=400)  # fmt: skip
    assert naive.since_us == at(dt.date(2026, 6, 1), 8) and naive.days == pytest.approx(3 / 24)


@pytest.mark.parametrize(
    ("since", "until", "code"),
    [
        ("yesterday", None, "bad_date"),
        ("2026-02-30", None, "bad_date"),
        ("2026-05-01", "2026-04-30", "bad_period"),
        ("2026-05-01T10:00+02:00", "2026-05-01T10:00+02:00", "bad_period"),
        ("2024-01-01", "2026-01-01", "period_too_long"),
    ],
)
def test_bad_periods_are_refused_with_a_clear_code(
    since: str, until: str | None, code: str
) -> None:
    with pytest.raises(PeriodError) as refused:
        period_from(since, until, now_us=at(TODAY, 12), timezone=TZ, default_days=30,
                    max_days=400)  # fmt: skip
    assert refused.value.code == code and refused.value.status == 400


def test_who_reads_which_report_for_which_zone() -> None:
    auditor = p("aud", "network", Role.AUDITOR)
    assert report_zone(auditor, Kind.ABUSE, None, ZONES) is None  # the whole node
    assert report_zone(auditor, Kind.TRANSPARENCY, B, ZONES) == B
    assert report_zone(p("dpo", A, Role.DPO), Kind.ABUSE, B, ZONES) == B
    chief = p("chief", A, Role.ZONE_CHIEF)
    assert report_zone(chief, Kind.ABUSE, None, ZONES) == A  # own zone by default
    assert report_zone(chief, Kind.TRANSPARENCY, A, ZONES) == A
    assert report_zone(p("nc", "network", Role.ZONE_CHIEF), Kind.ABUSE, B, ZONES) == B
    town = p("town", B, Role.MUNICIPALITY)
    assert report_zone(town, Kind.TRANSPARENCY, "network", ZONES) == B
    refusals = [
        (chief, Kind.TRANSPARENCY, B, "zone_not_visible", 403),
        (town, Kind.TRANSPARENCY, A, "zone_not_visible", 403),
        (town, Kind.ABUSE, None, "role_not_allowed", 403),
        (p("mag", A, Role.MAGISTRATE), Kind.ABUSE, None, "role_not_allowed", 403),
        (p("adm", "network", Role.ADMIN), Kind.ABUSE, None, "role_not_allowed", 403),
        (p("inv", A, Role.INVESTIGATOR), Kind.TRANSPARENCY, None, "role_not_allowed", 403),
        (auditor, Kind.TRANSPARENCY, "pz9999", "unknown_zone", 400),
    ]
    for who, kind, zone, code, status in refusals:
        with pytest.raises(ReportRefused) as refused:
            report_zone(who, kind, zone, ZONES)
        assert (refused.value.code, refused.value.status) == (code, status), (who, kind)


def test_the_oversight_section_is_checked() -> None:
    cfg = load_config(None, env={}, overrides={"oversight": {"night_bulk_min": 50}})
    assert cfg.oversight.night_bulk_min == 50 and cfg.oversight.timezone == TZ
    with pytest.raises(ConfigError) as bad:
        load_config(None, env={}, overrides={"oversight": {"timezone": "Mars/Olympus"}})
    assert "oversight.timezone" in str(bad.value)
    with pytest.raises(ConfigError, match=r"oversight\.rate_k"):
        load_config(None, env={}, overrides={"oversight": {"rate_k": 0}})


def test_wide_patterns_by_shape() -> None:
    assert why_wide("#-##?-###", RULES) == []  # one unknown character: an ordinary search
    assert why_wide("#-###-##*", RULES) == []
    assert why_wide("*-###", RULES) == ["a leading wildcard", "fewer than 4 known characters"]
    assert why_wide("#?#??", RULES) == ["fewer than 4 known characters", "3 wildcards or more"]
    assert why_wide("?-###-###", RULES) == ["a leading wildcard"]


# -- seeding a store ------------------------------------------------------------------------
class Log:
    """Audit records to append in one writer transaction."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def add(self, at_us: int, actor: str, zone: str | None, action: str, **kw: Any) -> None:
        kw.setdefault("object_type", "reads")
        kw.setdefault("object_id", "-")
        self.records.append(
            {"at_us": at_us, "actor": actor, "actor_zone": zone, "action": action, **kw}
        )

    def consult(self, at_us: int, actor: str, zone: str, action: str = "search.plate",
                **kw: Any) -> None:  # fmt: skip
        kw.setdefault("role", "investigator")
        kw.setdefault("purpose", "judicial_police")
        kw.setdefault("case", "TU.12.LB.000001/26")
        kw.setdefault("reason", "trail of the stolen van of the Turnhout burglary series")
        kw.setdefault("results", 1)
        self.add(at_us, actor, zone, action, **kw)

    def write(self, node: Node) -> None:
        def append(store: ReadStore) -> None:
            assert isinstance(store, SqlStore)
            with store.transaction() as conn:
                for record in self.records:
                    write_audit(conn, **record)

        node.writer.call(append).result()


def seed_figures(node: Node) -> None:
    """Cameras, traffic counts, hits and audit records in (and around) the period."""
    node.save_camera(make_camera("pz5364-c002", active=False))
    b1, b2 = at(day(1), 8), at(day(4), 17, 15)
    counts = {
        ("pz5364-c001", b1): (100, 5, 7),
        ("pz5364-c001", b2): (50, 0, 3),
        ("pz5352-c001", b1): (30, 1, 0),
        ("pz5364-c001", at(day(-1), 8)): (999, 9, 9),  # before the period
        ("pz5352-c001", at(LAST + dt.timedelta(days=1), 0)): (777, 0, 0),  # after it
    }
    node.writer.call(lambda s: s.commit_processor("oversight-seed", 0, 1, counts)).result()
    hits = [
        make_hit(1, created_us=at(day(1), 9), category=Category.STOLEN_VEHICLE),
        make_hit(2, created_us=at(day(2), 9), category=Category.UNINSURED,
                 status=HitStatus.CLOSED, outcome=Outcome.INTERCEPTED),
        make_hit(3, created_us=at(day(3), 9), camera_zone_id=B, camera_id="pz5352-c001",
                 category=Category.INVESTIGATION, status=HitStatus.ACKNOWLEDGED),
        make_hit(4, created_us=at(day(4), 9), camera_zone_id=B, camera_id="pz5352-c001",
                 category=Category.STOLEN_VEHICLE, status=HitStatus.CLOSED,
                 outcome=Outcome.MISREAD, historic=True),
        make_hit(5, created_us=at(day(-2), 9), category=Category.STOLEN_PLATE),  # before
    ]  # fmt: skip

    def insert(store: ReadStore) -> None:
        assert isinstance(store, SqlStore)
        with store.transaction() as conn:
            node.hit_store.insert(conn, hits)

    node.writer.call(insert).result()

    log = Log()
    d = day(2)
    log.consult(at(d, 9), "inv-a", A, results=2)
    log.consult(at(d, 10), "inv-a", A, results=0)
    log.consult(at(d, 11), "ana-a", A, role="analyst", results=1)
    log.consult(at(d, 12), "traffic-b", B, "search.place_time", role="traffic_officer",
                purpose="traffic_enforcement", results=10)  # fmt: skip
    log.consult(
        at(d, 13),
        "inv-a",
        A,
        "search.plate.refused",
        results=0,
        detail={"code": "nothing_readable", "message": "past retention"},
    )
    log.consult(
        at(d, 14),
        "op-b",
        B,
        "export.csv.refused",
        role="operator",
        purpose="poking around",
        results=0,
        detail={"code": "invalid_purpose"},
    )
    log.consult(at(d, 15), "inv-a", A, "image.view", purpose=None, case=None, results=1)
    log.consult(at(day(-2), 9), "inv-a", A, results=5)  # before the period
    grant = {"object_type": "grant", "object_id": "g-1", "purpose": "judicial_police",
             "case": "TU.12.LB.000001/26"}  # fmt: skip
    zones = {"requester_zone": A, "data_zone": B}
    log.add(at(d, 9), "inv-a", A, "grant.request", detail=zones, **grant)
    log.add(at(d, 10), "chief-b", B, "grant.approve", detail=zones, **grant)
    log.add(at(d, 11), "chief-b", B, "grant.refuse",
            detail={"requester_zone": "pz5369", "data_zone": B}, **grant)  # fmt: skip
    log.add(at(d, 12), "system", "network", "grant.expire", detail=zones, **grant)
    log.add(at(d, 13), "chief-a", A, "grant.forbidden", detail=zones, **grant)
    log.add(at(d, 9), "mag-a", A, "authorisation.record", object_type="authorisation")
    log.add(at(d, 10), "mag-a", A, "authorisation.revoke", object_type="authorisation")
    log.add(at(d, 9), "inv-b", B, "approval.request", object_type="approval")
    log.add(at(d, 10), "chief-b", B, "approval.approve", object_type="approval")
    log.add(at(d, 9), "inv-a", A, "hold.create", object_type="hold")
    log.add(at(d, 10), "inv-a", A, "hold.release", object_type="hold")
    log.add(at(d, 11), "system", None, "hold.expire", object_type="hold", detail={"zone_id": A})
    purge = {"object_type": "retention", "object_id": "BE"}
    log.add(at(day(3), 4), "system", None, "retention.purge", **purge,
            detail={"days": ["2025-01-01", "2025-01-02", "2025-01-03"], "reads": 500,
                    "hits": 4, "images": 12, "keep_days": 365})  # fmt: skip
    log.add(
        at(day(4), 4),
        "system",
        None,
        "retention.purge",
        **purge,
        detail={"days": ["2025-01-04"], "reads": 100, "hits": 0, "keep_days": 365},
    )
    for action, zone in (("login", A), ("login", A), ("login.failed", None),
                         ("login.locked", B)):  # fmt: skip
        log.add(at(d, 8), "someone", zone, action, object_type="user")
    log.write(node)


def period_query() -> dict[str, str]:
    return {"since": SINCE.isoformat(), "until": LAST.isoformat()}


# -- transparency figures -------------------------------------------------------------------
def test_the_transparency_figures_of_a_seeded_store(node: Node) -> None:
    seed_figures(node)
    service = OversightService.of(node)
    auditor = p("aud", "network", Role.AUDITOR)
    report = service.transparency(auditor, since=SINCE.isoformat(), until=LAST.isoformat())
    assert report.period.since_us == at(SINCE, 0)
    assert report.period.until_us == at(LAST + dt.timedelta(days=1), 0)
    assert report.zone is None and report.jurisdiction.key == node.law.key

    assert (report.cameras.total, report.cameras.active) == (3, 2)
    assert report.cameras.by_zone[A].total == 2 and report.cameras.by_zone[A].active == 1
    assert (report.reads.total, report.reads.low_confidence, report.reads.foreign) == (180, 6, 10)
    assert report.reads.by_zone == {A: 150, B: 30}

    h = report.hits
    assert (h.total, h.historic) == (4, 1)
    assert h.by_category == {"investigation": 1, "stolen_vehicle": 2, "uninsured": 1}
    assert h.by_status == {"acknowledged": 1, "closed": 2, "new": 1}
    assert h.by_outcome == {"intercepted": 1, "misread": 1}
    assert h.by_zone == {A: 2, B: 2}

    c = report.consultations
    assert (c.total, c.ran, c.refused, c.results, c.users, c.without_case) == (7, 5, 2, 14, 4, 1)
    assert c.by_purpose == {
        "(invalid)": 1, "(none)": 1, "judicial_police": 4, "traffic_enforcement": 1,
    }  # fmt: skip
    assert c.by_action == {"export.csv": 1, "image.view": 1, "search.place_time": 1,
                           "search.plate": 4}  # fmt: skip
    assert c.refused_by_code == {"invalid_purpose": 1, "nothing_readable": 1}
    assert c.by_zone == {A: 5, B: 2}

    g = report.grants
    assert (g.requested, g.approved, g.refused, g.revoked, g.expired, g.forbidden) == (
        1, 1, 1, 0, 1, 1,
    )  # fmt: skip
    assert (report.authorisations.recorded, report.authorisations.revoked) == (1, 1)
    assert (report.approvals.requested, report.approvals.approved) == (1, 1)
    holds = report.legal_holds
    assert (holds.created, holds.released, holds.expired) == (1, 1, 1)
    pu = report.purges
    assert (pu.runs, pu.reads, pu.hits, pu.images) == (2, 600, 4, 12)
    assert [(r.days, r.images) for r in pu.details] == [(3, 12), (1, None)]
    assert (report.logins.ok, report.logins.failed, report.logins.locked) == (2, 1, 1)

    # No plate and no free text of a consultation reaches the report.
    text = json.dumps(msgspec.to_builtins(report))
    for secret in ("1ABC123", "poking around", "burglary", "TU.12.LB"):
        assert secret not in text


def test_a_zone_report_counts_that_zone_only(node: Node) -> None:
    seed_figures(node)
    report = OversightService.of(node).transparency(
        p("dpo", "network", Role.DPO), zone=B, since=SINCE.isoformat(), until=LAST.isoformat()
    )
    assert report.zone == B
    assert (report.cameras.total, report.reads.total) == (1, 30)
    assert report.hits.by_category == {"investigation": 1, "stolen_vehicle": 1}
    assert report.hits.by_zone == {B: 2}
    c = report.consultations
    assert (c.total, c.refused, c.by_zone) == (2, 1, {B: 2})
    g = report.grants
    # The request and expiry name B as the data zone; the approval and refusal are B's chief's;
    # the forbidden attempt (by A's chief, on a grant of B's data) names B too.
    assert (g.requested, g.approved, g.refused, g.expired, g.forbidden) == (1, 1, 1, 1, 1)
    assert report.authorisations.recorded == 0 and report.approvals.requested == 1
    assert (report.legal_holds.created, report.legal_holds.expired) == (0, 0)
    assert (report.logins.ok, report.logins.locked) == (0, 1)
    assert report.purges.runs == 2  # the node's, whatever the zone


# -- the API: guards, zones, audit ----------------------------------------------------------
PEOPLE = {
    "aud": ("network", Role.AUDITOR),
    "dpo": (A, Role.DPO),
    "mag-a": (A, Role.MAGISTRATE),
    "chief-a": (A, Role.ZONE_CHIEF),
    "chief-b": (B, Role.ZONE_CHIEF),
    "town-b": (B, Role.MUNICIPALITY),
    "inv-a": (A, Role.INVESTIGATOR),
    "adm": ("network", Role.ADMIN),
}


@pytest.fixture
def bearer(node: Node) -> dict[str, dict[str, str]]:
    """Authorization headers of the people above, by user id."""
    out = {}
    for user_id, (zone, role) in PEOPLE.items():
        token = node.users.create(
            User(id=user_id, name=user_id, zone_id=zone, role=role), actor=None
        )
        out[user_id] = {"Authorization": f"Bearer {token}"}
    return out


def report_records(node: Node) -> list[AuditRecord]:
    assert isinstance(node.store, SqlStore)
    return read_audit(node.store.reader(), object_type="report")


async def test_a_municipality_sees_its_own_zone_in_figures_and_no_abuse_report(
    node: Node, client: httpx.AsyncClient, bearer: dict[str, dict[str, str]]
) -> None:
    seed_figures(node)
    town = bearer["town-b"]
    url = "/api/v1/reports/transparency"
    resp = await client.get(url, params=period_query(), headers=town)
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    assert doc["zone"] == B and doc["reads"]["total"] == 30
    # A covert category is not shown to a municipality, even as a count.
    assert doc["hits"]["by_category"] == {"other": 1, "stolen_vehicle": 1}
    other = await client.get(url, params={**period_query(), "zone": A}, headers=town)
    assert other.status_code == 403 and other.json()["error"]["code"] == "zone_not_visible"
    for path in ("/api/v1/reports/abuse", "/reports/abuse"):
        refused = await client.get(path, headers=town)
        assert refused.status_code == 403, path
    # The chief of B may read B's covert count; the chief of A may not read B at all.
    chief = await client.get(url, params=period_query(), headers=bearer["chief-b"])
    assert chief.json()["hits"]["by_category"] == {"investigation": 1, "stolen_vehicle": 1}
    nope = await client.get(url, params={"zone": B}, headers=bearer["chief-a"])
    assert nope.status_code == 403
    investigator = await client.get(url, headers=bearer["inv-a"])
    assert investigator.status_code == 403


async def test_reading_a_report_writes_one_audit_record(
    node: Node, client: httpx.AsyncClient, bearer: dict[str, dict[str, str]]
) -> None:
    assert report_records(node) == []
    resp = await client.get(
        "/api/v1/reports/transparency", params={**period_query(), "zone": A},
        headers=bearer["mag-a"],
    )  # fmt: skip
    assert resp.status_code == 200
    page = await client.get("/reports/abuse", params=period_query(), headers=bearer["chief-b"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    first, second = report_records(node)
    assert (first.action, first.actor, first.actor_zone, first.role) == (
        "report.transparency", "mag-a", A, "magistrate",
    )  # fmt: skip
    assert first.scope == {
        "since_us": at(SINCE, 0), "until_us": at(LAST + dt.timedelta(days=1), 0), "zones": [A],
    }  # fmt: skip
    assert first.detail["format"] == "json" and first.purpose is None  # not a consultation
    assert (second.action, second.actor, second.detail["zone"], second.detail["format"]) == (
        "report.abuse", "chief-b", B, "html",
    )  # fmt: skip
    assert second.results == 0  # no flags
    # A refused request reads nothing and writes nothing.
    bad = await client.get(
        "/api/v1/reports/transparency", params={"since": "2020-01-01"}, headers=bearer["aud"]
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "period_too_long"
    assert len(report_records(node)) == 2
    # The reports count the reports read (oversight of the oversight).
    again = await client.get("/api/v1/reports/transparency", headers=bearer["aud"])
    assert again.json()["reports_read"] == {"transparency": 1, "abuse": 1}
    assert isinstance(node.store, SqlStore)
    assert verify_chain(iter_audit(node.store.reader())) is None


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"since": "01/06/2026"}, "bad_date"),
        ({"since": "2026-06-10", "until": "2026-06-01"}, "bad_period"),
        ({"since": "2025-01-01", "until": "2026-06-01"}, "period_too_long"),
        ({"zone": "pz0000"}, "unknown_zone"),
    ],
)
async def test_bad_queries_are_400(
    client: httpx.AsyncClient,
    bearer: dict[str, dict[str, str]],
    query: dict[str, str],
    code: str,
) -> None:
    resp = await client.get("/api/v1/reports/transparency", params=query, headers=bearer["aud"])
    assert resp.status_code == 400 and resp.json()["error"]["code"] == code


async def test_the_html_report_has_the_figures_in_tables(
    node: Node, client: httpx.AsyncClient, bearer: dict[str, dict[str, str]]
) -> None:
    seed_figures(node)
    resp = await client.get(
        "/reports/transparency", params={**period_query(), "zone": A}, headers=bearer["adm"]
    )
    assert resp.status_code == 200
    page = resp.text
    assert "<script" not in page and "Transparency report" in page
    assert 'href="../static/reports.css"' in page
    assert 'id="consultations-purpose"' in page and 'data-key="judicial_police"' in page
    assert node.law.name in page and "PZ Regio Turnhout" in page
    assert "1ABC123" not in page
    form = await client.get("/reports")
    assert form.status_code == 200 and 'formaction="reports/abuse"' in form.text


# -- the abuse review -----------------------------------------------------------------------
def seed_patterns(node: Node) -> None:
    """Ordinary work, and four people who each do one thing an oversight body looks at."""
    log = Log()
    for i in range(6):  # ordinary investigators: 4 a day on 3 days, one case each
        user, zone = f"inv-{i}", (A if i % 2 else B)
        for n in range(3):
            for hour in (10, 11, 14, 15):
                log.consult(at(day(n + 1), hour), user, zone, case=f"TU.12.LB.00010{i}/26")
    for k in range(150):  # the outlier: 75 a day, in working hours
        log.consult(at(day(k % 2 + 1), 8, k // 10 % 60, k % 60), "busy-a", A,
                    case="TU.12.LB.000200/26")  # fmt: skip
    for k in range(22):  # 22 searches in 40 minutes just before midnight
        log.consult(at(day(5), 23, 10 + k * 40 // 22), "owl-b", B, case="TU.12.LB.000300/26")
    for k in range(5):  # a few late searches: ordinary
        log.consult(at(day(5), 23, 5 * k), "late-a", A, case="TU.12.LB.000301/26")
    for k, shape in enumerate(["*-###", "#?#??", "#-##?-###", "?-###-###"]):
        log.consult(at(day(6), 10, k), "wild-a", A, "search.partial",
                    scope={"since_us": 0, "until_us": 1, "patterns": [shape]})  # fmt: skip
    log.consult(at(day(6), 11), "neat-b", B, "search.partial",
                scope={"since_us": 0, "until_us": 1, "patterns": ["#-###-##?"]})  # fmt: skip
    for k in range(8):  # a new case number for every search
        log.consult(at(day(7), 10, k), "maker-b", B, case=f"TU.12.LB.0009{k:02d}/26")
    for k in range(6):  # a new case number per search, each one used again after the period
        case = f"TU.12.LB.0008{k:02d}/26"
        log.consult(at(day(7), 11, k), "follow-a", A, case=case)
        log.add(at(LAST + dt.timedelta(days=1), 12, k), "follow-a", A, "grant.request",
                object_type="grant", purpose="judicial_police", case=case)  # fmt: skip
    for k in range(6):  # two one-off cases among six: ordinary
        case = "TU.12.LB.000700/26" if k < 4 else f"TU.12.LB.00071{k}/26"
        log.consult(at(day(7), 14, k), "mixed-b", B, case=case)
    log.write(node)


def flags_by(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(f["kind"], f["user"]): f for f in doc["flags"]}


async def test_each_abuse_rule_fires_on_its_pattern_and_not_on_ordinary_work(
    node: Node, client: httpx.AsyncClient, bearer: dict[str, dict[str, str]]
) -> None:
    seed_patterns(node)
    resp = await client.get("/api/v1/reports/abuse", params=period_query(), headers=bearer["aud"])
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    flags = flags_by(doc)
    assert set(flags) == {
        ("outlying_rate", "busy-a"),
        ("off_hours_bulk", "owl-b"),
        ("wide_wildcard", "wild-a"),
        ("single_use_cases", "maker-b"),
    }
    assert doc["by_kind"] == {k.value: 1 for k in FlagKind}
    assert doc["users_reviewed"] == 14

    rate = flags[("outlying_rate", "busy-a")]
    assert (rate["zone"], rate["role"]) == (A, "investigator")
    assert rate["figures"]["per_day"] == 75 and rate["figures"]["peer_median"] == 4
    assert "150 consultations on 2 active days" in rate["explanation"]
    assert rate["evidence_total"] == len(rate["evidence"]) == 150

    owl = flags[("off_hours_bulk", "owl-b")]
    assert owl["figures"]["in_window"] == 22 and owl["figures"]["night"] == day(5).isoformat()
    assert "between 23:10 and 23:48" in owl["explanation"]
    wild = flags[("wide_wildcard", "wild-a")]
    assert wild["figures"]["searches"] == 3 and wild["figures"]["shapes"] == [
        "*-###", "#?#??", "?-###-###",
    ]  # fmt: skip
    maker = flags[("single_use_cases", "maker-b")]
    assert (
        maker["figures"]["single_use"] == 8
        and "8 of 8 consultations (100%)" in (maker["explanation"])
    )

    # The evidence is the audit records of the pattern, nothing else.
    assert isinstance(node.store, SqlStore)
    by_seq = {r.seq: r for r in iter_audit(node.store.reader())}
    for flag in doc["flags"]:
        assert {by_seq[s].actor for s in flag["evidence"]} == {flag["user"]}
    assert len(owl["evidence"]) == 22
    assert {by_seq[s].detail.get("code") for s in owl["evidence"]} == {None}


async def test_a_zone_chief_sees_the_flags_of_their_zone_only(
    node: Node, client: httpx.AsyncClient, bearer: dict[str, dict[str, str]]
) -> None:
    seed_patterns(node)
    resp = await client.get(
        "/api/v1/reports/abuse", params=period_query(), headers=bearer["chief-b"]
    )
    doc = resp.json()
    assert doc["zone"] == B
    assert {(f["kind"], f["user"]) for f in doc["flags"]} == {
        ("off_hours_bulk", "owl-b"), ("single_use_cases", "maker-b"),
    }  # fmt: skip
    other = await client.get("/api/v1/reports/abuse", params={"zone": A}, headers=bearer["chief-b"])
    assert other.status_code == 403


def test_the_rate_rule_needs_enough_peers() -> None:
    """Three busy people are not a crowd: no rate is judged, and the report says so."""
    records = [
        AuditRecord(seq=i, at_us=at(day(1), 10, i % 60), actor=f"u{i % 3}", actor_zone=A,
                    action="search.plate", object_type="reads", object_id="-", detail={},
                    prev_hash="", hash="", context={"purpose": "judicial_police",
                                                     "case": "C-1", "role": "analyst"})
        for i in range(300)
    ]  # fmt: skip
    period = period_from(SINCE.isoformat(), LAST.isoformat(), now_us=at(TODAY, 12),
                         timezone=TZ, default_days=30, max_days=400)  # fmt: skip
    review = detect(records, period=period, rules=RULES)
    assert review.flags == ()
    assert "not judged" in review.notes[0]
    report = build_abuse(review, period=period, zone=None, generated_us=0,
                         jurisdiction=Jurisdiction(key="BE", name="Belgium", country="BE"),
                         rules=RULES)  # fmt: skip
    assert report.consultations_reviewed == 300 and report.users_reviewed == 3


def record(seq: int, at_us: int, actor: str, **context: Any) -> AuditRecord:
    return AuditRecord(
        seq=seq, at_us=at_us, actor=actor, actor_zone=A, action="search.plate",
        object_type="reads", object_id="-", detail={}, prev_hash="", hash="",
        context={"purpose": "judicial_police", "case": "C-1", "role": "investigator", **context},
    )  # fmt: skip


def test_a_night_burst_across_midnight_is_one_night() -> None:
    """From 23:45 to 00:33 is one night (of the date it began), one window, one flag; the
    evidence list stops at the configured length but says how many there were."""
    night = [at(day(3), 23, 45 + k) for k in range(10)]
    night += [at(day(4), 0, 3 * k) for k in range(12)]
    records = [record(i, t, "owl") for i, t in enumerate(night)]
    records += [record(100 + i, at(day(4), 9, i), "owl") for i in range(30)]  # daytime
    period = period_from(SINCE.isoformat(), LAST.isoformat(), now_us=at(TODAY, 12),
                         timezone=TZ, default_days=30, max_days=400)  # fmt: skip
    rules = OversightConfig(evidence_max=5)
    (flag,) = detect(records, period=period, rules=rules).flags
    assert flag.kind is FlagKind.OFF_HOURS_BULK and flag.figures["night"] == day(3).isoformat()
    assert flag.figures["in_window"] == flag.figures["in_night"] == 22
    assert flag.figures["from"][11:16] == "23:45"  # local time, with its offset
    assert "between 23:45 and 00:33" in flag.explanation
    assert flag.evidence == (0, 1, 2, 3, 4) and flag.evidence_total == 22
    # Fewer than the limit, or spread over the night: not a burst.
    spread = [record(i, at(day(3), 22, 0) + i * 15 * 60_000_000, "calm") for i in range(30)]
    assert detect(spread, period=period, rules=RULES).flags == ()


# -- the command line -----------------------------------------------------------------------
@pytest.fixture
def config_file(node: Node, tmp_path: Path) -> Iterator[Path]:
    """A config file naming the node's own store (SQLite file or PostgreSQL schema)."""
    store = node.config.store
    path = tmp_path / "kp.json"
    path.write_text(json.dumps({"store": {"url": store.url, "pg_schema": store.pg_schema}}))
    yield path


def test_the_cli_prints_the_reports_and_audits_the_reading(
    node: Node, config_file: Path, tmp_path: Path
) -> None:
    from kruispunt.cli import app

    seed_figures(node)
    seed_patterns(node)
    runner = CliRunner(env=dict.fromkeys(ENV_KEYS))  # this config file, not the environment
    args = ["--config", str(config_file), "--since", SINCE.isoformat(), "--until",
            LAST.isoformat()]  # fmt: skip
    done = runner.invoke(app, ["report", "transparency", *args, "--zone", B])
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout)
    assert set(doc) >= {
        "kind", "period", "zone", "generated_at", "jurisdiction", "cameras", "reads", "hits",
        "consultations", "grants", "authorisations", "approvals", "legal_holds", "purges",
        "logins", "reports_read", "notes",
    }  # fmt: skip
    assert doc["zone"] == B and doc["reads"]["total"] == 30

    out = tmp_path / "abuse.html"
    done = runner.invoke(app, ["report", "abuse", *args, "--format", "html", "--out", str(out)])
    assert done.exit_code == 0, done.output
    page = out.read_text()
    assert "<style>" in page and "@media print" in page and "owl-b" in page
    assert 'rel="stylesheet"' not in page  # self-contained

    bad = runner.invoke(app, ["report", "abuse", "--config", str(config_file), "--since", "x"])
    assert bad.exit_code == 2 and "bad_date" in bad.output
    records = report_records(node)
    assert [(r.action, r.role, r.detail["format"]) for r in records] == [
        ("report.transparency", "admin", "json"), ("report.abuse", "admin", "html"),
    ]  # fmt: skip
    assert records[0].actor.startswith("cli:") and records[0].source == records[0].actor


def test_a_report_of_an_empty_node_is_all_zeros(node: Node) -> None:
    report: TransparencyReport = OversightService.of(node).transparency(
        p("aud", "network", Role.AUDITOR)
    )
    assert report.period.days == 30
    assert report.consultations.total == 0 and report.hits.total == 0
    assert report.cameras.total == 2 and report.purges.details == ()
