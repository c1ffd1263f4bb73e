"""``kruispunt bench policy``: what the lawful-access check costs one request.

A real node (embedded SQLite store, in a temporary directory) holds ``users`` people across
the network's zones, ``grants`` approved cross-zone grants and, where the node records them,
prosecutor authorisations. Each measured request is what an investigator's search pays
before the store is touched:

- ``guard``: the caller resolved from the bearer token (``kruispunt.access.auth``), as the
  route guard does it;
- ``decide``: ``PolicyGate.decide``: purpose and role, the case format, the reason rules,
  the visible zones (grants, from the store), the tiers with the case's authorisations (from
  the store), the wide-search caps.

The baseline, measured in the same run, is one exact-plate history query over the same
period on the same store holding ``reads`` reads of the last 40 days (the cheapest real work
the request then does). The target is a policy check under 1 ms.
Medians and 95th percentiles over ``requests`` requests, in microseconds.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from starlette.requests import Request

from kruispunt.access.auth import principal_from_request
from kruispunt.access.policy import Consultation, PolicyRefused
from kruispunt.access.principals import Principal, Role, User
from kruispunt.api.app import create_app
from kruispunt.config import load_config
from kruispunt.domain.cameras import Camera
from kruispunt.domain.reads import Read
from kruispunt.node import Node
from kruispunt.store.base import ReadStore

DAY = 86_400_000_000
CASE = "AN.12.LB.{:06d}/2026"
REASONS = (
    "Burglary at a house in the Kerkstraat, grey van seen by the neighbour at night",
    "Armed robbery of a petrol station, getaway car reported by the cashier",
    "Hit-and-run on the ring road, witness noted part of the plate of the car",
)
TARGET_MS = 1.0


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def _request(app: Any, token: str) -> Request:
    scope = {
        "type": "http", "method": "POST", "path": "/api/v1/search/plates", "headers": [
            (b"authorization", f"Bearer {token}".encode())
        ], "app": app, "query_string": b"", "client": ("10.0.0.7", 5000),
    }  # fmt: skip
    return Request(scope)


def _seed(node: Node, users: int, grants: int, rng: random.Random) -> list[tuple[Principal, str]]:
    zones = sorted(node.network_zone_ids)
    people: list[tuple[Principal, str]] = []
    for n in range(users):
        zone = zones[n % len(zones)]
        user = User(id=f"inv-{n}", name=f"inv {n}", zone_id=zone, role=Role.INVESTIGATOR)
        people.append((Principal.of(user), node.users.create(user, actor=None)))
    chiefs = {}
    for zone in zones:
        chief = User(id=f"chief-{zone}", name="chief", zone_id=zone, role=Role.ZONE_CHIEF)
        node.users.create(chief, actor=None)
        chiefs[zone] = Principal.of(chief)
    now = node.grants.now()
    for n in range(grants):
        who, _token = people[rng.randrange(len(people))]
        data_zone = rng.choice([z for z in zones if z != who.zone_id])
        grant = node.grants.request(
            who, data_zone=data_zone, purpose="judicial_police", case=CASE.format(n),
            reason=REASONS[n % len(REASONS)], valid_until_us=now + 10 * DAY,
        )  # fmt: skip
        node.grants.approve(grant.id, actor=chiefs[data_zone])
    return people


def _seed_reads(node: Node, reads: int, rng: random.Random) -> None:
    """``reads`` reads over the last 40 days on the node's cameras (none yet: made here)."""
    zones = sorted(node.network_zone_ids)
    cameras = [f"{zone}-bench" for zone in zones]
    node.upsert_cameras(
        [Camera(id=cam, zone_id=zone, name=cam, owner=zone, manager=zone, lat=51.2, lon=4.4)
         for cam, zone in zip(cameras, zones, strict=True)]
    )  # fmt: skip
    now = node.grants.now()
    batch: list[Read] = []
    for n in range(reads):
        plate = f"1ABC{rng.randint(100, 999)}"
        cam = rng.randrange(len(cameras))
        captured = now - rng.randint(0, 40 * DAY)
        batch.append(Read(
            seq=0, read_id=f"r{n}", camera_id=cameras[cam], zone_id=zones[cam],
            captured_us=captured, received_us=captured, plate_raw=plate, plate=plate,
            country="BE", country_inferred=False, plate_format="BE.standard", confidence=0.9,
        ))  # fmt: skip
        if len(batch) == 10_000 or n == reads - 1:
            node.writer.call(partial(_append, batch)).result()
            batch = []


def _append(reads: list[Read], store: ReadStore) -> None:
    store.append(reads)


def _consultation(rng: random.Random, now: int, n: int) -> Consultation:
    since = now - rng.randint(1, 40) * DAY  # some cross into the prosecutor's tier
    return Consultation(
        action="search.plate", purpose="judicial_police", case=CASE.format(n % 500),
        reason=REASONS[n % len(REASONS)], since_us=since,
        until_us=min(now, since + rng.randint(1, 10) * DAY),
        plates=(f"1ABC{rng.randint(100, 999)}",), source="10.0.0.7",
    )  # fmt: skip


def run_policy_bench(
    *, requests: int = 5000, users: int = 200, grants: int = 500, reads: int = 200_000
) -> dict[str, Any]:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="kruispunt-bench-policy-") as tmp:
        config = load_config(overrides={"store": {"url": f"sqlite:///{Path(tmp) / 'k.db'}"}})
        node = Node(config)
        node.start()
        try:
            app = create_app(node, manage_node=False)
            people = _seed(node, users, grants, rng)
            _seed_reads(node, reads, rng)
            now = node.grants.now()
            guard_us: list[float] = []
            decide_us: list[float] = []
            baseline_us: list[float] = []
            refused: dict[str, int] = {}
            for n in range(requests):
                who, token = people[n % len(people)]
                c = _consultation(rng, now, n)
                t0 = time.perf_counter_ns()
                principal = principal_from_request(_request(app, token))
                t1 = time.perf_counter_ns()
                try:
                    node.policy.decide(principal, c)
                except PolicyRefused as exc:
                    refused[exc.code] = refused.get(exc.code, 0) + 1
                t2 = time.perf_counter_ns()
                node.store.reads_of_plate(c.plates[0], c.since_us, c.until_us)
                t3 = time.perf_counter_ns()
                assert principal.user_id == who.user_id
                guard_us.append((t1 - t0) / 1000)
                decide_us.append((t2 - t1) / 1000)
                baseline_us.append((t3 - t2) / 1000)
            check_us = [g + d for g, d in zip(guard_us, decide_us, strict=True)]
            return {
                "requests": requests, "users": users, "grants": grants, "reads": reads,
                "guard_p50_us": round(statistics.median(guard_us), 1),
                "guard_p95_us": round(_pct(guard_us, 0.95), 1),
                "decide_p50_us": round(statistics.median(decide_us), 1),
                "decide_p95_us": round(_pct(decide_us, 0.95), 1),
                "policy_check_p50_ms": round(statistics.median(check_us) / 1000, 4),
                "policy_check_p95_ms": round(_pct(check_us, 0.95) / 1000, 4),
                "baseline_plate_query_p50_us": round(statistics.median(baseline_us), 1),
                "refused": refused, "target_ms": TARGET_MS,
                "meets_target": _pct(check_us, 0.95) / 1000 < TARGET_MS,
                "store": "sqlite",
            }  # fmt: skip
        finally:
            node.stop()
