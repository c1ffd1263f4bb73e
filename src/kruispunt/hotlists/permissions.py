"""Who may read and change a hotlist (pure rules).

A list is its owner zone's business: the zone's operators, zone chiefs and investigators
change it, any user of the zone reads it, and the network admin may do both. Other zones
learn about an entry only through the hits it raises (need to know), never by browsing.
"""

from __future__ import annotations

from kruispunt.access.principals import Principal, Role
from kruispunt.hotlists.models import HotlistList

EDITORS = frozenset({Role.OPERATOR, Role.ZONE_CHIEF, Role.INVESTIGATOR})


def may_change(principal: Principal, owner_zone_id: str) -> bool:
    if principal.role == Role.ADMIN:
        return True
    return principal.zone_id == owner_zone_id and principal.role in EDITORS


def may_read_entries(principal: Principal, lst: HotlistList) -> bool:
    return principal.role == Role.ADMIN or principal.zone_id == lst.owner_zone_id
