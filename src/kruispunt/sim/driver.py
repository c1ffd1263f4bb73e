"""Replays a traffic model against a server's ingest API, in (accelerated) real time.

Reads are grouped per camera into batches (wire format v1) and posted with that camera's
token. Back-pressure is honoured: on 429 or 503 the driver waits ``Retry-After`` and resends
the same batch, so nothing is lost; resending is harmless because read ids are idempotent.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgspec

from kruispunt.ingest.wire import ReadBatchIn, ReadBatchResult, ReadIn
from kruispunt.sim.traffic import TrafficModel

log = logging.getLogger(__name__)

READS_PATH = "/api/v1/reads"
DEFAULT_RETRY_AFTER_S = 1.0
MAX_RETRY_AFTER_S = 60.0
_result_decoder = msgspec.json.Decoder(ReadBatchResult)


@dataclass
class DriveStats:
    """Counters of a drive; ``sim_time`` is how far the simulated clock has got."""

    reads_generated: int = 0
    reads_sent: int = 0  # reads in batches the server answered with 2xx
    batches_sent: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    retries: int = 0  # batches resent after 429/503 or a transport error
    failed_batches: int = 0
    failed_reads: int = 0
    skipped_no_token: int = 0
    sim_time: dt.datetime | None = None


def load_tokens(path: Path) -> dict[str, str]:
    """A tokens file: a JSON object of camera id -> bearer token."""
    doc = json.loads(Path(path).read_text("utf-8"))
    if not isinstance(doc, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in doc.items()
    ):
        raise ValueError(f"{path}: expected a JSON object of camera id -> token (strings)")
    return dict(doc)


def retry_after_seconds(value: str | None, *, now: dt.datetime | None = None) -> float:
    """Seconds to wait for a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if value is None or not value.strip():
        return DEFAULT_RETRY_AFTER_S
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return DEFAULT_RETRY_AFTER_S
        seconds = (when - (now or dt.datetime.now(dt.UTC))).total_seconds()
    return min(MAX_RETRY_AFTER_S, max(0.0, seconds))


async def drive(
    base_url: str,
    tokens: dict[str, str],
    model: TrafficModel,
    *,
    start: dt.datetime,
    speed: float = 1.0,
    duration_s: float | None,
    batch_max: int = 200,
    batch_interval_s: float = 1.0,
    client: httpx.AsyncClient | None = None,
    on_progress: Callable[[DriveStats], None] | None = None,
    concurrency: int = 8,
    max_transport_attempts: int = 5,
    transform: Callable[[str, ReadIn], ReadIn | None] | None = None,
    backfill: bool = False,
) -> DriveStats:
    """Post the model's reads from ``start`` on; ``speed`` = simulated seconds per wall second.

    ``duration_s`` is in simulated seconds (``None``: run until cancelled). ``transform``:
    what a camera sends of each read (None: nothing), e.g. a faulty camera's
    (``kruispunt.sim.faults``); reads are taken at their true capture time. ``backfill``: the
    reads are sent flagged as a camera's replayed buffer (hits late, no clock evidence).
    Cancellation stops cleanly: the client this function opened is closed and the
    cancellation propagates.
    """
    if speed <= 0 or batch_max < 1 or batch_interval_s <= 0 or concurrency < 1:
        raise ValueError("speed, batch_max, batch_interval_s and concurrency must be positive")
    end = None if duration_s is None else start + dt.timedelta(seconds=duration_s)
    sender = _Sender(
        base_url.rstrip("/") + READS_PATH, tokens, DriveStats(), concurrency, max_transport_attempts
    )
    reads = _Feed(model.reads_between(start, end))
    owned = client is None
    http = httpx.AsyncClient(timeout=30.0) if client is None else client
    try:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        while True:
            sim_now = start + dt.timedelta(seconds=(loop.time() - t0) * speed)
            if end is not None:
                sim_now = min(sim_now, end)
            due = await asyncio.to_thread(reads.take_until, sim_now)
            sender.stats.reads_generated += len(due)
            sender.stats.sim_time = sim_now
            if transform is not None:
                due = [(c, sent) for c, r in due if (sent := transform(c, r)) is not None]
            if backfill:
                due = [(c, msgspec.structs.replace(r, backfilled=True)) for c, r in due]
            await sender.send(http, due, batch_max)
            if on_progress is not None:
                on_progress(sender.stats)
            if reads.exhausted:
                return sender.stats
            await asyncio.sleep(batch_interval_s)
    finally:
        if owned:
            await http.aclose()


class _Feed:
    """Takes reads from the model's iterator up to a simulated time."""

    def __init__(self, reads: Iterator[tuple[str, ReadIn]]) -> None:
        self._reads = reads
        self._next: tuple[str, ReadIn] | None = None
        self.exhausted = False

    def take_until(self, until: dt.datetime) -> list[tuple[str, ReadIn]]:
        out: list[tuple[str, ReadIn]] = []
        while not self.exhausted:
            if self._next is None:
                try:
                    self._next = next(self._reads)
                except StopIteration:
                    self.exhausted = True
                    break
            if self._next[1].captured_at > until:
                break
            out.append(self._next)
            self._next = None
        return out


class _Sender:
    def __init__(
        self,
        url: str,
        tokens: dict[str, str],
        stats: DriveStats,
        concurrency: int,
        max_transport_attempts: int,
    ) -> None:
        self.url = url
        self.tokens = tokens
        self.stats = stats
        self._limit = asyncio.Semaphore(concurrency)
        self._max_transport_attempts = max_transport_attempts

    async def send(
        self, http: httpx.AsyncClient, due: list[tuple[str, ReadIn]], batch_max: int
    ) -> None:
        per_camera: dict[str, list[ReadIn]] = {}
        for camera_id, read in due:
            per_camera.setdefault(camera_id, []).append(read)
        async with asyncio.TaskGroup() as group:
            for camera_id, camera_reads in per_camera.items():
                token = self.tokens.get(camera_id)
                if token is None:
                    self.stats.skipped_no_token += len(camera_reads)
                    continue
                group.create_task(self._camera(http, camera_id, token, camera_reads, batch_max))

    async def _camera(
        self,
        http: httpx.AsyncClient,
        camera_id: str,
        token: str,
        reads: list[ReadIn],
        batch_max: int,
    ) -> None:
        async with self._limit:
            for i in range(0, len(reads), batch_max):
                chunk = reads[i : i + batch_max]
                body = msgspec.json.encode(ReadBatchIn(version=1, camera_id=camera_id, reads=chunk))
                await self._post(http, camera_id, token, body, len(chunk))

    async def _post(
        self, http: httpx.AsyncClient, camera_id: str, token: str, body: bytes, count: int
    ) -> None:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        transport_failures = 0
        while True:
            try:
                response = await http.post(self.url, content=body, headers=headers)
            except httpx.TransportError as exc:
                transport_failures += 1
                if transport_failures >= self._max_transport_attempts:
                    log.warning("camera %s: batch of %d failed: %s", camera_id, count, exc)
                    self._fail(count)
                    return
                self.stats.retries += 1
                await asyncio.sleep(min(MAX_RETRY_AFTER_S, 0.25 * 2**transport_failures))
                continue
            if response.status_code in (429, 503):
                self.stats.retries += 1
                await asyncio.sleep(retry_after_seconds(response.headers.get("Retry-After")))
                continue
            self._count(camera_id, response, count)
            return

    def _count(self, camera_id: str, response: httpx.Response, count: int) -> None:
        if not response.is_success:
            log.warning("camera %s: batch refused with HTTP %d", camera_id, response.status_code)
            self._fail(count)
            return
        try:
            result = _result_decoder.decode(response.content)
        except msgspec.MsgspecError:
            log.warning("camera %s: unreadable batch result", camera_id)
            self._fail(count)
            return
        self.stats.batches_sent += 1
        self.stats.reads_sent += count
        self.stats.stored += result.stored
        self.stats.duplicates += result.duplicates
        self.stats.rejected += result.rejected

    def _fail(self, count: int) -> None:
        self.stats.failed_batches += 1
        self.stats.failed_reads += count
