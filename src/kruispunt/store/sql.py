"""What the domain stores (users, hotlists, hits, webhooks, audit) need of a SQL store.

They write portable SQL with ``?`` placeholders (SQLite's style; the PostgreSQL store
translates) and the subset both engines share: ``ON CONFLICT``, ``RETURNING``,
``IS NOT DISTINCT FROM``. A write runs inside the writer transaction the caller holds, so a
change and its audit record commit together; reads use the calling thread's reader.
"""

from __future__ import annotations

import abc
import contextlib
import sqlite3
import time
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import psycopg

from kruispunt.store.base import ReadStore, StoreError

# A failure of either engine: nothing of the transaction was applied.
DB_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, psycopg.Error, StoreError)


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Conn(Protocol):
    """A connection as the domain stores use it (``sqlite3.Connection`` is one)."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Any, /) -> Any: ...


class SqlStore(ReadStore):
    """A read store that also hosts the domain tables (schema and migrations are its own)."""

    @abc.abstractmethod
    def transaction(self) -> contextlib.AbstractContextManager[Conn]:
        """A write transaction (writer thread, or one per call in a worker process)."""

    @abc.abstractmethod
    def reader(self) -> Conn:
        """A connection for reads that sees every committed change (any thread)."""

    def batch(self) -> contextlib.AbstractContextManager[object]:
        """Several writes committed as one where the engine can nest transactions (a worker
        archives a batch and commits every processor's records in one commit); otherwise
        each write commits on its own."""
        return contextlib.nullcontext()

    @abc.abstractmethod
    def lock(self, conn: Conn, name: str) -> None:
        """Inside a transaction: serialise with every other process writing under ``name``
        until commit (the audit chain must not fork). A no-op for a single-writer engine."""

    @staticmethod
    def move_cursor(conn: Conn, name: str, from_cursor: int, cursor: int) -> None:
        """Inside a write transaction: move a processor's cursor, refusing (StoreError) when
        it is not where the caller read it (two runners would derive everything twice).

        A compare-and-set that holds under concurrent writers too: PostgreSQL re-checks the
        ``seq=?`` condition on the newest row version once a competing commit is done."""
        at = now_us()
        if from_cursor == 0 and (
            conn.execute(
                "INSERT INTO processor_cursors (name, seq, updated_us) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO NOTHING",
                (name, cursor, at),
            ).rowcount
            == 1
        ):
            return
        changed = conn.execute(
            "UPDATE processor_cursors SET seq=?, updated_us=? WHERE name=? AND seq=?",
            (cursor, at, name, from_cursor),
        ).rowcount
        if changed != 1:
            row = conn.execute("SELECT seq FROM processor_cursors WHERE name=?", (name,)).fetchone()
            raise StoreError(
                f"processor {name}: cursor moved ({row[0] if row else 0} != {from_cursor});"
                " another runner shares it"
            )


def serialise(conn: Conn, name: str) -> None:
    """Inside a write transaction: wait for every other process writing under ``name`` until
    commit (PostgreSQL advisory lock). SQLite's single writer is serialised already."""
    lock = getattr(conn, "lock", None)
    if lock is not None:
        lock(name)


def now_us() -> int:
    return time.time_ns() // 1000
