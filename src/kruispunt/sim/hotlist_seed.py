"""Demo users and hotlists for the simulated province: flagged vehicles taken from the
simulated fleet, so the demo raises real hits across zones."""

from __future__ import annotations

import uuid

from kruispunt.access.principals import Role, User
from kruispunt.domain.zones import Zone
from kruispunt.hotlists.models import Category, HotlistEntry, HotlistList, Scope, ScopeKind
from kruispunt.plates import normalise
from kruispunt.sim.traffic import TrafficModel

DAY_US = 86_400_000_000

# (category, action, warnings, scope, how many, source, legal basis)
_PLAN: dict[str, list[tuple[Category, str, tuple[str, ...], Scope, int, str, str]]] = {
    "pz5364": [
        (Category.STOLEN_VEHICLE, "intercept", (), Scope(kind=ScopeKind.NETWORK), 4,
         "PV TU.55.L1.012345/2026", "WPA art. 44/1; ANG signalering"),
        (Category.WANTED_PERSON, "intercept with backup", ("armed - do not stop alone",),
         Scope(kind=ScopeKind.NAMED_ZONES, zones=("pz5369", "pz5355")), 1,
         "ANG FPR 2026/0042", "arrest warrant, investigating judge Turnhout"),
        (Category.INVESTIGATION, "observe, do not stop", (), Scope(kind=ScopeKind.OWN_ZONE), 1,
         "dossier TU.20.F1.2026/77", "art. 47sexies Sv, order of the prosecutor"),
    ],
    "pz5369": [
        (Category.STOLEN_PLATE, "intercept, seize the plate", (), Scope(kind=ScopeKind.NETWORK),
         2, "PV HE.55.L3.000871/2026", "WPA art. 44/1"),
        (Category.MISSING_PERSON, "stop and check on the driver", ("vulnerable person",),
         Scope(kind=ScopeKind.NETWORK), 1, "ANG missing-person notice", "WPA art. 44/1"),
    ],
    "pz5355": [
        (Category.NO_TECHNICAL_INSPECTION, "stop if resources allow", (),
         Scope(kind=ScopeKind.OWN_ZONE), 3, "GOCA inspection register", "KB 15/03/1968"),
    ],
    "pz5352": [
        (Category.STOLEN_VEHICLE, "intercept", (), Scope(kind=ScopeKind.NETWORK), 2,
         "PV BR.55.L1.004411/2026", "WPA art. 44/1"),
    ],
    "fedpol": [
        (Category.UNINSURED, "stop and check insurance", (), Scope(kind=ScopeKind.NETWORK), 4,
         "insurance register (DIV/Datassur)", "Act of 21/11/1989, art. 2"),
        (Category.NO_VALID_LICENCE, "stop and check the driver", (),
         Scope(kind=ScopeKind.NETWORK), 2, "driving-licence register", "Road Traffic Act art. 30"),
    ],
    "pz5345": [
        (Category.STOLEN_VEHICLE, "intercept", (), Scope(kind=ScopeKind.PARTNERS), 3,
         "PV AN.55.L1.098765/2026", "WPA art. 44/1; Schengen SIS alert"),
    ],
}  # fmt: skip


def demo_users(zones: list[Zone]) -> list[User]:
    users = []
    for z in zones:
        for role in (Role.OPERATOR, Role.ZONE_CHIEF, Role.INVESTIGATOR):
            users.append(User(id=f"{z.id}-{role.value}", name=f"{role.value} {z.name}",
                              zone_id=z.id, role=role))  # fmt: skip
    return users


def demo_hotlists(
    model: TrafficModel, *, now_us: int
) -> list[tuple[HotlistList, list[HotlistEntry]]]:
    """Lists per zone with entries for some of the most active simulated vehicles."""
    busy = sorted(model.fleet, key=lambda v: -v.activity)
    taken = 0
    out = []
    for zone_id, plan in _PLAN.items():
        lst = HotlistList(id=f"{zone_id}-demo", name=f"Signaleringen {zone_id} (demo)",
                          owner_zone_id=zone_id, min_confidence=0.5)  # fmt: skip
        entries = []
        for category, action, warnings, scope, count, source, basis in plan:
            for _ in range(count):
                vehicle = busy[(500 + taken * 37) % len(busy)]  # busy, not the busiest
                taken += 1
                entries.append(
                    HotlistEntry(
                        id=f"e-{uuid.UUID(int=taken).hex[-12:]}",
                        list_id=lst.id,
                        plate_raw=vehicle.plate,
                        plate=normalise(vehicle.plate),
                        country=vehicle.country,
                        category=category,
                        action=action,
                        warnings=warnings,
                        source=source,
                        legal_basis=basis,
                        scope=scope,
                        valid_from_us=now_us - DAY_US,
                        expires_at_us=now_us + 60 * DAY_US,
                        created_us=now_us,
                        created_by="demo",
                        note="simulated vehicle",
                    )
                )
        out.append((lst, entries))
    return out
