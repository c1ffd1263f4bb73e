"""Signing in as a person: password (argon2), TOTP when enrolled, lock-out, and sessions.

The rules are in ``kruispunt.access.credentials``; this service keeps their state in the store
(``credentials`` and ``sessions`` tables) so every node process applies them to the same
counts. Slow work (argon2, about 50 ms) runs on the caller's thread; only the short
bookkeeping goes through the single writer, re-reading the state under a lock first so two
concurrent guesses cannot both slip under the lock-out count or reuse one TOTP code.

A session token is 32 random bytes, kept only as its SHA-256. A session ends when it has not
been used for ``idle_timeout_s`` or is older than ``absolute_timeout_s``; its last use is
written back at most once a minute, off the request's path, to spare the writer.

Every attempt is audited (actor: the user id given; detail: source IP and a reason code,
never the password or the code). Refusals to the caller are deliberately uninformative: a
wrong user id, password, code, a deactivated user and a locked account all answer
``login_failed``; the exact reason is in the audit log and on the exception.

Errors::

    Refused
    ├── LoginFailed       401 login_failed (reason: machine-readable, for the audit only)
    │   └── AccountLocked 401 login_failed (retry_after_s)
    ├── TotpRequired      401 totp_required: the password was right; ask for the code
    ├── PasswordRejected  400 weak_password (problems: what to fix)
    └── TotpInvalid       400 totp_invalid / no_totp_pending
    (and UserForbidden 403, UserNotFound 404, UserInvalid 400 from kruispunt.access.users)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

import msgspec

from kruispunt.access.credentials import (
    LockoutPolicy,
    LockoutState,
    burn_verify,
    hash_password,
    needs_rehash,
    new_totp_secret,
    password_problems,
    verify_password,
    verify_totp,
)
from kruispunt.access.principals import Principal, Role, User
from kruispunt.access.records import Commit, WriteBehind
from kruispunt.access.users import UserForbidden, UserInvalid, UserNotFound
from kruispunt.audit import write_audit
from kruispunt.errors import Refused
from kruispunt.store.sql import Conn, SqlStore, now_us, serialise
from kruispunt.tokens import hash_token, new_token
from kruispunt.writer import Writer

log = logging.getLogger(__name__)

US = 1_000_000
_user_decoder = msgspec.json.Decoder(User)
_LOCK = "kruispunt.credentials"  # one writer at a time per credentials change, all processes


class LoginFailed(Refused):
    code = "login_failed"
    status = 401

    def __init__(self, reason: str):
        super().__init__("wrong user id, password or code")
        self.reason = reason


class AccountLocked(LoginFailed):
    """Told apart from a wrong password only on the exception: answering differently would
    tell an attacker which user ids exist. ``retry_after_s`` is there for a UI that prefers
    to say so anyway."""

    def __init__(self, retry_after_s: int):
        super().__init__("locked")
        self.retry_after_s = retry_after_s


class TotpRequired(Refused):
    code = "totp_required"
    status = 401

    def __init__(self) -> None:
        super().__init__("a code from the authenticator app is required")


class PasswordRejected(Refused):
    code = "weak_password"

    def __init__(self, problems: list[str]):
        super().__init__("password: " + "; ".join(problems))
        self.problems = problems


class TotpInvalid(Refused):
    code = "totp_invalid"


class Session(msgspec.Struct, frozen=True, kw_only=True):
    """A new session: ``token`` goes to the client once (cookie), only its hash is kept."""

    token: str
    principal: Principal
    created_us: int
    expires_us: int  # absolute end; it ends earlier when left idle
    idle_timeout_s: int


class AccountStatus(msgspec.Struct, frozen=True, kw_only=True):
    """What an admin screen may show of a user's credentials (no secrets)."""

    has_password: bool
    totp_enrolled: bool
    totp_pending: bool
    failures: int
    locked_until_us: int


class _Row(msgspec.Struct, frozen=True):
    user: User
    password_hash: str | None
    totp_secret: str | None
    totp_last_step: int | None
    lockout: LockoutState


def _may_manage(actor: Principal, user_id: str) -> None:
    if actor.role != Role.ADMIN and actor.user_id != user_id:
        raise UserForbidden("only an admin may change another user's credentials")


def _printable(value: str, limit: int = 64) -> str:
    """What a caller typed, safe to keep in the audit log (bounded, no control characters)."""
    return "".join(ch if ch.isprintable() else "?" for ch in value[:limit])


class SessionService:
    """Passwords, second factor, lock-out and sessions of the users in the ``users`` table."""

    def __init__(
        self,
        store: SqlStore,
        writer: Writer,
        *,
        idle_timeout_s: int = 900,
        absolute_timeout_s: int = 12 * 3600,
        policy: LockoutPolicy | None = None,
        clock: Callable[[], int] = now_us,
    ):
        if idle_timeout_s <= 0 or absolute_timeout_s < idle_timeout_s:
            raise ValueError("need 0 < idle_timeout_s <= absolute_timeout_s")
        self._store = store
        self._commit = Commit(store, writer, clock)
        self.idle_timeout_s = idle_timeout_s
        self.absolute_timeout_s = absolute_timeout_s
        self.policy = policy or LockoutPolicy()
        self._clock = clock
        # Last use is written back at most this often: idle expiry is exact to this much.
        self._touch_every_us = min(60 * US, idle_timeout_s * US // 2)
        self._last_use = WriteBehind(store, writer, log, "session last-use")

    # -- signing in -------------------------------------------------------------------------
    def login(
        self, user_id: str, password: str, totp_code: str | None = None, *, source_ip: str | None
    ) -> Session:
        """A new session for ``user_id``, or a refusal (see the module's error tree). Each
        wrong password or code counts towards the lock-out; a locked account refuses even
        the right password, unchecked, until the lock lifts."""
        ip = _printable(source_ip or "", 64) or None
        now = self._clock()
        row = self._read(user_id)
        if row is None or not row.user.active or row.password_hash is None:
            burn_verify(password)  # as slow as a real check: no user enumeration by timing
            reason = (
                "unknown_user" if row is None
                else "user_inactive" if not row.user.active
                else "no_password"
            )  # fmt: skip
            self._commit.timed(
                lambda c, t: self._refuse(c, t, user_id, row, ip, reason, count=False)
            )
            raise LoginFailed(reason)
        if self.policy.is_locked(row.lockout, now):
            self._commit.timed(
                lambda c, t: self._refuse(c, t, user_id, row, ip, "locked", count=False)
            )
            raise AccountLocked(self.policy.locked_for_s(row.lockout, now))
        if not verify_password(row.password_hash, password):
            self._fail(user_id, row, ip, "password")
        step: int | None = None
        if row.totp_secret is not None:
            if not totp_code:
                # Not a failure: the password was right and the form asks for the code next.
                self._commit.timed(
                    lambda c, t: self._refuse(c, t, user_id, row, ip, "totp_missing", count=False)
                )
                raise TotpRequired()
            at_s = now // US
            step = verify_totp(row.totp_secret, totp_code, at_s=at_s, last_step=row.totp_last_step)
            if step is None:
                used = verify_totp(row.totp_secret, totp_code, at_s=at_s, last_step=None)
                self._fail(user_id, row, ip, "totp_wrong" if used is None else "totp_replayed")
        # Parameters raised since this hash was made: upgrade it while the password is here.
        rehashed = hash_password(password) if needs_rehash(row.password_hash) else None
        checked_hash = row.password_hash

        def save(conn: Conn, at: int) -> Session | str:
            fresh = self._read_in(conn, user_id)
            if fresh is None or not fresh.user.active or fresh.password_hash != checked_hash:
                # Deactivated or given a new password while this login was being checked.
                self._refuse(conn, at, user_id, fresh, ip, "password_changed", count=False)
                return "password_changed"
            if self.policy.is_locked(fresh.lockout, now):
                self._refuse(conn, at, user_id, fresh, ip, "locked", count=False)
                return "locked"
            if (
                step is not None
                and fresh.totp_last_step is not None
                and (step <= fresh.totp_last_step)
            ):
                self._refuse(conn, at, user_id, fresh, ip, "totp_replayed", count=True)
                return "totp_replayed"
            conn.execute(
                "UPDATE credentials SET failures=0, locked_until_us=0, "
                "totp_last_step=COALESCE(?, totp_last_step), "
                "password_hash=COALESCE(?, password_hash), updated_us=? WHERE user_id=?",
                (step, rehashed, at, user_id),
            )
            return self.open_session(
                conn, fresh.user, started_us=now, at_us=at, source_ip=ip,
                detail={"second_factor": "totp" if step is not None else None,
                        "rehashed": rehashed is not None},
            )  # fmt: skip

        outcome = self._commit.timed(save)
        if outcome == "locked":
            raise AccountLocked(self.policy.locked_for_s(self._read_lockout(user_id), now))
        if isinstance(outcome, str):
            raise LoginFailed(outcome)
        return outcome

    def open_session(
        self,
        conn: Conn,
        user: User,
        *,
        started_us: int,
        at_us: int,
        source_ip: str | None,
        method: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> Session:
        """Inside the caller's write transaction: a new session for ``user``, who has proven
        who they are (a password here, an identity provider), and its ``login`` audit record.
        ``started_us``: when the sign-in began (the session's start); ``at_us``: the
        transaction's time (the audit's). ``method``: how they signed in, where not with a
        local password (``"oidc"``); ``detail``: what else the audit record keeps."""
        token = new_token()
        conn.execute(
            "INSERT INTO sessions (token_hash, user_id, created_us, last_seen_us, source_ip)"
            " VALUES (?, ?, ?, ?, ?)",
            (hash_token(token), user.id, started_us, started_us, source_ip),
        )
        how = {} if method is None else {"method": method}
        self._audit(conn, at_us, user, "login", user.id,
                    {**how, "source_ip": source_ip, **(detail or {})})  # fmt: skip
        return Session(
            token=token,
            principal=Principal.of(user),
            created_us=started_us,
            expires_us=started_us + self.absolute_timeout_s * US,
            idle_timeout_s=self.idle_timeout_s,
        )

    def _fail(self, user_id: str, row: _Row, ip: str | None, reason: str) -> NoReturn:
        """Count one failure (under the lock, on the state as it is now) and refuse."""
        self._commit.timed(lambda c, t: self._refuse(c, t, user_id, row, ip, reason, count=True))
        raise LoginFailed(reason)

    def _refuse(
        self,
        conn: Conn,
        at: int,
        user_id: str,
        row: _Row | None,
        ip: str | None,
        reason: str,
        *,
        count: bool,
    ) -> None:
        user = row.user if row is not None else None
        detail: dict[str, Any] = {"source_ip": ip, "reason": reason}
        after: LockoutState | None = None
        before = LockoutState()
        if count and row is not None:
            fresh = self._read_in(conn, user_id)
            before = fresh.lockout if fresh is not None else row.lockout
            after = self.policy.after_failure(before, at)
            conn.execute(
                "UPDATE credentials SET failures=?, locked_until_us=?, updated_us=? "
                "WHERE user_id=?",
                (after.failures, after.locked_until_us, at, user_id),
            )
            detail["failures"] = after.failures
        self._audit(conn, at, user, "login.failed", user_id, detail)
        if after is not None and after.locked_until_us > at and after != before:
            self._audit(conn, at, user, "login.locked", user_id,
                        {"source_ip": ip, "locked_until_us": after.locked_until_us,
                         "lock_s": self.policy.lock_s})  # fmt: skip

    # -- sessions ---------------------------------------------------------------------------
    def principal_for_session(self, token: str, now_us: int | None = None) -> Principal | None:
        """Who holds this session token, or None (unknown, ended, idle or too old, or the user
        was deactivated). One indexed read; the write-back of its use is queued, not awaited."""
        now = self._clock() if now_us is None else now_us
        digest = hash_token(token)
        row = (
            self._store.reader()
            .execute(
                "SELECT s.created_us, s.last_seen_us, u.doc FROM sessions s "
                "JOIN users u ON u.id = s.user_id WHERE s.token_hash=?",
                (digest,),
            )
            .fetchone()
        )
        if row is None:
            return None
        created, last_seen, doc = int(row[0]), int(row[1]), row[2]
        if not self._alive(created, last_seen, now):
            return None
        user = _user_decoder.decode(doc)
        if not user.active:
            return None
        if now - last_seen >= self._touch_every_us:
            self._touch(digest, now)
        return Principal.of(user)

    def _alive(self, created_us: int, last_seen_us: int, now: int) -> bool:
        return (
            now < created_us + self.absolute_timeout_s * US
            and now < last_seen_us + self.idle_timeout_s * US
        )

    def _touch(self, digest: str, now: int) -> None:
        self._last_use.queue(
            digest,  # never backwards, whatever order the write-backs land in
            "UPDATE sessions SET last_seen_us=? WHERE token_hash=? AND last_seen_us<?",
            (now, digest, now),
        )

    def logout(self, token: str) -> bool:
        """End this session now; False when it was not there (ended already)."""
        digest = hash_token(token)

        def save(conn: Conn, at: int) -> bool:
            gone = conn.execute(
                "DELETE FROM sessions WHERE token_hash=? RETURNING user_id", (digest,)
            ).fetchone()
            if gone is None:
                return False
            user = self._read_in(conn, str(gone[0]))
            self._audit(conn, at, user.user if user else None, "logout", str(gone[0]), {})
            return True

        return self._commit.timed(save)

    def end_sessions(self, user_id: str, *, actor: Principal, keep_token: str | None = None) -> int:
        """End every session of ``user_id`` (but ``keep_token``'s): "sign out everywhere", or
        an admin cutting off a stolen laptop. Returns how many ended."""
        _may_manage(actor, user_id)

        def save(conn: Conn, at: int) -> int:
            ended = self._end_sessions(conn, user_id, keep_token)
            write_audit(conn, actor=actor.user_id, actor_zone=actor.zone_id,
                        action="user.sessions.end", object_type="user", object_id=user_id,
                        detail={"ended": ended}, at_us=at)  # fmt: skip
            return ended

        return self._commit.timed(save)

    @staticmethod
    def _end_sessions(conn: Conn, user_id: str, keep_token: str | None) -> int:
        keep = hash_token(keep_token) if keep_token is not None else ""
        return conn.execute(
            "DELETE FROM sessions WHERE user_id=? AND token_hash<>?", (user_id, keep)
        ).rowcount

    def expire_idle(self, now_us: int | None = None) -> int:
        """Delete sessions past their idle or absolute end (a periodic sweep; they are refused
        already, this only keeps the table small). Returns how many went."""
        now = self._clock() if now_us is None else now_us

        def save(conn: Conn, _at: int) -> int:
            return conn.execute(
                "DELETE FROM sessions WHERE last_seen_us<=? OR created_us<=?",
                (now - self.idle_timeout_s * US, now - self.absolute_timeout_s * US),
            ).rowcount

        return self._commit.timed(save)

    # -- managing credentials ---------------------------------------------------------------
    def set_password(
        self, user_id: str, password: str, *, actor: Principal, keep_token: str | None = None
    ) -> None:
        """Give ``user_id`` a new password (an admin: anyone's; a user: their own; the API
        should ask a user for the current one first). Lifts a lock-out and ends the user's
        other sessions (all but ``keep_token``): a password changed after a suspected leak
        must shut the intruder out too."""
        _may_manage(actor, user_id)
        problems = password_problems(password, user_id=user_id)
        if problems:
            raise PasswordRejected(problems)
        new_hash = hash_password(password)

        def save(conn: Conn, at: int) -> None:
            self._active_user(conn, user_id)
            conn.execute(
                "INSERT INTO credentials (user_id, password_hash, failures, locked_until_us, "
                "updated_us) VALUES (?, ?, 0, 0, ?) ON CONFLICT (user_id) DO UPDATE SET "
                "password_hash=excluded.password_hash, failures=0, locked_until_us=0, "
                "updated_us=excluded.updated_us",
                (user_id, new_hash, at),
            )
            ended = self._end_sessions(conn, user_id, keep_token)
            write_audit(conn, actor=actor.user_id, actor_zone=actor.zone_id,
                        action="user.password", object_type="user", object_id=user_id,
                        detail={"sessions_ended": ended}, at_us=at)  # fmt: skip

        self._commit.timed(save)

    def check_password(self, user_id: str, password: str) -> bool:
        """Whether ``password`` is the user's current one (a "change password" form asks for
        it). Not counted for lock-out: the caller is signed in already."""
        row = self._read(user_id)
        if row is None or row.password_hash is None:
            burn_verify(password)
            return False
        return verify_password(row.password_hash, password)

    def enrol_totp(self, user_id: str, *, actor: Principal) -> str:
        """A new TOTP secret for ``user_id``, shown once (QR code: ``provisioning_uri``). It
        takes effect only once ``confirm_totp`` saw a code from it; until then a second factor
        already in use stays in force."""
        _may_manage(actor, user_id)
        secret = new_totp_secret()

        def save(conn: Conn, at: int) -> None:
            self._active_user(conn, user_id)
            conn.execute(
                "INSERT INTO credentials (user_id, totp_pending, updated_us) VALUES (?, ?, ?) "
                "ON CONFLICT (user_id) DO UPDATE SET totp_pending=excluded.totp_pending, "
                "updated_us=excluded.updated_us",
                (user_id, secret, at),
            )
            write_audit(conn, actor=actor.user_id, actor_zone=actor.zone_id,
                        action="user.totp.enrol", object_type="user", object_id=user_id,
                        at_us=at)  # fmt: skip

        self._commit.timed(save)
        return secret

    def confirm_totp(self, user_id: str, code: str) -> None:
        """Switch the pending secret on, proven by a code from the user's app (so nobody is
        locked out by a secret their phone never got). That code cannot sign in afterwards."""
        now = self._clock()
        pending = self._pending(self._store.reader(), user_id)
        if pending is None:
            raise TotpInvalid("no TOTP enrolment is waiting for confirmation", "no_totp_pending")
        step = verify_totp(pending, code, at_s=now // US, last_step=None)
        if step is None:
            raise TotpInvalid("wrong code")

        def save(conn: Conn, at: int) -> None:
            user = self._active_user(conn, user_id)
            if self._pending(conn, user_id) != pending:
                raise TotpInvalid("the enrolment changed; start again", "no_totp_pending")
            conn.execute(
                "UPDATE credentials SET totp_secret=totp_pending, totp_pending=NULL, "
                "totp_last_step=?, updated_us=? WHERE user_id=?",
                (step, at, user_id),
            )
            self._audit(conn, at, user, "user.totp.confirm", user_id, {})

        self._commit.timed(save)

    def disable_totp(self, user_id: str, *, actor: Principal) -> None:
        """Remove the second factor (lost phone). Admin only: a stolen session must not be
        able to strip it."""
        if actor.role != Role.ADMIN:
            raise UserForbidden("only an admin may remove a second factor")

        def save(conn: Conn, at: int) -> None:
            self._active_user(conn, user_id)
            conn.execute(
                "UPDATE credentials SET totp_secret=NULL, totp_pending=NULL, "
                "totp_last_step=NULL, updated_us=? WHERE user_id=?",
                (at, user_id),
            )
            write_audit(conn, actor=actor.user_id, actor_zone=actor.zone_id,
                        action="user.totp.disable", object_type="user", object_id=user_id,
                        at_us=at)  # fmt: skip

        self._commit.timed(save)

    def status(self, user_id: str) -> AccountStatus | None:
        row = (
            self._store.reader()
            .execute(
                "SELECT password_hash IS NOT NULL, totp_secret IS NOT NULL, "
                "totp_pending IS NOT NULL, failures, locked_until_us FROM credentials "
                "WHERE user_id=?",
                (user_id,),
            )
            .fetchone()
        )
        if row is None:
            return None
        return AccountStatus(has_password=bool(row[0]), totp_enrolled=bool(row[1]),
                             totp_pending=bool(row[2]), failures=int(row[3]),
                             locked_until_us=int(row[4]))  # fmt: skip

    # -- helpers ----------------------------------------------------------------------------
    _SELECT = (
        "SELECT u.doc, c.password_hash, c.totp_secret, c.totp_last_step, c.failures, "
        "c.locked_until_us FROM users u LEFT JOIN credentials c ON c.user_id = u.id "
        "WHERE u.id=?"
    )

    def _read(self, user_id: str) -> _Row | None:
        return self._row(self._store.reader().execute(self._SELECT, (user_id,)).fetchone())

    def _read_in(self, conn: Conn, user_id: str) -> _Row | None:
        """Inside a write transaction, after taking the credentials lock: the state as every
        other process will see it when this transaction commits."""
        serialise(conn, _LOCK)
        return self._row(conn.execute(self._SELECT, (user_id,)).fetchone())

    def _read_lockout(self, user_id: str) -> LockoutState:
        row = self._read(user_id)
        return row.lockout if row is not None else LockoutState()

    @staticmethod
    def _row(row: Any) -> _Row | None:
        if row is None:
            return None
        doc, pw_hash, secret, last_step, failures, locked_until = row
        return _Row(
            _user_decoder.decode(doc),
            pw_hash,
            secret,
            None if last_step is None else int(last_step),
            LockoutState(int(failures or 0), int(locked_until or 0)),
        )

    @staticmethod
    def _pending(conn: Conn, user_id: str) -> str | None:
        row = conn.execute(
            "SELECT totp_pending FROM credentials WHERE user_id=?", (user_id,)
        ).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def _active_user(self, conn: Conn, user_id: str) -> User:
        row = self._read_in(conn, user_id)
        if row is None:
            raise UserNotFound(f"no user {user_id!r}")
        if not row.user.active:
            raise UserInvalid(f"user {user_id!r} is deactivated", "user_inactive")
        return row.user

    @staticmethod
    def _audit(
        conn: Conn, at: int, user: User | None, action: str, user_id: str, detail: dict[str, Any]
    ) -> None:
        """A record of the user's own act: actor and object are the user id as given."""
        who = _printable(user_id)
        write_audit(conn, actor=who, actor_zone=user.zone_id if user else None, action=action,
                    object_type="user", object_id=who, detail=detail, at_us=at)  # fmt: skip
