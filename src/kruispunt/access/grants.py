"""Cross-zone grants: need-to-know access to another zone's reads.

A zone's reads are visible to its own users. Reads of another zone only through a grant:
a named user of one zone (the grantee, by default the requester) may see the reads of one
other zone (the data zone) for a stated purpose, case and reason, from ``valid_from_us``
until ``valid_until_us`` (at most ``max_days``), once a zone chief of the data zone (not
the requester, not the grantee) approved it. Nobody else can switch it on: an admin, the
network role or a chief of another zone cannot approve, so no single administrator opens
network-wide access.

Life of a grant::

    requested ──approve──> approved ──(valid_until passes)──> expired
        │  └──refuse──> refused         └──revoke──> revoked
        ├──revoke (the requester withdraws)──> revoked
        └──(valid_until passes before a decision)──> expired

Expiry is a function of time: a grant past its ``valid_until_us`` gives nothing from that
moment on, whatever its stored status (``Grant.status_at``); ``expire_due`` only records the
change of status (and audits it) for the list and the reports.

Every step is audited in the same transaction as the change: ``grant.request``,
``grant.approve``, ``grant.refuse``, ``grant.revoke``, ``grant.expire``, each with the
zones and validity in its detail and the actor's role and the grant's purpose, case and
reason in its context. A refused attempt to decide on an existing grant (an admin, a chief
of another zone or the requester trying to approve, say) is audited too, as
``grant.forbidden`` with the attempted action, before the refusal is answered.

Grants are read from the store on every question (no cache): a revocation holds at once
in every process of the node.

Errors::

    GrantError                (code: machine-readable)
    ├── GrantInvalid          400: a field is wrong (``invalid_grant``, ``unknown_zone``, ...)
    ├── GrantForbidden        403: the actor may not do this (``forbidden``)
    ├── GrantNotFound         404: ``unknown_grant``
    └── GrantConflict         409: the grant is no longer open to this step
"""

from __future__ import annotations

import builtins
import enum
import secrets
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any

import msgspec

from kruispunt.access.principals import Principal, Role, User
from kruispunt.access.records import (
    CameraLookup,
    Commit,
    Lifecycle,
    Records,
    Where,
    bounded,
    camera_problems,
    require_note,
    text_problems,
    unique,
)
from kruispunt.audit import plate_token, write_audit
from kruispunt.errors import Refused
from kruispunt.plates.text import normalise
from kruispunt.store.sql import Conn, SqlStore, now_us
from kruispunt.writer import Writer

US_PER_DAY = 86_400_000_000
NETWORK_ZONE = "network"
MIN_REASON = 20
MAX_TEXT = 2000
MAX_LABEL = 200
MAX_CAMERAS = 500
MAX_PLATES = 500
MAX_LIST = 1000

REQUESTER_ROLES = frozenset({Role.OPERATOR, Role.INVESTIGATOR, Role.ANALYST, Role.TRAFFIC_OFFICER})
"""Roles of a zone that may request (and hold) a grant for another zone's reads."""
OVERSIGHT_ROLES = frozenset({Role.AUDITOR, Role.DPO, Role.ADMIN})
"""Roles that see every grant (oversight); seeing is all: they cannot approve one."""

Validate = Callable[[str, str, str], list[str]]
"""``(purpose, case, reason) -> problems``: richer checks (the law module); empty: fine."""


class GrantStatus(enum.StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REFUSED = "refused"
    REVOKED = "revoked"
    EXPIRED = "expired"


OPEN = frozenset({GrantStatus.REQUESTED, GrantStatus.APPROVED})


class Grant(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    requester_id: str
    requester_zone: str
    grantee_id: str
    """The one named user who may see the data zone's reads (need-to-know)."""
    data_zone: str
    """Whose reads the grant opens."""
    purpose: str
    case: str
    reason: str
    cameras: tuple[str, ...] = ()
    """Only these cameras of the data zone (empty: all of them)."""
    plates: tuple[str, ...] = ()
    """Only these plates, normalised (empty: any plate)."""
    requested_us: int
    valid_from_us: int
    valid_until_us: int
    """Exclusive: the grant gives nothing from this moment on."""
    status: GrantStatus = GrantStatus.REQUESTED
    decided_by: str | None = None
    decided_us: int | None = None
    decision_note: str | None = None
    revoked_by: str | None = None
    revoked_us: int | None = None
    revoke_note: str | None = None

    def status_at(self, at_us: int) -> GrantStatus:
        """The status at ``at_us``: an open grant past its validity is expired."""
        if self.status in OPEN and at_us >= self.valid_until_us:
            return GrantStatus.EXPIRED
        return self.status

    def live_at(self, at_us: int) -> bool:
        """Approved and within its validity at ``at_us``."""
        return (
            self.status is GrantStatus.APPROVED
            and self.valid_from_us <= at_us < self.valid_until_us
        )

    def as_of(self, at_us: int) -> Grant:
        """This grant with the status it has at ``at_us``."""
        status = self.status_at(at_us)
        return self if status is self.status else msgspec.structs.replace(self, status=status)


class GrantError(Refused):
    code = "grant_error"


class GrantInvalid(GrantError):
    code = "invalid_grant"


class GrantForbidden(GrantError):
    code = "forbidden"
    status = 403


class GrantNotFound(GrantError):
    code = "unknown_grant"
    status = 404


class GrantConflict(GrantError):
    code = "grant_closed"
    status = 409


_DONE = {"grant.approve": "approved", "grant.refuse": "refused", "grant.revoke": "revoked"}
_user_decoder = msgspec.json.Decoder(User)
_grants = Records(
    "grants",
    Grant,
    lambda g: {
        "id": g.id, "requester_id": g.requester_id, "requester_zone": g.requester_zone,
        "grantee_id": g.grantee_id, "data_zone": g.data_zone, "status": str(g.status),
        "valid_from_us": g.valid_from_us, "valid_until_us": g.valid_until_us,
        "requested_us": g.requested_us,
    },
)  # fmt: skip


class GrantService:
    """Cross-zone grants on the store, written through the single writer.

    ``zone_ids``: the zones whose users may request and whose reads may be granted (the
    network role's zone ``"network"`` is never one of them). ``max_days``: the longest
    validity a grant may have. ``clock``: microseconds since the epoch. ``validate``: the
    law module's check of purpose, case and reason (in addition to the basic one).
    ``cameras``: the camera registry, to check that a grant's cameras are the data zone's.
    ``plate_key``: the audit's plate-token key; without one the audit counts a grant's
    plates and never names them."""

    def __init__(
        self,
        store: SqlStore,
        writer: Writer,
        *,
        zone_ids: Iterable[str],
        max_days: int = 30,
        clock: Callable[[], int] = now_us,
        validate: Validate | None = None,
        cameras: CameraLookup | None = None,
        plate_key: bytes | None = None,
    ):
        if max_days < 1:
            raise ValueError("max_days: at least 1")
        self._store = store
        self._commit = Commit(store, writer)
        self._zone_ids = frozenset(zone_ids) - {NETWORK_ZONE}
        self.max_days = max_days
        self._clock = clock
        self._validate = validate
        self._cameras = cameras
        self._plate_key = plate_key
        self._life = Lifecycle(
            _grants, self._commit, clock, "grant",
            detail=lambda grant, _now: self._detail(grant),
            context=lambda grant: {"purpose": grant.purpose, "case": grant.case,
                                   "reason": grant.reason, "scope": self._scope(grant)},
            missing=lambda grant_id: GrantNotFound(f"no grant {grant_id!r}"),
            forbidden=GrantForbidden,
            meanwhile=lambda grant_id: GrantConflict(
                f"grant {grant_id!r} changed meanwhile; try again"
            ),
            as_of=Grant.as_of,
        )  # fmt: skip

    # -- reading ----------------------------------------------------------------------------
    def now(self) -> int:
        """The service's clock (microseconds since the epoch)."""
        return self._clock()

    def get(self, grant_id: str, *, actor: Principal) -> Grant:
        """One grant as of now, if ``actor`` may see it (``GrantNotFound`` otherwise: no
        probing for grant ids)."""
        grant = _grants.get(self._store.reader(), grant_id)
        if grant is None or not self.may_see(actor, grant):
            raise GrantNotFound(f"no grant {grant_id!r}")
        return grant.as_of(self._clock())

    @staticmethod
    def may_see(actor: Principal, grant: Grant) -> bool:
        if actor.role in OVERSIGHT_ROLES:
            return True
        if actor.role is Role.ZONE_CHIEF:
            return actor.zone_id in (grant.data_zone, grant.requester_zone)
        return actor.user_id in (grant.requester_id, grant.grantee_id)

    def list(
        self,
        actor: Principal,
        *,
        zone: str | None = None,
        status: GrantStatus | None = None,
        limit: int = MAX_LIST,
    ) -> builtins.list[Grant]:
        """The grants ``actor`` may see, newest request first, as of now.

        An auditor, a DPO or an admin sees every grant (oversight); a zone chief those of
        and for their zone; anyone else those they requested or hold. ``zone``: only grants
        of or for that zone; ``status``: only those with that status now."""
        now = self._clock()
        where = Where()
        if actor.role is Role.ZONE_CHIEF:
            where.add("(data_zone=? OR requester_zone=?)", actor.zone_id, actor.zone_id)
        elif actor.role not in OVERSIGHT_ROLES:
            where.add("(requester_id=? OR grantee_id=?)", actor.user_id, actor.user_id)
        if zone is not None:
            where.add("(data_zone=? OR requester_zone=?)", zone, zone)
        where.status_at(status, now, live=OPEN, expired=GrantStatus.EXPIRED)
        grants = _grants.select(
            self._store.reader(),
            where,
            order="requested_us DESC, id",
            limit=bounded(limit, MAX_LIST),
        )
        return [g.as_of(now) for g in grants]

    def grants_for(
        self, user_id: str, data_zone: str, at_us: int | None = None
    ) -> builtins.list[Grant]:
        """The grants that let ``user_id`` see ``data_zone``'s reads at ``at_us`` (default:
        now): approved and within their validity."""
        at = self._clock() if at_us is None else at_us
        where = Where("grantee_id=? AND data_zone=?", user_id, data_zone)
        grants = _grants.select(self._store.reader(), self._live(where, at),
                                order="valid_from_us, id")  # fmt: skip
        return [g for g in grants if g.live_at(at)]

    def visible_zones(self, principal: Principal, at_us: int | None = None) -> set[str]:
        """The zones whose reads ``principal`` may see at ``at_us`` (default: now): their
        own zone, and each zone a live grant names them for. A grant counts only while its
        holder is still a user of the zone it was requested from, in a role that may hold
        one. The network role and admins get no blanket access: only their own zone."""
        zones = {principal.zone_id}
        if principal.role not in REQUESTER_ROLES or principal.zone_id not in self._zone_ids:
            return zones
        at = self._clock() if at_us is None else at_us
        where = Where("grantee_id=? AND requester_zone=?", principal.user_id, principal.zone_id)
        grants = _grants.select(self._store.reader(), self._live(where, at), order="id")
        zones.update(g.data_zone for g in grants if g.live_at(at))
        return zones

    @staticmethod
    def _live(where: Where, at: int) -> Where:
        return where.add("status=? AND valid_from_us<=? AND valid_until_us>?",
                         str(GrantStatus.APPROVED), at, at)  # fmt: skip

    # -- changes ----------------------------------------------------------------------------
    def request(
        self,
        actor: Principal,
        *,
        data_zone: str,
        purpose: str,
        case: str,
        reason: str,
        valid_until_us: int,
        valid_from_us: int | None = None,
        grantee_id: str | None = None,
        cameras: Sequence[str] = (),
        plates: Sequence[str] = (),
    ) -> Grant:
        """Ask for access to ``data_zone``'s reads for ``grantee_id`` (default: the actor,
        who must be an operator, investigator, analyst or traffic officer of a zone). The
        grantee must be an active user of the actor's zone in one of those roles."""
        if actor.role not in REQUESTER_ROLES:
            raise GrantForbidden(f"a {actor.role} may not request access to another zone")
        if actor.zone_id not in self._zone_ids:
            raise GrantForbidden(f"users of {actor.zone_id!r} may not request grants")
        now = self._clock()
        start = now if valid_from_us is None else valid_from_us
        problems = self._check_request(actor, data_zone, purpose, case, reason, start, now)
        problems += self._check_validity(start, valid_until_us)
        camera_ids = unique(c.strip() for c in cameras)
        plate_texts = unique(normalise(p) for p in plates)
        problems += self._check_scope(data_zone, camera_ids, plate_texts)
        if problems:
            code = "unknown_zone" if any("unknown zone" in p for p in problems) else None
            raise GrantInvalid("; ".join(problems), code)
        grant = Grant(
            id=f"gr-{secrets.token_hex(8)}",
            requester_id=actor.user_id,
            requester_zone=actor.zone_id,
            grantee_id=actor.user_id if grantee_id is None else grantee_id.strip(),
            data_zone=data_zone,
            purpose=purpose.strip(),
            case=case.strip(),
            reason=reason.strip(),
            cameras=camera_ids,
            plates=plate_texts,
            requested_us=now,
            valid_from_us=start,
            valid_until_us=valid_until_us,
        )

        def save(conn: Conn) -> Grant:
            if grant.grantee_id != actor.user_id:
                self._check_grantee(conn, grant)
            _grants.insert(conn, grant, now)
            self._life.audit(conn, actor, "grant.request", grant, now)
            return grant

        return self._commit(save)

    def approve(
        self,
        grant_id: str,
        *,
        actor: Principal,
        note: str = "",
        valid_until_us: int | None = None,
    ) -> Grant:
        """A zone chief of the data zone (not the requester, not the grantee) switches the
        grant on. ``valid_until_us`` may shorten the validity asked for, never lengthen it."""
        require_note(note, GrantInvalid, high=MAX_TEXT, required=False)

        def approved(grant: Grant, now: int) -> Grant:
            until = grant.valid_until_us
            if valid_until_us is not None:
                if not grant.valid_from_us < valid_until_us <= grant.valid_until_us:
                    raise GrantInvalid(
                        "valid_until: after valid_from and no later than the grant asked for"
                    )
                if valid_until_us <= now:
                    raise GrantInvalid("valid_until: must be in the future")
                until = valid_until_us
            return msgspec.structs.replace(
                grant, status=GrantStatus.APPROVED, decided_by=actor.user_id,
                decided_us=now, decision_note=note.strip(), valid_until_us=until,
            )  # fmt: skip

        return self._step(
            grant_id, actor, "grant.approve", self._why_not_decide, {GrantStatus.REQUESTED},
            approved,
        )  # fmt: skip

    def refuse(self, grant_id: str, *, actor: Principal, note: str) -> Grant:
        """A zone chief of the data zone refuses a request (``note``: why; required)."""
        require_note(note, GrantInvalid, high=MAX_TEXT)

        def refused(grant: Grant, now: int) -> Grant:
            return msgspec.structs.replace(
                grant, status=GrantStatus.REFUSED, decided_by=actor.user_id,
                decided_us=now, decision_note=note.strip(),
            )  # fmt: skip

        return self._step(
            grant_id, actor, "grant.refuse", self._why_not_decide, {GrantStatus.REQUESTED},
            refused,
        )  # fmt: skip

    def revoke(self, grant_id: str, *, actor: Principal, note: str) -> Grant:
        """Switch a grant off at once (or withdraw a request): a zone chief of the data
        zone, or the requester or grantee withdrawing. ``note``: why; required."""
        require_note(note, GrantInvalid, high=MAX_TEXT)

        def revoked(grant: Grant, now: int) -> Grant:
            return msgspec.structs.replace(
                grant, status=GrantStatus.REVOKED, revoked_by=actor.user_id, revoked_us=now,
                revoke_note=note.strip(),
            )  # fmt: skip

        return self._step(grant_id, actor, "grant.revoke", self._why_not_revoke, OPEN, revoked)

    def expire_due(self, at_us: int | None = None) -> builtins.list[Grant]:
        """Record (and audit) the expiry of every open grant past its validity. Access
        already ends with the validity; this keeps the stored status and the reports true."""
        at = self._clock() if at_us is None else at_us

        def sweep(conn: Conn) -> builtins.list[Grant]:
            due = Where("status IN (?, ?) AND valid_until_us<=?", *map(str, OPEN), at)
            done: builtins.list[Grant] = []
            for grant in _grants.select(conn, due, order="valid_until_us, id"):
                gone = msgspec.structs.replace(grant, status=GrantStatus.EXPIRED)
                if _grants.swap(conn, grant, gone, at):
                    write_audit(
                        conn, actor="system", actor_zone=NETWORK_ZONE, action="grant.expire",
                        object_type="grant", object_id=gone.id,
                        detail={**self._detail(gone), "was": str(grant.status)},
                        at_us=at, purpose=gone.purpose, case=gone.case, reason=gone.reason,
                        scope=self._scope(gone),
                    )  # fmt: skip
                    done.append(gone)
            return done

        return self._commit(sweep)

    # -- checks -----------------------------------------------------------------------------
    def _check_request(
        self,
        actor: Principal,
        data_zone: str,
        purpose: str,
        case: str,
        reason: str,
        start: int,
        now: int,
    ) -> builtins.list[str]:
        problems: builtins.list[str] = []
        if data_zone not in self._zone_ids:
            problems.append(f"data_zone: unknown zone {data_zone!r}")
        elif data_zone == actor.zone_id:
            problems.append("data_zone: your own zone's reads need no grant")
        problems += text_problems("purpose", purpose, high=MAX_LABEL)
        problems += text_problems("case", case, high=MAX_LABEL)
        problems += text_problems("reason", reason, high=MAX_TEXT, low=MIN_REASON,
                                  hint=" (say why)")  # fmt: skip
        if not problems and self._validate is not None:
            problems += self._validate(purpose.strip(), case.strip(), reason.strip())
        if start < now - 60_000_000:  # a minute of clock skew between client and node
            problems.append("valid_from: must not be in the past")
        return problems

    def _check_validity(self, start: int, until: int) -> builtins.list[str]:
        if until <= start:
            return ["valid_until: must be after valid_from"]
        if until - start > self.max_days * US_PER_DAY:
            return [f"validity: at most {self.max_days} days"]
        if start - self._clock() > self.max_days * US_PER_DAY:
            return [f"valid_from: at most {self.max_days} days ahead"]
        return []

    def _check_scope(
        self, data_zone: str, cameras: tuple[str, ...], plates: tuple[str, ...]
    ) -> builtins.list[str]:
        problems: builtins.list[str] = []
        if len(cameras) > MAX_CAMERAS:
            problems.append(f"cameras: at most {MAX_CAMERAS}")
        elif any(not c for c in cameras):
            problems.append("cameras: a camera id must not be blank")
        else:
            problems += camera_problems(self._cameras, cameras, data_zone)
        if len(plates) > MAX_PLATES:
            problems.append(f"plates: at most {MAX_PLATES}")
        elif any(not p for p in plates):
            problems.append("plates: a plate without plate characters")
        return problems

    @staticmethod
    def _check_grantee(conn: Conn, grant: Grant) -> None:
        row = conn.execute("SELECT doc FROM users WHERE id=?", (grant.grantee_id,)).fetchone()
        user = None if row is None else _user_decoder.decode(bytes(row[0]))
        if (
            user is None
            or not user.active
            or user.zone_id != grant.requester_zone
            or user.role not in REQUESTER_ROLES
        ):
            raise GrantInvalid(
                f"grantee_id: {grant.grantee_id!r} is not an active operator, investigator, "
                f"analyst or traffic officer of {grant.requester_zone!r}",
                "invalid_grantee",
            )

    @staticmethod
    def _why_not_decide(actor: Principal, grant: Grant) -> str | None:
        if actor.role is not Role.ZONE_CHIEF:
            return (
                f"only a zone chief of {grant.data_zone!r} may decide on access to its "
                f"reads, not a {actor.role}"
            )
        if actor.zone_id != grant.data_zone:
            return f"only a zone chief of {grant.data_zone!r} may decide on access to its reads"
        if actor.user_id in (grant.requester_id, grant.grantee_id):
            return "nobody decides on their own request"
        return None

    @staticmethod
    def _why_not_revoke(actor: Principal, grant: Grant) -> str | None:
        if actor.role is Role.ZONE_CHIEF and actor.zone_id == grant.data_zone:
            return None
        if actor.user_id in (grant.requester_id, grant.grantee_id):
            return None
        return (
            f"only a zone chief of {grant.data_zone!r}, the requester or the grantee may "
            "revoke this grant"
        )

    # -- helpers ----------------------------------------------------------------------------
    def _step(
        self,
        grant_id: str,
        actor: Principal,
        action: str,
        why_not: Callable[[Principal, Grant], str | None],
        allowed_from: Iterable[GrantStatus],
        change: Callable[[Grant, int], Grant],
    ) -> Grant:
        """One decision in one transaction: the actor is checked first (a forbidden attempt
        is audited and committed, then refused), then the status, then the change."""
        from_statuses = frozenset(allowed_from)
        allowed = " or ".join(sorted(from_statuses))
        return self._life.step(
            grant_id, actor=actor, action=action, why_not=partial(why_not, actor),
            allowed_from=from_statuses, change=change,
            closed=lambda current: GrantConflict(
                f"grant {grant_id!r} is {current}: only a grant that is {allowed} can be "
                f"{_DONE[action]}"
            ),
            then=lambda _conn, new: {
                "note": (new.revoke_note if action == "grant.revoke" else new.decision_note) or ""
            },
        )  # fmt: skip

    @staticmethod
    def _detail(grant: Grant) -> dict[str, Any]:
        return {
            "requester": grant.requester_id,
            "requester_zone": grant.requester_zone,
            "grantee": grant.grantee_id,
            "data_zone": grant.data_zone,
            "valid_from_us": grant.valid_from_us,
            "valid_until_us": grant.valid_until_us,
            "status": str(grant.status),
        }

    def _scope(self, grant: Grant) -> dict[str, Any]:
        scope: dict[str, Any] = {
            "zones": [grant.data_zone],
            "cameras": list(grant.cameras),
            "plate_count": len(grant.plates),
        }
        if self._plate_key is not None and grant.plates:
            scope["plates"] = [plate_token(self._plate_key, p) for p in grant.plates]
        return scope
