"""LEZ permits: registrations of foreign vehicles, exemptions and day passes.

The city's traffic officers and its zone chief (``MANAGERS`` of the LEZ's zone) create,
list and revoke them; every change and every consultation is audited with the plate as a
plate token, never as text (``lez_permit.create``, ``lez_permit.revoke``,
``lez_permit.list``, ``lez_permit.read``). The LEZ processor reads the permits valid at an
entry (``for_vehicles``) as part of its decision.

- A registration is for a vehicle of a country outside the rules'
  ``registration_exempt_countries``; it declares the vehicle (category, fuel, Euro norm,
  first registration, particle filter), so its entries are decided without asking the
  vehicle's state.
- An exemption admits a vehicle whatever its norm for a period (a reason is required).
- A day pass admits a vehicle for one local day, at most ``day_passes.per_year`` a calendar
  year (revoked passes do not count), bought up to ``day_passes.after_days`` after the day:
  a pass bought after the entry cancels that day's LEZ offence unless it was exported.

Errors::

    PermitError                (code: machine-readable)
    ├── PermitInvalid          400: a field is wrong (``invalid_permit``)
    ├── PermitForbidden        403: not a manager of the LEZ's zone
    ├── PermitNotFound         404: ``unknown_permit``
    └── PermitConflict         409: ``day_pass_limit``, ``day_pass_exists``, ``permit_revoked``
"""

from __future__ import annotations

import builtins
import datetime as dt
import re
import secrets
from collections.abc import Callable, Collection
from typing import Any

import msgspec

from kruispunt.access.principals import Principal, Role
from kruispunt.access.records import Commit, audit_act, require_note
from kruispunt.audit import PlateTokens
from kruispunt.enforcement.lez import (
    DeclaredVehicle,
    Permit,
    PermitKind,
    RuleSet,
    day_bounds_us,
    local_day,
    norm,
)
from kruispunt.enforcement.offences import OffenceStatus, OffenceStore, offence_id
from kruispunt.errors import Refused
from kruispunt.plates.text import normalise
from kruispunt.store.sql import Conn, SqlStore, now_us, serialise
from kruispunt.writer import Writer

MANAGERS = frozenset({Role.TRAFFIC_OFFICER, Role.ZONE_CHIEF})
"""Who manages the LEZ's permits (people of the LEZ's zone)."""
MAX_LIST = 1000
MAX_TEXT = 2000
MAX_DAYS = 3660
"""The longest registration or exemption."""
MODULE = "lez"
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_CATEGORY = re.compile(r"^[A-Z][A-Z0-9]{0,3}$")
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Permit)
US_PER_DAY = 86_400_000_000


class PermitError(Refused):
    code = "permit_error"


class PermitInvalid(PermitError):
    code = "invalid_permit"


class PermitForbidden(PermitError):
    code = "forbidden"
    status = 403


class PermitNotFound(PermitError):
    code = "unknown_permit"
    status = 404


class PermitConflict(PermitError):
    code = "permit_conflict"
    status = 409


class PermitService:
    """The LEZ's permits in ``lez_permits``, written through the single writer.

    ``rules``: the LEZ's rules (day passes, registration countries, the local day).
    ``zone_id``: the LEZ's (the city's) zone. ``clock``: microseconds since the epoch."""

    def __init__(
        self,
        store: SqlStore,
        writer: Writer,
        *,
        rules: RuleSet,
        zone_id: str,
        clock: Callable[[], int] = now_us,
        plate_tokens: PlateTokens | None = None,
    ):
        self._store = store
        self._commit = Commit(store, writer)
        self.rules = rules
        self.zone_id = zone_id
        self._clock = clock
        self._plate_tokens = plate_tokens or PlateTokens()

    def now(self) -> int:
        return self._clock()

    # -- who --------------------------------------------------------------------------------
    def _check_actor(self, actor: Principal) -> None:
        if actor.role not in MANAGERS or actor.zone_id != self.zone_id:
            raise PermitForbidden(
                f"LEZ permits are managed by the traffic officers and the zone chief of "
                f"{self.zone_id!r}"
            )

    # -- changes ----------------------------------------------------------------------------
    def create(
        self,
        actor: Principal,
        *,
        kind: PermitKind,
        plate: str,
        country: str,
        reason: str = "",
        day: dt.date | None = None,
        valid_from_us: int | None = None,
        valid_until_us: int | None = None,
        vehicle: DeclaredVehicle | None = None,
    ) -> Permit:
        """A new permit (see the module's docstring for what each kind needs)."""
        self._check_actor(actor)
        now = self._clock()
        text = normalise(plate)
        country = country.strip().upper()
        vehicle = _clean(vehicle)
        problems = [] if text else ["plate: no plate characters"]
        if not _COUNTRY.match(country):
            problems.append("country: two letters (ISO 3166)")
        if len(reason) > MAX_TEXT or not reason.replace("\n", " ").isprintable():
            problems.append(f"reason: at most {MAX_TEXT} printable characters")
        if kind is PermitKind.DAY_PASS:
            problems += self._day_pass_problems(day, now)
            if day is not None:
                valid_from_us, valid_until_us = day_bounds_us(day, self.rules)
        else:
            problems += self._period_problems(valid_from_us, valid_until_us, now)
        if kind is PermitKind.REGISTRATION:
            problems += self._registration_problems(country, vehicle, now)
        elif vehicle is not None:
            problems.append("vehicle: only a registration declares the vehicle")
        if kind is PermitKind.EXEMPTION and not reason.strip():
            problems.append("reason: say why the vehicle is exempted")
        if problems:
            raise PermitInvalid("; ".join(problems))
        assert valid_from_us is not None and valid_until_us is not None
        permit = Permit(
            id=f"lp-{secrets.token_hex(8)}", kind=kind, plate=text, country=country,
            valid_from_us=valid_from_us, valid_until_us=valid_until_us, zone_id=self.zone_id,
            reason=reason.strip(), day=day if kind is PermitKind.DAY_PASS else None,
            vehicle=vehicle, created_by=actor.user_id, created_us=now,
        )  # fmt: skip

        def save(conn: Conn) -> Permit:
            serialise(conn, "kruispunt.lez_permits")  # the day-pass count holds across processes
            extra: dict[str, Any] = {}
            if permit.kind is PermitKind.DAY_PASS:
                extra = self._take_day_pass(conn, permit, actor, now)
            conn.execute(
                "INSERT INTO lez_permits (id, plate, country, kind, valid_from_us, "
                "valid_until_us, revoked_us, created_us, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (permit.id, permit.plate, permit.country, str(permit.kind),
                 permit.valid_from_us, permit.valid_until_us, None, now, _encoder.encode(permit)),
            )  # fmt: skip
            self._audit(conn, actor, "lez_permit.create", permit, now, extra)
            return permit

        return self._commit(save)

    def revoke(self, permit_id: str, *, actor: Principal, note: str) -> Permit:
        """End a permit now (``note``: why). Entries before stay decided as they were."""
        self._check_actor(actor)
        require_note(note, PermitInvalid, high=MAX_TEXT, blank="say why the permit is revoked")

        def run(conn: Conn) -> Permit:
            now = self._clock()
            old = self._get(conn, permit_id)
            if old.revoked_us is not None:
                raise PermitConflict(f"permit {permit_id!r} is revoked already", "permit_revoked")
            new = msgspec.structs.replace(
                old, revoked_us=now, revoked_by=actor.user_id, revoke_note=note.strip()
            )
            conn.execute(
                "UPDATE lez_permits SET revoked_us=?, doc=? WHERE id=? AND revoked_us IS NULL",
                (now, _encoder.encode(new), permit_id),
            )
            self._audit(conn, actor, "lez_permit.revoke", new, now, {"note": note.strip()})
            return new

        return self._commit(run)

    # -- reading ----------------------------------------------------------------------------
    def get(self, permit_id: str, *, actor: Principal) -> Permit:
        self._check_actor(actor)

        def run(conn: Conn) -> Permit:
            permit = self._get(conn, permit_id)
            self._audit(conn, actor, "lez_permit.read", permit, self._clock())
            return permit

        return self._commit(run)

    def list(
        self,
        actor: Principal,
        *,
        plate: str | None = None,
        kind: PermitKind | None = None,
        active: bool | None = None,
        limit: int = MAX_LIST,
    ) -> builtins.list[Permit]:
        """The LEZ's permits, newest first: of a plate, a kind, active now (valid and not
        revoked) or not. The consultation is audited (the plate as a token)."""
        self._check_actor(actor)
        now = self._clock()
        where: builtins.list[str] = []
        args: builtins.list[Any] = []
        if plate is not None:
            text = normalise(plate)
            if not text:
                raise PermitInvalid("plate: no plate characters")
            where.append("plate=?")
            args.append(text)
        if kind is not None:
            where.append("kind=?")
            args.append(str(kind))
        if active is True:
            where.append("revoked_us IS NULL AND valid_from_us<=? AND valid_until_us>?")
            args += [now, now]
        elif active is False:
            where.append("(revoked_us IS NOT NULL OR valid_until_us<=? OR valid_from_us>?)")
            args += [now, now]
        sql = "SELECT doc FROM lez_permits"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_us DESC, id LIMIT ?"
        args.append(max(0, min(limit, MAX_LIST)))
        rows = self._store.reader().execute(sql, args).fetchall()
        permits = [p for p in (_decoder.decode(bytes(r[0])) for r in rows)
                   if p.zone_id == self.zone_id]  # fmt: skip

        def record(conn: Conn) -> None:
            scope: dict[str, Any] = {"kind": None if kind is None else str(kind), "active": active}
            if plate is not None:
                scope["plates"] = self._plate_tokens.scope([normalise(plate)])
            audit_act(conn, actor, "lez_permit.list", object_type="lez_permit", object_id="*",
                      at_us=now, scope=scope, results=len(permits))  # fmt: skip

        self._commit(record)
        return permits

    def for_vehicles(
        self, vehicles: Collection[tuple[str, str]], since_us: int, until_us: int
    ) -> dict[tuple[str, str], builtins.list[Permit]]:
        """Internal (the LEZ processor): the permits of these (plate, country) pairs whose
        validity touches ``since_us``..``until_us``, revoked ones too (a revocation after
        an entry does not undo it)."""
        out: dict[tuple[str, str], builtins.list[Permit]] = {}
        plates = sorted({plate for plate, _ in vehicles})
        reader = self._store.reader()
        for start in range(0, len(plates), 500):
            chunk = plates[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = reader.execute(
                f"SELECT doc FROM lez_permits WHERE plate IN ({marks}) "
                "AND valid_until_us>? AND valid_from_us<=?",
                [*chunk, since_us, until_us],
            )
            for (doc,) in rows:
                permit = _decoder.decode(bytes(doc))
                key = (permit.plate, permit.country)
                if key in vehicles and permit.zone_id == self.zone_id:
                    out.setdefault(key, []).append(permit)
        return out

    def day_passes_used(self, plate: str, country: str, year: int) -> int:
        return _day_passes_in(self._store.reader(), normalise(plate), country, year, self.rules)

    # -- helpers ----------------------------------------------------------------------------
    @staticmethod
    def _get(conn: Conn, permit_id: str) -> Permit:
        row = conn.execute("SELECT doc FROM lez_permits WHERE id=?", (permit_id,)).fetchone()
        if row is None:
            raise PermitNotFound(f"no LEZ permit {permit_id!r}")
        return _decoder.decode(bytes(row[0]))

    def _take_day_pass(
        self, conn: Conn, permit: Permit, actor: Principal, now: int
    ) -> dict[str, Any]:
        """Inside the permit's transaction: the year's count, one pass a day, and the day's
        offence cancelled (a pass bought after the entry)."""
        assert permit.day is not None
        taken = conn.execute(
            "SELECT count(*) FROM lez_permits WHERE plate=? AND country=? AND kind=? "
            "AND revoked_us IS NULL AND valid_from_us=?",
            (permit.plate, permit.country, str(PermitKind.DAY_PASS), permit.valid_from_us),
        ).fetchone()
        if int(taken[0]):
            raise PermitConflict(
                f"the vehicle has a day pass for {permit.day} already", "day_pass_exists"
            )
        per_year = self.rules.data.day_passes.per_year
        used = _day_passes_in(conn, permit.plate, permit.country, permit.day.year, self.rules)
        if used >= per_year:
            raise PermitConflict(
                f"the vehicle has had its {per_year} day passes of {permit.day.year}",
                "day_pass_limit",
            )
        extra: dict[str, Any] = {"day_passes_used": used + 1, "day_passes_per_year": per_year}
        found = offence_id(MODULE, permit.plate, permit.country, permit.day.isoformat())
        row = conn.execute("SELECT status FROM offences WHERE id=?", (found,)).fetchone()
        if row is not None and row[0] in (OffenceStatus.NEW, OffenceStatus.WARNING):
            OffenceStore.set_status(conn, found, OffenceStatus.CANCELLED, now)
            extra["offence_cancelled"] = found
        return extra

    def _day_pass_problems(self, day: dt.date | None, now: int) -> builtins.list[str]:
        if day is None:
            return ["day: a day pass covers one day"]
        today = local_day(now, self.rules)
        after = self.rules.data.day_passes.after_days
        if day < today - dt.timedelta(days=after):
            return [f"day: at most {after} day(s) back"]
        if day > today + dt.timedelta(days=366):
            return ["day: at most a year ahead"]
        return []

    @staticmethod
    def _period_problems(
        valid_from_us: int | None, valid_until_us: int | None, now: int
    ) -> builtins.list[str]:
        if valid_from_us is None or valid_until_us is None:
            return ["valid_from and valid_until: both required"]
        if valid_until_us <= valid_from_us or valid_until_us <= now:
            return ["valid_until: after valid_from, and in the future"]
        if valid_until_us - valid_from_us > MAX_DAYS * US_PER_DAY:
            return [f"valid_until: at most {MAX_DAYS} days after valid_from"]
        return []

    def _registration_problems(
        self, country: str, vehicle: DeclaredVehicle | None, now: int
    ) -> builtins.list[str]:
        problems = []
        if country in self.rules.data.registration_exempt_countries:
            problems.append(f"country: a vehicle of {country} that meets the rules needs no "
                            "registration")  # fmt: skip
        if vehicle is None:
            return [*problems, "vehicle: a registration declares the vehicle"]
        if not _CATEGORY.match(vehicle.category):
            problems.append("vehicle.category: an EU vehicle category (M1, N1 ...)")
        euro = norm(vehicle.euro_norm)
        if vehicle.euro_norm is not None and euro not in self.rules.rank:
            problems.append(f"vehicle.euro_norm: one of {', '.join(self.rules.data.euro_norms)}")
        if not dt.date(1900, 1, 1) <= vehicle.first_registration <= local_day(now, self.rules):
            problems.append("vehicle.first_registration: a past date")
        return problems

    def _audit(
        self,
        conn: Conn,
        actor: Principal,
        action: str,
        permit: Permit,
        now: int,
        extra: dict[str, Any] | None = None,
    ) -> None:
        detail = {
            "kind": str(permit.kind), "country": permit.country,
            "valid_from_us": permit.valid_from_us, "valid_until_us": permit.valid_until_us,
            "revoked_us": permit.revoked_us, **(extra or {}),
        }  # fmt: skip
        audit_act(conn, actor, action, object_type="lez_permit", object_id=permit.id,
                  at_us=now, detail=detail,
                  scope={"plates": self._plate_tokens.scope([permit.plate])})  # fmt: skip


def _clean(vehicle: DeclaredVehicle | None) -> DeclaredVehicle | None:
    if vehicle is None:
        return None
    return msgspec.structs.replace(
        vehicle, category=vehicle.category.strip().upper(), euro_norm=norm(vehicle.euro_norm)
    )


def _day_passes_in(conn: Conn, plate: str, country: str, year: int, rules: RuleSet) -> int:
    """A vehicle's day passes (not revoked) of a calendar year (by the local day each
    covers: a pass starts at its day's local midnight)."""
    first, _ = day_bounds_us(dt.date(year, 1, 1), rules)
    end, _ = day_bounds_us(dt.date(year + 1, 1, 1), rules)
    row = conn.execute(
        "SELECT count(*) FROM lez_permits WHERE plate=? AND country=? AND kind=? "
        "AND revoked_us IS NULL AND valid_from_us>=? AND valid_from_us<?",
        (plate, country, str(PermitKind.DAY_PASS), first, end),
    ).fetchone()
    return int(row[0])
