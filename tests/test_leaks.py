"""Nothing leaks: every role of one zone against every endpoint, with requests that aim at
another zone's data.

Zone B (pz5352) holds a secret: a vehicle whose reads, hit, hotlist entry and image exist
only in B. Every person of zone A (pz5364, one per role) then calls every route of the API
with a request that names that vehicle and B's objects (ids in the path, the plate in the
body). No answer may carry anything of B's records: the reads' ids and the make the camera
gave, the entry's action, or the plate where the request did not name it (an answer may echo
the plate a search asked for). A person of zone B asking the same proves the requests reach
the data (so this test can fail).

Every route must have an entry in ``REQUESTS`` (or be listed as taking no input): a new
endpoint fails here until someone states what a hostile request to it looks like.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kruispunt.access.principals import Principal, Role, User
from kruispunt.domain.reads import Read
from kruispunt.hotlists.models import HotlistList
from kruispunt.hotlists.validation import EntryIn
from kruispunt.node import Node
from kruispunt.store.base import ReadStore
from kruispunt.store.sql import now_us
from tests.conftest import ADMIN, on_both_engines
from tests.test_guards import ENDLESS, NOT_OURS, routes

pytestmark = on_both_engines

A, B = "pz5364", "pz5352"
SECRET = "9-ZZZ-999"
SPELLINGS = ("9ZZZ999", "9-ZZZ-999", "9-zzz-999", "9zzz999")
MARKERS = ("zzq-secret-", "Zzqmake", "zzq-shadow")  # only in B's records
CASE = "AN.12.LB.012345/2026"
WHY = {
    "purpose": "judicial_police",
    "case": CASE,
    "reason": "Ram-raid on the jeweller in the Nieuwstraat, grey Audi seen leaving",
}
MINUTE = 60_000_000
HOUR = 60 * MINUTE


def iso(us: int) -> str:
    return dt.datetime.fromtimestamp(us / 1e6, dt.UTC).isoformat()


def _requests(now: int, ids: dict[str, str]) -> dict[tuple[str, str], dict[str, Any]]:
    since, until = iso(now - 2 * HOUR), iso(now)
    plate = {"plate": SECRET, "since": since, "until": until} | WHY
    site = {"since": since, "until": until, "cameras": [ids["camera"]]}
    return {
        ("POST", "/api/v1/search/plates"): {"json": plate},
        ("POST", "/api/v1/search/plates/export"): {"json": plate, "params": {"format": "csv"}},
        ("GET", "/api/v1/search/plates/export"): {"params": plate | {"format": "csv"}},
        ("POST", "/api/v1/search/plates/evidence"): {"json": plate},
        ("POST", "/api/v1/search/place-time"): {"json": site | WHY | {"list": True}},
        ("POST", "/api/v1/search/multi-site"): {"json": {"sites": [site, site]} | WHY},
        ("POST", "/api/v1/search/convoy"): {"json": plate},
        ("POST", "/api/v1/search/journey"): {"json": plate},
        ("GET", "/api/v1/hits"): {},
        ("GET", "/api/v1/hits/stats"): {},
        ("GET", "/api/v1/hotlists"): {},
        ("GET", "/api/v1/hotlists/{list_id}/entries"): {},
        ("GET", "/api/v1/hotlists/{list_id}/export"): {},
        ("GET", "/api/v1/images/{image_id}"): {"params": WHY},
        ("GET", "/api/v1/holds/{hold_id}/reads"): {"params": WHY},
        ("POST", "/api/v1/grants"): {"json": {"data_zone": B, "plates": [SECRET]} | WHY},
        ("POST", "/api/v1/approvals"): {"json": {"plates": [SECRET], "since": since} | WHY},
        ("POST", "/api/v1/holds"): {"json": {"plates": [SECRET]} | WHY},
        ("POST", "/api/v1/authorisations"): {"json": {"plates": [SECRET]} | WHY},
        ("GET", "/api/v1/reports/transparency"): {},
        ("GET", "/api/v1/reports/abuse"): {},
        ("GET", "/reports/transparency"): {},
        ("GET", "/reports/abuse"): {},
        ("GET", "/api/v1/offences"): {"params": {"zone": B, "module": "section_control"}},
        ("GET", "/api/v1/offences/export"): {"params": {"zone": B, "format": "json"}},
        ("GET", "/api/v1/offences/stats"): {"params": {"module": "section_control"}},
        ("POST", "/api/v1/offences/{offence_id}/status"): {
            "json": {"status": "cancelled", "note": "not ours"}
        },
        ("POST", "/api/v1/lez/permits"): {
            "json": {"kind": "day_pass", "plate": SECRET, "country": "BE", "day": iso(now)[:10]}
        },
        ("GET", "/api/v1/lez/permits"): {"params": {"plate": SECRET}},
        ("GET", "/api/v1/health/cameras"): {"params": {"zone": B}},
        ("GET", "/api/v1/health/alarms"): {"params": {"camera": ids["camera"], "zone": B}},
        ("GET", "/camera-health-list"): {"params": {"zone": B}},
        ("POST", "/api/v1/cameras/{camera_id}/heartbeat"): {"json": {"camera_time": iso(now)}},
    }


def _path(path: str, ids: dict[str, str]) -> str:
    def fill(m: re.Match[str]) -> str:
        name = m.group(1).split(":")[0]
        return ids.get(name.removesuffix("_id"), "x-does-not-exist")

    return re.sub(r"\{([^}]+)\}", fill, path)


@pytest.fixture
def world(node: Node) -> Iterator[dict[str, str]]:
    """B's secret vehicle: reads on B's camera, a hit on B's own list, an image."""
    now = now_us()
    reads = [
        Read(seq=0, read_id=f"zzq-secret-{i}", camera_id="pz5352-c001", zone_id=B,
             captured_us=now - (i + 1) * 10 * MINUTE, received_us=now - (i + 1) * 10 * MINUTE,
             plate_raw=SECRET, plate="9ZZZ999", country="BE", country_inferred=False,
             plate_format=None, confidence=0.95, direction="approaching", make="Zzqmake")
        for i in range(3)
    ]  # fmt: skip

    def append(store: ReadStore) -> None:
        store.append(reads)

    node.writer.call(append).result()
    chief_b = Principal(user_id="chief-b", zone_id=B, role=Role.ZONE_CHIEF)
    node.hotlists.create_list(
        HotlistList(id="b-secret", name="B's own", owner_zone_id=B), actor=chief_b
    )
    entry = node.hotlists.create_entry(
        "b-secret",
        EntryIn(plate=SECRET, country="BE", category="investigation", action="zzq-shadow",
                source="PV B", legal_basis="WPA art. 44/1", scope="own_zone",
                expires_at=iso(now + 30 * 24 * HOUR)),
        actor=chief_b, retro_days=1,
    )  # fmt: skip
    hits = node.hit_store.since(0, 10)
    assert hits, "the retroactive search raised B's hits"
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"\xff\xd9"
    image, _dup = node.images.put(
        "pz5352-c001", "zzq-secret-0", reads[0].captured_us, jpeg, "image/jpeg"
    )
    offence = _secret_offence(node, reads[0])
    yield {
        "list": "b-secret", "entry": entry.id, "hit": hits[0].id, "camera": "pz5352-c001",
        "image": image.id, "user": "inv-b", "subject": "x", "offence": offence,
    }  # fmt: skip


def _secret_offence(node: Node, read: Read) -> str:
    """A section-control offence of B's vehicle on B's camera (police business of B)."""
    from kruispunt.enforcement.offences import Offence, OffenceCategory, OffenceStore
    from kruispunt.store.sql import SqlStore

    offence = Offence(
        id="o-zzq-secret", module="section_control", category=OffenceCategory.SPEEDING,
        plate=read.plate, country="BE", day=iso(read.captured_us)[:10],
        occurred_us=read.captured_us, created_us=read.captured_us, zone_id=B,
        camera_ids=(read.camera_id,), evidence={"exit": {"read_id": read.read_id}},
    )  # fmt: skip

    def insert(store: ReadStore) -> None:
        assert isinstance(store, SqlStore)
        with store.transaction() as conn:
            OffenceStore.insert(conn, [offence])

    node.writer.call(insert).result()
    return offence.id


def _leaks(resp: httpx.Response, request: dict[str, Any]) -> bool:
    body = resp.content.decode("utf-8", "replace")
    if any(m in body for m in MARKERS):
        return True
    named = SECRET in str(request)
    return not named and any(s in body for s in SPELLINGS)


async def test_no_role_of_another_zone_sees_the_secret_by_any_route(
    client: httpx.AsyncClient, node: Node, world: dict[str, str]
) -> None:
    requests = _requests(now_us(), world)
    tokens = {
        role: node.users.create(
            User(id=f"a-{role.value}", name=role.value, zone_id=A, role=role), actor=None
        )
        for role in Role
    }
    tokens_b = node.users.create(
        User(id="inv-b", name="inv b", zone_id=B, role=Role.INVESTIGATOR), actor=None
    )
    missing: list[str] = []
    calls = 0
    for method, path, _ep in routes(node):
        if method == "WS" or path in NOT_OURS or path in ENDLESS:
            continue
        if "{" not in path and method == "GET" and (method, path) not in requests:
            request: dict[str, Any] = {}
        elif (method, path) in requests:
            request = requests[(method, path)]
        elif "{" in path:
            request = {}  # an id of B's in the path is the hostile part
        else:
            missing.append(f"{method} {path}")
            continue
        url = _path(path, world)
        for role, token in [*tokens.items(), ("admin-token", ADMIN)]:
            if role in (Role.ADMIN, "admin-token") and method != "GET":
                continue  # the administrator's writes (delete a camera, a user) are theirs
            headers = {"Authorization": f"Bearer {token}"}
            resp = await client.request(method, url, headers=headers, **request)
            calls += 1
            assert not _leaks(resp, request), f"{method} {path} showed zone B's vehicle to {role}"
    # POST routes without an entry: add one to REQUESTS (a hostile body for the route).
    unlisted = [m for m in missing if not m.startswith(SAFE_WRITES)]
    assert unlisted == [], f"routes without a hostile request in this matrix: {unlisted}"
    assert calls > 800
    # The control: B's own investigator gets the vehicle through the same requests.
    headers = {"Authorization": f"Bearer {tokens_b}"}
    for key in [("POST", "/api/v1/search/plates"), ("POST", "/api/v1/search/place-time")]:
        resp = await client.request(key[0], key[1], headers=headers, **requests[key])
        assert resp.status_code == 200 and _leaks(resp, requests[key]), (key, resp.text[:300])
    # ... and B's traffic officer B's offence (its plate, its read in the evidence).
    officer_b = node.users.create(
        User(id="officer-b", name="officer b", zone_id=B, role=Role.TRAFFIC_OFFICER), actor=None
    )
    key = ("GET", "/api/v1/offences/export")
    resp = await client.get(key[1], headers={"Authorization": f"Bearer {officer_b}"},
                            **requests[key])  # fmt: skip
    assert resp.status_code == 200 and _leaks(resp, requests[key]), resp.text[:300]


# Writes that carry no personal data of another zone to return (sign-in, tokens, admin
# operations on the registry and on users): a new POST that is not one of these must be in
# the matrix.
SAFE_WRITES = (
    "POST /api/v1/reads",
    "POST /api/v1/ingest/",
    "POST /api/v1/images",
    "POST /api/v1/cameras",
    "POST /api/v1/users",
    "POST /api/v1/auth/",
    "POST /api/v1/machine-tokens",
    "POST /api/v1/hotlists",
    "POST /api/v1/webhooks",
)
