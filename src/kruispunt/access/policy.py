"""The one gate every consultation of reads goes through: a plate search, a place-and-time
query, an image view, an export, a pursuit trail, a retroactive hotlist search.

``PolicyGate.decide`` takes who asks (``Principal``) and what they ask (``Consultation``:
purpose, case, reason, period, plates, cameras, zones) and answers with a ``Decision``: the
capture-time windows the store may read (the jurisdiction's tiers and the prosecutor's
authorisations recorded for the case, ``kruispunt.law.decide.allowed_windows``), the zones
whose reads may come back (the caller's own and those of live grants), and what was cut and
why. Or it refuses (``PolicyRefused``) with a clear code, before any read is touched:

- ``role_not_allowed`` (403): the role never reads plates (admin, auditor, DPO, municipality),
  or not for this purpose;
- ``invalid_purpose`` / ``invalid_case`` / ``vague_reason`` (400): the three questions every
  consultation must answer;
- ``zone_not_visible`` (403): a zone named in the query is neither the caller's nor granted;
- ``approval_required`` (403): the search is wide (the profile's caps) and no supervisor's
  approval covers it;
- ``nothing_readable`` (403): the whole period is past retention, or in tiers the purpose
  and the recorded authorisations do not open (the refusals say what would open them).

The caller then reads only inside ``Decision.spans()`` and ``Decision.zones`` and writes one
audit record with ``PolicyGate.record`` (the number of results included), in the same
transaction as nothing else: a consultation is audited even when it returns nothing.
Refusals are audited too (``<action>.refused``), since an abuse review needs the attempts.

The gate is pure over its sources (authorisations, approvals, grants) and the clock: the
sources are small protocols, so tests and benchmarks give fakes.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import msgspec

from kruispunt.access.principals import Principal, Role
from kruispunt.audit import PlateTokens, write_audit
from kruispunt.errors import Refused
from kruispunt.law.decide import (
    Access,
    Authorisation,
    QueryScope,
    allowed_windows,
    needs_approval,
)
from kruispunt.law.profiles import JurisdictionProfile
from kruispunt.law.purpose import Purpose, ReasonRules, validate_case, validate_reason
from kruispunt.store.sql import Conn

__all__ = [
    "CATEGORY_PURPOSES",
    "ROLE_PURPOSES",
    "ApprovalSource",
    "AuthorisationSource",
    "Consultation",
    "Decision",
    "PolicyGate",
    "PolicyRefused",
    "ZoneSource",
]

US_PER_DAY = 86_400_000_000

# Project policy: which roles consult reads, and for which purposes. Oversight roles (the
# auditor, the DPO), the administrator and municipalities never see plates: they read the
# audit log, the reports and depersonalised counts. A zone chief approves; a magistrate
# authorises: neither searches through this gate themselves.
ROLE_PURPOSES: dict[Role, frozenset[Purpose]] = {
    Role.OPERATOR: frozenset(
        {Purpose.ADMINISTRATIVE_POLICE, Purpose.MISSING_PERSON, Purpose.FUGITIVE_ARREST}
    ),
    Role.INVESTIGATOR: frozenset(
        {
            Purpose.ADMINISTRATIVE_POLICE,
            Purpose.JUDICIAL_POLICE,
            Purpose.SERIOUS_CRIME,
            Purpose.MISSING_PERSON,
            Purpose.FUGITIVE_ARREST,
        }
    ),
    Role.ANALYST: frozenset({Purpose.JUDICIAL_POLICE, Purpose.SERIOUS_CRIME}),
    Role.TRAFFIC_OFFICER: frozenset({Purpose.TRAFFIC_ENFORCEMENT}),
}


# What a hit's own consultations (its pursuit trail, the retroactive search of a new entry)
# are for: the purpose that the list entry's category serves. The entry was recorded with a
# legal basis and a source; that record, not a dialog, justifies them.
CATEGORY_PURPOSES: dict[str, Purpose] = {
    "stolen_vehicle": Purpose.JUDICIAL_POLICE,
    "stolen_plate": Purpose.JUDICIAL_POLICE,
    "wanted_person": Purpose.FUGITIVE_ARREST,
    "missing_person": Purpose.MISSING_PERSON,
    "uninsured": Purpose.TRAFFIC_ENFORCEMENT,
    "no_valid_licence": Purpose.TRAFFIC_ENFORCEMENT,
    "no_technical_inspection": Purpose.TRAFFIC_ENFORCEMENT,
    "investigation": Purpose.JUDICIAL_POLICE,
    "other": Purpose.ADMINISTRATIVE_POLICE,
}


class PolicyRefused(Refused):
    """A consultation the gate does not allow; nothing was read."""

    def __init__(self, message: str, code: str, status: int, detail: dict[str, Any] | None = None):
        super().__init__(message, code)
        self.status = status
        self.detail = detail or {}


class Consultation(msgspec.Struct, frozen=True, kw_only=True):
    """What a person asks to read, and why. Times are capture times in microseconds (UTC)."""

    action: str
    """What is done: ``search.plate``, ``search.place_time``, ``image.view``, ``export.csv``..."""
    purpose: str
    case: str
    reason: str
    since_us: int
    until_us: int
    plates: tuple[str, ...] = ()
    plate_patterns: tuple[str, ...] = ()
    cameras: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()
    area: bool = False
    """The query reads a drawn area (its cameras are listed in ``cameras``)."""
    approval_id: str | None = None
    """A supervisor's approval, for a search wider than the profile's caps."""
    query_id: str | None = None
    """The id of this very query, for an order given per query (the Dutch profile)."""
    source: str | None = None
    """Where the request came from (client address), for the audit record."""


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """What the gate allows: read inside ``spans()`` and from ``zones`` only."""

    principal: Principal
    consultation: Consultation
    purpose: Purpose
    case: str
    """The case number as the profile's format normalises it."""
    access: Access
    zones: frozenset[str]
    approval_id: str | None
    decided_us: int

    def spans(self) -> list[tuple[int, int]]:
        return self.access.spans()

    @property
    def complete(self) -> bool:
        return self.access.complete

    def readable(self, captured_us: int, zone_id: str) -> bool:
        return zone_id in self.zones and self.access.readable(captured_us)

    def summary(self) -> dict[str, Any]:
        """The decision as an API response part: windows read, parts cut and why."""
        return {
            "purpose": str(self.purpose),
            "case": self.case,
            "zones": sorted(self.zones),
            "windows": [msgspec.to_builtins(w) for w in self.access.windows],
            "refused": [msgspec.to_builtins(r) for r in self.access.refused],
            "ignored_authorisations": [msgspec.to_builtins(i) for i in self.access.ignored],
            "approval_id": self.approval_id,
            "complete": self.complete,
        }


class AuthorisationSource(Protocol):
    """The prosecutor's (or senior officer's) authorisations recorded for a case."""

    def for_case(self, case: str, *, at_us: int) -> Sequence[Authorisation]: ...


class ApprovalSource(Protocol):
    """Supervisors' approvals of wide searches."""

    def problems(
        self, approval_id: str, *, principal: Principal, consultation: Consultation, at_us: int
    ) -> list[str]:
        """Why this approval does not cover this consultation (empty: it does)."""
        ...


class ZoneSource(Protocol):
    """Whose reads a person may see (own zone + live grants)."""

    def visible_zones(self, principal: Principal, at_us: int | None = None) -> set[str]: ...


class _NoAuthorisations:
    def for_case(self, case: str, *, at_us: int) -> Sequence[Authorisation]:
        return ()


class _NoApprovals:
    def problems(
        self, approval_id: str, *, principal: Principal, consultation: Consultation, at_us: int
    ) -> list[str]:
        return ["no approvals are recorded on this node"]


def _now_us() -> int:
    return time.time_ns() // 1000


class PolicyGate:
    """Decides and audits consultations of reads for one jurisdiction profile."""

    def __init__(
        self,
        profile: JurisdictionProfile,
        *,
        zones: ZoneSource,
        authorisations: AuthorisationSource | None = None,
        approvals: ApprovalSource | None = None,
        reason_rules: ReasonRules | None = None,
        plate_tokens: PlateTokens | None = None,
        clock: Callable[[], int] = _now_us,
        max_future_us: int = US_PER_DAY,
    ):
        self.profile = profile
        self._zones = zones
        self._authorisations = authorisations or _NoAuthorisations()
        self._approvals = approvals or _NoApprovals()
        self._reason_rules = reason_rules
        self._plate_tokens = plate_tokens or PlateTokens()
        self._clock = clock
        self._max_future_us = max_future_us

    def now(self) -> int:
        return self._clock()

    # -- the decision -----------------------------------------------------------------------
    def decide(self, principal: Principal, consultation: Consultation) -> Decision:
        """The decision for ``consultation`` by ``principal``, or ``PolicyRefused``."""
        now = self._clock()
        c = consultation
        purpose = self._purpose(principal, c.purpose)
        case = self._case(c.case, now)
        reasons = validate_reason(c.reason, self._reason_rules)
        if reasons:
            raise PolicyRefused(
                "the reason is not enough: " + "; ".join(reasons), "vague_reason", 400,
                {"problems": reasons},
            )  # fmt: skip
        self._period(c, now)
        zones = self._visible(principal, c, now)
        scope = QueryScope(
            case=case, user=principal.user_id, query_id=c.query_id, plates=c.plates,
            plate_patterns=c.plate_patterns, cameras=c.cameras, zones=c.zones,
        )  # fmt: skip
        access = allowed_windows(
            self.profile, purpose, now_us=now, since_us=c.since_us, until_us=c.until_us,
            authorisations=self._authorisations.for_case(case, at_us=now), scope=scope,
        )  # fmt: skip
        if not access.windows:
            raise PolicyRefused(
                "nothing of the requested period may be read: "
                + "; ".join(r.message for r in access.refused),
                "nothing_readable", 403,
                {"refused": [msgspec.to_builtins(r) for r in access.refused],
                 "ignored_authorisations": [msgspec.to_builtins(i) for i in access.ignored]},
            )  # fmt: skip
        # After the law: no approval opens what the law keeps closed.
        wide = needs_approval(
            self.profile.wide_search, scope, since_us=c.since_us, until_us=c.until_us
        )
        if wide:
            self._approved(principal, c, wide, now)
        return Decision(
            principal=principal, consultation=c, purpose=purpose, case=case, access=access,
            zones=frozenset(zones), approval_id=c.approval_id if wide else None, decided_us=now,
        )  # fmt: skip

    def windows_for_record(
        self,
        category: str,
        *,
        since_us: int,
        until_us: int,
        case: str | None,
        user: str | None,
        plates: tuple[str, ...],
    ) -> tuple[Purpose, Access]:
        """The tiers' windows for a consultation that a recorded fact justifies (a hotlist
        entry's retroactive search, an active hit's trail): the purpose comes from the
        entry's category and the case from its legal basis; the law's tiers and the
        recorded authorisations apply as to any search."""
        now = self._clock()
        purpose = CATEGORY_PURPOSES.get(category, Purpose.ADMINISTRATIVE_POLICE)
        scope = QueryScope(case=case, user=user, plates=plates)
        authorisations = self._authorisations.for_case(case, at_us=now) if case else ()
        access = allowed_windows(
            self.profile, purpose, now_us=now, since_us=since_us, until_us=until_us,
            authorisations=authorisations, scope=scope,
        )  # fmt: skip
        return purpose, access

    def _purpose(self, principal: Principal, raw: str) -> Purpose:
        try:
            purpose = Purpose(raw)
        except ValueError:
            known = ", ".join(p.value for p in Purpose)
            raise PolicyRefused(f"purpose: one of {known}", "invalid_purpose", 400) from None
        allowed = ROLE_PURPOSES.get(principal.role, frozenset())
        if not allowed:
            raise PolicyRefused(
                f"a {principal.role} does not consult reads", "role_not_allowed", 403
            )
        if purpose not in allowed:
            names = ", ".join(sorted(allowed))
            raise PolicyRefused(
                f"a {principal.role} consults reads only for {names}", "role_not_allowed", 403
            )
        return purpose

    def _case(self, raw: str, now: int) -> str:
        year = dt.datetime.fromtimestamp(now / 1e6, dt.UTC).year
        case = validate_case(self.profile, raw, now_year=year)
        if case is None:
            examples = [e for f in self.profile.case_formats for e in f.examples[:1]]
            raise PolicyRefused(
                f"case: not a case number of {self.profile.name} (e.g. {', '.join(examples)})",
                "invalid_case", 400,
            )  # fmt: skip
        return case

    def _period(self, c: Consultation, now: int) -> None:
        if c.since_us > c.until_us:
            raise PolicyRefused("the period ends before it starts", "invalid_period", 400)
        if c.since_us > now + self._max_future_us:
            raise PolicyRefused("the period lies in the future", "invalid_period", 400)

    def _visible(self, principal: Principal, c: Consultation, now: int) -> set[str]:
        zones = self._zones.visible_zones(principal, now)
        hidden = sorted(set(c.zones) - zones)
        if hidden:
            raise PolicyRefused(
                f"no grant lets you see the reads of {', '.join(hidden)}",
                "zone_not_visible", 403, {"zones": hidden},
            )  # fmt: skip
        return set(c.zones) if c.zones else zones

    def _approved(self, principal: Principal, c: Consultation, wide: list[str], now: int) -> None:
        if c.approval_id is None:
            raise PolicyRefused(
                "a wide search needs a supervisor's approval: " + "; ".join(wide),
                "approval_required", 403, {"problems": wide},
            )  # fmt: skip
        problems = self._approvals.problems(
            c.approval_id, principal=principal, consultation=c, at_us=now
        )
        if problems:
            raise PolicyRefused(
                "the approval does not cover this search: " + "; ".join(problems),
                "approval_required", 403, {"problems": wide + problems},
            )  # fmt: skip

    # -- the audit --------------------------------------------------------------------------
    def scope_of(self, c: Consultation) -> dict[str, Any]:
        """The consultation's scope for the audit: plates as keyed tokens, never as text."""
        scope: dict[str, Any] = {"since_us": c.since_us, "until_us": c.until_us}
        if c.plates:
            scope["plates"] = self._plate_tokens.scope(c.plates)
        if c.plate_patterns:
            # A partial plate is a search pattern, not a plate: its shape is what an abuse
            # review needs (how wide), so wildcards and length are kept, characters are not.
            scope["patterns"] = [_pattern_shape(p) for p in c.plate_patterns]
        for key in ("cameras", "zones"):
            value = getattr(c, key)
            if value:
                scope[key] = list(value)
        if c.area:
            scope["area"] = True
        if c.approval_id:
            scope["approval_id"] = c.approval_id
        return scope

    def record(
        self,
        conn: Conn,
        decision: Decision,
        *,
        results: int,
        object_type: str = "reads",
        object_id: str = "-",
        detail: dict[str, Any] | None = None,
    ) -> None:
        """One audit record for a consultation that ran (inside the caller's transaction)."""
        c = decision.consultation
        p = decision.principal
        extra = dict(detail or {})
        if decision.access.refused:
            extra["cut"] = [
                {"since_us": r.since_us, "until_us": r.until_us, "code": str(r.code)}
                for r in decision.access.refused
            ]
        authorisations = sorted(
            {w.authorisation for w in decision.access.windows if w.authorisation}
        )
        if authorisations:
            extra["authorisations"] = authorisations
        write_audit(
            conn, actor=p.user_id, actor_zone=p.zone_id, action=c.action,
            object_type=object_type, object_id=object_id, detail=extra or None,
            role=str(p.role), source=c.source, purpose=str(decision.purpose),
            case=decision.case, reason=c.reason, scope=self.scope_of(c), results=results,
        )  # fmt: skip

    def record_refusal(
        self, conn: Conn, principal: Principal, c: Consultation, refused: PolicyRefused
    ) -> None:
        """One audit record for a consultation the gate refused (no results)."""
        write_audit(
            conn, actor=principal.user_id, actor_zone=principal.zone_id,
            action=f"{c.action}.refused", object_type="reads", object_id="-",
            detail={"code": refused.code, "message": refused.message[:500]},
            role=str(principal.role), source=c.source, purpose=c.purpose[:64],
            case=c.case[:64], reason=c.reason[:500], scope=self.scope_of(c), results=0,
        )  # fmt: skip


def _pattern_shape(pattern: str) -> str:
    """``1-AB?-12*`` -> ``#-##?-##*``: how wide a partial plate was, without its characters."""
    return "".join("#" if ch.isalnum() else ch for ch in pattern.upper()[:32])
