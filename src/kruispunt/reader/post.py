"""Post reads to a node as a camera does: ``POST /api/v1/reads``, the native format, the
camera's own token. A saturated or briefly unavailable node (429, 503) is retried after the
``Retry-After`` it gives; any other refusal is a PostError with the node's error code.

Read ids are deterministic (camera, source, frame, plate), so posting the same reads again
is harmless: the node answers ``duplicate``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import msgspec

from kruispunt.ingest.wire import ReadBatchIn, ReadBatchResult, ReadIn
from kruispunt.reader.errors import ReaderError
from kruispunt.reader.image import PlateRead

RETRY_STATUSES = frozenset({429, 503})
MAX_RETRIES = 6
MAX_RETRY_AFTER_S = 30.0
BATCH = 200


class PostError(ReaderError):
    """The node refused the reads (or could not be reached)."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    read: PlateRead
    captured_at: dt.datetime
    source: str
    """Names the capture in the read id: a picture's path and modification time, a video's
    path, a stream's URL and the moment its reading started."""
    frame: int = 0


@dataclass(frozen=True, slots=True)
class PostResult:
    stored: int
    duplicates: int
    rejected: int
    reasons: tuple[str, ...]
    """The rejection reasons, one per rejected read."""


def read_id(camera_id: str, out: Outgoing) -> str:
    key = f"{camera_id}|{out.source}|{out.frame}|{out.read.plate}".encode()
    return f"kpr-{hashlib.sha256(key).hexdigest()[:24]}"


def _retry_after(resp: httpx.Response, attempt: int) -> float:
    try:
        after = float(str(resp.headers.get("Retry-After", "")))
    except ValueError:
        after = 0.5 * 2**attempt
    return min(MAX_RETRY_AFTER_S, max(0.0, after))


class NodeClient:
    """A camera of a node, as seen from the reader."""

    def __init__(
        self,
        url: str,
        camera_id: str,
        token: str,
        *,
        client: httpx.Client | None = None,
        timeout_s: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.camera_id = camera_id
        self._client = client or httpx.Client(base_url=url.rstrip("/"), timeout=timeout_s)
        self._owns_client = client is None
        self._headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self._sleep = sleep

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> NodeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def body(self, reads: list[Outgoing]) -> bytes:
        batch = ReadBatchIn(
            version=1,
            camera_id=self.camera_id,
            reads=[
                ReadIn(
                    read_id=read_id(self.camera_id, out),
                    captured_at=out.captured_at,
                    plate=out.read.display,
                    confidence=min(1.0, max(0.0, round(out.read.confidence, 4))),
                    country=out.read.country,
                    image_ref=None,
                )
                for out in reads
            ],
        )
        return msgspec.json.encode(batch)

    def post(self, reads: list[Outgoing]) -> PostResult:
        """Send the reads (in batches); the node's per-read verdicts summed."""
        stored = duplicates = rejected = 0
        reasons: list[str] = []
        for i in range(0, len(reads), BATCH):
            result = self._post_batch(self.body(reads[i : i + BATCH]))
            stored += result.stored
            duplicates += result.duplicates
            rejected += result.rejected
            reasons += [r.reason or "" for r in result.results if r.status == "rejected"]
        return PostResult(stored, duplicates, rejected, tuple(reasons))

    def _post_batch(self, body: bytes) -> ReadBatchResult:
        for attempt in range(MAX_RETRIES + 1):
            try:
                resp = self._client.post("/api/v1/reads", content=body, headers=self._headers)
            except httpx.HTTPError as exc:
                raise PostError(f"node unreachable: {exc}") from None
            if resp.status_code in RETRY_STATUSES and attempt < MAX_RETRIES:
                self._sleep(_retry_after(resp, attempt))
                continue
            if resp.status_code in (200, 422):  # 422: every read rejected, each with its reason
                try:
                    return msgspec.json.decode(resp.content, type=ReadBatchResult)
                except msgspec.DecodeError:
                    raise PostError("the node's answer is not a batch result") from None
            raise PostError(f"node refused the reads: HTTP {resp.status_code} {_code(resp)}")
        raise PostError("node still saturated after retries")  # pragma: no cover


def _code(resp: httpx.Response) -> str:
    try:
        return str(resp.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return resp.text[:200]
