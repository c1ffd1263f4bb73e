"""The audit log's API: auditors and the DPO read every record, a zone chief their zone's;
filters and paging; every read and every verification is itself audited."""

from __future__ import annotations

import httpx
import pytest

from kruispunt.access.principals import Role, User
from kruispunt.audit import write_audit
from kruispunt.node import Node
from kruispunt.store.base import ReadStore
from kruispunt.store.sql import SqlStore, now_us
from tests.conftest import on_both_engines

pytestmark = on_both_engines

A, B = "pz5364", "pz5352"


def person(node: Node, user_id: str, zone: str, role: Role) -> dict[str, str]:
    token = node.users.create(User(id=user_id, name=user_id, zone_id=zone, role=role), actor=None)
    return {"Authorization": f"Bearer {token}"}


def seed(node: Node) -> None:
    def write(store: ReadStore) -> None:
        assert isinstance(store, SqlStore)
        with store.transaction() as conn:
            for n, (actor, zone, action) in enumerate([
                ("inv-a", A, "search.plate"), ("inv-a", A, "search.partial"),
                ("inv-b", B, "search.plate"), ("inv-b", B, "image.view"),
                ("inv-a", A, "search_plate_like"),  # '_' is not a wildcard
            ]):  # fmt: skip
                write_audit(conn, actor=actor, actor_zone=zone, action=action,
                            object_type="reads", object_id=str(n), purpose="judicial_police",
                            case="AN.12.LB.012345/2026", results=n)  # fmt: skip

    node.writer.call(write).result()


async def test_auditors_read_and_filter_the_log_and_the_read_is_audited(
    client: httpx.AsyncClient, node: Node
) -> None:
    seed(node)
    auditor = person(node, "aud", "network", Role.AUDITOR)
    resp = await client.get("/api/v1/audit", params={"action": "search.*"}, headers=auditor)
    assert resp.status_code == 200, resp.text
    records = resp.json()["records"]
    assert [(r["actor"], r["action"]) for r in records] == [
        ("inv-a", "search.plate"), ("inv-a", "search.partial"), ("inv-b", "search.plate")
    ]  # fmt: skip
    assert records[0]["context"]["purpose"] == "judicial_police"
    one = await client.get("/api/v1/audit", params={"actor": "inv-b", "action": "image.view"},
                           headers=auditor)  # fmt: skip
    assert [r["object_id"] for r in one.json()["records"]] == ["3"]
    # Paging by seq.
    page = (await client.get("/api/v1/audit", params={"limit": 2}, headers=auditor)).json()
    assert len(page["records"]) == 2 and page["next_after"] == page["records"][-1]["seq"]
    rest = await client.get("/api/v1/audit", params={"after": page["next_after"]},
                            headers=auditor)  # fmt: skip
    assert rest.json()["records"][0]["seq"] == page["next_after"] + 1
    # Each read was audited, with its filters and its count.
    reads = await client.get("/api/v1/audit", params={"action": "audit.read"}, headers=auditor)
    audited = reads.json()["records"]
    assert len(audited) == 4 and audited[0]["actor"] == "aud"
    assert audited[0]["context"]["scope"]["action"] == "search.*"
    assert audited[0]["context"]["results"] == 3


async def test_a_zone_chief_reads_only_their_zone(client: httpx.AsyncClient, node: Node) -> None:
    seed(node)
    chief = person(node, "chief-a", A, Role.ZONE_CHIEF)
    resp = await client.get("/api/v1/audit", params={"action": "search.*"}, headers=chief)
    assert {r["actor_zone"] for r in resp.json()["records"]} == {A}
    other = await client.get("/api/v1/audit", params={"zone": B}, headers=chief)
    assert other.status_code == 400 and other.json()["error"]["code"] == "forbidden_zone"
    investigator = person(node, "inv-x", A, Role.INVESTIGATOR)
    assert (await client.get("/api/v1/audit", headers=investigator)).status_code == 403


@pytest.mark.parametrize(
    ("params", "code"),
    [({"since": "yesterday"}, "bad_date"), ({"limit": "0"}, "bad_parameter"),
     ({"since": "2020-01-01", "until": "2026-01-01"}, "period_too_long")],
)  # fmt: skip
async def test_bad_filters_are_refused(
    client: httpx.AsyncClient, node: Node, params: dict[str, str], code: str
) -> None:
    auditor = person(node, "aud", "network", Role.AUDITOR)
    resp = await client.get("/api/v1/audit", params=params, headers=auditor)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == code


async def test_verification_reports_and_is_audited(client: httpx.AsyncClient, node: Node) -> None:
    seed(node)
    dpo = person(node, "dpo", "network", Role.DPO)
    resp = await client.get("/api/v1/audit/verify", headers=dpo)
    assert resp.status_code == 200, resp.text
    report = resp.json()
    assert report["ok"] and report["broken_seq"] is None and report["records"] >= 5
    since = now_us() - 60_000_000
    log = await client.get("/api/v1/audit", params={"action": "audit.verify"}, headers=dpo)
    (record,) = log.json()["records"]
    assert record["actor"] == "dpo" and record["detail"]["ok"] and record["at_us"] > since
