"""Users: who they are, their zone and role, and the API token each one holds.

Held in memory for the hot path (token -> principal is one dict look-up), written through to
the store by the single writer. Tokens are random 256-bit secrets shown once; only their
SHA-256 is kept (argon2 is for secrets people choose). Every change is audited in the same
transaction as the change itself.

Errors::

    UserError                 (code: machine-readable)
    ├── UserInvalid           400: a field is wrong (unknown zone, blank name ...)
    ├── UserForbidden         403: the actor may not do this
    ├── UserNotFound          404
    └── UserExists            409
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable, Iterable

import msgspec

from kruispunt.access.principals import Principal, Role, User
from kruispunt.audit import write_audit
from kruispunt.errors import Refused
from kruispunt.store.sql import Conn, SqlStore
from kruispunt.tokens import hash_token, new_token
from kruispunt.writer import Writer

SYSTEM = Principal(user_id="system", zone_id="network", role=Role.ADMIN)
"""The actor of changes made at the machine itself (first admin, offline CLI)."""

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(User)


class UserError(Refused):
    code = "user_error"


class UserInvalid(UserError):
    code = "invalid_user"


class UserForbidden(UserError):
    code = "forbidden"
    status = 403


class UserNotFound(UserError):
    code = "unknown_user"
    status = 404


class UserExists(UserError):
    code = "user_exists"
    status = 409


def _now_us() -> int:
    return time.time_ns() // 1000


def _require_admin(actor: Principal) -> None:
    if actor.role != Role.ADMIN:
        raise UserForbidden("only an admin may manage users")


class UserService:
    """Users and their tokens. ``zone_ids``: the zones a user may belong to (None: any)."""

    def __init__(self, store: SqlStore, writer: Writer, *, zone_ids: Iterable[str] | None = None):
        self._store = store
        self._writer = writer
        self._zone_ids = None if zone_ids is None else {*zone_ids, "network"}
        self._users: dict[str, User] = {}
        self._by_hash: dict[str, str] = {}  # token hash -> user id
        self._hash_of: dict[str, str] = {}  # user id -> token hash
        self._lock = threading.Lock()
        self.on_change: list[Callable[[], None]] = []

    def load(self) -> None:
        rows = self._store.reader().execute("SELECT doc, token_hash FROM users").fetchall()
        users: dict[str, User] = {}
        by_hash: dict[str, str] = {}
        hash_of: dict[str, str] = {}
        for doc, token_hash in rows:
            user = _decoder.decode(doc)
            users[user.id] = user
            if token_hash is not None and user.active:
                by_hash[token_hash] = user.id
                hash_of[user.id] = token_hash
        # Swapped whole: a token checked during a reload never sees a half-empty table.
        with self._lock:
            self._users, self._by_hash, self._hash_of = users, by_hash, hash_of

    # -- reading ----------------------------------------------------------------------------
    def get(self, user_id: str) -> User | None:
        return self._users.get(user_id)

    def all(self) -> list[User]:
        return sorted(self._users.values(), key=lambda u: u.id)

    def principal_for_token(self, token: str) -> Principal | None:
        digest = hash_token(token)
        user_id = self._by_hash.get(digest)
        if user_id is None:
            return None
        # The dict look-up only finds the candidate; confirm in constant time.
        if not hmac.compare_digest(self._hash_of.get(user_id, ""), digest):
            return None
        user = self._users.get(user_id)
        if user is None or not user.active:
            return None
        return Principal.of(user)

    # -- changes ----------------------------------------------------------------------------
    def create(self, user: User, *, actor: Principal | None) -> str:
        """Save a new user and return its first API token (shown once). ``actor`` None: the
        machine itself (bootstrap of the first admin)."""
        who = actor or SYSTEM
        _require_admin(who)
        self._check(user)
        if not user.active:
            raise UserInvalid("a new user starts active", "invalid_user")
        token = new_token()
        digest = hash_token(token)

        def save(conn: Conn, now: int) -> None:
            if conn.execute("SELECT 1 FROM users WHERE id=?", (user.id,)).fetchone():
                raise UserExists(f"user {user.id!r} exists")
            conn.execute(
                "INSERT INTO users (id, doc, token_hash, created_us, updated_us) "
                "VALUES (?, ?, ?, ?, ?)",
                (user.id, _encoder.encode(user), digest, now, now),
            )
            self._audit(conn, who, "user.create", user, now)

        self._commit(save, lambda: self._remember(user, digest))
        return token

    def issue_token(self, user_id: str, *, actor: Principal | None) -> str:
        """A new token for an active user; the old one stops working at once. An admin may
        renew anyone's token, a user their own."""
        who = actor or SYSTEM
        if who.role != Role.ADMIN and who.user_id != user_id:
            raise UserForbidden("only an admin may issue another user's token")
        token = new_token()
        digest = hash_token(token)

        def save(conn: Conn, now: int) -> None:
            user = self._current(user_id)
            if not user.active:
                raise UserInvalid(f"user {user_id!r} is deactivated", "user_inactive")
            conn.execute(
                "UPDATE users SET token_hash=?, updated_us=? WHERE id=?", (digest, now, user_id)
            )
            self._audit(conn, who, "user.token", user, now)

        self._commit(save, lambda: self._remember(self._current(user_id), digest))
        return token

    def deactivate(self, user_id: str, *, actor: Principal | None) -> User:
        """Switch a user off: the token stops working at once. The record stays (audit)."""
        who = actor or SYSTEM
        _require_admin(who)
        done: list[User] = []

        def save(conn: Conn, now: int) -> None:
            off = msgspec.structs.replace(self._current(user_id), active=False)
            conn.execute(
                "UPDATE users SET doc=?, token_hash=NULL, updated_us=? WHERE id=?",
                (_encoder.encode(off), now, user_id),
            )
            self._audit(conn, who, "user.deactivate", off, now)
            done.append(off)

        self._commit(save, lambda: self._remember(done[0], None))
        return done[0]

    # -- helpers ----------------------------------------------------------------------------
    def _current(self, user_id: str) -> User:
        user = self._users.get(user_id)
        if user is None:
            raise UserNotFound(f"no user {user_id!r}")
        return user

    def _check(self, user: User) -> None:
        if not user.id.strip() or len(user.id) > 64 or not user.id.isprintable():
            raise UserInvalid("id: 1 to 64 printable characters")
        if not user.name.strip():
            raise UserInvalid("name: must not be blank")
        if self._zone_ids is not None and user.zone_id not in self._zone_ids:
            raise UserInvalid(f"zone_id: unknown zone {user.zone_id!r}", "unknown_zone")

    def _commit(self, fn: Callable[[Conn, int], None], after: Callable[[], None]) -> None:
        """``fn`` in one writer transaction, then ``after`` (the in-memory update) on the
        writer thread too, so memory follows the commits in their order."""

        def run(_store: object) -> None:
            with self._store.transaction() as conn:
                fn(conn, _now_us())
            after()

        self._writer.call(run).result()
        for hook in self.on_change:  # other node processes reload their users
            hook()

    @staticmethod
    def _audit(conn: Conn, actor: Principal, action: str, user: User, now: int) -> None:
        write_audit(
            conn, actor=actor.user_id, actor_zone=actor.zone_id, action=action,
            object_type="user", object_id=user.id,
            detail={"zone_id": user.zone_id, "role": str(user.role), "active": user.active},
            at_us=now,
        )  # fmt: skip

    def _remember(self, user: User, token_hash: str | None) -> None:
        with self._lock:
            self._users[user.id] = user
            old = self._hash_of.pop(user.id, None)
            if old is not None:
                self._by_hash.pop(old, None)
            if token_hash is not None and user.active:
                self._hash_of[user.id] = token_hash
                self._by_hash[token_hash] = user.id
