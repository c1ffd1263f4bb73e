"""Need-to-know routing: who receives a hit, and what each recipient sees.

Pure functions; the hub, the webhooks, the REST API and the statistics all ask these, so the
rule lives in one place.

**Which zones** (``audience``), from the entry's sharing scope and category:

=====================  ============================================================
scope / category       zones that receive the hit
=====================  ============================================================
covert category        the list's owner zone only, whatever the scope (an observation
(``COVERT_CATEGORIES``)  must not tip off anyone, not even the zone where it was seen)
``own_zone``           the owner zone
``named_zones``        the owner zone + the named zones
``network``            the owner zone + every zone of the network
``partners``           the owner zone + every zone of the network + the partner ids
                       named in the scope
=====================  ============================================================

The camera's zone is deliberately *not* a reason to receive: the owner's scope is a ceiling.
An own-zone list stays in its zone even when the vehicle is seen elsewhere; the camera zone
receives the hit when the scope covers it (it always does for ``network`` and ``partners``).

**Which people** (``role_receives``), within a receiving zone:

=======================================  ==================================================
role                                     receives live hits
=======================================  ==================================================
operator, zone_chief, investigator       every category
traffic_officer                          only uninsured, no_valid_licence,
                                         no_technical_inspection
analyst, magistrate, dpo, auditor,       never (they work on cases, oversight or
municipality                             statistics, not on a vehicle passing now)
admin                                    never: running the node is no need to know a
                                         vehicle (the node's admin token included)
=======================================  ==================================================

**What they see** (``view_for``): everyone who receives a hit sees the read (camera, time,
plate as read, confidence, image reference), who owns the entry, its category, the action and
the warnings: what is needed to act. Only the owner zone also sees the list, the entry id and
the sharing scope (the way to the entry's source, legal basis and note, which never travel in
a hit). No view carries the vehicle's history; the one limited trail of recent passages is
``HitService.trail`` for an active pursuit.

**Workflow** (``can_move``): new → acknowledged → dispatched → closed, never back; a hit may
also be closed straight from new or acknowledged (e.g. a misread seen at once). Closing needs
an outcome.
"""

from __future__ import annotations

from collections.abc import Collection

from kruispunt.access.principals import Principal, Role
from kruispunt.hits.models import Hit, HitStatus, MatchKind
from kruispunt.hits.views import HitView
from kruispunt.hotlists.models import COVERT_CATEGORIES, Category, Scope, ScopeKind

LIVE_ROLES = frozenset({Role.OPERATOR, Role.ZONE_CHIEF, Role.INVESTIGATOR})
TRAFFIC_ROLES = frozenset({Role.TRAFFIC_OFFICER})
TRAFFIC_CATEGORIES = frozenset(
    {Category.UNINSURED, Category.NO_VALID_LICENCE, Category.NO_TECHNICAL_INSPECTION}
)

TRANSITIONS: dict[HitStatus, frozenset[HitStatus]] = {
    HitStatus.NEW: frozenset({HitStatus.ACKNOWLEDGED, HitStatus.CLOSED}),
    HitStatus.ACKNOWLEDGED: frozenset({HitStatus.DISPATCHED, HitStatus.CLOSED}),
    HitStatus.DISPATCHED: frozenset({HitStatus.CLOSED}),
    HitStatus.CLOSED: frozenset(),
}


def audience(
    hit_scope: Scope,
    category: Category,
    owner_zone_id: str,
    camera_zone_id: str,
    network_zone_ids: Collection[str],
) -> frozenset[str]:
    """The zones that receive a hit (see the table above). ``camera_zone_id`` never widens
    it: it is here so that the whole rule is stated, and tested, in one place."""
    del camera_zone_id  # the owner's scope is the ceiling (module docstring)
    if category in COVERT_CATEGORIES:
        return frozenset({owner_zone_id})
    kind = hit_scope.kind
    if kind is ScopeKind.OWN_ZONE:
        return frozenset({owner_zone_id})
    if kind is ScopeKind.NAMED_ZONES:
        return frozenset({owner_zone_id, *hit_scope.zones})
    if kind is ScopeKind.NETWORK:
        return frozenset({owner_zone_id, *network_zone_ids})
    # PARTNERS: the network and the partners named in the scope
    return frozenset({owner_zone_id, *network_zone_ids, *hit_scope.zones})


def audience_of(hit: Hit, network_zone_ids: Collection[str]) -> frozenset[str]:
    return audience(hit.scope, hit.category, hit.owner_zone_id, hit.camera_zone_id,
                    network_zone_ids)  # fmt: skip


def role_receives(role: Role, category: Category) -> bool:
    """Whether a person with this role receives live hits of this category."""
    if role in LIVE_ROLES:
        return True
    return role in TRAFFIC_ROLES and category in TRAFFIC_CATEGORIES


def may_receive(hit: Hit, principal: Principal, network_zone_ids: Collection[str]) -> bool:
    """Whether this person receives (and may see, act on, follow) this hit."""
    return role_receives(principal.role, hit.category) and principal.zone_id in audience_of(
        hit, network_zone_ids
    )


def view_for(hit: Hit, principal: Principal) -> HitView:
    """What a recipient sees of a hit. Call it only for a principal that ``may_receive``."""
    own = principal.zone_id == hit.owner_zone_id
    return HitView(
        id=hit.id,
        seq=hit.seq,
        created_us=hit.created_us,
        kind=hit.kind,
        verify_image=hit.kind is MatchKind.POSSIBLE,
        historic=hit.historic,
        late=hit.late,
        camera_id=hit.camera_id,
        camera_zone_id=hit.camera_zone_id,
        captured_us=hit.captured_us,
        plate_read=hit.plate_read,
        plate=hit.plate,
        country=hit.country,
        confidence=hit.confidence,
        image_ref=hit.image_ref,
        owner_zone_id=hit.owner_zone_id,
        entry_plate=hit.entry_plate,
        category=hit.category,
        action=hit.action,
        warnings=hit.warnings,
        status=hit.status,
        outcome=hit.outcome,
        own_list=own,
        list_id=hit.list_id if own else None,
        entry_id=hit.entry_id if own else None,
        scope=hit.scope if own else None,
    )


def can_move(current: HitStatus, to: HitStatus) -> bool:
    return to in TRANSITIONS[current]


def is_active(hit: Hit, *, now_us: int, window_us: int) -> bool:
    """A live (not historic), open hit raised within the last ``window_us``: a pursuit may
    still be on."""
    return (
        not hit.historic
        and hit.status is not HitStatus.CLOSED
        and 0 <= now_us - hit.created_us <= window_us
    )
