"""What the oversight reports need to know about audit records (pure).

A consultation is a read of personal data through the policy gate: its record carries the
purpose, case and reason in its context, and a refused attempt is ``<action>.refused``.
"""

from __future__ import annotations

from kruispunt.audit import AuditRecord

CONSULTATION_ACTIONS = frozenset(
    {
        "search.plate",
        "search.partial",
        "search.place_time",
        "search.multi_site",
        "search.convoy",
        "search.journey",
        "image.view",
        "export.csv",
        "export.geojson",
        "export.evidence",
        "hits.trail",
        "hits.retro_match",
        "hold.reads",
    }
)
REFUSED = ".refused"
SYSTEM_ACTOR = "system"
# Detail keys under which services name the zones a record is about (besides the actor's).
ZONE_KEYS = ("zone_id", "zone", "data_zone", "requester_zone")


def base_action(action: str) -> tuple[str, bool]:
    """(the action without ``.refused``, whether it was refused)."""
    if action.endswith(REFUSED):
        return action[: -len(REFUSED)], True
    return action, False


def is_consultation(record: AuditRecord) -> bool:
    """A search, image view, export, trail, retro match or hold of reads (or an attempt).

    Counted by its action, not by its purpose: a consultation recorded without one is
    exactly what a report must show."""
    action, _ = base_action(record.action)
    return action in CONSULTATION_ACTIONS or action.startswith(("search.", "export."))


def zones_of(record: AuditRecord) -> set[str]:
    """The zones a record is about: the actor's and those its detail names."""
    zones = {record.actor_zone} if record.actor_zone else set()
    for key in ZONE_KEYS:
        value = record.detail.get(key)
        if isinstance(value, str) and value:
            zones.add(value)
    return zones


def case_key(record: AuditRecord) -> str | None:
    """The case number a record names, compared without case and surrounding blanks."""
    case = (record.case or "").strip().upper()
    return case or None


def wildcard_shapes(record: AuditRecord) -> list[str]:
    """The partial-plate patterns of a consultation, by shape (``#`` a known character)."""
    patterns = (record.scope or {}).get("patterns")
    if not isinstance(patterns, list):
        return []
    return [p for p in patterns if isinstance(p, str)]
