"""What the access services share: their records, the writer's transactions, text checks.

The grants, approvals, authorisations and legal holds are each one table of records kept as
msgspec JSON documents (``doc``) beside the few columns their queries need (``Records``).
A record moves on through its life (``Lifecycle.step``) in one writer transaction
(``Commit``) with its audit record, by compare-and-set on its stored status: a concurrent
step in another process makes one of the two fail instead of overwriting the other. A
forbidden attempt is audited as ``<object_type>.forbidden`` in that transaction, and refused
once the audit is committed (``Commit.refusable``).

- ``text_problems``, ``note_problem``, ``require_note``: checks of free text fields;
- ``camera_problems``: a scope's cameras that are not cameras of its zone;
- ``Where``: a list query's conditions (``status_at``: a status as of now), ``bounded``;
- ``audit_act``: an audit record of an actor's act, with their zone and role;
- ``WriteBehind``: writes queued off the request's path (a session's or a token's last use).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import msgspec

from kruispunt.access.principals import Principal
from kruispunt.audit import write_audit
from kruispunt.domain.cameras import Camera
from kruispunt.errors import Refused
from kruispunt.store.sql import Conn, SqlStore
from kruispunt.writer import Writer, WriterStopped

T = TypeVar("T")
_encoder = msgspec.json.Encoder()


class CameraLookup(Protocol):
    """What a service needs of the camera registry (to check the cameras of a scope)."""

    def get(self, camera_id: str) -> Camera | None: ...


# -- free text ------------------------------------------------------------------------------
def _is_printable(value: str, *, multiline: bool = False) -> bool:
    return (value.replace("\n", " ") if multiline else value).isprintable()


def text_problems(name: str, value: str, *, high: int, low: int = 1, hint: str = "") -> list[str]:
    """What is wrong with a required text field: blank, shorter than ``low`` once stripped
    (``hint`` follows that message), longer than ``high`` or not printable."""
    stripped = value.strip()
    if not stripped:
        return [f"{name}: must not be blank"]
    if len(stripped) < low:
        return [f"{name}: at least {low} characters{hint}"]
    if len(value) > high or not value.isprintable():
        return [f"{name}: at most {high} printable characters"]
    return []


def note_problem(
    note: str,
    *,
    high: int,
    required: bool,
    name: str = "note",
    blank: str = "say why",
    multiline: bool = False,
) -> str | None:
    """What is wrong with a note (why something was done): blank where ``required``, longer
    than ``high`` or not printable (``multiline``: line breaks allowed)."""
    if required and not note.strip():
        return f"{name}: {blank}"
    if len(note) > high or not _is_printable(note, multiline=multiline):
        return f"{name}: at most {high} printable characters"
    return None


def require_note(
    note: str,
    invalid: Callable[[str], Exception],
    *,
    high: int,
    required: bool = True,
    name: str = "note",
    blank: str = "say why",
    multiline: bool = False,
) -> None:
    """``note_problem``, raised as ``invalid``."""
    problem = note_problem(note, high=high, required=required, name=name, blank=blank,
                           multiline=multiline)  # fmt: skip
    if problem is not None:
        raise invalid(problem)


def camera_problems(
    cameras: CameraLookup | None, camera_ids: Iterable[str], zone: str
) -> list[str]:
    """The cameras that are not cameras of ``zone`` in the registry (none without one)."""
    if cameras is None:
        return []
    problems = []
    for cam_id in camera_ids:
        camera = cameras.get(cam_id)
        if camera is None or camera.zone_id != zone:
            problems.append(f"cameras: {cam_id!r} is not a camera of {zone!r}")
    return problems


def unique(items: Iterable[str]) -> tuple[str, ...]:
    """The items without repeats, in their first order."""
    return tuple(dict.fromkeys(items))


# -- the writer's transactions ------------------------------------------------------------
class Commit:
    """The single writer's transactions on a store.

    ``commit(fn)``: ``fn(conn)`` in one transaction on the writer thread; its result (or its
    exception, nothing written) once committed. ``commit.timed(fn)``: ``fn(conn, at)`` with
    ``at`` the clock read inside the transaction."""

    def __init__(self, store: SqlStore, writer: Writer, clock: Callable[[], int] | None = None):
        self._store = store
        self._writer = writer
        self._clock = clock

    def __call__(self, fn: Callable[[Conn], T]) -> T:
        def run(_store: object) -> T:
            with self._store.transaction() as conn:
                return fn(conn)

        return self._writer.call(run).result()

    def timed(self, fn: Callable[[Conn, int], T]) -> T:
        clock = self._clock
        assert clock is not None, "Commit.timed needs a clock"
        return self(lambda conn: fn(conn, clock()))

    def refusable(self, fn: Callable[[Conn], T | Refused]) -> T:
        """As a call, for a step that writes even when it refuses (the audit of a forbidden
        attempt): the refusal ``fn`` returns is raised once what it wrote is committed."""
        result = self(fn)
        if isinstance(result, Refused):
            raise result
        return result


class WriteBehind:
    """Small writes queued on the writer off the request's path (a session's or a machine
    token's last use), at most one per key at a time; a failure is logged, never raised."""

    def __init__(self, store: SqlStore, writer: Writer, log: logging.Logger, what: str):
        self._store = store
        self._writer = writer
        self._log = log
        self._what = what
        self._queued: set[str] = set()
        self._lock = threading.Lock()

    def queue(self, key: str, statement: str, args: Sequence[Any]) -> None:
        with self._lock:
            if key in self._queued:
                return
            self._queued.add(key)

        def run(_store: object) -> None:
            try:
                with self._store.transaction() as conn:
                    conn.execute(statement, args)
            finally:
                with self._lock:
                    self._queued.discard(key)

        def report(done: Future[None]) -> None:
            if done.exception() is not None:
                self._log.warning("%s write-back failed: %s", self._what, done.exception())

        try:
            self._writer.call(run).add_done_callback(report)
        except WriterStopped:
            with self._lock:
                self._queued.discard(key)


# -- the audit ------------------------------------------------------------------------------
def audit_act(
    conn: Conn,
    actor: Principal,
    action: str,
    *,
    object_type: str,
    object_id: str,
    at_us: int,
    detail: dict[str, Any] | None = None,
    **context: Any,
) -> None:
    """An audit record of ``actor``'s act (with their zone and role), in ``conn``'s
    transaction. ``context``: the rest of ``write_audit``'s context (case, scope ...)."""
    write_audit(conn, actor=actor.user_id, actor_zone=actor.zone_id, action=action,
                object_type=object_type, object_id=object_id, detail=detail, at_us=at_us,
                role=str(actor.role), **context)  # fmt: skip


# -- records --------------------------------------------------------------------------------
class Stored(Protocol):
    """A record with an id, a stored status (what the compare-and-set compares) and its
    status at a moment (a validity or expiry may have passed since it was stored)."""

    @property
    def id(self) -> str: ...

    @property
    def status(self) -> str: ...

    def status_at(self, at_us: int) -> str: ...


S = TypeVar("S", bound=Stored)


def bounded(limit: int, most: int) -> int:
    """A caller's ``limit``, within 0 and ``most``."""
    return max(0, min(limit, most))


class Where:
    """The conditions of a query (joined with AND) and their arguments, in order."""

    def __init__(self, condition: str | None = None, *args: Any):
        self.parts: list[str] = []
        self.args: list[Any] = []
        if condition is not None:
            self.add(condition, *args)

    def add(self, condition: str, *args: Any) -> Where:
        self.parts.append(condition)
        self.args.extend(args)
        return self

    def status_at(
        self,
        status: str | None,
        at_us: int,
        *,
        live: Collection[str],
        expired: str,
        until: str = "valid_until_us",
    ) -> Where:
        """Records whose status at ``at_us`` is ``status`` (None: any): a ``live`` status
        holds only before the ``until`` column passes; ``expired`` is a live one past it, or
        one whose expiry was recorded."""
        if status is None:
            return self
        if status in live:
            return self.add(f"status=? AND {until}>?", str(status), at_us)
        if status == expired:
            lives = sorted(map(str, live))
            marks = ", ".join("?" * len(lives))
            return self.add(f"(status=? OR (status IN ({marks}) AND {until}<=?))",
                            str(expired), *lives, at_us)  # fmt: skip
        return self.add("status=?", str(status))

    @property
    def sql(self) -> str:
        """`` WHERE ...`` (empty without conditions)."""
        return " WHERE " + " AND ".join(self.parts) if self.parts else ""


class Records(Generic[S]):
    """One table of records: the record as a JSON document (``doc``), beside it the columns
    its queries need (``columns``: their values for a record, ``id`` and ``status`` among
    them) and when the row last changed (``updated_us``)."""

    def __init__(self, table: str, kind: type[S], columns: Callable[[S], Mapping[str, Any]]):
        self.table = table
        self._decoder = msgspec.json.Decoder(kind)
        self._columns = columns

    def decode(self, raw: Any) -> S:
        return self._decoder.decode(bytes(raw))

    def get(self, conn: Conn, record_id: str) -> S | None:
        row = conn.execute(f"SELECT doc FROM {self.table} WHERE id=?", (record_id,)).fetchone()
        return None if row is None else self.decode(row[0])

    def select(
        self, conn: Conn, where: Where | None = None, *, order: str, limit: int | None = None
    ) -> list[S]:
        """The records that meet ``where``, in ``order`` (SQL), at most ``limit``."""
        where = where or Where()
        args = list(where.args)
        statement = f"SELECT doc FROM {self.table}{where.sql} ORDER BY {order}"
        if limit is not None:
            statement += " LIMIT ?"
            args.append(limit)
        return [self.decode(row[0]) for row in conn.execute(statement, args)]

    def insert(self, conn: Conn, record: S, at_us: int) -> None:
        values = {**self._columns(record), "updated_us": at_us, "doc": _encoder.encode(record)}
        marks = ", ".join("?" * len(values))
        conn.execute(f"INSERT INTO {self.table} ({', '.join(values)}) VALUES ({marks})",
                     list(values.values()))  # fmt: skip

    def swap(self, conn: Conn, old: S, new: S, at_us: int) -> bool:
        """Store ``new`` in place of ``old``, compare-and-set on the stored status: False
        when another process changed it first (nothing written then)."""
        before = self._columns(old)
        values = {
            **{k: v for k, v in self._columns(new).items() if k == "status" or v != before[k]},
            "updated_us": at_us,
            "doc": _encoder.encode(new),
        }
        sets = ", ".join(f"{column}=?" for column in values)
        changed = conn.execute(
            f"UPDATE {self.table} SET {sets} WHERE id=? AND status=?",
            [*values.values(), old.id, str(old.status)],
        ).rowcount
        return changed == 1


def _as_stored(record: S, _at_us: int) -> S:
    return record


def _seen(_record: object) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class Lifecycle(Generic[S]):
    """The audited records of one table and how they move on from status to status.

    ``object_type``: what the audit calls them (a forbidden attempt is audited as
    ``<object_type>.forbidden``); ``detail(record, now)`` and ``context(record)``: what
    their audit records keep (``write_audit``'s detail, and its context: purpose, case,
    reason, scope ...). ``missing(id)``, ``forbidden(why)``, ``meanwhile(id)``: the refusals
    for an unknown record, an actor who may not take a step and a record another process
    changed first. ``as_of(record, now)``: the record as the audit of a forbidden attempt
    shows it."""

    records: Records[S]
    commit: Commit
    clock: Callable[[], int]
    object_type: str
    detail: Callable[[S, int], dict[str, Any]]
    context: Callable[[S], dict[str, Any]]
    missing: Callable[[str], Refused]
    forbidden: Callable[[str], Refused]
    meanwhile: Callable[[str], Refused]
    as_of: Callable[[S, int], S] = _as_stored

    def audit(
        self,
        conn: Conn,
        actor: Principal,
        action: str,
        record: S,
        now: int,
        *,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """An audit record of ``actor``'s ``action`` on ``record`` (``extra``: in its detail)."""
        audit_act(conn, actor, action, object_type=self.object_type, object_id=record.id,
                  detail={**self.detail(record, now), **(extra or {})}, at_us=now,
                  **self.context(record))  # fmt: skip

    def step(
        self,
        record_id: str,
        *,
        actor: Principal,
        action: str,
        why_not: Callable[[S], str | None],
        allowed_from: Collection[str],
        closed: Callable[[str], Refused],
        change: Callable[[S, int], S],
        then: Callable[[Conn, S], dict[str, Any]],
        visible: Callable[[S], bool] = _seen,
    ) -> S:
        """One step of a record's life, in one writer transaction with its audit: the record
        (``missing`` when there is none, or ``actor`` may not see it), the actor (``why_not``:
        why they may not; that attempt is audited and committed, then refused), its status
        now (``closed(status)``: the conflict when it is not one of ``allowed_from``), then
        ``change(record, now)``, stored by compare-and-set, and ``then(conn, changed)``: what
        else the step does; it returns the ``extra`` of the step's audit (``action``)."""

        def run(conn: Conn) -> S | Refused:
            now = self.clock()
            old = self.records.get(conn, record_id)
            if old is None or not visible(old):
                raise self.missing(record_id)
            why = why_not(old)
            if why is not None:
                self.audit(conn, actor, f"{self.object_type}.forbidden", self.as_of(old, now),
                           now, extra={"attempted": action, "refused": why})  # fmt: skip
                return self.forbidden(why)
            current = old.status_at(now)
            if current not in allowed_from:
                raise closed(current)
            new = change(old, now)
            if not self.records.swap(conn, old, new, now):
                raise self.meanwhile(record_id)
            self.audit(conn, actor, action, new, now, extra=then(conn, new))
            return new

        return self.commit.refusable(run)
