"""Legal holds: reads kept past the retention limit as evidence of a case.

A zone chief or a magistrate of a zone puts a hold on the reads of that zone that a case
needs: some plates (or, without plates, everything some cameras saw) captured within a
period, until a date of expiry (at most ``max_days`` after its creation). The reads the hold
covers are copied into ``held_reads`` when the hold is created, and the retention purge
copies any further covered read of a day before it drops that day, so dropping a whole
partition never takes a held read with it.

Held reads are readable only through their hold, for its case: an investigator or analyst
of the hold's zone (``READERS``) asks with a purpose the role has (``policy.ROLE_PURPOSES``)
and that the profile allows for its oldest reads (held reads are evidence: judicial
purposes), the hold's case number and a reason. Every reading is audited (``hold.reads``,
with the number of results), every refused attempt too (``hold.reads.refused``).

Life of a hold::

    open ──release (a chief or magistrate of the zone, with a note)──> released
      └──(expires_us passes; expire_due records it)──> expired

A hold past its expiry keeps nothing from that moment on, whatever its stored status
(``LegalHold.status_at``); released or expired, its held reads are deleted in the same
transaction as the change of status. Audit: ``hold.create``, ``hold.release``,
``hold.expire``, ``hold.forbidden`` (a refused attempt to release), ``hold.reads``.

Errors::

    HoldError                 (code: machine-readable)
    ├── HoldInvalid           400: a field is wrong (``invalid_hold``, ``invalid_case``, ...)
    ├── HoldForbidden         403: the actor may not do this
    ├── HoldNotFound          404: ``unknown_hold``
    └── HoldClosed            409: the hold was released or has expired
"""

from __future__ import annotations

import builtins
import datetime as dt
import enum
import secrets
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import msgspec

from kruispunt.access.policy import ROLE_PURPOSES
from kruispunt.access.principals import Principal, Role
from kruispunt.access.records import (
    CameraLookup,
    Commit,
    Lifecycle,
    Records,
    Where,
    audit_act,
    bounded,
    camera_problems,
    require_note,
    unique,
)
from kruispunt.audit import PlateTokens, write_audit
from kruispunt.domain.reads import Read
from kruispunt.errors import Refused
from kruispunt.law.profiles import JurisdictionProfile
from kruispunt.law.purpose import Purpose, validate_case, validate_reason
from kruispunt.plates.text import normalise
from kruispunt.store.sql import Conn, SqlStore, now_us
from kruispunt.writer import Writer

US_PER_DAY = 86_400_000_000
EPOCH = dt.date(1970, 1, 1)
MAX_TEXT = 2000
MAX_PLATES = 500
MAX_CAMERAS = 500
MAX_LIST = 1000
MAX_READS = 10_000

HOLDERS = frozenset({Role.ZONE_CHIEF, Role.MAGISTRATE})
"""Who puts a hold on their zone's reads and releases it."""
OVERSIGHT_ROLES = frozenset({Role.DPO, Role.AUDITOR})
"""Who sees every hold (never its plates: see ``kruispunt.api.holds``)."""
READERS = frozenset({Role.INVESTIGATOR, Role.ANALYST}) & frozenset(ROLE_PURPOSES)
"""Who may read held reads (of their own zone, for the hold's case): the consulting roles
that work cases; operators and traffic officers do not read a case's evidence."""


class HoldStatus(enum.StrEnum):
    OPEN = "open"
    RELEASED = "released"
    EXPIRED = "expired"


class LegalHold(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    zone_id: str
    case: str
    """Normalised by the profile's case formats."""
    reason: str
    plates: tuple[str, ...] = ()
    """Normalised; empty: every plate the cameras saw."""
    cameras: tuple[str, ...] = ()
    """Empty: every camera of the zone."""
    since_us: int
    until_us: int
    """Capture period kept, both ends included."""
    expires_us: int
    created_by: str
    created_role: str
    created_us: int
    status: HoldStatus = HoldStatus.OPEN
    closed_by: str | None = None
    closed_us: int | None = None
    close_note: str | None = None

    def status_at(self, at_us: int) -> HoldStatus:
        if self.status is HoldStatus.OPEN and at_us >= self.expires_us:
            return HoldStatus.EXPIRED
        return self.status

    def live_at(self, at_us: int) -> bool:
        return self.status is HoldStatus.OPEN and at_us < self.expires_us

    def as_of(self, at_us: int) -> LegalHold:
        status = self.status_at(at_us)
        return self if status is self.status else msgspec.structs.replace(self, status=status)

    def covers(self, read: Read) -> bool:
        """Whether this hold keeps ``read`` (whatever its status)."""
        return (
            read.zone_id == self.zone_id
            and self.since_us <= read.captured_us <= self.until_us
            and (not self.plates or read.plate in self.plates)
            and (not self.cameras or read.camera_id in self.cameras)
        )


class HeldReads(msgspec.Struct, frozen=True, kw_only=True):
    hold: LegalHold
    purpose: Purpose
    reads: tuple[Read, ...]


class HoldError(Refused):
    code = "hold_error"


class HoldInvalid(HoldError):
    code = "invalid_hold"


class HoldForbidden(HoldError):
    code = "forbidden"
    status = 403


class HoldNotFound(HoldError):
    code = "unknown_hold"
    status = 404


class HoldClosed(HoldError):
    code = "hold_closed"
    status = 409


_encoder = msgspec.json.Encoder()
_read_decoder = msgspec.json.Decoder(Read)
_holds = Records(
    "legal_holds",
    LegalHold,
    lambda h: {
        "id": h.id, "case_key": h.case, "zone_id": h.zone_id, "status": str(h.status),
        "since_us": h.since_us, "until_us": h.until_us, "expires_us": h.expires_us,
        "created_by": h.created_by, "created_us": h.created_us,
    },
)  # fmt: skip


def _day_start(day: dt.date) -> int:
    return (day - EPOCH).days * US_PER_DAY


def _day_of(us: int) -> dt.date:
    return EPOCH + dt.timedelta(days=us // US_PER_DAY)


class LegalHoldService:
    """Legal holds on the store, written through the single writer.

    ``zone_ids``: the zones whose reads may be held. ``profile``: the jurisdiction (case
    formats, the purposes of its oldest tier). ``max_days``: the longest life of a hold.
    ``clock``: microseconds since the epoch. ``plate_tokens``: the audit's plate tokens.
    ``cameras``: the camera registry (a hold's cameras must be its zone's)."""

    def __init__(
        self,
        store: SqlStore,
        writer: Writer,
        *,
        zone_ids: Iterable[str],
        profile: JurisdictionProfile,
        max_days: int = 1096,
        clock: Callable[[], int] = now_us,
        plate_tokens: PlateTokens | None = None,
        cameras: CameraLookup | None = None,
    ):
        if max_days < 1:
            raise ValueError("max_days: at least 1")
        self._store = store
        self._commit = Commit(store, writer)
        self._zone_ids = frozenset(zone_ids)
        self.profile = profile
        self.max_days = max_days
        self._clock = clock
        self._plate_tokens = plate_tokens or PlateTokens()
        self._cameras = cameras
        self._life = Lifecycle(
            _holds, self._commit, clock, "hold",
            detail=lambda hold, _now: self._detail(hold),
            context=lambda hold: {"case": hold.case, "reason": hold.reason,
                                  "scope": self._scope(hold)},
            missing=lambda hold_id: HoldNotFound(f"no legal hold {hold_id!r}"),
            forbidden=HoldForbidden,
            meanwhile=lambda hold_id: HoldClosed(
                f"legal hold {hold_id!r} changed meanwhile; try again"
            ),
            as_of=LegalHold.as_of,
        )  # fmt: skip

    def now(self) -> int:
        return self._clock()

    # -- reading the holds ------------------------------------------------------------------
    @staticmethod
    def may_see(actor: Principal, hold: LegalHold) -> bool:
        if actor.role in OVERSIGHT_ROLES:
            return True
        return actor.role in HOLDERS and actor.zone_id == hold.zone_id

    def get(self, hold_id: str, *, actor: Principal) -> LegalHold:
        """One hold as of now, if ``actor`` may see it (``HoldNotFound`` otherwise)."""
        hold = _holds.get(self._store.reader(), hold_id)
        if hold is None or not self.may_see(actor, hold):
            raise HoldNotFound(f"no legal hold {hold_id!r}")
        return hold.as_of(self._clock())

    def list(
        self,
        actor: Principal,
        *,
        status: HoldStatus | None = None,
        case: str | None = None,
        limit: int = MAX_LIST,
    ) -> builtins.list[LegalHold]:
        """The holds ``actor`` may see (a chief or magistrate: their zone's; the DPO and
        the auditor: all), newest first, as of now."""
        now = self._clock()
        where = Where()
        if actor.role in HOLDERS:
            where.add("zone_id=?", actor.zone_id)
        elif actor.role not in OVERSIGHT_ROLES:
            raise HoldForbidden(f"a {actor.role} does not manage legal holds")
        if case is not None:
            where.add("case_key=?", self._case(case, now))
        where.status_at(status, now, live={HoldStatus.OPEN}, expired=HoldStatus.EXPIRED,
                        until="expires_us")  # fmt: skip
        holds = _holds.select(self._store.reader(), where, order="created_us DESC, id",
                              limit=bounded(limit, MAX_LIST))  # fmt: skip
        return [h.as_of(now) for h in holds]

    def held_count(self, hold_id: str) -> int:
        row = (
            self._store.reader()
            .execute("SELECT count(*) FROM held_reads WHERE hold_id=?", (hold_id,))
            .fetchone()
        )
        return int(row[0])

    # -- changes ----------------------------------------------------------------------------
    def create(
        self,
        actor: Principal,
        *,
        case: str,
        reason: str,
        since_us: int,
        until_us: int,
        expires_us: int,
        plates: Sequence[str] = (),
        cameras: Sequence[str] = (),
    ) -> LegalHold:
        """Put a hold on the actor's zone's reads; the reads stored now are copied at once."""
        if actor.role not in HOLDERS:
            raise HoldForbidden(
                f"a {actor.role} may not put a legal hold (ask a zone chief or a magistrate)"
            )
        if actor.zone_id not in self._zone_ids:
            raise HoldForbidden(f"the reads of {actor.zone_id!r} cannot be held")
        now = self._clock()
        plate_texts = unique(normalise(p) for p in plates)
        camera_ids = unique(c.strip() for c in cameras)
        problems = self._check(actor.zone_id, reason, plate_texts, camera_ids)
        problems += self._check_period(since_us, until_us, expires_us, now)
        if problems:
            raise HoldInvalid("; ".join(problems))
        hold = LegalHold(
            id=f"lh-{secrets.token_hex(8)}", zone_id=actor.zone_id, case=self._case(case, now),
            reason=reason.strip(), plates=plate_texts, cameras=camera_ids, since_us=since_us,
            until_us=until_us, expires_us=expires_us, created_by=actor.user_id,
            created_role=str(actor.role), created_us=now,
        )  # fmt: skip

        def save(conn: Conn) -> LegalHold:
            _holds.insert(conn, hold, now)
            copied = self._copy(conn, hold, hold.since_us, hold.until_us)
            self._life.audit(conn, actor, "hold.create", hold, now, extra={"held_reads": copied})
            return hold

        return self._commit(save)

    def release(self, hold_id: str, *, actor: Principal, note: str) -> LegalHold:
        """End a hold early (a chief or magistrate of its zone; ``note``: why). Its held
        reads are deleted in the same transaction."""
        require_note(note, HoldInvalid, high=MAX_TEXT, blank="say why the hold is released")

        def why_not(hold: LegalHold) -> str | None:
            if actor.role in HOLDERS:
                return None
            return f"only a zone chief or a magistrate of {hold.zone_id!r} may release it"

        def release(conn: Conn, _hold: LegalHold) -> dict[str, Any]:
            return {"note": note.strip(), "held_reads_deleted": self._drop_held(conn, hold_id)}

        return self._life.step(
            hold_id, actor=actor, action="hold.release",
            visible=lambda hold: self.may_see(actor, hold), why_not=why_not,
            allowed_from={HoldStatus.OPEN},
            closed=lambda current: HoldClosed(f"legal hold {hold_id!r} is {current} already"),
            change=lambda hold, now: msgspec.structs.replace(
                hold, status=HoldStatus.RELEASED, closed_by=actor.user_id, closed_us=now,
                close_note=note.strip(),
            ),
            then=release,
        )  # fmt: skip

    def expire_due(self, at_us: int | None = None) -> builtins.list[LegalHold]:
        """Close (and audit) every open hold past its expiry; their held reads go."""
        at = self._clock() if at_us is None else at_us

        def sweep(conn: Conn) -> builtins.list[LegalHold]:
            due = Where("status=? AND expires_us<=?", str(HoldStatus.OPEN), at)
            done: builtins.list[LegalHold] = []
            for hold in _holds.select(conn, due, order="expires_us, id"):
                gone = msgspec.structs.replace(hold, status=HoldStatus.EXPIRED, closed_us=at)
                if not _holds.swap(conn, hold, gone, at):
                    raise self._life.meanwhile(hold.id)
                deleted = self._drop_held(conn, hold.id)
                write_audit(
                    conn, actor="system", actor_zone=None, action="hold.expire",
                    object_type="hold", object_id=hold.id,
                    detail={**self._detail(gone), "held_reads_deleted": deleted}, at_us=at,
                    case=hold.case, reason=hold.reason, scope=self._scope(hold),
                )  # fmt: skip
                done.append(gone)
            return done

        return self._commit(sweep)

    # -- held reads -------------------------------------------------------------------------
    def reads(
        self,
        hold_id: str,
        *,
        actor: Principal,
        purpose: str,
        case: str,
        reason: str,
        source: str | None = None,
        limit: int = MAX_READS,
    ) -> HeldReads:
        """The reads a hold keeps, for its case only; audited (``hold.reads``), refusals too."""

        def run(conn: Conn) -> HeldReads | HoldError:
            now = self._clock()
            stored = _holds.get(conn, hold_id)
            if stored is None:
                raise HoldNotFound(f"no legal hold {hold_id!r}")
            hold = stored.as_of(now)
            checked = self._check_reading(actor, hold, purpose, case, reason, now)
            context: dict[str, Any] = {
                "object_type": "hold", "object_id": hold.id, "at_us": now, "source": source,
                "reason": reason[:MAX_TEXT], "scope": self._scope(hold),
            }  # fmt: skip
            if isinstance(checked, HoldError):
                audit_act(
                    conn, actor, "hold.reads.refused",
                    detail={"code": checked.code, "message": checked.message[:500]},
                    purpose=purpose[:64], case=case[:64], results=0, **context,
                )  # fmt: skip
                return checked
            rows = conn.execute(
                "SELECT doc FROM held_reads WHERE hold_id=? ORDER BY captured_us, seq LIMIT ?",
                (hold.id, bounded(limit, MAX_READS)),
            ).fetchall()
            reads = tuple(_read_decoder.decode(bytes(r[0])) for r in rows)
            audit_act(
                conn, actor, "hold.reads", detail=self._detail(hold), purpose=str(checked),
                case=hold.case, results=len(reads), **context,
            )  # fmt: skip
            return HeldReads(hold=hold, purpose=checked, reads=reads)

        return self._commit.refusable(run)

    def _check_reading(
        self, actor: Principal, hold: LegalHold, purpose: str, case: str, reason: str, now: int
    ) -> Purpose | HoldError:
        if actor.zone_id != hold.zone_id or actor.role not in READERS:
            return HoldForbidden(
                f"held reads of {hold.zone_id!r} are for its investigators and analysts only"
            )
        try:
            wanted = Purpose(purpose)
        except ValueError:
            return HoldInvalid(f"purpose: one of {', '.join(Purpose)}", "invalid_purpose")
        evidence = self.profile.tiers[-1].purposes
        if wanted not in ROLE_PURPOSES[actor.role] or wanted not in evidence:
            allowed = sorted(set(ROLE_PURPOSES[actor.role]) & set(evidence))
            return HoldForbidden(
                f"held reads are evidence: a {actor.role} reads them only for "
                f"{', '.join(allowed) or 'no purpose'}",
                "role_not_allowed",
            )
        normalised = validate_case(self.profile, case, now_year=_day_of(now).year)
        if normalised is None:
            return HoldInvalid(f"case: not a case number of {self.profile.name}", "invalid_case")
        if normalised != hold.case:
            return HoldForbidden("this hold keeps reads for another case", "case_mismatch")
        problems = validate_reason(reason)
        if problems:
            return HoldInvalid("the reason is not enough: " + "; ".join(problems), "vague_reason")
        if hold.status_at(now) is not HoldStatus.OPEN:
            return HoldClosed(f"legal hold {hold.id!r} is {hold.status_at(now)}: it keeps nothing")
        return wanted

    # -- retention's side: keep before a drop ----------------------------------------------
    def keep_day(self, day: dt.date, *, at_us: int | None = None) -> tuple[int, int]:
        """Before ``day`` is dropped (writer thread): copy what live holds cover of it.
        Returns (reads copied now, held reads of that day in all)."""
        at = self._clock() if at_us is None else at_us
        lo, hi = _day_start(day), _day_start(day) + US_PER_DAY - 1
        with self._store.transaction() as conn:
            copied = 0
            for hold in self.live_holds(conn, at, since_us=lo, until_us=hi):
                copied += self._copy(conn, hold, lo, hi)
            row = conn.execute(
                "SELECT count(*) FROM held_reads WHERE captured_us BETWEEN ? AND ?", (lo, hi)
            ).fetchone()
        return copied, int(row[0])

    @staticmethod
    def live_holds(
        conn: Conn, at_us: int, *, since_us: int | None = None, until_us: int | None = None
    ) -> builtins.list[LegalHold]:
        """Holds that keep something at ``at_us`` (overlapping the capture period given)."""
        where = Where("status=? AND expires_us>?", str(HoldStatus.OPEN), at_us)
        if since_us is not None and until_us is not None:
            where.add("since_us<=? AND until_us>=?", until_us, since_us)
        return _holds.select(conn, where, order="id")

    def keeps_image(
        self,
        conn: Conn,
        holds: Sequence[LegalHold],
        *,
        camera_id: str,
        read_id: str | None,
        zone_id: str,
        captured_us: int,
    ) -> bool:
        """Whether one of ``holds`` covers the read an image belongs to."""
        candidates = [
            h for h in holds
            if h.zone_id == zone_id and h.since_us <= captured_us <= h.until_us
            and (not h.cameras or camera_id in h.cameras)
        ]  # fmt: skip
        if not candidates:
            return False
        if any(not h.plates for h in candidates):
            return True
        plate = None if read_id is None else self._plate_of(conn, camera_id, read_id, captured_us)
        return plate is not None and any(plate in h.plates for h in candidates)

    def _plate_of(self, conn: Conn, camera_id: str, read_id: str, captured_us: int) -> str | None:
        for (doc,) in conn.execute(
            "SELECT doc FROM held_reads WHERE camera_id=? AND captured_us=?",
            (camera_id, captured_us),
        ):
            read = _read_decoder.decode(bytes(doc))
            if read.read_id == read_id:
                return read.plate
        day = _day_start(_day_of(captured_us))
        stored = self._store.reads_captured(
            conn, day, day + US_PER_DAY - 1, cameras=[camera_id], read_ids=[read_id]
        )
        return next((r.plate for r in stored), None)

    # -- copying covered reads --------------------------------------------------------------
    def _copy(self, conn: Conn, hold: LegalHold, since_us: int, until_us: int) -> int:
        """Copy the stored reads ``hold`` covers within [since_us, until_us]; returns how
        many were not held yet."""
        reads = list(
            self._store.reads_captured(
                conn, max(since_us, hold.since_us), min(until_us, hold.until_us),
                zone=hold.zone_id, plates=hold.plates, cameras=hold.cameras,
            )
        )  # fmt: skip
        if not reads:
            return 0
        before = self._count(conn, hold.id)
        conn.executemany(
            "INSERT INTO held_reads (hold_id, seq, captured_us, plate, camera_id, doc) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (hold_id, seq) DO NOTHING",
            [(hold.id, r.seq, r.captured_us, r.plate, r.camera_id, _encoder.encode(r))
             for r in reads],
        )  # fmt: skip
        return self._count(conn, hold.id) - before

    @staticmethod
    def _count(conn: Conn, hold_id: str) -> int:
        row = conn.execute("SELECT count(*) FROM held_reads WHERE hold_id=?", (hold_id,)).fetchone()
        return int(row[0])

    # -- checks and helpers -----------------------------------------------------------------
    def _case(self, raw: str, now: int) -> str:
        case = validate_case(self.profile, raw, now_year=_day_of(now).year)
        if case is None:
            examples = [e for f in self.profile.case_formats for e in f.examples[:1]]
            raise HoldInvalid(
                f"case: not a case number of {self.profile.name} (e.g. {', '.join(examples)})",
                "invalid_case",
            )
        return case

    def _check(
        self, zone_id: str, reason: str, plates: tuple[str, ...], cameras: tuple[str, ...]
    ) -> builtins.list[str]:
        problems = [f"reason: {p}" for p in validate_reason(reason)]
        if len(reason) > MAX_TEXT:
            problems.append(f"reason: at most {MAX_TEXT} characters")
        if not plates and not cameras:
            problems.append("plates: name the plates the hold keeps (or, without plates, cameras)")
        if len(plates) > MAX_PLATES or any(not p for p in plates):
            problems.append(f"plates: at most {MAX_PLATES}, each with plate characters")
        if len(cameras) > MAX_CAMERAS or any(not c for c in cameras):
            problems.append(f"cameras: at most {MAX_CAMERAS}, none blank")
        else:
            problems += camera_problems(self._cameras, cameras, zone_id)
        return problems

    def _check_period(
        self, since_us: int, until_us: int, expires_us: int, now: int
    ) -> builtins.list[str]:
        problems: builtins.list[str] = []
        if since_us < 0 or until_us < since_us:
            problems.append("until: must not be before since")
        if expires_us <= now:
            problems.append("expires: must be in the future")
        elif expires_us - now > self.max_days * US_PER_DAY:
            problems.append(f"expires: at most {self.max_days} days ahead")
        if until_us > expires_us:
            problems.append("until: a hold cannot keep reads captured after it expires")
        return problems

    @staticmethod
    def _drop_held(conn: Conn, hold_id: str) -> int:
        """Delete a closed hold's held reads; returns how many went."""
        return int(conn.execute("DELETE FROM held_reads WHERE hold_id=?", (hold_id,)).rowcount)

    @staticmethod
    def _detail(hold: LegalHold) -> dict[str, Any]:
        return {
            "zone": hold.zone_id,
            "since_us": hold.since_us,
            "until_us": hold.until_us,
            "expires_us": hold.expires_us,
            "status": str(hold.status),
        }

    def _scope(self, hold: LegalHold) -> dict[str, Any]:
        scope: dict[str, Any] = {
            "zones": [hold.zone_id],
            "cameras": list(hold.cameras),
            "since_us": hold.since_us,
            "until_us": hold.until_us,
        }
        if hold.plates:
            scope["plates"] = self._plate_tokens.scope(hold.plates)
        return scope
