"""Who may read and change a hotlist (pure rules).

A list is its owner zone's business: the zone's operators, zone chiefs and investigators
read and change it, and the network admin may do both. Nobody else browses it (entries hold
plates and covert observations: a traffic officer, analyst or municipality of the same zone has
no need to know them). Other zones learn about an entry only through the hits it raises.
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
    return may_change(principal, lst.owner_zone_id)
