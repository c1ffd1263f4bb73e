"""Who may read and change a hotlist (pure rules).

A list is its owner zone's business: the zone's operators, zone chiefs and investigators
read and change it. The network admin may load and change any list (imports of national
lists, a list's settings) but, through the API, reads no zone's entries: an administrator
never sees plates. The node's operator at the server's shell (``kruispunt hotlists export``,
a ``cli:`` principal) may, as they can read the database anyway. Nobody else browses a list
(entries hold plates and covert observations: a traffic officer, analyst or municipality of
the same zone has no need to know them). Other zones learn about an entry only through the
hits it raises.
"""

from __future__ import annotations

from kruispunt.access.principals import Principal, Role
from kruispunt.hotlists.models import HotlistList

EDITORS = frozenset({Role.OPERATOR, Role.ZONE_CHIEF, Role.INVESTIGATOR})


def may_change(principal: Principal, owner_zone_id: str) -> bool:
    if principal.role == Role.ADMIN:
        return True
    return principal.zone_id == owner_zone_id and principal.role in EDITORS


SHELL_PREFIX = "cli:"


def may_read_entries(principal: Principal, lst: HotlistList) -> bool:
    if principal.role == Role.ADMIN:
        return principal.user_id.startswith(SHELL_PREFIX) or lst.owner_zone_id == "network"
    return may_change(principal, lst.owner_zone_id)
