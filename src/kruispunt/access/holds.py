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
from typing import Any, Protocol, TypeVar

import msgspec

from kruispunt.access.policy import ROLE_PURPOSES
from kruispunt.access.principals import Principal, Role
from kruispunt.audit import PlateTokens, write_audit
from kruispunt.domain.cameras import Camera
from kruispunt.domain.reads import Read
from kruispunt.errors import Refused
from kruispunt.law.profiles import JurisdictionProfile
from kruispunt.law.purpose import Purpose, validate_case, validate_reason
from kruispunt.plates.text import normalise
from kruispunt.store.sql import Conn, SqlStore, now_us
from kruispunt.store.sqlite import READ_COLUMNS, SqliteStore, day_table
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


class CameraLookup(Protocol):
    def get(self, camera_id: str) -> Camera | None: ...


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


T = TypeVar("T")
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(LegalHold)
_read_decoder = msgspec.json.Decoder(Read)
_COLUMNS = (
    "id, case_key, zone_id, status, since_us, until_us, expires_us, created_by, created_us, "
    "updated_us, doc"
)


def _decode(raw: Any) -> LegalHold:
    return _decoder.decode(bytes(raw))


def _day_start(day: dt.date) -> int:
    return (day - EPOCH).days * US_PER_DAY


def _day_of(us: int) -> dt.date:
    return EPOCH + dt.timedelta(days=us // US_PER_DAY)


def _marks(n: int) -> str:
    return ", ".join("?" * n)


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
        self._writer = writer
        self._zone_ids = frozenset(zone_ids)
        self.profile = profile
        self.max_days = max_days
        self._clock = clock
        self._plate_tokens = plate_tokens or PlateTokens()
        self._cameras = cameras

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
        row = (
            self._store.reader()
            .execute("SELECT doc FROM legal_holds WHERE id=?", (hold_id,))
            .fetchone()
        )
        hold = None if row is None else _decode(row[0])
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
        where: builtins.list[str] = []
        args: builtins.list[Any] = []
        if actor.role in HOLDERS:
            where.append("zone_id=?")
            args.append(actor.zone_id)
        elif actor.role not in OVERSIGHT_ROLES:
            raise HoldForbidden(f"a {actor.role} does not manage legal holds")
        if case is not None:
            where.append("case_key=?")
            args.append(self._case(case, now))
        if status is HoldStatus.OPEN:
            where.append("status=? AND expires_us>?")
            args += [str(status), now]
        elif status is HoldStatus.EXPIRED:
            where.append("(status=? OR (status=? AND expires_us<=?))")
            args += [str(status), str(HoldStatus.OPEN), now]
        elif status is not None:
            where.append("status=?")
            args.append(str(status))
        sql = "SELECT doc FROM legal_holds"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_us DESC, id LIMIT ?"
        args.append(max(0, min(limit, MAX_LIST)))
        return [_decode(r[0]).as_of(now) for r in self._store.reader().execute(sql, args)]

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
        plate_texts = tuple(dict.fromkeys(normalise(p) for p in plates))
        camera_ids = tuple(dict.fromkeys(c.strip() for c in cameras))
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
            conn.execute(
                f"INSERT INTO legal_holds ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (hold.id, hold.case, hold.zone_id, str(hold.status), hold.since_us,
                 hold.until_us, hold.expires_us, hold.created_by, now, now,
                 _encoder.encode(hold)),
            )  # fmt: skip
            copied = self._copy(conn, hold, hold.since_us, hold.until_us)
            self._audit(conn, actor, "hold.create", hold, now, extra={"held_reads": copied})
            return hold

        return self._commit(save)

    def release(self, hold_id: str, *, actor: Principal, note: str) -> LegalHold:
        """End a hold early (a chief or magistrate of its zone; ``note``: why). Its held
        reads are deleted in the same transaction."""
        if not note.strip():
            raise HoldInvalid("note: say why the hold is released")
        if len(note) > MAX_TEXT or not note.isprintable():
            raise HoldInvalid(f"note: at most {MAX_TEXT} printable characters")

        def run(conn: Conn) -> LegalHold | HoldForbidden:
            now = self._clock()
            row = conn.execute("SELECT doc FROM legal_holds WHERE id=?", (hold_id,)).fetchone()
            hold = None if row is None else _decode(row[0])
            if hold is None or not self.may_see(actor, hold):
                raise HoldNotFound(f"no legal hold {hold_id!r}")
            if actor.role not in HOLDERS:
                why = f"only a zone chief or a magistrate of {hold.zone_id!r} may release it"
                self._audit(conn, actor, "hold.forbidden", hold.as_of(now), now,
                            extra={"attempted": "hold.release", "refused": why})  # fmt: skip
                return HoldForbidden(why)
            if hold.status_at(now) is not HoldStatus.OPEN:
                raise HoldClosed(f"legal hold {hold_id!r} is {hold.status_at(now)} already")
            new = msgspec.structs.replace(
                hold, status=HoldStatus.RELEASED, closed_by=actor.user_id, closed_us=now,
                close_note=note.strip(),
            )  # fmt: skip
            deleted = self._close(conn, hold, new, now)
            self._audit(conn, actor, "hold.release", new, now,
                        extra={"note": note.strip(), "held_reads_deleted": deleted})  # fmt: skip
            return new

        result = self._commit(run)
        if isinstance(result, HoldForbidden):
            raise result
        return result

    def expire_due(self, at_us: int | None = None) -> builtins.list[LegalHold]:
        """Close (and audit) every open hold past its expiry; their held reads go."""
        at = self._clock() if at_us is None else at_us

        def sweep(conn: Conn) -> builtins.list[LegalHold]:
            rows = conn.execute(
                "SELECT doc FROM legal_holds WHERE status=? AND expires_us<=? "
                "ORDER BY expires_us, id",
                (str(HoldStatus.OPEN), at),
            ).fetchall()
            done: builtins.list[LegalHold] = []
            for row in rows:
                hold = _decode(row[0])
                gone = msgspec.structs.replace(hold, status=HoldStatus.EXPIRED, closed_us=at)
                deleted = self._close(conn, hold, gone, at)
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
            row = conn.execute("SELECT doc FROM legal_holds WHERE id=?", (hold_id,)).fetchone()
            if row is None:
                raise HoldNotFound(f"no legal hold {hold_id!r}")
            hold = _decode(row[0]).as_of(now)
            checked = self._check_reading(actor, hold, purpose, case, reason, now)
            context: dict[str, Any] = {
                "role": str(actor.role), "source": source, "reason": reason[:MAX_TEXT],
                "scope": self._scope(hold),
            }  # fmt: skip
            if isinstance(checked, HoldError):
                write_audit(
                    conn, actor=actor.user_id, actor_zone=actor.zone_id,
                    action="hold.reads.refused", object_type="hold", object_id=hold.id,
                    detail={"code": checked.code, "message": checked.message[:500]},
                    at_us=now, purpose=purpose[:64], case=case[:64], results=0, **context,
                )  # fmt: skip
                return checked
            rows = conn.execute(
                "SELECT doc FROM held_reads WHERE hold_id=? ORDER BY captured_us, seq LIMIT ?",
                (hold.id, max(0, min(limit, MAX_READS))),
            ).fetchall()
            reads = tuple(_read_decoder.decode(bytes(r[0])) for r in rows)
            write_audit(
                conn, actor=actor.user_id, actor_zone=actor.zone_id, action="hold.reads",
                object_type="hold", object_id=hold.id, detail=self._detail(hold), at_us=now,
                purpose=str(checked), case=hold.case, results=len(reads), **context,
            )  # fmt: skip
            return HeldReads(hold=hold, purpose=checked, reads=reads)

        result = self._commit(run)
        if isinstance(result, HoldError):
            raise result
        return result

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
        sql = "SELECT doc FROM legal_holds WHERE status=? AND expires_us>?"
        args: builtins.list[Any] = [str(HoldStatus.OPEN), at_us]
        if since_us is not None and until_us is not None:
            sql += " AND since_us<=? AND until_us>=?"
            args += [until_us, since_us]
        return [_decode(r[0]) for r in conn.execute(sql + " ORDER BY id", args)]

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
        num = conn.execute("SELECT num FROM cameras WHERE id=?", (camera_id,)).fetchone()
        if num is None:
            return None
        day = _day_of(captured_us)
        if isinstance(self._store, SqliteStore):
            if not self._has_table(conn, day_table(day)):
                return None
            sql = f"SELECT plate FROM {day_table(day)} WHERE cam=? AND read_id=?"
            row = conn.execute(sql, (num[0], read_id)).fetchone()
        else:
            row = conn.execute(
                "SELECT plate FROM reads WHERE day=? AND cam=? AND read_id=?",
                ((day - EPOCH).days, num[0], read_id),
            ).fetchone()
        return None if row is None else str(row[0])

    # -- copying covered reads --------------------------------------------------------------
    def _copy(self, conn: Conn, hold: LegalHold, since_us: int, until_us: int) -> int:
        """Copy the stored reads ``hold`` covers within [since_us, until_us]; returns how
        many were not held yet."""
        reads = self._covered(
            conn, hold, max(since_us, hold.since_us), min(until_us, hold.until_us)
        )
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

    def _covered(self, conn: Conn, hold: LegalHold, lo: int, hi: int) -> builtins.list[Read]:
        """The stored reads of ``hold``'s zone, plates and cameras captured in [lo, hi]."""
        if lo > hi:
            return []
        where = ["zone=?", "captured_us BETWEEN ? AND ?"]
        args: builtins.list[Any] = [hold.zone_id, lo, hi]
        if hold.plates:
            where.append(f"plate IN ({_marks(len(hold.plates))})")
            args += hold.plates
        if hold.cameras:
            nums = [
                int(r[0])
                for r in conn.execute(
                    f"SELECT num FROM cameras WHERE id IN ({_marks(len(hold.cameras))})",
                    hold.cameras,
                )
            ]
            if not nums:
                return []
            where.append(f"cam IN ({_marks(len(nums))})")
            args += nums
        condition = " AND ".join(where)
        rows: builtins.list[Any] = []
        if isinstance(self._store, SqliteStore):
            for (day,) in conn.execute(
                "SELECT day FROM segments WHERE day BETWEEN ? AND ? ORDER BY day",
                (_day_of(lo).isoformat(), _day_of(hi).isoformat()),
            ).fetchall():
                table = day_table(dt.date.fromisoformat(day))
                if self._has_table(conn, table):
                    sql = f"SELECT {READ_COLUMNS} FROM {table} WHERE {condition} ORDER BY seq"
                    rows += conn.execute(sql, args).fetchall()
        else:  # one table partitioned by capture day: the day bounds prune the partitions
            rows = conn.execute(
                f"SELECT {READ_COLUMNS} FROM reads WHERE day BETWEEN ? AND ? AND {condition} "
                "ORDER BY seq",
                [(_day_of(lo) - EPOCH).days, (_day_of(hi) - EPOCH).days, *args],
            ).fetchall()
        return [self._store._row_to_read(r) for r in rows]

    @staticmethod
    def _has_table(conn: Conn, table: str) -> bool:
        return (
            conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (table,)
            ).fetchone()
            is not None
        )

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
        elif self._cameras is not None:
            for cam_id in cameras:
                camera = self._cameras.get(cam_id)
                if camera is None or camera.zone_id != zone_id:
                    problems.append(f"cameras: {cam_id!r} is not a camera of {zone_id!r}")
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

    def _close(self, conn: Conn, old: LegalHold, new: LegalHold, now: int) -> int:
        """Compare-and-set the status; delete the held reads. Returns how many went."""
        changed = conn.execute(
            "UPDATE legal_holds SET status=?, updated_us=?, doc=? WHERE id=? AND status=?",
            (str(new.status), now, _encoder.encode(new), old.id, str(old.status)),
        ).rowcount
        if changed != 1:
            raise HoldClosed(f"legal hold {old.id!r} changed meanwhile; try again")
        return int(conn.execute("DELETE FROM held_reads WHERE hold_id=?", (old.id,)).rowcount)

    def _commit(self, fn: Callable[[Conn], T]) -> T:
        def run(_store: object) -> T:
            with self._store.transaction() as conn:
                return fn(conn)

        return self._writer.call(run).result()

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

    def _audit(
        self,
        conn: Conn,
        actor: Principal,
        action: str,
        hold: LegalHold,
        now: int,
        *,
        extra: dict[str, Any] | None = None,
    ) -> None:
        write_audit(
            conn, actor=actor.user_id, actor_zone=actor.zone_id, action=action,
            object_type="hold", object_id=hold.id, detail={**self._detail(hold), **(extra or {})},
            at_us=now, role=str(actor.role), case=hold.case, reason=hold.reason,
            scope=self._scope(hold),
        )  # fmt: skip
