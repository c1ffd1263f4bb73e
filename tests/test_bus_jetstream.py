"""The distributed log on a real NATS JetStream server: ingest, partition workers, leases,
a worker killed mid-stream, and the cross-process fan-out."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import nats
import nats.js.errors
import pytest
from hypothesis import given
from hypothesis import strategies as st
from nats.js import api

from kruispunt.bus.fanout import NatsFanout
from kruispunt.bus.jetstream import (
    MAX_READS_PER_MESSAGE,
    BusError,
    JetStreamLog,
    PartitionConsumer,
    PartitionWorker,
    partition_of,
    read_seq,
    split_seq,
)
from kruispunt.bus.leases import lease_bucket
from kruispunt.config import BusConfig
from kruispunt.domain.reads import Read
from kruispunt.writer import Saturated, WriterStopped
from tests.backends import require_nats, unique_name
from tests.bus_worker_proc import FileLedger

GROUP = "test"


def make_read(read_id: str, plate: str, camera: str = "pz5364-c001") -> Read:
    now_us = time.time_ns() // 1000
    return Read(
        seq=0,
        read_id=read_id,
        camera_id=camera,
        zone_id="pz5364",
        captured_us=now_us - 1_000_000,
        received_us=now_us,
        plate_raw=plate,
        plate=plate,
        country="BE",
        country_inferred=False,
        plate_format=None,
        confidence=0.9,
    )


def plates(n: int) -> list[str]:
    return [f"1-TST-{i:03d}" for i in range(n)]


def wait_for(cond: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


async def _cleanup(url: str, stream: str) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for info in await js.streams_info():
            name = info.config.name or ""
            if name == stream or name.startswith(f"KV_{stream}_"):
                await js.delete_stream(name)
    finally:
        await nc.close()


def _bus_config(url: str, **kw: object) -> BusConfig:
    stream = unique_name("KPTEST")
    values: dict[str, object] = {
        "url": url,
        "stream": stream,
        "subject_prefix": stream.lower(),
        "partitions": 8,
        "lease_ttl_s": 1.5,
        "fetch_batch": 50,
        "max_age_days": 1,
        "duplicate_window_s": 60,
    }
    values.update(kw)
    return BusConfig.model_validate(values)


@pytest.fixture
def make_config() -> Iterator[Callable[..., BusConfig]]:
    """Configs on streams of their own; the streams and lease buckets go afterwards."""
    url = require_nats()
    made: list[BusConfig] = []

    def make(**kw: object) -> BusConfig:
        made.append(_bus_config(url, **kw))
        return made[-1]

    yield make
    for config in made:
        asyncio.run(_cleanup(url, config.stream))


@pytest.fixture
def bus(make_config: Callable[..., BusConfig]) -> BusConfig:
    return make_config()


@pytest.fixture
def ingest(bus: BusConfig) -> Iterator[JetStreamLog]:
    log = JetStreamLog(bus, max_pending_reads=10_000)
    log.start()
    yield log
    log.stop()


# -- partitions and sequence numbers ---------------------------------------------------------
def test_partition_of_is_a_stable_crc32() -> None:
    assert partition_of("1-ABC-123", 16) == zlib.crc32(b"1-ABC-123") % 16 == 8
    assert partition_of("1-ABC-123", 1) == 0
    with pytest.raises(ValueError):
        partition_of("1-ABC-123", 0)


@given(st.text(max_size=20), st.integers(min_value=1, max_value=1024))
def test_partition_of_in_range(plate: str, partitions: int) -> None:
    p = partition_of(plate, partitions)
    assert 0 <= p < partitions
    assert p == zlib.crc32(plate.encode()) % partitions


@given(
    st.integers(min_value=0, max_value=2**47),
    st.integers(min_value=0, max_value=MAX_READS_PER_MESSAGE - 1),
    st.integers(min_value=0, max_value=2**47),
    st.integers(min_value=0, max_value=MAX_READS_PER_MESSAGE - 1),
)
def test_seq_packing(s1: int, i1: int, s2: int, i2: int) -> None:
    assert split_seq(read_seq(s1, i1)) == (s1, i1)
    assert (read_seq(s1, i1) < read_seq(s2, i2)) == ((s1, i1) < (s2, i2))


def test_seq_packing_bounds() -> None:
    with pytest.raises(ValueError):
        read_seq(1, MAX_READS_PER_MESSAGE)
    with pytest.raises(ValueError):
        split_seq(-1)


# -- ingest ----------------------------------------------------------------------------------
async def _stream_messages(config: BusConfig) -> int:
    assert config.url
    nc = await nats.connect(config.url)
    try:
        info = await nc.jetstream().stream_info(config.stream)
        return info.state.messages
    finally:
        await nc.close()


def test_submit_reads_numbers_in_read_order(bus: BusConfig, ingest: JetStreamLog) -> None:
    names = plates(6)
    reads = [make_read(f"r{i}", names[i % 6]) for i in range(30)]
    result = ingest.submit_reads(reads).result(10)

    assert result.duplicate == [False] * 30
    assert len(set(result.seqs)) == 30
    touched = {partition_of(p, bus.partitions) for p in names}
    by_partition: dict[int, list[int]] = defaultdict(list)
    for read, seq in zip(reads, result.seqs, strict=True):
        by_partition[partition_of(read.plate, bus.partitions)].append(seq)
    for seqs in by_partition.values():
        assert seqs == sorted(seqs)  # increasing within a partition, in read order
        stream_seqs = {split_seq(s)[0] for s in seqs}
        assert len(stream_seqs) == 1  # one message per partition
        assert [split_seq(s)[1] for s in seqs] == list(range(len(seqs)))
    assert asyncio.run(_stream_messages(bus)) == len(touched)
    assert ingest.stats.messages == len(touched)

    # The identical batch again, within the duplicate window: dropped by JetStream, answered
    # with the original numbers.
    again = ingest.submit_reads(reads).result(10)
    assert again.seqs == result.seqs
    assert again.duplicate == [True] * 30
    assert asyncio.run(_stream_messages(bus)) == len(touched)
    assert ingest.stats.duplicates == 30
    assert ingest.pending_reads == 0


def test_submit_reads_bounded_and_stopped(bus: BusConfig) -> None:
    log = JetStreamLog(bus, max_pending_reads=10)
    with pytest.raises(WriterStopped):
        log.submit_reads([make_read("r0", "1-AAA-000")])
    log.start()
    try:
        assert log.alive
        # Hold the log's loop so that batches stay pending for a moment.
        log._loop.loop.call_soon_threadsafe(time.sleep, 0.5)
        first = log.submit_reads([make_read(f"a{i}", f"1-AAA-{i:03d}") for i in range(8)])
        with pytest.raises(Saturated):
            log.submit_reads([make_read(f"b{i}", "1-BBB-000") for i in range(5)])
        second = log.submit_reads([make_read(f"c{i}", "1-CCC-000") for i in range(2)])
        assert log.pending_reads == 10
        assert len(first.result(10).seqs) == 8
        assert len(second.result(10).seqs) == 2
        # Idle, a batch bigger than the bound is still taken (else it could never pass).
        assert (
            len(log.submit_reads([make_read(f"d{i}", "1-D") for i in range(30)]).result(10).seqs)
            == 30
        )
        assert log.stats.saturated == 1
    finally:
        log.stop()
    assert not log.alive
    with pytest.raises(WriterStopped):
        log.submit_reads([make_read("r1", "1-AAA-000")])


def test_big_partition_group_is_split_in_order(bus: BusConfig, ingest: JetStreamLog) -> None:
    ingest._max_bytes = 600  # as if the server took small messages only
    reads = [make_read(f"r{i}", "1-BIG-001") for i in range(40)]
    result = ingest.submit_reads(reads).result(10)
    assert result.seqs == sorted(result.seqs)
    assert ingest.stats.messages == len({split_seq(s)[0] for s in result.seqs}) > 1
    again = ingest.submit_reads(reads).result(10)
    assert again.seqs == result.seqs and all(again.duplicate)


def test_unreachable_server_is_a_clear_error() -> None:
    require_nats()
    config = _bus_config("nats://127.0.0.1:1")
    log = JetStreamLog(config, max_pending_reads=10, start_timeout_s=1.0)
    with pytest.raises(BusError, match="not reachable"):
        log.start()
    with pytest.raises(WriterStopped):
        log.submit_reads([make_read("r1", "1-AAA-000")])


# -- consumer --------------------------------------------------------------------------------
@pytest.mark.parametrize("policy", [api.AckPolicy.ALL, api.AckPolicy.EXPLICIT])
def test_consumer_redelivers_unacked_at_once_to_next_owner(
    bus: BusConfig, ingest: JetStreamLog, policy: api.AckPolicy
) -> None:
    plate = "1-ONE-001"
    p = partition_of(plate, bus.partitions)
    seqs: list[int] = []
    for i in range(5):  # five messages in one partition
        seqs += (
            ingest.submit_reads([make_read(f"r{i}a", plate), make_read(f"r{i}b", plate)])
            .result(10)
            .seqs
        )

    async def scenario() -> None:
        assert bus.url
        nc = await nats.connect(bus.url)
        try:
            js = nc.jetstream()
            first = PartitionConsumer(js, bus, group=GROUP, partition=p, ack_policy=policy)
            got = await first.fetch(2, timeout=2)
            assert [r.seq for b in got for r in b.reads] == seqs[:4]
            assert all(r.plate == plate for b in got for r in b.reads)
            await first.ack(got)
            unacked = await first.fetch(2, timeout=2)
            assert [r.seq for b in unacked for r in b.reads] == seqs[4:8]
            await first.close()  # the owner dies without acknowledging

            # ack_wait is 30 s, yet the next owner gets them at once, and in order.
            second = PartitionConsumer(js, bus, group=GROUP, partition=p, ack_policy=policy)
            again = await second.fetch(10, timeout=2)
            assert [r.seq for b in again for r in b.reads] == seqs[4:]
            assert second.resets == 1
            await second.ack(again)
            info = await js.consumer_info(bus.stream, second.durable)
            assert info.num_ack_pending == 0
            assert info.ack_floor is not None
            assert info.ack_floor.stream_seq == split_seq(seqs[-1])[0]
            assert await second.fetch(10, timeout=0.3) == []
            await second.close()
        finally:
            await nc.close()

    asyncio.run(scenario())


def test_consumer_never_skips_a_delivery_gone_astray(bus: BusConfig, ingest: JetStreamLog) -> None:
    plate = "1-ONE-002"
    p = partition_of(plate, bus.partitions)
    seqs: list[int] = []
    for i in range(4):
        seqs += ingest.submit_reads([make_read(f"g{i}", plate)]).result(10).seqs

    async def scenario() -> None:
        assert bus.url
        nc = await nats.connect(bus.url)
        try:
            js = nc.jetstream()
            consumer = PartitionConsumer(js, bus, group=GROUP, partition=p)
            got = await consumer.fetch(1, timeout=2)
            await consumer.ack(got)
            # A delivery that never reaches the owner (a reconnect, a stale pull request):
            thief = await js.pull_subscribe_bind(durable=consumer.durable, stream=bus.stream)
            stolen = await thief.fetch(1, timeout=2)
            assert stolen[0].metadata.sequence.stream == split_seq(seqs[1])[0]
            await thief.unsubscribe()
            # The owner sees the gap in delivery numbers: it hands out nothing past it...
            assert await consumer.fetch(10, timeout=2) == []
            # ...and starts again at its floor, so the lost one comes first.
            again = await consumer.fetch(10, timeout=2)
            assert [r.seq for b in again for r in b.reads] == seqs[1:]
            assert consumer.resets == 1
            await consumer.ack(again)
            await consumer.close()
        finally:
            await nc.close()

    asyncio.run(scenario())


# -- leases on the real server ----------------------------------------------------------------
def test_kv_create_after_delete_and_after_expiry(bus: BusConfig) -> None:
    """What the leases rely on: create is atomic, and succeeds again over a delete marker
    and over an entry the bucket's TTL has expired."""

    async def scenario() -> None:
        assert bus.url
        nc = await nats.connect(bus.url)
        try:
            js = nc.jetstream()
            kv = await js.create_key_value(
                api.KeyValueConfig(bucket=lease_bucket(bus.stream, "kv"), history=1, ttl=1.0)
            )
            rev = await kv.create("p.1", b"a")
            with pytest.raises(nats.js.errors.KeyWrongLastSequenceError):
                await kv.create("p.1", b"b")
            rev = await kv.update("p.1", b"a", last=rev)
            with pytest.raises(nats.js.errors.KeyWrongLastSequenceError):
                await kv.update("p.1", b"b", last=rev - 1)
            await kv.delete("p.1", last=rev)
            rev = await kv.create("p.1", b"b")  # over the delete marker
            with pytest.raises(nats.js.errors.KeyWrongLastSequenceError):
                await kv.create("p.1", b"c")
            await asyncio.sleep(2.0)  # past the TTL: the entry is gone, no marker left
            with pytest.raises(nats.js.errors.KeyNotFoundError):
                await kv.get("p.1")
            with pytest.raises(nats.js.errors.KeyWrongLastSequenceError):
                await kv.update("p.1", b"b", last=rev)  # the old owner learns it lost
            await kv.create("p.1", b"c")
        finally:
            await nc.close()

    asyncio.run(scenario())


# -- workers ---------------------------------------------------------------------------------
class Recorder:
    """A handler like a real one: idempotent by seq, with a committed cursor per partition."""

    def __init__(self, fail_first: int = 0) -> None:
        self.lock = threading.Lock()
        self.committed: dict[int, int] = {}
        self.handled: list[tuple[str, int, int, str]] = []  # worker, partition, seq, plate
        self.skipped = 0
        self.fail_first = fail_first

    def handler(self, worker: str) -> Callable[[int, list[Read]], None]:
        def handle(partition: int, reads: list[Read]) -> None:
            with self.lock:
                if self.fail_first > 0:
                    self.fail_first -= 1
                    raise RuntimeError("database unavailable")
                cursor = self.committed.get(partition, 0)
                for read in reads:
                    if read.seq <= cursor:
                        self.skipped += 1
                        continue
                    self.handled.append((worker, partition, read.seq, read.plate))
                    cursor = read.seq
                self.committed[partition] = cursor

        return handle

    def seqs(self) -> list[int]:
        with self.lock:
            return [seq for _, _, seq, _ in self.handled]


def publish(log: JetStreamLog, names: list[str], batches: int, tag: str) -> list[int]:
    seqs: list[int] = []
    for b in range(batches):
        reads = [make_read(f"{tag}{b}-{i}", name) for i, name in enumerate(names)]
        seqs += log.submit_reads(reads).result(10).seqs
    return seqs


@pytest.mark.parametrize("policy", [api.AckPolicy.ALL, api.AckPolicy.EXPLICIT])
def test_worker_handles_each_plate_in_order_and_retries_failures(
    bus: BusConfig, ingest: JetStreamLog, policy: api.AckPolicy
) -> None:
    recorder = Recorder(fail_first=2)
    worker = PartitionWorker(
        bus, group=GROUP, handler=recorder.handler("w1"), worker_id="w1", ack_policy=policy
    )
    worker.start()
    try:
        assert worker.owned() == set(range(bus.partitions))
        published = publish(ingest, plates(20), batches=5, tag="x")
        wait_for(lambda: sorted(recorder.seqs()) == sorted(published), what="all reads")
    finally:
        worker.stop()
    assert len(recorder.seqs()) == len(set(recorder.seqs()))
    per_plate: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for _, partition, seq, plate in recorder.handled:
        per_plate[plate].append((partition, seq))
    for plate, seen in per_plate.items():
        assert {p for p, _ in seen} == {partition_of(plate, bus.partitions)}
        assert [s for _, s in seen] == sorted(s for _, s in seen)
    assert worker.stats.handler_failures == 2
    assert sum(worker.stats.handled_reads.values()) >= len(published)
    assert worker.owned() == set()


def test_slow_handler_keeps_its_batch(bus: BusConfig, ingest: JetStreamLog) -> None:
    """A handler slower than ack_wait still sees its batch once (in-progress acks, and the
    ack before the next fetch, keep the server from handing it out again)."""
    recorder = Recorder()
    inner = recorder.handler("w1")

    def slow(partition: int, reads: list[Read]) -> None:
        time.sleep(1.6)
        inner(partition, reads)

    worker = PartitionWorker(bus, group=GROUP, handler=slow, worker_id="w1", ack_wait_s=1.0)
    worker.start()
    try:
        published = publish(ingest, ["1-SLO-001"], batches=3, tag="s")
        wait_for(lambda: sorted(recorder.seqs()) == sorted(published), what="all reads")
        time.sleep(0.5)
    finally:
        worker.stop()
    assert recorder.skipped == 0
    assert worker.stats.redelivered_batches == 0


def test_two_workers_share_partitions_and_take_over(bus: BusConfig, ingest: JetStreamLog) -> None:
    recorder = Recorder()
    released: dict[str, list[int]] = {"a": [], "b": []}
    a = PartitionWorker(
        bus,
        group=GROUP,
        handler=recorder.handler("a"),
        worker_id="a",
        on_release=released["a"].append,
    )
    b = PartitionWorker(
        bus,
        group=GROUP,
        handler=recorder.handler("b"),
        worker_id="b",
        on_release=released["b"].append,
    )
    a.start()
    try:
        assert a.owned() == set(range(8))
        b.start()
        try:
            wait_for(
                lambda: len(a.owned()) == 4 and len(b.owned()) == 4 and not a.owned() & b.owned(),
                what="a fair share",
            )
            first = publish(ingest, plates(24), batches=4, tag="x")
            wait_for(lambda: sorted(recorder.seqs()) == sorted(first), what="all reads")
            by_plate: dict[str, set[str]] = defaultdict(set)
            for worker, _, _, plate in recorder.handled:
                by_plate[plate].add(worker)
            assert all(len(workers) == 1 for workers in by_plate.values())
            assert {w for ws in by_plate.values() for w in ws} == {"a", "b"}
            assert sorted(released["a"]) == sorted(b.owned())  # a gave these to b
        finally:
            b.stop()  # releases its leases: a takes them at its next round
        assert sorted(released["b"]) == sorted(released["a"])
        wait_for(lambda: a.owned() == set(range(8)), timeout=5, what="a taking over")
        second = publish(ingest, plates(24), batches=2, tag="y")
        wait_for(lambda: sorted(recorder.seqs()) == sorted(first + second), what="all reads")
        assert {w for w, _, seq, _ in recorder.handled if seq in set(second)} == {"a"}
    finally:
        a.stop()
    assert len(recorder.seqs()) == len(set(recorder.seqs()))


def test_three_workers_share_fairly(bus: BusConfig) -> None:
    workers = [
        PartitionWorker(bus, group=GROUP, handler=lambda p, reads: None, worker_id=f"w{i}")
        for i in range(3)
    ]
    try:
        for worker in workers:
            worker.start()

        def fair() -> bool:
            owned = [w.owned() for w in workers]
            union = set().union(*owned)
            return sorted(map(len, owned)) == [2, 3, 3] and len(union) == 8 == sum(map(len, owned))

        wait_for(fair, what="a fair share of 8 partitions among 3 workers")
    finally:
        for worker in workers:
            worker.stop()


def test_killed_worker_loses_nothing_and_derives_nothing_twice(
    bus: BusConfig, ingest: JetStreamLog, tmp_path: Path
) -> None:
    partitions = str(bus.partitions)
    script = Path(__file__).with_name("bus_worker_proc.py")
    assert bus.url
    err = (tmp_path / "victim.err").open("wb")
    victim = subprocess.Popen(
        [
            sys.executable,
            str(script),
            bus.url,
            bus.stream,
            bus.subject_prefix,
            partitions,
            GROUP,
            str(bus.lease_ttl_s),
            str(tmp_path),
            "victim",
            "12",  # its 12th commit hangs before returning: committed, never acknowledged
        ],
        stdout=subprocess.DEVNULL,
        stderr=err,
    )
    ledger = FileLedger(tmp_path)
    survivor: PartitionWorker | None = None
    published: list[int] = []
    try:
        wait_for(
            lambda: (tmp_path / "ready.victim").exists() or victim.poll() is not None,
            timeout=15,
            what="the worker process",
        )
        assert victim.poll() is None, (tmp_path / "victim.err").read_text()

        done = threading.Event()

        def flow() -> None:
            names = plates(40)
            for b in range(60):
                reads = [make_read(f"k{b}-{i}", names[(b * 7 + i) % 40]) for i in range(10)]
                published.extend(ingest.submit_reads(reads).result(10).seqs)
                time.sleep(0.02)
            done.set()

        publisher = threading.Thread(target=flow)
        publisher.start()
        wait_for(lambda: (tmp_path / "hanging").exists(), what="the victim at work")
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        killed_at = len(ledger.committed())
        assert not done.is_set(), "reads should still be flowing at the kill"

        survivor_ledger = FileLedger(tmp_path)
        survivor = PartitionWorker(bus, group=GROUP, handler=survivor_ledger, worker_id="survivor")
        survivor.start()
        publisher.join(20)
        assert done.is_set()
        wait_for(lambda: len(ledger.committed()) >= len(published), timeout=15, what="the survivor")
        lines = ledger.committed()
        seqs = [seq for _, seq in lines]
        assert len(seqs) == len(set(seqs)), "a read was derived twice"
        assert sorted(seqs) == sorted(published), "a read was lost"
        for partition, seq in lines:
            assert split_seq(seq)[0] > 0 and 0 <= partition < bus.partitions
        assert killed_at < len(published)
        assert survivor.owned() == set(range(bus.partitions))
        # The hung batch was committed but never acknowledged: it came again, at once (the
        # consumer starts again at its floor), and the handler skipped it.
        hung = int((tmp_path / "hanging").read_text().split()[1])
        assert survivor_ledger.skipped >= hung > 0
        assert survivor.stats.consumer_resets >= 1
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait(10)
        err.close()
        if survivor is not None:
            survivor.stop()


# -- fan-out ---------------------------------------------------------------------------------
def test_fanout_reaches_others_not_itself() -> None:
    url = require_nats()
    subject = unique_name("kptest.fanout")
    got: dict[str, list[bytes]] = {"a": [], "b": []}
    a = NatsFanout(url, subject, got["a"].append, origin="proc-a")
    b = NatsFanout(url, subject, got["b"].append, origin="proc-b")
    a.start()
    b.start()
    try:
        a.publish(b"hit-1").result(5)
        b.publish(b"hotlists-changed").result(5)
        a.publish(b"hit-2").result(5)
        wait_for(lambda: len(got["a"]) == 1 and len(got["b"]) == 2, timeout=5, what="messages")
        time.sleep(0.2)  # and no echo arrives late
        assert got == {"a": [b"hotlists-changed"], "b": [b"hit-1", b"hit-2"]}
    finally:
        a.stop()
        b.stop()
    with pytest.raises(BusError):
        a.publish(b"after stop")


def test_the_partition_count_of_a_stream_cannot_change() -> None:
    from kruispunt.bus.jetstream import BusError, JetStreamLog
    from kruispunt.config import BusConfig

    url = require_nats()
    stream = unique_name("KPPART").upper()
    first = BusConfig(
        url=url, stream=stream, subject_prefix=unique_name("kpp").lower(), partitions=4
    )
    log = JetStreamLog(first, max_pending_reads=100)
    log.start()
    log.stop()
    other = JetStreamLog(first.model_copy(update={"partitions": 8}), max_pending_reads=100)
    try:
        with pytest.raises(BusError, match="cannot change"):
            other.start()
    finally:
        other.stop()
        import asyncio

        import nats

        async def drop() -> None:
            nc = await nats.connect(url)
            await nc.jetstream().delete_stream(stream)
            await nc.close()

        asyncio.run(drop())
