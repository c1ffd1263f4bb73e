"""Partition ownership: leases in a NATS KV bucket, shared fairly among live workers.

Why a KV bucket: ``create`` and ``update(last=revision)`` are compare-and-set operations on
the server, so two workers can never both win one partition, and the bucket's TTL (max age)
makes a dead worker's entries vanish on their own, so its partitions move after ``ttl``.

Keys: ``workers.<worker_id>`` is a heartbeat (live workers are those keys), ``p.<n>`` holds
the id of the worker that owns partition n. Every worker keeps a live view of the bucket
(one ordered consumer) to know who is alive and how many partitions each holds.

A lease is believed locally only until ``LEASE_SAFETY * ttl`` after the request that last
wrote it was sent: the server expires the entry at the earliest ``ttl`` after it stored it,
so a worker cut off from NATS stops believing before anyone else can take the partition.
Two workers can still overlap during a batch in progress; the partition handler's
idempotency by sequence number is the final guard.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.kv import KeyValue

log = logging.getLogger(__name__)

LEASE_PREFIX = "p."
WORKER_PREFIX = "workers."
# Fraction of the TTL a lease is believed after the write that renewed it was sent.
LEASE_SAFETY = 0.8
_KV_OP = "KV-Operation"
_WRONG_LAST_SEQ = (10071, 10164)  # JSStreamWrongLastSequence*


def lease_bucket(stream: str, group: str) -> str:
    """The KV bucket holding the leases of one worker group on one stream."""
    return f"{stream}_{group}_leases"


def _is_wrong_revision(exc: BaseException) -> bool:
    if isinstance(exc, nats.js.errors.KeyWrongLastSequenceError):
        return True
    return isinstance(exc, nats.js.errors.APIError) and exc.err_code in _WRONG_LAST_SEQ


@dataclass(slots=True)
class _Lease:
    revision: int
    valid_until: float  # on the local monotonic clock


@dataclass(slots=True)
class _Seen:
    value: bytes
    seen_at: float  # local monotonic time the entry reached this worker


@dataclass(frozen=True, slots=True)
class Share:
    """A worker's fair share: between ``low`` and ``high`` partitions."""

    live_workers: int
    low: int
    high: int


class PartitionLeases:
    """The leases of one worker; every method runs on that worker's event loop.

    All KV writes for one worker go through one coroutine at a time (the worker's lease
    loop), so a refresh and a release of one key never race inside the process.
    """

    def __init__(
        self,
        js: JetStreamContext,
        bucket: str,
        *,
        worker_id: str,
        partitions: int,
        ttl_s: float,
        replicas: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if partitions < 1:
            raise ValueError("partitions must be at least 1")
        self._js = js
        self._bucket = bucket
        self._worker_id = worker_id
        self._me = worker_id.encode()
        self._partitions = partitions
        self._ttl = ttl_s
        self._replicas = replicas
        self._clock = clock
        self._kv: KeyValue | None = None
        self._watch: JetStreamContext.PushSubscription | None = None
        self._view: dict[str, _Seen] = {}
        self._synced = asyncio.Event()
        self._leases: dict[int, _Lease] = {}
        self._offset = zlib.crc32(self._me) % partitions
        self.lost_total = 0
        self.claimed_total = 0

    @property
    def worker_id(self) -> str:
        return self._worker_id

    @property
    def bucket(self) -> str:
        return self._bucket

    # -- life cycle -------------------------------------------------------------------------
    async def open(self) -> None:
        """Create or bind the bucket, start watching it and announce this worker."""
        cfg = api.KeyValueConfig(
            bucket=self._bucket,
            history=1,
            ttl=self._ttl,
            storage=api.StorageType.FILE,
            replicas=self._replicas,
        )
        try:
            self._kv = await self._js.create_key_value(cfg)
        except nats.js.errors.BadRequestError:
            # It exists with another TTL: lease_ttl_s was changed. Take the new one, else
            # entries could expire before their owners stop believing in them.
            self._kv = await self._js.key_value(self._bucket)
            current = (await self._js.stream_info(f"KV_{self._bucket}")).config
            if current.max_age != self._ttl:
                current.max_age = self._ttl
                current.duplicate_window = min(current.duplicate_window, self._ttl)
                await self._js.update_stream(current)
                log.info("lease bucket %s: TTL now %.1fs", self._bucket, self._ttl)
        self._watch = await self._js.subscribe(
            f"$KV.{self._bucket}.>",
            stream=f"KV_{self._bucket}",
            cb=self._on_entry,
            ordered_consumer=True,
            deliver_policy=api.DeliverPolicy.LAST_PER_SUBJECT,
            idle_heartbeat=max(1.0, min(5.0, self._ttl / 2)),
        )
        info = await self._watch.consumer_info()
        if not info.num_pending and not (info.delivered and info.delivered.consumer_seq):
            self._synced.set()  # an empty bucket: nothing to wait for
        try:
            await asyncio.wait_for(self._synced.wait(), timeout=self._ttl)
        except TimeoutError:
            log.warning("lease view of %s not synchronised yet; continuing", self._bucket)
        await self.heartbeat()

    async def close(self, *, release: bool = True) -> None:
        """Give up every lease (so others take over at once) and leave."""
        if release:
            for p in sorted(self._leases):
                await self.release(p)
            if self._kv is not None:
                try:
                    await self._kv.delete(WORKER_PREFIX + self._worker_id)
                except (nats.errors.Error, OSError) as exc:
                    log.warning("could not remove worker heartbeat: %s", exc)
        self._leases.clear()
        if self._watch is not None:
            with contextlib.suppress(nats.errors.Error, OSError):
                await self._watch.unsubscribe()
            self._watch = None

    # -- the bucket view --------------------------------------------------------------------
    async def _on_entry(self, msg: Msg) -> None:
        key = msg.subject[len(f"$KV.{self._bucket}.") :]
        op = msg.headers.get(_KV_OP) if msg.headers else None
        if op is None:
            self._view[key] = _Seen(msg.data, self._clock())
        else:  # DEL or PURGE: the key is free
            self._view.pop(key, None)
        try:
            if msg.metadata.num_pending == 0:
                self._synced.set()
        except nats.errors.Error:
            pass

    def _fresh(self, prefix: str) -> dict[str, bytes]:
        """Entries of the view not older than the TTL (the server has dropped older ones)."""
        horizon = self._clock() - self._ttl
        return {
            k[len(prefix) :]: s.value
            for k, s in self._view.items()
            if k.startswith(prefix) and s.seen_at > horizon
        }

    def live_workers(self) -> set[str]:
        return set(self._fresh(WORKER_PREFIX)) | {self._worker_id}

    def holders(self) -> dict[int, str]:
        """Who holds which partition, as far as this worker can see (its own exactly)."""
        out: dict[int, str] = {}
        for key, value in self._fresh(LEASE_PREFIX).items():
            if key.isdigit() and int(key) < self._partitions:
                out[int(key)] = value.decode(errors="replace")
        for p in list(out):
            if out[p] == self._worker_id and p not in self._leases:
                del out[p]  # our own entry we no longer believe in: treat as not ours
        for p in self._leases:
            out[p] = self._worker_id
        return out

    def share(self) -> Share:
        live = len(self.live_workers())
        return Share(live, self._partitions // live, math.ceil(self._partitions / live))

    # -- ownership --------------------------------------------------------------------------
    def owned(self) -> set[int]:
        """Partitions whose lease this worker holds and still believes in."""
        now = self._clock()
        return {p for p, lease in self._leases.items() if lease.valid_until > now}

    def holds(self, partition: int) -> bool:
        lease = self._leases.get(partition)
        return lease is not None and lease.valid_until > self._clock()

    async def heartbeat(self) -> None:
        await self._require_kv().put(WORKER_PREFIX + self._worker_id, self._me)

    async def refresh(self) -> set[int]:
        """Renew every lease; returns the partitions lost (stop handling them)."""
        owned = list(self._leases.items())
        results = await asyncio.gather(
            *(self._refresh_one(p, lease) for p, lease in owned), return_exceptions=False
        )
        lost = {p for (p, _), ok in zip(owned, results, strict=True) if not ok}
        self.lost_total += len(lost)
        return lost

    async def _refresh_one(self, p: int, lease: _Lease) -> bool:
        kv = self._require_kv()
        sent = self._clock()
        if lease.valid_until <= sent:
            # Not renewed in time: someone may own it by now, whatever the server says.
            log.warning("lease on partition %d lapsed before renewal", p)
            self._leases.pop(p, None)
            await self._delete_if_ours(p, lease.revision)
            return False
        try:
            revision = await kv.update(LEASE_PREFIX + str(p), self._me, last=lease.revision)
        except (nats.errors.Error, OSError) as exc:
            if _is_wrong_revision(exc):
                log.warning("lease on partition %d was lost (taken or expired)", p)
                self._leases.pop(p, None)
                return False
            log.warning("lease renewal of partition %d failed: %s", p, type(exc).__name__)
            return True  # still valid until valid_until; the next round tries again
        self._leases[p] = _Lease(revision, sent + LEASE_SAFETY * self._ttl)
        return True

    def surplus(self, giving_up: Iterable[int] = ()) -> list[int]:
        """Partitions to give up for a fair share (not counting those already given up)."""
        leaving = set(giving_up)
        mine = sorted(p for p in self._leases if p not in leaving)
        share = self.share()
        excess = 0
        if len(mine) > share.high:
            excess = len(mine) - share.high
        elif len(mine) > share.low and self._others_below(share):
            excess = len(mine) - share.low
        # Give up the ones furthest from this worker's starting point: a stable choice.
        mine.sort(key=lambda p: (p - self._offset) % self._partitions)
        return mine[len(mine) - excess :] if excess else []

    def _others_below(self, share: Share) -> bool:
        counts: dict[str, int] = dict.fromkeys(self.live_workers(), 0)
        for holder in self.holders().values():
            if holder in counts:
                counts[holder] += 1
        return any(n < share.low for w, n in counts.items() if w != self._worker_id)

    async def claim(self) -> list[int]:
        """Take free partitions up to this worker's share; returns the new ones."""
        kv = self._require_kv()
        share = self.share()
        limit = share.low if self._others_below(share) else share.high
        held = self.holders()
        won: list[int] = []
        for i in range(self._partitions):
            if len(self._leases) >= limit:
                break
            p = (self._offset + i) % self._partitions
            if p in held:
                continue
            sent = self._clock()
            try:
                # create() also succeeds over a delete marker (nats-py re-checks the marker's
                # revision), and over an expired entry (max age left no marker behind).
                revision = await kv.create(LEASE_PREFIX + str(p), self._me)
            except (nats.errors.Error, OSError) as exc:
                if _is_wrong_revision(exc):
                    continue  # someone else was quicker
                log.warning("claiming partition %d failed: %s", p, type(exc).__name__)
                break
            self._leases[p] = _Lease(revision, sent + LEASE_SAFETY * self._ttl)
            self._view[LEASE_PREFIX + str(p)] = _Seen(self._me, sent)
            won.append(p)
        self.claimed_total += len(won)
        return won

    async def release(self, partition: int) -> None:
        """Give a partition up (only if the lease is still ours: a conditional delete)."""
        lease = self._leases.pop(partition, None)
        if lease is not None:
            await self._delete_if_ours(partition, lease.revision)

    async def _delete_if_ours(self, partition: int, revision: int) -> None:
        try:
            await self._require_kv().delete(LEASE_PREFIX + str(partition), last=revision)
        except (nats.errors.Error, OSError) as exc:
            if not _is_wrong_revision(exc):
                log.warning("releasing partition %d failed: %s", partition, type(exc).__name__)
        else:
            self._view.pop(LEASE_PREFIX + str(partition), None)

    def _require_kv(self) -> KeyValue:
        if self._kv is None:
            raise RuntimeError("PartitionLeases.open() was not called")
        return self._kv
