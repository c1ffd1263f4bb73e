"""The log of reads on NATS JetStream: ingest appends, partition workers consume.

Reads go to subject ``<prefix>.<partition>``, the partition being a stable hash of the plate:
all reads of one vehicle land in one partition, and one worker at a time handles a
partition, so per-vehicle state (section control, ...) stays on one worker.

A read's log sequence number is ``stream_seq << 16 | index``: the JetStream sequence of the
message that carries it and its place in that message. These numbers increase in log order.

Delivery to workers is at least once. A message is acknowledged only after the handler
returned, so a worker killed mid-batch leaves it to be delivered again to the next owner,
and any delivery that went astray (a reconnect, a stale pull request) makes the consumer
start again after its acknowledged floor. The handler must therefore be idempotent by
sequence number: it durably records, per partition, the highest seq it committed and skips
reads at or below it. Within a partition, reads arrive in log order apart from such
redeliveries, which are always of reads already delivered.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import logging
import os
import re
import socket
import threading
import uuid
import zlib
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import msgspec
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api

from kruispunt.bus.leases import PartitionLeases, lease_bucket
from kruispunt.config import BusConfig
from kruispunt.domain.reads import Read
from kruispunt.store.base import AppendResult
from kruispunt.writer import Saturated, WriterStopped

log = logging.getLogger(__name__)
T = TypeVar("T")

INDEX_BITS = 16
MAX_READS_PER_MESSAGE = 1 << INDEX_BITS
MSG_ID_HEADER = "Nats-Msg-Id"
_HEADER_ROOM = 1024  # bytes of a message's max payload left for headers
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_STREAM_IN_USE = 10058  # JSStreamNameExistErr: exists with another configuration

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(list[Read])


class BusError(Exception):
    """The bus could not be reached or set up; the message says what failed."""


# -- partitions and sequence numbers ---------------------------------------------------------
def partition_of(plate: str, partitions: int) -> int:
    """The partition of a plate: stable across processes and versions (never hash())."""
    if partitions < 1:
        raise ValueError("partitions must be at least 1")
    return zlib.crc32(plate.encode("utf-8")) % partitions


def read_seq(stream_seq: int, index: int) -> int:
    """The log sequence number of the ``index``-th read of JetStream message ``stream_seq``."""
    if stream_seq < 0 or not 0 <= index < MAX_READS_PER_MESSAGE:
        raise ValueError("stream_seq must be >= 0 and index in [0, 65536)")
    return stream_seq << INDEX_BITS | index


def split_seq(seq: int) -> tuple[int, int]:
    """(stream_seq, index) of a log sequence number."""
    if seq < 0:
        raise ValueError("sequence numbers are not negative")
    return seq >> INDEX_BITS, seq & (MAX_READS_PER_MESSAGE - 1)


def subject_of(config: BusConfig, partition: int) -> str:
    return f"{config.subject_prefix}.{partition}"


def _check_name(kind: str, name: str) -> str:
    if not _NAME_RE.match(name):
        raise ValueError(f"{kind} may hold only letters, digits, '_' and '-': {name!r}")
    return name


# -- an event loop on a thread ---------------------------------------------------------------
class LoopThread:
    """An asyncio loop on its own daemon thread.

    nats-py is asyncio-only; the node's callers are plain threads (the API's thread pool,
    the writer). Every NATS object of a component lives on that component's loop.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError(f"{self.name}: loop not started")
        return self._loop

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.alive:
            return
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            try:
                loop.run_forever()
            finally:
                self._shutdown(loop)

        self._loop = loop
        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        ready.wait()

    @staticmethod
    def _shutdown(loop: asyncio.AbstractEventLoop) -> None:
        try:
            loop.run_until_complete(asyncio.sleep(0))  # run callbacks scheduled before stop
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the loop; thread-safe. Raises RuntimeError when not running."""
        loop = self._loop
        if loop is None or loop.is_closed() or not self.alive:
            coro.close()
            raise RuntimeError(f"{self.name}: loop not running")
        try:
            return asyncio.run_coroutine_threadsafe(coro, loop)
        except RuntimeError:
            coro.close()
            raise

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on the loop and wait for its result (never from the loop itself)."""
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def stop(self, timeout: float = 10.0) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if threading.current_thread() is thread:
            raise RuntimeError("a loop cannot stop itself from inside")
        with contextlib.suppress(RuntimeError):  # already closed
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        if thread.is_alive():
            log.warning("%s: loop thread did not stop within %.0fs", self.name, timeout)
        self._thread = None


# -- connection and stream -------------------------------------------------------------------
async def connect(url: str, name: str, *, within_s: float) -> NATS:
    """Connect, reconnecting forever afterwards; errors are logged in one line, not raised."""
    nc = NATS()

    async def on_error(exc: Exception) -> None:
        log.warning("nats %s: %s", name, exc or type(exc).__name__)

    async def on_disconnect() -> None:
        if not nc.is_closed:  # closing on purpose is not worth a warning
            log.warning("nats %s: disconnected, reconnecting", name)

    async def on_reconnect() -> None:
        log.info("nats %s: reconnected", name)

    servers, user, password = split_credentials(url)
    try:
        await asyncio.wait_for(
            nc.connect(
                servers,
                user=user,
                password=password,
                name=name,
                max_reconnect_attempts=-1,
                reconnect_time_wait=1,
                connect_timeout=max(1, int(within_s / 2)),
                error_cb=on_error,
                disconnected_cb=on_disconnect,
                reconnected_cb=on_reconnect,
            ),
            within_s,
        )
    except TimeoutError as exc:
        where = ", ".join(servers)
        raise BusError(
            f"NATS at {where} not reachable (or refused the credentials) within {within_s:.0f}s"
        ) from exc
    return nc


def split_credentials(url: str) -> tuple[list[str], str | None, str | None]:
    """``nats://user:pass@h1:4222,nats://h2:4222`` -> the servers without credentials, and
    the credentials for all of them (nats-py would use them for the named server only, and
    a cluster member it learns of would refuse the login). Passwords may be %-encoded."""
    servers: list[str] = []
    user: str | None = None
    password: str | None = None
    for part in (p.strip() for p in url.split(",") if p.strip()):
        parsed = urlsplit(part if "://" in part else f"nats://{part}")
        if parsed.username is not None:
            user = unquote(parsed.username)
            password = unquote(parsed.password) if parsed.password is not None else None
        host = parsed.hostname or "127.0.0.1"
        servers.append(f"{parsed.scheme}://{host}:{parsed.port or 4222}")
    return servers, user, password


def stream_config(config: BusConfig) -> api.StreamConfig:
    return api.StreamConfig(
        name=config.stream,
        subjects=[f"{config.subject_prefix}.*"],
        retention=api.RetentionPolicy.LIMITS,
        discard=api.DiscardPolicy.OLD,
        storage=api.StorageType.FILE,
        max_age=config.max_age_days * 86_400.0,
        duplicate_window=float(config.duplicate_window_s),
        num_replicas=config.replicas,
        description=f"kruispunt reads; partitions={config.partitions}",
    )


async def ensure_stream(js: JetStreamContext, config: BusConfig) -> None:
    """Create the stream, or bring an existing one to the configured limits."""
    cfg = stream_config(config)
    try:
        try:
            await js.add_stream(cfg)
        except nats.js.errors.BadRequestError as exc:
            if exc.err_code != _STREAM_IN_USE:
                raise
            # A vehicle's reads must stay in one partition: the count is fixed for good.
            existing = (await js.stream_info(config.stream)).config.description or ""
            recorded = re.search(r"partitions=(\d+)", existing)
            if recorded and int(recorded.group(1)) != config.partitions:
                raise BusError(
                    f"stream {config.stream} holds reads in {recorded.group(1)} partitions; "
                    f"bus.partitions is {config.partitions} (it cannot change)"
                ) from None
            await js.update_stream(cfg)
    except nats.js.errors.APIError as exc:
        raise BusError(f"stream {config.stream}: {exc.description or exc}") from exc


# -- ingest ----------------------------------------------------------------------------------
@dataclass(slots=True)
class LogStats:
    messages: int = 0
    reads: int = 0
    duplicates: int = 0
    failures: int = 0
    saturated: int = 0


def _msg_id(subject: str, reads: Sequence[Read]) -> str:
    """Same reads to the same subject, same id: JetStream drops the resend."""
    key = _encoder.encode([subject, [[r.camera_id, r.read_id] for r in reads]])
    return hashlib.sha256(key).hexdigest()


class JetStreamLog:
    """The ingest side: ``submit_reads`` as the writer has it, durable in JetStream.

    A batch's future resolves only once JetStream stored every message of it (PubAck), so
    a camera is acknowledged only for what is durable; a resend within the duplicate window
    is dropped by JetStream and answered with the original sequence numbers.
    """

    def __init__(
        self,
        config: BusConfig,
        *,
        max_pending_reads: int,
        publish_timeout_s: float = 5.0,
        start_timeout_s: float = 10.0,
        name: str = "kruispunt-ingest",
    ) -> None:
        if not config.url:
            raise BusError("bus.url is not set")
        self._config = config
        self._url = config.url
        self._max_pending = max_pending_reads
        self._publish_timeout = publish_timeout_s
        self._start_timeout = start_timeout_s
        self._name = name
        self._loop = LoopThread(name)
        self._lock = threading.Lock()
        self._pending = 0
        self._running = False
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self._max_bytes = 1_000_000
        self._idle = asyncio.Event()  # set when no batch is in flight (used on the loop)
        self.stats = LogStats()

    @property
    def pending_reads(self) -> int:
        return self._pending

    @property
    def alive(self) -> bool:
        return self._running and self._loop.alive

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    def start(self) -> None:
        """Connect and create (or update) the stream; raises BusError when that fails."""
        self._loop.start()
        try:
            self._loop.run(self._open(), self._start_timeout + 1)
        except BaseException as exc:
            self._loop.stop()
            if isinstance(exc, BusError):
                raise
            raise BusError(f"cannot start the log on {self._url}: {exc!r}") from exc
        with self._lock:
            self._running = True

    async def _open(self) -> None:
        nc = await connect(self._url, self._name, within_s=self._start_timeout)
        try:
            js = nc.jetstream(timeout=self._publish_timeout)
            await ensure_stream(js, self._config)
        except BaseException:
            await nc.close()
            raise
        self._nc, self._js = nc, js
        self._max_bytes = max(4096, nc.max_payload - _HEADER_ROOM)
        self._idle = asyncio.Event()

    def stop(self, timeout: float = 10.0) -> None:
        """Refuse new batches, wait for those in flight, then drain and close."""
        with self._lock:
            self._running = False
        if not self._loop.alive:
            return
        try:
            self._loop.run(self._close(timeout), timeout + 3)
        except Exception as exc:
            log.warning("%s: unclean stop: %r", self._name, exc)
        finally:
            self._loop.stop()

    async def _close(self, wait_s: float) -> None:
        if self._pending > 0:
            self._idle.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), wait_s)
        nc, self._nc = self._nc, None
        if nc is not None:
            try:
                await asyncio.wait_for(nc.drain(), timeout=2)
            except Exception:
                await nc.close()

    def submit_reads(self, reads: Sequence[Read]) -> concurrent.futures.Future[AppendResult]:
        """Append reads; thread-safe, from any thread or event loop.

        Raises Saturated at once when too many reads wait for their PubAck, WriterStopped
        when the log is not running. A failed or timed-out publish fails the future:
        nothing of the batch is acknowledged (some of it may be stored; a resend is safe).
        """
        count = len(reads)
        with self._lock:
            if not self._running:
                raise WriterStopped()
            if self._pending + count > self._max_pending and self._pending > 0:
                self.stats.saturated += 1
                raise Saturated()
            self._pending += count
        try:
            return self._loop.submit(self._publish(list(reads)))
        except RuntimeError as exc:
            with self._lock:
                self._pending -= count
            raise WriterStopped() from exc

    async def _publish(self, reads: list[Read]) -> AppendResult:
        try:
            partitions = self._config.partitions
            groups: dict[int, list[int]] = {}
            for i, read in enumerate(reads):
                groups.setdefault(partition_of(read.plate, partitions), []).append(i)
            seqs = [0] * len(reads)
            dups = [False] * len(reads)
            outcomes = await asyncio.gather(
                *(self._publish_group(p, idx, reads, seqs, dups) for p, idx in groups.items()),
                return_exceptions=True,
            )
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    self.stats.failures += 1
                    log.warning(
                        "publish of %d reads failed, none acknowledged: %r", len(reads), outcome
                    )
                    raise outcome
            self.stats.reads += len(reads)
            self.stats.duplicates += sum(dups)
            return AppendResult(seqs, dups)
        finally:
            with self._lock:
                self._pending -= len(reads)
                if self._pending == 0:
                    self._idle.set()

    async def _publish_group(
        self,
        partition: int,
        indexes: list[int],
        reads: list[Read],
        seqs: list[int],
        dups: list[bool],
    ) -> None:
        js = self._js
        if js is None:
            raise WriterStopped()
        subject = subject_of(self._config, partition)
        group = [reads[i] for i in indexes]
        # One message per partition unless it is too big; chunks go one after another so
        # their sequence numbers keep the reads' order.
        for start, end, payload in self._chunks(group):
            ack = await js.publish(
                subject,
                payload,
                timeout=self._publish_timeout,
                stream=self._config.stream,
                headers={MSG_ID_HEADER: _msg_id(subject, group[start:end])},
            )
            duplicate = bool(ack.duplicate)
            for j in range(end - start):
                seqs[indexes[start + j]] = read_seq(ack.seq, j)
                dups[indexes[start + j]] = duplicate
            self.stats.messages += 1

    def _chunks(self, reads: list[Read]) -> list[tuple[int, int, bytes]]:
        out: list[tuple[int, int, bytes]] = []
        todo = [(0, len(reads))]
        while todo:
            start, end = todo.pop()
            payload = _encoder.encode(reads[start:end])
            if len(payload) <= self._max_bytes and end - start <= MAX_READS_PER_MESSAGE:
                out.append((start, end, payload))
            elif end - start == 1:
                raise BusError("one read is larger than the NATS server's max payload")
            else:
                mid = (start + end) // 2
                todo.append((mid, end))
                todo.append((start, mid))  # popped first: chunks come out in order
        return out


# -- consuming -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LoggedBatch:
    """One JetStream message: the reads of one partition, sequence numbers set."""

    partition: int
    stream_seq: int
    reads: list[Read]
    msg: Msg
    delivered: int  # 1 the first time; more when redelivered


class PartitionConsumer:
    """A durable pull consumer on one partition, for the worker that holds its lease.

    Deliveries are checked to be contiguous (the consumer sequence counts every delivery):
    a gap means a message went astray, and then the consumer is recreated to start right
    after its acknowledged floor, so nothing is ever skipped. The same happens when a
    worker takes over a partition with deliveries still unacknowledged (its previous
    owner died): they come again at once instead of after ``ack_wait``.
    """

    def __init__(
        self,
        js: JetStreamContext,
        config: BusConfig,
        *,
        group: str,
        partition: int,
        ack_wait_s: float = 30.0,
        ack_policy: api.AckPolicy = api.AckPolicy.ALL,
        max_ack_pending: int | None = None,
        ack_timeout_s: float = 5.0,
        idle_check_s: float = 10.0,
    ) -> None:
        if ack_policy not in (api.AckPolicy.ALL, api.AckPolicy.EXPLICIT):
            raise ValueError("ack_policy must be ALL or EXPLICIT")
        self._js = js
        self._stream = config.stream
        self.partition = partition
        self.durable = f"{_check_name('group', group)}-p{partition:03d}"
        self.subject = subject_of(config, partition)
        self._ack_wait = ack_wait_s
        self._ack_policy = ack_policy
        self._max_ack_pending = max_ack_pending or max(1000, 4 * config.fetch_batch)
        self._ack_timeout = ack_timeout_s
        self._sub: JetStreamContext.PullSubscription | None = None
        self._expected = 1  # the next consumer (delivery) sequence
        self._needs_reset = False
        self._idle_check_s = idle_check_s
        self._checked_at = 0.0
        self.resets = 0
        self.lag: int | None = None

    @property
    def is_open(self) -> bool:
        return self._sub is not None

    def _consumer_config(self, after_stream_seq: int) -> api.ConsumerConfig:
        cfg = api.ConsumerConfig(
            durable_name=self.durable,
            description="kruispunt partition worker",
            filter_subject=self.subject,
            ack_policy=self._ack_policy,
            ack_wait=self._ack_wait,
            max_ack_pending=self._max_ack_pending,
            max_deliver=-1,
            deliver_policy=api.DeliverPolicy.ALL,
            replay_policy=api.ReplayPolicy.INSTANT,
        )
        if after_stream_seq > 0:
            cfg.deliver_policy = api.DeliverPolicy.BY_START_SEQUENCE
            cfg.opt_start_seq = after_stream_seq + 1
        return cfg

    def _fits(self, info: api.ConsumerInfo) -> bool:
        cfg = info.config
        return (
            cfg.ack_policy == self._ack_policy
            and cfg.filter_subject == self.subject
            and abs((cfg.ack_wait or 0.0) - self._ack_wait) < 0.001
        )

    async def open(self) -> None:
        """Create or bind the durable consumer; start over at its floor if needs be."""
        for attempt in range(3):
            try:
                info: api.ConsumerInfo | None = await self._js.consumer_info(
                    self._stream, self.durable
                )
            except nats.js.errors.NotFoundError:
                info = None
            try:
                if info is None:
                    await self._js.add_consumer(self._stream, self._consumer_config(0))
                    self._expected = 1
                elif (info.num_ack_pending or 0) > 0 or not self._fits(info):
                    await self._recreate(info)
                else:
                    self._expected = (info.delivered.consumer_seq if info.delivered else 0) + 1
                break
            except nats.js.errors.APIError:
                if attempt == 2:
                    raise
                # Created or deleted concurrently (a previous owner still at it): look again.
                await asyncio.sleep(0.1)
        self._sub = await self._js.pull_subscribe_bind(durable=self.durable, stream=self._stream)
        self._needs_reset = False

    async def _recreate(self, info: api.ConsumerInfo) -> None:
        floor = info.ack_floor.stream_seq if info.ack_floor else 0
        cfg = info.config
        if floor == 0 and cfg.deliver_policy == api.DeliverPolicy.BY_START_SEQUENCE:
            floor = max(0, (cfg.opt_start_seq or 1) - 1)  # nothing acked since it started there
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await self._js.delete_consumer(self._stream, self.durable)
        await self._js.add_consumer(self._stream, self._consumer_config(floor))
        self._expected = 1
        self.resets += 1
        log.info(
            "partition %d: consumer %s starts again after stream seq %d",
            self.partition,
            self.durable,
            floor,
        )

    async def reset(self) -> None:
        """Start again right after the acknowledged floor (unacked messages come again)."""
        await self.close()
        info = await self._js.consumer_info(self._stream, self.durable)
        await self._recreate(info)
        self._sub = await self._js.pull_subscribe_bind(durable=self.durable, stream=self._stream)
        self._needs_reset = False

    async def fetch(self, max_msgs: int, timeout: float) -> list[LoggedBatch]:  # noqa: ASYNC109
        """Up to ``max_msgs`` messages in delivery order; [] when none came in ``timeout``."""
        if self._sub is None:
            await self.open()
        elif self._needs_reset:
            await self.reset()
        sub = self._sub
        assert sub is not None
        try:
            msgs = await sub.fetch(max_msgs, timeout=timeout)
        except TimeoutError:  # nats.errors.TimeoutError is one
            await self._check_idle()
            return []
        out: list[LoggedBatch] = []
        for msg in msgs:
            meta = msg.metadata
            cseq = meta.sequence.consumer
            if cseq < self._expected:
                log.debug("partition %d: stale delivery %d ignored", self.partition, cseq)
                continue
            if cseq > self._expected:
                log.warning(
                    "partition %d: deliveries %d..%d went astray; starting again at the floor",
                    self.partition,
                    self._expected,
                    cseq - 1,
                )
                self._needs_reset = True
                break
            self._expected = cseq + 1
            self.lag = meta.num_pending
            out.append(self._decode(msg, meta.sequence.stream, meta.num_delivered))
        return out

    async def _check_idle(self) -> None:
        """Now and then while idle, make sure the consumer still exists: fetches from a
        deleted one just time out, and the partition would stall unnoticed."""
        now = asyncio.get_running_loop().time()
        if now - self._checked_at < self._idle_check_s:
            return
        self._checked_at = now
        try:
            info = await self._js.consumer_info(self._stream, self.durable)
        except nats.js.errors.NotFoundError:
            log.warning(
                "partition %d: consumer %s vanished; creating it again",
                self.partition,
                self.durable,
            )
            await self.close()  # the next fetch opens it again
            return
        self.lag = info.num_pending

    def _decode(self, msg: Msg, stream_seq: int, delivered: int) -> LoggedBatch:
        try:
            raw = _decoder.decode(msg.data)
        except msgspec.DecodeError as exc:
            # Not written by Kruispunt: skipping it beats blocking the partition forever.
            log.error(
                "partition %d: message %d is not a list of reads (%s); skipped",
                self.partition,
                stream_seq,
                exc,
            )
            raw = []
        if len(raw) > MAX_READS_PER_MESSAGE:
            log.error(
                "partition %d: message %d has too many reads; skipped", self.partition, stream_seq
            )
            raw = []
        replace = msgspec.structs.replace
        reads = [replace(r, seq=read_seq(stream_seq, i)) for i, r in enumerate(raw)]
        return LoggedBatch(self.partition, stream_seq, reads, msg, delivered)

    async def ack(self, batches: Sequence[LoggedBatch]) -> None:
        """Acknowledge handled batches; returns once the server confirmed."""
        if not batches:
            return
        if self._ack_policy == api.AckPolicy.ALL:
            # Everything at or below the highest stream seq was delivered before it, and
            # deliveries are contiguous: all of it was handled.
            last = max(batches, key=lambda b: b.stream_seq)
            await last.msg.ack_sync(timeout=self._ack_timeout)
            return
        for batch in batches[:-1]:
            await batch.msg.ack()
        await batches[-1].msg.ack_sync(timeout=self._ack_timeout)

    async def in_progress(self, batches: Sequence[LoggedBatch]) -> None:
        """Tell the server a slow batch is still being handled (restarts ack_wait)."""
        for batch in batches:
            await batch.msg.in_progress()

    async def close(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(nats.errors.Error, OSError):
                await sub.unsubscribe()


# -- the worker ------------------------------------------------------------------------------
Handler = Callable[[int, list[Read]], None]


@dataclass(slots=True)
class WorkerStats:
    handled_reads: dict[int, int] = field(default_factory=dict)
    batches: int = 0
    redelivered_batches: int = 0
    handler_failures: int = 0
    consumer_resets: int = 0
    leases_lost: int = 0
    lag: dict[int, int] = field(default_factory=dict)  # messages left, per partition


def default_worker_id() -> str:
    host = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:40] or "host"
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class PartitionWorker:
    """Owns a fair share of the partitions and feeds each one's reads, in order, to a handler.

    ``handler(partition, reads)`` runs on a thread, one batch at a time per partition; it
    must commit durably before returning and skip reads whose seq is at or below what it
    already committed for that partition (see the module docstring). Only after it returned
    are the messages acknowledged. When it raises, the same batch is retried after a back-off
    (never a later batch first) until it succeeds or the partition is given up.

    ``on_release(partition)`` runs (on a thread) once this worker stopped handling a
    partition, lost, given up or stopped, with no handler call for it in progress: state
    kept in memory for it is stale from then on, since another worker may move it on.
    """

    def __init__(
        self,
        config: BusConfig,
        *,
        group: str,
        handler: Handler,
        worker_id: str | None = None,
        ack_wait_s: float = 30.0,
        ack_policy: api.AckPolicy = api.AckPolicy.ALL,
        fetch_timeout_s: float | None = None,
        start_timeout_s: float = 10.0,
        on_release: Callable[[int], None] | None = None,
    ) -> None:
        if not config.url:
            raise BusError("bus.url is not set")
        self._config = config
        self._url = config.url
        self._on_release = on_release
        self.group = _check_name("group", group)
        self.worker_id = _check_name("worker_id", worker_id or default_worker_id())
        self._handler = handler
        self._ack_wait = ack_wait_s
        self._ack_policy = ack_policy
        ttl = config.lease_ttl_s
        self._fetch_timeout = fetch_timeout_s or min(2.0, max(0.25, ttl / 4))
        self._start_timeout = start_timeout_s
        self._loop = LoopThread(f"kruispunt-worker-{group}")
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self._leases: PartitionLeases | None = None
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._stops: dict[int, asyncio.Event] = {}
        self._giving_up: set[int] = set()
        self._wake: asyncio.Event | None = None
        self._lease_task: asyncio.Task[None] | None = None
        self._round_lock = asyncio.Lock()
        self._stopping = False
        self._closed = False
        self._owned: frozenset[int] = frozenset()
        self.stats = WorkerStats()

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Connect, join the group and take a first share; raises BusError on failure."""
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=min(32, self._config.partitions),
            thread_name_prefix=f"kruispunt-handler-{self.group}",
        )
        self._loop.start()
        try:
            self._loop.run(self._open(), self._start_timeout + 1)
        except BaseException as exc:
            self._loop.stop()
            self._executor.shutdown(wait=False)
            if isinstance(exc, BusError):
                raise
            raise BusError(f"cannot start worker on {self._url}: {exc!r}") from exc

    async def _open(self) -> None:
        name = f"kruispunt-worker-{self.worker_id}"
        nc = await connect(self._url, name, within_s=self._start_timeout)
        try:
            js = nc.jetstream(timeout=5.0)
            await ensure_stream(js, self._config)
            leases = PartitionLeases(
                js,
                lease_bucket(self._config.stream, self.group),
                worker_id=self.worker_id,
                partitions=self._config.partitions,
                ttl_s=self._config.lease_ttl_s,
                replicas=self._config.replicas,
            )
            await leases.open()
            self._nc, self._js, self._leases = nc, js, leases
            self._wake = asyncio.Event()
            self._round_lock = asyncio.Lock()
            await self._lease_round()
        except BaseException:
            for task in self._tasks.values():
                task.cancel()
            self._nc = None
            await nc.close()  # leases taken so far lapse after their TTL
            raise
        self._lease_task = asyncio.create_task(self._lease_loop())

    def stop(self, timeout: float = 30.0) -> None:
        """Stop fetching, finish batches in progress, release the leases (others take over
        at once), then disconnect."""
        if not self._loop.alive:
            return
        try:
            self._loop.run(self._close(), timeout)
        except Exception as exc:
            log.warning("worker %s: unclean stop: %r", self.worker_id, exc)
        finally:
            self._loop.stop()
            if self._executor is not None:
                self._executor.shutdown(wait=False)
            self._owned = frozenset()

    async def _close(self) -> None:
        self._stopping = True
        async with self._round_lock:
            pass  # a round under way may still start a partition; later ones will not
        for p in list(self._tasks):
            self._signal_stop(p)
        # The lease loop keeps renewing while the batches in progress finish.
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._closed = True
        if self._wake is not None:
            self._wake.set()
        if self._lease_task is not None:
            await asyncio.gather(self._lease_task, return_exceptions=True)
        if self._leases is not None:
            await self._leases.close(release=True)
        self._owned = frozenset()
        nc, self._nc = self._nc, None
        if nc is not None:
            try:
                await asyncio.wait_for(nc.drain(), timeout=2)
            except Exception:
                await nc.close()

    @property
    def alive(self) -> bool:
        return self._loop.alive and not self._closed

    def owned(self) -> set[int]:
        """Partitions this worker is handling now (lease held, loop running)."""
        return set(self._owned)

    # -- leases -----------------------------------------------------------------------------
    async def _lease_loop(self) -> None:
        wake = self._wake
        assert wake is not None
        interval = self._config.lease_ttl_s / 3
        while not self._closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=interval)
            wake.clear()
            if self._closed:
                return
            try:
                await self._lease_round()
            except Exception as exc:
                log.warning("worker %s: lease round failed: %r", self.worker_id, exc)

    async def _lease_round(self) -> None:
        async with self._round_lock:
            await self._lease_round_locked()

    async def _lease_round_locked(self) -> None:
        leases = self._leases
        assert leases is not None
        for p, task in list(self._tasks.items()):
            if task.done():
                del self._tasks[p]
                self._stops.pop(p, None)
                if not task.cancelled() and task.exception() is not None:
                    log.error("partition %d loop died: %r", p, task.exception())
        try:
            await leases.heartbeat()
        except Exception as exc:  # still renew the leases: they lapse on their own if NATS is gone
            log.warning("worker %s: heartbeat failed: %r", self.worker_id, exc)
        lost = await leases.refresh()
        self.stats.leases_lost += len(lost)
        for p in lost:
            self._giving_up.discard(p)
            self._signal_stop(p)
        for p in sorted(self._giving_up):
            if p not in self._tasks:  # its loop has finished its last batch
                self._giving_up.discard(p)
                await leases.release(p)
        if not self._stopping:
            for p in leases.surplus(self._giving_up):
                self._giving_up.add(p)
                self._signal_stop(p)
            await leases.claim()
            for p in leases.owned():
                if p not in self._tasks and p not in self._giving_up:
                    self._start_partition(p)
        self._refresh_owned()

    def _refresh_owned(self) -> None:
        leases = self._leases
        held = leases.owned() if leases is not None else set()
        self._owned = frozenset(
            p
            for p, task in self._tasks.items()
            if p in held and p not in self._giving_up and not task.done()
        )

    def _start_partition(self, p: int) -> None:
        stop = asyncio.Event()
        self._stops[p] = stop
        self._tasks[p] = asyncio.create_task(self._partition_loop(p, stop))

    def _signal_stop(self, p: int) -> None:
        stop = self._stops.get(p)
        if stop is not None:
            stop.set()

    # -- one partition ----------------------------------------------------------------------
    async def _partition_loop(self, p: int, stop: asyncio.Event) -> None:
        js, leases = self._js, self._leases
        assert js is not None and leases is not None
        consumer = PartitionConsumer(
            js,
            self._config,
            group=self.group,
            partition=p,
            ack_wait_s=self._ack_wait,
            ack_policy=self._ack_policy,
        )
        delay = 0.1
        try:
            while not stop.is_set() and leases.holds(p):
                resets = consumer.resets
                try:
                    batches = await consumer.fetch(self._config.fetch_batch, self._fetch_timeout)
                except Exception as exc:
                    log.warning("partition %d: fetch failed: %r", p, exc)
                    await _sleep_unless(stop, delay)
                    delay = min(delay * 2, 5.0)
                    continue
                delay = 0.1
                self.stats.consumer_resets += consumer.resets - resets
                if consumer.lag is not None:
                    self.stats.lag[p] = consumer.lag
                if not batches:
                    continue
                if not leases.holds(p):
                    break  # lapsed while fetching: leave them to the next owner
                await self._handle(p, consumer, batches, stop)
        finally:
            await consumer.close()
            await self._released(p)
            if self._wake is not None:
                self._wake.set()  # let the lease loop hand the partition over now

    async def _released(self, p: int) -> None:
        if self._on_release is None:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._on_release, p)
        except Exception:
            log.exception("partition %d: on_release failed", p)

    async def _handle(
        self,
        p: int,
        consumer: PartitionConsumer,
        batches: list[LoggedBatch],
        stop: asyncio.Event,
    ) -> None:
        reads = [r for b in batches for r in b.reads]
        # Keeps the batch ours on the server (no redelivery) while it is handled or retried.
        keep_alive = asyncio.create_task(self._keep_alive(consumer, batches))
        try:
            if not await self._run_handler(p, reads, stop):
                return  # not acknowledged: the next owner gets the batch again
        finally:
            keep_alive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keep_alive
        try:
            await consumer.ack(batches)
        except Exception as exc:
            # Handled but not acknowledged: it comes again and the handler skips it.
            log.warning("partition %d: ack failed: %r", p, exc)
        self.stats.batches += 1
        self.stats.redelivered_batches += sum(1 for b in batches if b.delivered > 1)
        self.stats.handled_reads[p] = self.stats.handled_reads.get(p, 0) + len(reads)

    async def _run_handler(self, p: int, reads: list[Read], stop: asyncio.Event) -> bool:
        """Call the handler until it succeeds (True), or the partition is left (False)."""
        leases = self._leases
        assert leases is not None
        loop = asyncio.get_running_loop()
        delay = 0.1
        while reads:
            try:
                await loop.run_in_executor(self._executor, self._handler, p, reads)
                return True
            except Exception as exc:
                self.stats.handler_failures += 1
                log.warning(
                    "partition %d: handler failed (%s); retrying the batch in %.1fs",
                    p,
                    type(exc).__name__,
                    delay,
                )
                log.debug("partition %d: handler failure", p, exc_info=True)
            await _sleep_unless(stop, delay)
            delay = min(delay * 2, 5.0)
            if stop.is_set() or not leases.holds(p):
                return False
        return True

    async def _keep_alive(self, consumer: PartitionConsumer, batches: list[LoggedBatch]) -> None:
        while True:
            await asyncio.sleep(self._ack_wait / 3)
            try:
                await consumer.in_progress(batches)
            except Exception as exc:
                log.debug("in-progress ack failed: %r", exc)


async def _sleep_unless(stop: asyncio.Event, delay: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=delay)
