"""A bounded cache with a time-to-live per answer, and a circuit breaker.

Both take a clock (monotonic seconds) so tests can move time. Both are thread-safe: the
processors, the LEZ and the API share one cache per registry.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
Clock = Callable[[], float]


class TtlCache(Generic[K, V]):
    """Answers by key, each until its own expiry, at most ``max_entries`` (the least recently
    used goes first). ``None`` is a value like any other (a cached "no such vehicle")."""

    def __init__(self, *, max_entries: int, clock: Clock = time.monotonic):
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> tuple[bool, V | None]:
        """(True, value) while cached and fresh; (False, None) otherwise."""
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return False, None
            expires, value = found
            if self._clock() >= expires:
                del self._entries[key]
                return False, None
            self._entries.move_to_end(key)
            return True, value

    def put(self, key: K, value: V, ttl_s: float) -> None:
        if ttl_s <= 0 or self.max_entries == 0:
            return
        with self._lock:
            self._entries[key] = (self._clock() + ttl_s, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class Breaker:
    """Counts failures in a row. After ``failures`` of them the registry counts as down:
    ``allow`` says no for ``open_s``, then lets one call through (half-open); its success
    closes the breaker, its failure opens it for another ``open_s``."""

    def __init__(self, *, failures: int, open_s: float, clock: Clock = time.monotonic):
        self._failures = failures
        self._open_s = open_s
        self._clock = clock
        self._in_a_row = 0
        self._open_until: float | None = None
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return self._open_until is not None

    def allow(self) -> bool:
        with self._lock:
            if self._open_until is None:
                return True
            now = self._clock()
            if now < self._open_until:
                return False
            self._open_until = now + self._open_s  # one trial; the others wait for it
            return True

    def retry_in(self) -> float:
        until = self._open_until
        return 0.0 if until is None else max(0.0, until - self._clock())

    def success(self) -> None:
        with self._lock:
            self._in_a_row = 0
            self._open_until = None

    def failure(self) -> None:
        with self._lock:
            self._in_a_row += 1
            if self._in_a_row >= self._failures:
                self._open_until = self._clock() + self._open_s
