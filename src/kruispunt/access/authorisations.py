"""Authorisations: the written, reasoned decisions that open older reads for a case.

The law asks for them past a certain age of the data (the jurisdiction profile's tiers): in
Belgium a written, reasoned decision of the public prosecutor for reads older than the first
month; in the Netherlands an order of the officier van justitie for every query; in the
United Kingdom a senior officer's authorisation beyond 90 days. This service keeps them as
records: the kind, the decision's reference, who issued it, its written grounds, the case
(normalised to the profile's format), the zone it was addressed to, its validity and its
scope (plates, partial plates, cameras, zones, a data period; an empty one leaves that
dimension open), and for a Dutch order the one query it was given for.

Who records one:

- a magistrate records their own decision (``issued_by`` is themself);
- a zone chief transcribes a written decision their zone received: ``issued_by`` names the
  magistrate and is never the chief (when it names a user of the node, that user is an active
  magistrate);
- a senior officer's authorisation (the UK) is recorded by a zone chief, as its issuer.

A magistrate or a zone chief of its zone revokes one (with a note). Whether an authorisation
opens a query (valid now, same case, not issued by the one who asks, scope covering the
query) is decided by :func:`kruispunt.law.decide.allowed_windows`, over what ``for_case``
returns: every authorisation of the case that was not revoked.

Every step is audited in the same transaction as the change: ``authorisation.record``,
``authorisation.revoke``, and ``authorisation.forbidden`` for a refused attempt (an
investigator recording one, a chief transcribing a decision in their own name ...), with the
actor's role and the case in the context and the scope's plates as keyed tokens.

Errors::

    AuthorisationError             (code: machine-readable)
    ├── AuthorisationInvalid       400: a field is wrong (``invalid_authorisation``,
    │                                   ``invalid_case``, ``unknown_zone``, ``invalid_issuer``)
    ├── AuthorisationForbidden     403: the actor may not do this (``forbidden``)
    ├── AuthorisationNotFound      404: ``unknown_authorisation``
    └── AuthorisationConflict      409: ``authorisation_exists``, ``authorisation_closed``
"""

from __future__ import annotations

import builtins
import datetime as dt
import enum
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import msgspec

from kruispunt.access.principals import Principal, Role, User
from kruispunt.access.records import (
    CameraLookup,
    Commit,
    Lifecycle,
    Records,
    Where,
    audit_act,
    bounded,
    require_note,
    text_problems,
    unique,
)
from kruispunt.audit import PlateTokens
from kruispunt.errors import Refused
from kruispunt.law.decide import Authorisation, AuthorisationKind, AuthorisationScope
from kruispunt.law.profiles import JurisdictionProfile
from kruispunt.law.purpose import case_help, validate_case
from kruispunt.plates.text import normalise
from kruispunt.store.sql import Conn, SqlStore, now_us
from kruispunt.writer import Writer

US_PER_DAY = 86_400_000_000
MIN_GROUNDS = 20
MAX_TEXT = 4000
MAX_LABEL = 200
MAX_PLATES = 500
MAX_PATTERNS = 100
MAX_CAMERAS = 500
MAX_ZONES = 100
MAX_LIST = 1000
MAX_FOR_CASE = 200

OVERSIGHT_ROLES = frozenset({Role.DPO, Role.AUDITOR})
"""See every authorisation (oversight), never the plates of its scope."""
ZONE_READERS = frozenset({Role.ZONE_CHIEF, Role.INVESTIGATOR, Role.ANALYST})
"""See the authorisations of their own zone (which ones exist for their case)."""
READERS = OVERSIGHT_ROLES | ZONE_READERS | {Role.MAGISTRATE}

_PATTERN = re.compile(r"[A-Z0-9*?][A-Z0-9*? .\-]*")


class AuthorisationStatus(enum.StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"
    """Not stored: an active authorisation past its validity (``status_at``)."""


class RecordedAuthorisation(msgspec.Struct, frozen=True, kw_only=True):
    """One authorisation as recorded on the node."""

    id: str
    kind: AuthorisationKind
    reference: str
    """The decision's number."""
    issued_by: str
    """The magistrate (or senior officer) who issued it: a user id or a name."""
    grounds: str
    """The reasons written in the decision."""
    case: str
    """Normalised to the profile's case format."""
    zone_id: str
    """The zone the decision was addressed to."""
    valid_from_us: int
    valid_until_us: int
    """Exclusive."""
    scope: AuthorisationScope = AuthorisationScope()
    query_id: str | None = None
    recorded_by: str
    recorded_role: Role
    created_us: int
    status: AuthorisationStatus = AuthorisationStatus.ACTIVE
    revoked_by: str | None = None
    revoked_us: int | None = None
    revoke_note: str | None = None

    def status_at(self, at_us: int) -> AuthorisationStatus:
        if self.status is AuthorisationStatus.ACTIVE and at_us >= self.valid_until_us:
            return AuthorisationStatus.EXPIRED
        return self.status

    def live_at(self, at_us: int) -> bool:
        return (
            self.status is AuthorisationStatus.ACTIVE
            and self.valid_from_us <= at_us < self.valid_until_us
        )

    def as_decision(self) -> Authorisation:
        """What :mod:`kruispunt.law.decide` weighs."""
        return Authorisation(
            kind=self.kind, reference=self.reference, issued_by=self.issued_by,
            grounds=self.grounds, case=self.case, valid_from_us=self.valid_from_us,
            valid_until_us=self.valid_until_us, scope=self.scope, query_id=self.query_id,
        )  # fmt: skip


class AuthorisationError(Refused):
    code = "authorisation_error"


class AuthorisationInvalid(AuthorisationError):
    code = "invalid_authorisation"


class AuthorisationForbidden(AuthorisationError):
    code = "forbidden"
    status = 403


class AuthorisationNotFound(AuthorisationError):
    code = "unknown_authorisation"
    status = 404


class AuthorisationConflict(AuthorisationError):
    code = "authorisation_closed"
    status = 409


_user_decoder = msgspec.json.Decoder(User)
_authorisations = Records(
    "authorisations",
    RecordedAuthorisation,
    lambda a: {
        "id": a.id, "kind": str(a.kind), "reference": a.reference, "case_key": a.case,
        "zone_id": a.zone_id, "status": str(a.status), "valid_from_us": a.valid_from_us,
        "valid_until_us": a.valid_until_us, "recorded_by": a.recorded_by,
        "created_us": a.created_us,
    },
)  # fmt: skip


def same_person(a: str, b: str) -> bool:
    """Names compared as ``decide`` compares an issuer with the user who queries."""
    return "".join(a.split()).upper() == "".join(b.split()).upper()


def pattern_shape(pattern: str) -> str:
    """``1-AB?-12*`` -> ``#-##?-##*``: a partial plate's width, without its characters."""
    return "".join("#" if ch.isalnum() else ch for ch in pattern.upper()[:32])


def sees_plates(actor: Principal) -> bool:
    """Oversight reads the records, never the plates in them."""
    return actor.role not in OVERSIGHT_ROLES


class AuthorisationService:
    """Recorded authorisations on the store, written through the single writer.

    ``profile``: the node's jurisdiction (case formats, the kinds its tiers require).
    ``zone_ids``: the zones an authorisation may be addressed to and may name in its scope.
    ``max_days``: the longest validity. ``cameras``: the registry, to check scope cameras.
    ``plate_tokens``: the audit's plate-token key (without one the audit counts plates)."""

    def __init__(
        self,
        store: SqlStore,
        writer: Writer,
        *,
        profile: JurisdictionProfile,
        zone_ids: Iterable[str],
        max_days: int = 365,
        clock: Callable[[], int] = now_us,
        cameras: CameraLookup | None = None,
        plate_tokens: PlateTokens | None = None,
    ):
        if max_days < 1:
            raise ValueError("max_days: at least 1")
        self._store = store
        self._commit = Commit(store, writer)
        self.profile = profile
        self._zone_ids = frozenset(zone_ids)
        self.max_days = max_days
        self._clock = clock
        self._cameras = cameras
        self._plate_tokens = plate_tokens or PlateTokens()
        self.kinds = frozenset(
            t.authorisation.kind for t in profile.tiers if t.authorisation.kind is not None
        )
        """The kinds the profile's tiers require: no other kind opens anything."""
        self._per_query = frozenset(
            t.authorisation.kind
            for t in profile.tiers
            if t.authorisation.kind is not None and t.authorisation.every_query
        )
        self._life = Lifecycle(
            _authorisations, self._commit, clock, "authorisation", detail=_detail,
            context=lambda auth: {"case": auth.case, "scope": self._audit_scope(auth.scope)},
            missing=lambda auth_id: AuthorisationNotFound(f"no authorisation {auth_id!r}"),
            forbidden=AuthorisationForbidden,
            meanwhile=lambda auth_id: AuthorisationConflict(
                f"authorisation {auth_id!r} changed meanwhile"
            ),
        )  # fmt: skip

    # -- reading ----------------------------------------------------------------------------
    def now(self) -> int:
        return self._clock()

    def get(self, auth_id: str, *, actor: Principal) -> RecordedAuthorisation:
        """One authorisation, if ``actor`` may see it (``AuthorisationNotFound`` otherwise)."""
        auth = _authorisations.get(self._store.reader(), auth_id)
        if auth is None or not self.may_see(actor, auth):
            raise AuthorisationNotFound(f"no authorisation {auth_id!r}")
        return auth

    @staticmethod
    def may_see(actor: Principal, auth: RecordedAuthorisation) -> bool:
        if actor.role in OVERSIGHT_ROLES or actor.role is Role.MAGISTRATE:
            return True
        return actor.role in ZONE_READERS and actor.zone_id == auth.zone_id

    def list(
        self,
        actor: Principal,
        *,
        case: str | None = None,
        zone: str | None = None,
        status: AuthorisationStatus | None = None,
        limit: int = MAX_LIST,
    ) -> builtins.list[RecordedAuthorisation]:
        """The authorisations ``actor`` may see, newest first: all for a magistrate and
        oversight, their zone's for a zone chief, an investigator or an analyst."""
        if actor.role not in READERS:
            return []
        where = Where()
        if actor.role in ZONE_READERS:
            where.add("zone_id=?", actor.zone_id)
        if case is not None:
            where.add("case_key=?", self.normalise_case(case) or case.strip())
        if zone is not None:
            where.add("zone_id=?", zone)
        where.status_at(status, self._clock(), live={AuthorisationStatus.ACTIVE},
                        expired=AuthorisationStatus.EXPIRED)  # fmt: skip
        return _authorisations.select(self._store.reader(), where,
                                      order="created_us DESC, id",
                                      limit=bounded(limit, MAX_LIST))  # fmt: skip

    def for_case(self, case: str, *, at_us: int) -> builtins.list[Authorisation]:
        """Every authorisation recorded for ``case`` and not revoked (``decide`` weighs
        validity, issuer and scope, and says why it set one aside)."""
        key = self.normalise_case(case) or case.strip()
        where = Where("case_key=? AND status=?", key, str(AuthorisationStatus.ACTIVE))
        auths = _authorisations.select(self._store.reader(), where,
                                       order="valid_from_us, id", limit=MAX_FOR_CASE)  # fmt: skip
        return [a.as_decision() for a in auths]

    def normalise_case(self, case: str, *, at_us: int | None = None) -> str | None:
        year = None if at_us is None else dt.datetime.fromtimestamp(at_us / 1e6, dt.UTC).year
        return validate_case(self.profile, case, now_year=year)

    # -- changes ----------------------------------------------------------------------------
    def record(
        self,
        actor: Principal,
        *,
        kind: AuthorisationKind,
        reference: str,
        grounds: str,
        case: str,
        valid_until_us: int,
        valid_from_us: int | None = None,
        zone: str | None = None,
        issued_by: str | None = None,
        plates: Sequence[str] = (),
        plate_patterns: Sequence[str] = (),
        cameras: Sequence[str] = (),
        zones: Sequence[str] = (),
        data_since_us: int | None = None,
        data_until_us: int | None = None,
        query_id: str | None = None,
    ) -> RecordedAuthorisation:
        """Record an authorisation (see the module docstring for who may)."""
        now = self._clock()
        zone_id = (zone or actor.zone_id).strip()
        issuer = self._issuer(actor, kind, issued_by)
        why = self._why_not_record(actor, kind, zone_id, issuer)
        if why is not None:
            self._forbidden_record(actor, why, kind, reference, case, zone_id, issuer, plates, now)
            raise AuthorisationForbidden(why)
        problems = self._check_fields(kind, reference, grounds, zone_id, query_id)
        problems += self._check_validity(now, valid_from_us, valid_until_us)
        scope, scope_problems = self._scope(
            plates, plate_patterns, cameras, zones, data_since_us, data_until_us
        )
        problems += scope_problems
        if issuer is None:
            problems.append("issued_by: name the magistrate who issued the decision")
        if problems:
            raise AuthorisationInvalid("; ".join(problems), _code(problems))
        case_key = self.normalise_case(case, at_us=now)
        if case_key is None:
            raise AuthorisationInvalid(f"case: {case_help(self.profile)}", "invalid_case")
        assert issuer is not None
        auth = RecordedAuthorisation(
            id=f"au-{secrets.token_hex(8)}", kind=kind, reference=reference.strip(),
            issued_by=issuer, grounds=grounds.strip(), case=case_key, zone_id=zone_id,
            valid_from_us=now if valid_from_us is None else valid_from_us,
            valid_until_us=valid_until_us, scope=scope,
            query_id=None if query_id is None else query_id.strip(),
            recorded_by=actor.user_id, recorded_role=actor.role, created_us=now,
        )  # fmt: skip

        def save(conn: Conn) -> RecordedAuthorisation:
            if actor.role is Role.ZONE_CHIEF and kind is not AuthorisationKind.SENIOR_OFFICER:
                self._check_issuer(conn, auth.issued_by)
            self._check_unique(conn, auth)
            _authorisations.insert(conn, auth, now)
            self._life.audit(conn, actor, "authorisation.record", auth, now)
            return auth

        return self._commit(save)

    def revoke(self, auth_id: str, *, actor: Principal, note: str) -> RecordedAuthorisation:
        """A magistrate, or a zone chief of its zone, withdraws an authorisation at once."""
        require_note(note, AuthorisationInvalid, high=MAX_TEXT)
        return self._life.step(
            auth_id, actor=actor, action="authorisation.revoke",
            why_not=lambda auth: self._why_not_revoke(actor, auth),
            allowed_from={AuthorisationStatus.ACTIVE},
            closed=lambda current: AuthorisationConflict(
                f"authorisation {auth_id!r} is {current}: only an active one can be revoked"
            ),
            change=lambda auth, now: msgspec.structs.replace(
                auth, status=AuthorisationStatus.REVOKED, revoked_by=actor.user_id,
                revoked_us=now, revoke_note=note.strip(),
            ),
            then=lambda _conn, _auth: {"note": note},
        )  # fmt: skip

    # -- checks -----------------------------------------------------------------------------
    @staticmethod
    def _issuer(actor: Principal, kind: AuthorisationKind, issued_by: str | None) -> str | None:
        """Who issued it: as given, or the actor where they are the issuer by rule."""
        if issued_by is not None and issued_by.strip():
            return " ".join(issued_by.split())
        if actor.role is Role.MAGISTRATE or kind is AuthorisationKind.SENIOR_OFFICER:
            return actor.user_id
        return None

    @staticmethod
    def _why_not_record(
        actor: Principal, kind: AuthorisationKind, zone: str, issuer: str | None
    ) -> str | None:
        mine = issuer is not None and same_person(issuer, actor.user_id)
        if kind is AuthorisationKind.SENIOR_OFFICER:
            if actor.role is not Role.ZONE_CHIEF:
                return (
                    "a senior officer's authorisation is recorded by a zone chief, "
                    f"not a {actor.role}"
                )
            if not mine:
                return "a zone chief records a senior officer's authorisation as its issuer"
        elif actor.role is Role.MAGISTRATE:
            if not mine:
                return (
                    "a magistrate records their own decisions; a zone chief transcribes "
                    "another magistrate's"
                )
            return None
        elif actor.role is not Role.ZONE_CHIEF:
            return (
                f"a {actor.role} may not record authorisations: a magistrate or a zone chief does"
            )
        elif mine:
            return "nobody transcribes a prosecutor's decision in their own name"
        if zone != actor.zone_id:
            return f"a zone chief records authorisations for their own zone ({actor.zone_id}) only"
        return None

    def _forbidden_record(
        self,
        actor: Principal,
        why: str,
        kind: AuthorisationKind,
        reference: str,
        case: str,
        zone: str,
        issuer: str | None,
        plates: Sequence[str],
        now: int,
    ) -> None:
        """Audit a refused attempt to record an authorisation (nothing else is written)."""
        detail = {
            "attempted": "authorisation.record",
            "refused": why,
            "kind": str(kind),
            "reference": reference[:MAX_LABEL],
            "zone": zone[:MAX_LABEL],
            "issued_by": (issuer or "")[:MAX_LABEL],
        }
        named = tuple(p for p in map(normalise, plates[:MAX_PLATES]) if p)
        scope = self._audit_scope(AuthorisationScope(plates=named))

        self._commit(
            lambda conn: audit_act(
                conn, actor, "authorisation.forbidden", object_type="authorisation",
                object_id="-", detail=detail, at_us=now, case=case[:MAX_LABEL], scope=scope,
            )
        )  # fmt: skip

    @staticmethod
    def _why_not_revoke(actor: Principal, auth: RecordedAuthorisation) -> str | None:
        if actor.role is Role.MAGISTRATE:
            return None
        if actor.role is Role.ZONE_CHIEF and actor.zone_id == auth.zone_id:
            return None
        return f"only a magistrate or a zone chief of {auth.zone_id!r} may revoke it"

    def _check_fields(
        self,
        kind: AuthorisationKind,
        reference: str,
        grounds: str,
        zone: str,
        query_id: str | None,
    ) -> builtins.list[str]:
        problems: builtins.list[str] = []
        if kind not in self.kinds:
            needed = ", ".join(sorted(self.kinds)) or "none"
            problems.append(
                f"kind: {self.profile.name} requires no {kind} authorisation (it needs: {needed})"
            )
        problems += text_problems("reference", reference, high=MAX_LABEL)
        problems += text_problems("grounds", grounds, high=MAX_TEXT, low=MIN_GROUNDS)
        if zone not in self._zone_ids:
            problems.append(f"zone: unknown zone {zone!r}")
        if query_id is not None:
            problems += text_problems("query_id", query_id, high=MAX_LABEL)
        elif kind in self._per_query:
            problems.append("query_id: an order is given for one query: name it")
        return problems

    def _check_validity(self, now: int, start: int | None, until: int) -> builtins.list[str]:
        begin = now if start is None else start
        if until <= begin:
            return ["valid_until: must be after valid_from"]
        if until <= now:
            return ["valid_until: must be in the future"]
        if until - begin > self.max_days * US_PER_DAY:
            return [f"validity: at most {self.max_days} days"]
        if begin - now > self.max_days * US_PER_DAY:
            return [f"valid_from: at most {self.max_days} days ahead"]
        return []

    def _scope(
        self,
        plates: Sequence[str],
        patterns: Sequence[str],
        cameras: Sequence[str],
        zones: Sequence[str],
        since: int | None,
        until: int | None,
    ) -> tuple[AuthorisationScope, builtins.list[str]]:
        problems: builtins.list[str] = []
        plate_texts = unique(normalise(p) for p in plates)
        pattern_texts = unique(" ".join(p.upper().split()) for p in patterns)
        camera_ids = unique(c.strip() for c in cameras)
        zone_ids = unique(z.strip() for z in zones)
        if len(plate_texts) > MAX_PLATES:
            problems.append(f"plates: at most {MAX_PLATES}")
        elif not all(plate_texts):
            problems.append("plates: a plate without plate characters")
        if len(pattern_texts) > MAX_PATTERNS:
            problems.append(f"plate_patterns: at most {MAX_PATTERNS}")
        elif not all(_PATTERN.fullmatch(p) and any(c.isalnum() for c in p) for p in pattern_texts):
            problems.append("plate_patterns: letters, digits, '?' and '*' only")
        if len(camera_ids) > MAX_CAMERAS:
            problems.append(f"cameras: at most {MAX_CAMERAS}")
        elif not all(camera_ids):
            problems.append("cameras: a camera id must not be blank")
        elif self._cameras is not None:
            unknown = [c for c in camera_ids if self._cameras.get(c) is None]
            if unknown:
                problems.append(f"cameras: unknown {', '.join(map(repr, unknown[:5]))}")
        unknown_zones = [z for z in zone_ids if z not in self._zone_ids]
        if len(zone_ids) > MAX_ZONES:
            problems.append(f"zones: at most {MAX_ZONES}")
        elif unknown_zones:
            problems.append(f"zones: unknown zone {unknown_zones[0]!r}")
        if since is not None and until is not None and since > until:
            problems.append("data period: ends before it starts")
        scope = AuthorisationScope(
            plates=plate_texts, plate_patterns=pattern_texts, cameras=camera_ids,
            zones=zone_ids, since_us=since, until_us=until,
        )  # fmt: skip
        return scope, problems

    @staticmethod
    def _check_issuer(conn: Conn, issuer: str) -> None:
        """A transcribed decision names its magistrate: when that is a user of the node, it
        is an active magistrate (never the investigator who will query with it)."""
        row = conn.execute(
            "SELECT doc FROM users WHERE UPPER(REPLACE(id, ' ', ''))=?",
            ("".join(issuer.split()).upper(),),
        ).fetchone()
        if row is None:
            return
        user = _user_decoder.decode(bytes(row[0]))
        if user.role is not Role.MAGISTRATE or not user.active:
            raise AuthorisationInvalid(
                f"issued_by: {issuer!r} is a user of this node who is not an active magistrate",
                "invalid_issuer",
            )

    @staticmethod
    def _check_unique(conn: Conn, auth: RecordedAuthorisation) -> None:
        rows = conn.execute(
            "SELECT reference FROM authorisations WHERE case_key=? AND kind=? AND status=?",
            (auth.case, str(auth.kind), str(AuthorisationStatus.ACTIVE)),
        ).fetchall()
        if any(same_person(r[0], auth.reference) for r in rows):
            raise AuthorisationConflict(
                f"authorisation {auth.reference!r} is already recorded for {auth.case}",
                "authorisation_exists",
            )

    # -- helpers ----------------------------------------------------------------------------
    def _audit_scope(self, scope: AuthorisationScope) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if scope.plates:
            out["plates"] = self._plate_tokens.scope(scope.plates)
        if scope.plate_patterns:
            out["patterns"] = [pattern_shape(p) for p in scope.plate_patterns]
        if scope.cameras:
            out["cameras"] = list(scope.cameras)
        if scope.zones:
            out["zones"] = list(scope.zones)
        if scope.since_us is not None:
            out["since_us"] = scope.since_us
        if scope.until_us is not None:
            out["until_us"] = scope.until_us
        return out


def _detail(auth: RecordedAuthorisation, now: int) -> dict[str, Any]:
    return {
        "kind": str(auth.kind), "reference": auth.reference, "issued_by": auth.issued_by,
        "zone": auth.zone_id, "valid_from_us": auth.valid_from_us,
        "valid_until_us": auth.valid_until_us, "status": str(auth.status_at(now)),
        "query_id": auth.query_id, "recorded_by": auth.recorded_by,
    }  # fmt: skip


def _code(problems: builtins.list[str]) -> str | None:
    if any("unknown zone" in p for p in problems):
        return "unknown_zone"
    return None
