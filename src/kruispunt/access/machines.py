"""Machine tokens: API access for systems, not people (a partner node, a municipality's
dashboard, a back-office system), limited to a zone, a few scopes and a time.

An admin creates one with a name, a zone, scopes from ``Scope`` and an expiry (required,
at most ``max_days`` ahead); the secret is shown once and kept only as its SHA-256. A token
reaches only the routes that declare one of its scopes (``kruispunt.api.guard``), and there
it acts as a ``MachineCaller``: a principal of the token's zone with the role its scope
stands for (``SCOPE_ROLE``), so the services decide per object exactly as they do for a
person of that zone and role, and audit the call with ``machine:<token id>`` as the actor.

A token stops working when revoked or past its expiry, at once in every process (it is read
from the store on each call, one indexed read). Its last use is written back at most once a
minute, off the request's path.

Errors::

    MachineTokenError            (code: machine-readable)
    ├── MachineTokenInvalid      400: a field is wrong (``invalid_machine_token``, ...)
    ├── MachineTokenForbidden    403: only an admin manages machine tokens
    ├── MachineTokenNotFound     404: ``unknown_machine_token``
    └── MachineTokenRevoked      409: revoked already
"""

from __future__ import annotations

import enum
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgspec

from kruispunt.access.principals import Principal, Role
from kruispunt.access.records import Commit, WriteBehind, audit_act, note_problem, require_note
from kruispunt.errors import Refused
from kruispunt.store.sql import Conn, SqlStore, now_us
from kruispunt.tokens import hash_token, new_token
from kruispunt.writer import Writer

log = logging.getLogger(__name__)

US = 1_000_000
US_PER_DAY = 86_400 * US
PREFIX = "kpm_"
"""Every machine token starts with this: told apart from a person's token without a look-up
(and found by secret scanners)."""
MAX_NAME = 200
MAX_NOTE = 2000


class Scope(enum.StrEnum):
    """What a machine may do. Which routes each one opens: ``kruispunt.api.guard``."""

    HITS_READ = "hits:read"
    """A partner node or control room system receives the hits its zone receives."""
    HOTLISTS_READ = "hotlists:read"
    """A back-office system reads (and exports) its zone's hotlists."""
    HOTLISTS_WRITE = "hotlists:write"
    """A back-office system pushes entries into its zone's hotlists (add, change, import)."""
    OFFENCES_READ = "offences:read"
    """The traffic back office fetches (and exports) the offences its zone's traffic officers
    may read: the zone's section control, and the LEZ when it is the LEZ's zone."""


SCOPE_ROLE: Mapping[Scope, Role] = {
    Scope.HITS_READ: Role.OPERATOR,
    Scope.HOTLISTS_READ: Role.OPERATOR,
    Scope.HOTLISTS_WRITE: Role.OPERATOR,
    Scope.OFFENCES_READ: Role.TRAFFIC_OFFICER,
}
"""The role the services see when a machine calls with this scope. The guard opens only the
scope's routes, so the role never reaches anything else (an operator could also close hits
or create lists; a machine with these scopes cannot)."""


class MachineToken(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    zone_id: str
    scopes: tuple[Scope, ...]
    expires_us: int
    """Exclusive: the token gives nothing from this moment on."""
    created_by: str
    created_us: int
    note: str = ""
    revoked_us: int | None = None
    revoked_by: str | None = None
    revoke_reason: str | None = None
    last_used_us: int | None = None
    """Kept in its own column (written back often); not part of the stored document."""

    def status_at(self, at_us: int) -> str:
        if self.revoked_us is not None:
            return "revoked"
        return "expired" if at_us >= self.expires_us else "active"

    def live_at(self, at_us: int) -> bool:
        return self.status_at(at_us) == "active"

    def caller(self, scope: Scope) -> MachineCaller:
        """The principal of a call this token makes with ``scope`` (one it holds)."""
        if scope not in self.scopes:
            raise ValueError(f"token {self.id} does not hold {scope}")
        return MachineCaller(user_id=actor_id(self.id), zone_id=self.zone_id,
                             role=SCOPE_ROLE[scope], token_id=self.id, scope=scope)  # fmt: skip


class MachineCaller(Principal, frozen=True, kw_only=True):
    """A machine as the services see it: a principal of its zone, with its token's id."""

    token_id: str
    scope: Scope


def actor_id(token_id: str) -> str:
    """How a machine appears as the actor of audit records (and as ``user_id``)."""
    return f"machine:{token_id}"


def is_machine_token(token: str) -> bool:
    return token.startswith(PREFIX)


class MachineTokenError(Refused):
    code = "machine_token_error"


class MachineTokenInvalid(MachineTokenError):
    code = "invalid_machine_token"


class MachineTokenForbidden(MachineTokenError):
    code = "forbidden"
    status = 403


class MachineTokenNotFound(MachineTokenError):
    code = "unknown_machine_token"
    status = 404


class MachineTokenRevoked(MachineTokenError):
    code = "machine_token_revoked"
    status = 409


# -- pure rules -------------------------------------------------------------------------------
def token_problems(
    *,
    name: str,
    zone_id: str,
    scopes: Iterable[str],
    expires_us: int,
    note: str,
    now_us: int,
    zone_ids: frozenset[str],
    max_days: int,
) -> list[str]:
    """What is wrong with a token asked for (empty: nothing)."""
    problems: list[str] = []
    if not name.strip() or len(name) > MAX_NAME or not name.isprintable():
        problems.append(f"name: 1 to {MAX_NAME} printable characters")
    if zone_id not in zone_ids:
        problems.append(f"zone_id: unknown zone {zone_id!r}")
    wanted = list(scopes)
    known = {s.value for s in Scope}
    if not wanted:
        problems.append(f"scopes: at least one of {sorted(known)}")
    bad = sorted(set(wanted) - known)
    if bad:
        problems.append(f"scopes: unknown {bad}; known: {sorted(known)}")
    if expires_us <= now_us:
        problems.append("expires_at: must lie in the future")
    elif expires_us > now_us + max_days * US_PER_DAY:
        problems.append(f"expires_at: at most {max_days} days ahead")
    problem = note_problem(note, high=MAX_NOTE, required=False, multiline=True)
    return problems if problem is None else [*problems, problem]


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(MachineToken)
_COLUMNS = "doc, last_used_us"


def _decode(row: Any) -> MachineToken:
    token = _decoder.decode(bytes(row[0]))
    last = None if row[1] is None else int(row[1])
    return msgspec.structs.replace(token, last_used_us=last)


def _doc(token: MachineToken) -> bytes:
    return _encoder.encode(msgspec.structs.replace(token, last_used_us=None))


class MachineTokenService:
    """Machine tokens in the store, written through the single writer.

    ``zone_ids``: the zones a machine may belong to. ``max_days``: the longest validity.
    ``touch_every_s``: how often a token's last use is written back at most."""

    def __init__(
        self,
        store: SqlStore,
        writer: Writer,
        *,
        zone_ids: Iterable[str],
        max_days: int = 365,
        clock: Callable[[], int] = now_us,
        touch_every_s: int = 60,
    ):
        if max_days < 1:
            raise ValueError("max_days: at least 1")
        self._store = store
        self._commit = Commit(store, writer, clock)
        self._zone_ids = frozenset(zone_ids) - {"network"}
        self.max_days = max_days
        self._clock = clock
        self._touch_every_us = touch_every_s * US
        self._last_use = WriteBehind(store, writer, log, "machine token last-use")

    def now(self) -> int:
        return self._clock()

    # -- managing -----------------------------------------------------------------------------
    def create(
        self,
        *,
        name: str,
        zone_id: str,
        scopes: Iterable[str],
        expires_us: int,
        actor: Principal,
        note: str = "",
    ) -> tuple[MachineToken, str]:
        """A new token and its secret (shown once; only its hash is kept)."""
        _require_admin(actor)
        wanted = sorted(set(scopes))
        now = self._clock()
        problems = token_problems(name=name, zone_id=zone_id, scopes=wanted,
                                  expires_us=expires_us, note=note, now_us=now,
                                  zone_ids=self._zone_ids, max_days=self.max_days)  # fmt: skip
        if problems:
            raise MachineTokenInvalid("; ".join(problems))
        secret = PREFIX + new_token()
        token = MachineToken(
            id=f"mt-{secrets.token_hex(6)}", name=name.strip(), zone_id=zone_id,
            scopes=tuple(Scope(s) for s in wanted), expires_us=expires_us,
            created_by=actor.user_id, created_us=now, note=note,
        )  # fmt: skip

        def save(conn: Conn, at: int) -> None:
            conn.execute(
                "INSERT INTO machine_tokens (id, name, zone_id, token_hash, scopes, expires_us, "
                "revoked_us, created_by, created_us, last_used_us, doc) "
                "VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, NULL, ?)",
                (token.id, token.name, zone_id, hash_token(secret), ",".join(wanted),
                 expires_us, actor.user_id, now, _doc(token)),
            )  # fmt: skip
            self._audit(conn, at, actor, "machine_token.create", token,
                        {"name": token.name, "zone_id": zone_id, "scopes": wanted,
                         "expires_us": expires_us})  # fmt: skip

        self._commit.timed(save)
        return token, secret

    def list(self, *, actor: Principal) -> list[MachineToken]:
        """Every token, newest first (never a secret)."""
        _require_admin(actor)
        rows = self._store.reader().execute(
            f"SELECT {_COLUMNS} FROM machine_tokens ORDER BY created_us DESC, id"
        )
        return [_decode(row) for row in rows]

    def get(self, token_id: str, *, actor: Principal) -> MachineToken:
        _require_admin(actor)
        token = self._get(self._store.reader(), token_id)
        if token is None:
            raise MachineTokenNotFound(f"no machine token {token_id!r}")
        return token

    def revoke(self, token_id: str, *, actor: Principal, reason: str = "") -> MachineToken:
        """Switch a token off for good (the record stays, for the audit)."""
        _require_admin(actor)
        require_note(reason, MachineTokenInvalid, high=MAX_NOTE, required=False, name="reason",
                     multiline=True)  # fmt: skip

        def save(conn: Conn, at: int) -> MachineToken:
            token = self._get(conn, token_id)
            if token is None:
                raise MachineTokenNotFound(f"no machine token {token_id!r}")
            if token.revoked_us is not None:
                raise MachineTokenRevoked(f"machine token {token_id!r} is revoked already")
            off = msgspec.structs.replace(
                token, revoked_us=at, revoked_by=actor.user_id, revoke_reason=reason or None
            )
            conn.execute(
                "UPDATE machine_tokens SET revoked_us=?, doc=? WHERE id=?",
                (at, _doc(off), token_id),
            )
            self._audit(conn, at, actor, "machine_token.revoke", off,
                        {"reason": reason, "was": token.status_at(at)})  # fmt: skip
            return off

        return self._commit.timed(save)

    # -- calls --------------------------------------------------------------------------------
    def resolve(self, secret: str, now_us: int | None = None) -> MachineToken | None:
        """The live token with this secret, or None (unknown, revoked or expired). Queues the
        write-back of its last use when that is more than a minute old."""
        if not is_machine_token(secret):
            return None
        now = self._clock() if now_us is None else now_us
        row = (
            self._store.reader()
            .execute(
                f"SELECT {_COLUMNS} FROM machine_tokens WHERE token_hash=?", (hash_token(secret),)
            )
            .fetchone()
        )
        if row is None:
            return None
        token = _decode(row)
        if not token.live_at(now):
            return None
        if token.last_used_us is None or now - token.last_used_us >= self._touch_every_us:
            self._touch(token.id, now)
        return token

    def _touch(self, token_id: str, now: int) -> None:
        self._last_use.queue(
            token_id,  # never backwards, whatever order the write-backs land in
            "UPDATE machine_tokens SET last_used_us=? WHERE id=? "
            "AND (last_used_us IS NULL OR last_used_us<?)",
            (now, token_id, now),
        )

    # -- helpers ------------------------------------------------------------------------------
    @staticmethod
    def _get(conn: Conn, token_id: str) -> MachineToken | None:
        row = conn.execute(
            f"SELECT {_COLUMNS} FROM machine_tokens WHERE id=?", (token_id,)
        ).fetchone()
        return None if row is None else _decode(row)

    @staticmethod
    def _audit(
        conn: Conn,
        at: int,
        actor: Principal,
        action: str,
        token: MachineToken,
        detail: dict[str, Any],
    ) -> None:
        audit_act(conn, actor, action, object_type="machine_token", object_id=token.id,
                  detail=detail, at_us=at)  # fmt: skip


def _require_admin(actor: Principal) -> None:
    if actor.role is not Role.ADMIN or isinstance(actor, MachineCaller):
        raise MachineTokenForbidden("only an admin manages machine tokens")
