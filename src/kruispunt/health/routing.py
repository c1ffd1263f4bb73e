"""Who hears of a camera's health, and who may look at it (pure).

**The manager's zone** (``manager_zone``): ``Camera.manager`` is free text (the organisation
that runs the camera day to day). When it names a zone of the network, by id or by name
(case and surrounding spaces ignored), that zone manages the camera; otherwise the camera's
own zone does (a municipality's or a contractor's camera is run on behalf of its zone).

**Live alarms** (``receives_alarm``): the people of the manager's zone whose work is to act
on a broken camera: its operators (the control room), its zone chief and its administrators.
Nobody of another zone, and not the node's network administrator either: an alarm is the
manager's to act on. The hub and the webhooks ask this one function.

**The health page and API** (``may_see``): the roles in ``READERS`` see the cameras of their
own zone and those their zone manages; a user of the ``network`` zone, an administrator
and an auditor see every camera. Health holds no plates: counts, times and explanations.
"""

from __future__ import annotations

from collections.abc import Iterable

from kruispunt.access.principals import Principal, Role
from kruispunt.domain.cameras import Camera
from kruispunt.domain.zones import Zone

NETWORK = "network"
ALARM_ROLES = frozenset({Role.OPERATOR, Role.ZONE_CHIEF, Role.ADMIN})
READERS = frozenset(
    {Role.OPERATOR, Role.ZONE_CHIEF, Role.TRAFFIC_OFFICER, Role.AUDITOR, Role.ADMIN}
)
NETWORK_WIDE = frozenset({Role.ADMIN, Role.AUDITOR})


def manager_zone(camera: Camera, zones: Iterable[Zone]) -> str:
    """The zone that manages ``camera`` (see the module docstring)."""
    wanted = camera.manager.strip().casefold()
    for zone in zones:
        if wanted in (zone.id.casefold(), zone.name.strip().casefold()):
            return zone.id
    return camera.zone_id


def receives_alarm(principal: Principal, manager_zone_id: str) -> bool:
    """Whether this person is told live of an alarm of a camera managed by that zone."""
    return principal.role in ALARM_ROLES and principal.zone_id == manager_zone_id


def sees_everything(principal: Principal) -> bool:
    return principal.role in NETWORK_WIDE or principal.zone_id == NETWORK


def may_see(principal: Principal, camera_zone_id: str, manager_zone_id: str) -> bool:
    """Whether this person may see a camera's health (state, alarms, counts)."""
    if principal.role not in READERS:
        return False
    if sees_everything(principal):
        return True
    return principal.zone_id in (camera_zone_id, manager_zone_id)
