"""Supervisors' approvals of wide searches.

A search wider than the jurisdiction profile's caps (``wide_search``: a long period, many
plates, a partial plate with too few known characters, every camera ...; see
:func:`kruispunt.law.decide.needs_approval`) runs only with a supervisor's approval. A person
who consults reads (operator, investigator, analyst, traffic officer) describes the search as
they will run it (purpose, case, reason, period, plates, partial plates, cameras, zones) and
asks; the request keeps why the search is wide. A zone chief of the requester's zone, who is
not the requester, approves or refuses it (a refusal says why). An approval holds
``valid_hours`` from the moment it was given, and covers a consultation of the same person,
case and purpose that is no wider: its period within the approved one, its plates, partial
plates, cameras and zones among the approved ones (an approved search without such a
restriction covers any). ``problems`` says what does not fit; the policy gate refuses the
search (``approval_required``) while anything does.

Life of an approval::

    requested ──approve──> approved ──(valid_until passes)──> expired
        │  └──refuse──> refused         └──revoke──> revoked
        ├──revoke (the requester withdraws)──> revoked
        └──(valid_until passes before a decision)──> expired

The requester withdraws (revoke) a request or an approval; the zone chief may revoke an
approval too. Every step is audited in the same transaction as the change:
``approval.request``, ``approval.approve``, ``approval.refuse``, ``approval.revoke``, and
``approval.forbidden`` for a refused attempt to decide; with the actor's role and the
search's purpose, case and reason in the context and its plates as keyed tokens.

Errors::

    ApprovalError              (code: machine-readable)
    ├── ApprovalInvalid        400: ``invalid_approval``, ``invalid_case``, ``vague_reason``,
    │                               ``approval_not_needed``
    ├── ApprovalForbidden      403: ``forbidden``
    ├── ApprovalNotFound       404: ``unknown_approval``
    └── ApprovalConflict       409: ``approval_closed``
"""

from __future__ import annotations

import builtins
import datetime as dt
import enum
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any

import msgspec

from kruispunt.access.authorisations import OVERSIGHT_ROLES, pattern_shape
from kruispunt.access.policy import ROLE_PURPOSES, Consultation
from kruispunt.access.principals import Principal, Role
from kruispunt.access.records import (
    Commit,
    Lifecycle,
    Records,
    Where,
    bounded,
    require_note,
    unique,
)
from kruispunt.audit import PlateTokens
from kruispunt.errors import Refused
from kruispunt.law.decide import QueryScope, needs_approval
from kruispunt.law.profiles import JurisdictionProfile
from kruispunt.law.purpose import Purpose, ReasonRules, case_help, validate_case, validate_reason
from kruispunt.plates.text import normalise
from kruispunt.store.sql import Conn, SqlStore, now_us
from kruispunt.writer import Writer

US_PER_HOUR = 3_600_000_000
MAX_TEXT = 2000
MAX_LABEL = 200
MAX_ITEMS = 500
MAX_LIST = 1000

REQUESTER_ROLES = frozenset(ROLE_PURPOSES)
"""The roles that consult reads, and so may ask for a wide search."""
READERS = REQUESTER_ROLES | OVERSIGHT_ROLES | {Role.ZONE_CHIEF}


class ApprovalStatus(enum.StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REFUSED = "refused"
    REVOKED = "revoked"
    EXPIRED = "expired"
    """Not stored: an open request or approval past ``valid_until_us`` (``status_at``)."""


OPEN = frozenset({ApprovalStatus.REQUESTED, ApprovalStatus.APPROVED})


class SearchApproval(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    requester_id: str
    zone_id: str
    """The requester's zone: a zone chief of it decides."""
    role: Role
    purpose: Purpose
    case: str
    """Normalised to the profile's case format."""
    reason: str
    since_us: int
    until_us: int
    plates: tuple[str, ...] = ()
    """Normalised."""
    plate_patterns: tuple[str, ...] = ()
    cameras: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()
    area: bool = False
    problems: tuple[str, ...]
    """Why the search needs an approval (``needs_approval`` when it was asked)."""
    requested_us: int
    valid_until_us: int
    """A request waits until then for a decision; an approval holds until then (exclusive)."""
    status: ApprovalStatus = ApprovalStatus.REQUESTED
    decided_by: str | None = None
    decided_us: int | None = None
    decision_note: str | None = None
    revoked_by: str | None = None
    revoked_us: int | None = None
    revoke_note: str | None = None

    def status_at(self, at_us: int) -> ApprovalStatus:
        if self.status in OPEN and at_us >= self.valid_until_us:
            return ApprovalStatus.EXPIRED
        return self.status

    def live_at(self, at_us: int) -> bool:
        return self.status_at(at_us) is ApprovalStatus.APPROVED


class ApprovalError(Refused):
    code = "approval_error"


class ApprovalInvalid(ApprovalError):
    code = "invalid_approval"


class ApprovalForbidden(ApprovalError):
    code = "forbidden"
    status = 403


class ApprovalNotFound(ApprovalError):
    code = "unknown_approval"
    status = 404


class ApprovalConflict(ApprovalError):
    code = "approval_closed"
    status = 409


_DONE = {"approval.approve": "approved", "approval.refuse": "refused", "approval.revoke": "revoked"}
_approvals = Records(
    "search_approvals",
    SearchApproval,
    lambda a: {
        "id": a.id, "requester_id": a.requester_id, "zone_id": a.zone_id, "case_key": a.case,
        "status": str(a.status), "valid_until_us": a.valid_until_us,
        "requested_us": a.requested_us,
    },
)  # fmt: skip


def _pattern_key(pattern: str) -> str:
    """A partial plate as ``needs_approval`` reads it: letters, digits and wildcards."""
    return re.sub(r"[^A-Z0-9*?]", "", pattern.upper())


def coverage_problems(approval: SearchApproval, c: Consultation, case: str | None) -> list[str]:
    """Why ``approval`` does not cover consultation ``c`` (whose case normalises to ``case``)
    in what it reads; who asks and when is checked by the service."""
    problems: list[str] = []
    if case != approval.case:
        problems.append("it was given for another case")
    if c.purpose != approval.purpose:
        problems.append(f"it was given for {approval.purpose}, not {c.purpose}")
    if c.since_us < approval.since_us or c.until_us > approval.until_us:
        problems.append("the period is not within the approved one")
    if approval.plates or approval.plate_patterns:
        plates = {normalise(p) for p in c.plates}
        patterns = {_pattern_key(p) for p in c.plate_patterns}
        if not (plates or patterns):
            problems.append("the approved search names plates; this one reads every plate")
        elif not (plates <= set(approval.plates)) or not (
            patterns <= {_pattern_key(p) for p in approval.plate_patterns}
        ):
            problems.append("plates or partial plates beyond the approved ones")
    for name in ("cameras", "zones"):
        approved: tuple[str, ...] = getattr(approval, name)
        asked: tuple[str, ...] = getattr(c, name)
        if approved and not asked:
            problems.append(f"the approved search names {name}; this one reads them all")
        elif approved and not set(asked) <= set(approved):
            problems.append(f"{name} beyond the approved ones")
    return problems


class ApprovalService:
    """Approvals of wide searches on the store, written through the single writer.

    ``profile``: the node's jurisdiction (its wide-search caps and case formats).
    ``valid_hours``: how long an approval holds (and a request waits). ``plate_tokens``: the
    audit's plate-token key. ``reason_rules``: as the policy gate checks reasons."""

    def __init__(
        self,
        store: SqlStore,
        writer: Writer,
        *,
        profile: JurisdictionProfile,
        valid_hours: int = 24,
        clock: Callable[[], int] = now_us,
        plate_tokens: PlateTokens | None = None,
        reason_rules: ReasonRules | None = None,
    ):
        if valid_hours < 1:
            raise ValueError("valid_hours: at least 1")
        self._store = store
        self._commit = Commit(store, writer)
        self.profile = profile
        self.valid_hours = valid_hours
        self._clock = clock
        self._plate_tokens = plate_tokens or PlateTokens()
        self._reason_rules = reason_rules
        self._life = Lifecycle(
            _approvals, self._commit, clock, "approval", detail=_detail, context=self._context,
            missing=lambda approval_id: ApprovalNotFound(f"no approval {approval_id!r}"),
            forbidden=ApprovalForbidden,
            meanwhile=lambda approval_id: ApprovalConflict(
                f"approval {approval_id!r} changed meanwhile; try again"
            ),
        )  # fmt: skip

    # -- reading ----------------------------------------------------------------------------
    def now(self) -> int:
        return self._clock()

    def get(self, approval_id: str, *, actor: Principal) -> SearchApproval:
        """One approval as of now, if ``actor`` may see it (``ApprovalNotFound`` otherwise)."""
        approval = self._load(approval_id)
        if approval is None or not self.may_see(actor, approval):
            raise ApprovalNotFound(f"no approval {approval_id!r}")
        return self._as_of(approval, self._clock())

    @staticmethod
    def may_see(actor: Principal, approval: SearchApproval) -> bool:
        if actor.role in OVERSIGHT_ROLES:
            return True
        if actor.role is Role.ZONE_CHIEF:
            return actor.zone_id == approval.zone_id
        return actor.user_id == approval.requester_id

    def list(
        self,
        actor: Principal,
        *,
        zone: str | None = None,
        status: ApprovalStatus | None = None,
        limit: int = MAX_LIST,
    ) -> builtins.list[SearchApproval]:
        """Newest first: a requester's own; a zone chief's zone's (``status=requested``:
        those waiting for them); every one for oversight. As of now."""
        now = self._clock()
        where = Where()
        if actor.role is Role.ZONE_CHIEF:
            where.add("zone_id=?", actor.zone_id)
        elif actor.role in REQUESTER_ROLES:
            where.add("requester_id=?", actor.user_id)
        elif actor.role not in OVERSIGHT_ROLES:
            return []
        if zone is not None:
            where.add("zone_id=?", zone)
        where.status_at(status, now, live=OPEN, expired=ApprovalStatus.EXPIRED)
        approvals = _approvals.select(self._store.reader(), where,
                                      order="requested_us DESC, id",
                                      limit=bounded(limit, MAX_LIST))  # fmt: skip
        return [self._as_of(a, now) for a in approvals]

    def problems(
        self, approval_id: str, *, principal: Principal, consultation: Consultation, at_us: int
    ) -> builtins.list[str]:
        """Why approval ``approval_id`` does not cover ``consultation`` by ``principal`` at
        ``at_us`` (empty: it does). The policy gate's ``ApprovalSource``."""
        approval = self._load(approval_id)
        if approval is None:
            return [f"unknown approval {approval_id!r}"]
        status = approval.status_at(at_us)
        if status is not ApprovalStatus.APPROVED:
            said = "not approved (yet)" if status is ApprovalStatus.REQUESTED else str(status)
            return [f"approval {approval_id!r} is {said}"]
        if (principal.user_id, principal.zone_id) != (approval.requester_id, approval.zone_id):
            return [f"approval {approval_id!r} was given to another user"]
        case = self._normalise_case(consultation.case, None)
        return coverage_problems(approval, consultation, case)

    # -- changes ----------------------------------------------------------------------------
    def request(
        self,
        actor: Principal,
        *,
        purpose: str,
        case: str,
        reason: str,
        since_us: int,
        until_us: int,
        plates: Sequence[str] = (),
        plate_patterns: Sequence[str] = (),
        cameras: Sequence[str] = (),
        zones: Sequence[str] = (),
        area: bool = False,
    ) -> SearchApproval:
        """Ask a zone chief to approve a wide search, described as it will run."""
        allowed = ROLE_PURPOSES.get(actor.role, frozenset())
        if not allowed:
            raise ApprovalForbidden(f"a {actor.role} does not consult reads")
        now = self._clock()
        kind = self._purpose(purpose, allowed)
        case_key = self._normalise_case(case, now)
        if case_key is None:
            raise ApprovalInvalid(f"case: {case_help(self.profile)}", "invalid_case")
        reasons = validate_reason(reason, self._reason_rules)
        if reasons:
            raise ApprovalInvalid("reason: " + "; ".join(reasons), "vague_reason")
        plate_texts = unique(normalise(p) for p in plates)
        pattern_texts = unique(" ".join(p.upper().split()) for p in plate_patterns)
        camera_ids = unique(c.strip() for c in cameras)
        zone_ids = unique(z.strip() for z in zones)
        self._check_search(since_us, until_us, plate_texts, pattern_texts, camera_ids, zone_ids)
        scope = QueryScope(
            case=case_key, user=actor.user_id, plates=plate_texts, plate_patterns=pattern_texts,
            cameras=camera_ids, zones=zone_ids,
        )  # fmt: skip
        wide = needs_approval(self.profile.wide_search, scope, since_us=since_us, until_us=until_us)
        if not wide:
            raise ApprovalInvalid(
                "this search is within the caps and needs no approval", "approval_not_needed"
            )
        approval = SearchApproval(
            id=f"ap-{secrets.token_hex(8)}", requester_id=actor.user_id, zone_id=actor.zone_id,
            role=actor.role, purpose=kind, case=case_key, reason=" ".join(reason.split()),
            since_us=since_us, until_us=until_us, plates=plate_texts,
            plate_patterns=pattern_texts, cameras=camera_ids, zones=zone_ids, area=area,
            problems=tuple(wide), requested_us=now,
            valid_until_us=now + self.valid_hours * US_PER_HOUR,
        )  # fmt: skip

        def save(conn: Conn) -> SearchApproval:
            _approvals.insert(conn, approval, now)
            self._life.audit(conn, actor, "approval.request", approval, now)
            return approval

        return self._commit(save)

    def approve(self, approval_id: str, *, actor: Principal, note: str = "") -> SearchApproval:
        """A zone chief of the requester's zone (not the requester) approves: it holds
        ``valid_hours`` from now."""
        require_note(note, ApprovalInvalid, high=MAX_TEXT, required=False)

        def approved(a: SearchApproval, now: int) -> SearchApproval:
            return msgspec.structs.replace(
                a, status=ApprovalStatus.APPROVED, decided_by=actor.user_id, decided_us=now,
                decision_note=note.strip(), valid_until_us=now + self.valid_hours * US_PER_HOUR,
            )  # fmt: skip

        return self._step(
            approval_id, actor, "approval.approve", _why_not_decide,
            {ApprovalStatus.REQUESTED}, approved,
        )  # fmt: skip

    def refuse(self, approval_id: str, *, actor: Principal, note: str) -> SearchApproval:
        """A zone chief of the requester's zone refuses (``note``: why; required)."""
        require_note(note, ApprovalInvalid, high=MAX_TEXT)

        def refused(a: SearchApproval, now: int) -> SearchApproval:
            return msgspec.structs.replace(
                a, status=ApprovalStatus.REFUSED, decided_by=actor.user_id, decided_us=now,
                decision_note=note.strip(),
            )  # fmt: skip

        return self._step(
            approval_id, actor, "approval.refuse", _why_not_decide,
            {ApprovalStatus.REQUESTED}, refused,
        )  # fmt: skip

    def revoke(self, approval_id: str, *, actor: Principal, note: str) -> SearchApproval:
        """The requester withdraws a request or an approval, or a zone chief of the zone
        revokes one (``note``: why; required)."""
        require_note(note, ApprovalInvalid, high=MAX_TEXT)

        def revoked(a: SearchApproval, now: int) -> SearchApproval:
            return msgspec.structs.replace(
                a, status=ApprovalStatus.REVOKED, revoked_by=actor.user_id, revoked_us=now,
                revoke_note=note.strip(),
            )  # fmt: skip

        return self._step(approval_id, actor, "approval.revoke", _why_not_revoke, OPEN, revoked)

    # -- checks -----------------------------------------------------------------------------
    def _purpose(self, purpose: str, allowed: frozenset[Purpose]) -> Purpose:
        try:
            kind = Purpose(purpose.strip())
        except ValueError:
            known = ", ".join(p.value for p in Purpose)
            raise ApprovalInvalid(f"purpose: one of {known}") from None
        if kind not in allowed:
            names = ", ".join(sorted(allowed))
            raise ApprovalForbidden(f"you consult reads only for {names}")
        return kind

    def _normalise_case(self, case: str, at_us: int | None) -> str | None:
        year = None if at_us is None else dt.datetime.fromtimestamp(at_us / 1e6, dt.UTC).year
        return validate_case(self.profile, case, now_year=year)

    @staticmethod
    def _check_search(
        since: int,
        until: int,
        plates: tuple[str, ...],
        patterns: tuple[str, ...],
        cameras: tuple[str, ...],
        zones: tuple[str, ...],
    ) -> None:
        problems: list[str] = []
        if since > until:
            problems.append("period: ends before it starts")
        for name, items in (
            ("plates", plates), ("plate_patterns", patterns), ("cameras", cameras),
            ("zones", zones),
        ):  # fmt: skip
            if len(items) > MAX_ITEMS:
                problems.append(f"{name}: at most {MAX_ITEMS}")
            elif not all(items) or any(len(i) > MAX_LABEL or not i.isprintable() for i in items):
                problems.append(f"{name}: no blank or overlong item")
        if any(not any(ch.isalnum() for ch in p) for p in patterns):
            problems.append("plate_patterns: a partial plate names at least one character")
        if problems:
            raise ApprovalInvalid("; ".join(problems))

    # -- helpers ----------------------------------------------------------------------------
    def _load(self, approval_id: str) -> SearchApproval | None:
        return _approvals.get(self._store.reader(), approval_id)

    @staticmethod
    def _as_of(approval: SearchApproval, at_us: int) -> SearchApproval:
        status = approval.status_at(at_us)
        if status is approval.status:
            return approval
        return msgspec.structs.replace(approval, status=status)

    def _step(
        self,
        approval_id: str,
        actor: Principal,
        action: str,
        why_not: Callable[[Principal, SearchApproval], str | None],
        allowed_from: Iterable[ApprovalStatus],
        change: Callable[[SearchApproval, int], SearchApproval],
    ) -> SearchApproval:
        """One step in one transaction: the actor first (a forbidden attempt is audited and
        committed, then refused), then the status, then the change (compare-and-set)."""
        from_statuses = frozenset(allowed_from)
        allowed = " or ".join(sorted(from_statuses))
        return self._life.step(
            approval_id, actor=actor, action=action, why_not=partial(why_not, actor),
            allowed_from=from_statuses, change=change,
            closed=lambda current: ApprovalConflict(
                f"approval {approval_id!r} is {current}: only one that is {allowed} can be "
                f"{_DONE[action]}"
            ),
            then=lambda _conn, new: {
                "note": (new.revoke_note if action == "approval.revoke" else new.decision_note)
                or ""
            },
        )  # fmt: skip

    def _context(self, approval: SearchApproval) -> dict[str, Any]:
        """The audit's context: the search's purpose, case and reason, and what it reads."""
        scope: dict[str, Any] = {"since_us": approval.since_us, "until_us": approval.until_us}
        if approval.plates:
            scope["plates"] = self._plate_tokens.scope(approval.plates)
        if approval.plate_patterns:
            scope["patterns"] = [pattern_shape(p) for p in approval.plate_patterns]
        for key in ("cameras", "zones"):
            if getattr(approval, key):
                scope[key] = list(getattr(approval, key))
        if approval.area:
            scope["area"] = True
        return {"purpose": str(approval.purpose), "case": approval.case,
                "reason": approval.reason, "scope": scope}  # fmt: skip


def _detail(approval: SearchApproval, now: int) -> dict[str, Any]:
    return {
        "requester": approval.requester_id, "zone": approval.zone_id,
        "status": str(approval.status_at(now)), "valid_until_us": approval.valid_until_us,
        "problems": list(approval.problems),
    }  # fmt: skip


def _why_not_decide(actor: Principal, approval: SearchApproval) -> str | None:
    if actor.role is not Role.ZONE_CHIEF or actor.zone_id != approval.zone_id:
        return f"only a zone chief of {approval.zone_id!r} decides on a wide search of its people"
    if actor.user_id == approval.requester_id:
        return "nobody decides on their own request"
    return None


def _why_not_revoke(actor: Principal, approval: SearchApproval) -> str | None:
    if actor.user_id == approval.requester_id:
        return None
    if actor.role is Role.ZONE_CHIEF and actor.zone_id == approval.zone_id:
        return None
    return f"only the requester or a zone chief of {approval.zone_id!r} may revoke it"
