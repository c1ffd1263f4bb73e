"""The tail of the log kept in memory, so live processors need not read back what was just
written (the embedded node's in-process bus). Bounded: a processor that falls behind the tail
reads from the store instead, so correctness never depends on it."""

from __future__ import annotations

import threading
from collections import deque

from kruispunt.domain.reads import Read


class LogTail:
    def __init__(self, *, max_reads: int, floor: int = 0):
        self._max = max_reads
        self._chunks: deque[list[Read]] = deque()
        self._size = 0
        # Every read with seq > floor that is in the log is in the tail.
        self.floor = floor
        self._lock = threading.Lock()

    def reset(self, floor: int) -> None:
        with self._lock:
            self._chunks.clear()
            self._size = 0
            self.floor = floor

    def append(self, reads: list[Read]) -> None:
        """Reads just committed, in increasing seq order, all above what is already here."""
        if not reads:
            return
        with self._lock:
            self._chunks.append(reads)
            self._size += len(reads)
            while self._size > self._max and len(self._chunks) > 1:
                evicted = self._chunks.popleft()
                self._size -= len(evicted)
                self.floor = evicted[-1].seq

    def after(self, seq: int, limit: int) -> list[Read] | None:
        """Reads with seq > ``seq`` (at most ``limit``), or None when the tail cannot tell."""
        with self._lock:
            if seq < self.floor:
                return None
            out: list[Read] = []
            for chunk in self._chunks:
                if chunk[-1].seq <= seq:
                    continue
                if chunk[0].seq > seq:
                    out.extend(chunk[: limit - len(out)])
                else:
                    out.extend(r for r in chunk if r.seq > seq)
                    del out[limit:]
                if len(out) >= limit:
                    break
            return out
