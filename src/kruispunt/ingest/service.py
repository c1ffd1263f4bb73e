"""Ingest: authenticate the camera, decode, validate, append durably, report per read.

Errors that refuse a whole batch (nothing of it is stored)::

    IngestError                      status  code
    ├── missing or unknown token       401   unauthorized
    ├── body too large / too many      413   body_too_large / batch_too_large
    ├── undecodable or mistyped body   400   malformed_batch
    ├── camera_id not registered       404   unknown_camera
    ├── camera_id not the token's      403   camera_mismatch
    ├── camera switched off            403   camera_inactive
    ├── every read rejected            422   all_reads_rejected (results say why)
    ├── too many reads or bytes        429   saturated (+ Retry-After), before the body is read
    ├── store failed / node stopping   503   store_unavailable (+ Retry-After)
    │   and for a vendor payload (``ingest/vendor.py``, the rules in ``ingest/formats.py``):
    ├── format not known               404   unknown_format
    ├── not the camera's format        403   wrong_format
    ├── camera's settings now invalid  403   ingest_misconfigured
    └── payload does not decode        400   malformed_payload

A read marked ``backfilled`` (by the camera, or the whole batch by a decoder: a replay of a
camera's buffer) keeps the flag in the log, and hits raised from it are late.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import msgspec

from kruispunt import metrics
from kruispunt.config import IngestConfig
from kruispunt.domain.reads import Read
from kruispunt.ingest.formats import DecoderCache
from kruispunt.ingest.validate import Limits, validate_read
from kruispunt.ingest.wire import (
    ReadBatchResult,
    ReadIn,
    ReadResult,
    decode_batch,
    decode_batch_per_read,
)
from kruispunt.registry import CameraRegistry
from kruispunt.writer import ReadSink, Saturated, WriterStopped

log = logging.getLogger(__name__)


class IngestError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        retry_after: int | None = None,
        result: ReadBatchResult | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.result = result


@dataclass
class IngestService:
    registry: CameraRegistry
    writer: ReadSink
    config: IngestConfig

    def __post_init__(self) -> None:
        self._inflight_bytes = 0  # bodies being read or processed (event-loop thread only)
        self.limits = Limits(
            max_future_skew_us=self.config.max_future_skew_s * 1_000_000,
            max_age_us=self.config.max_age_days * 86_400_000_000,
            min_confidence=self.config.min_confidence,
        )
        # The vendor decoders of the cameras (their registered format and settings).
        self.decoders = DecoderCache()

    def authenticate(self, authorization: str | None) -> str:
        scheme, _, token = (authorization or "").partition(" ")
        camera = (
            self.registry.camera_for_token(token.strip())
            if scheme.lower() == "bearer" and token
            else None
        )
        if camera is None:
            metrics.BATCHES.labels("unauthorized").inc()
            raise IngestError(401, "unauthorized", "missing or invalid camera token")
        return camera.id

    # -- overload guards (checked before a body is read) ------------------------------------
    def reserve_body(self, declared: int | None) -> int:
        """Reserve room for one request body; 0 means the node is full (answer 429)."""
        cfg = self.config
        if self.writer.pending_reads >= cfg.max_pending_reads:
            return 0
        size = min(declared, cfg.max_body_bytes) if declared is not None else cfg.max_body_bytes
        size = max(size, 1)
        if self._inflight_bytes + size > cfg.max_inflight_bytes and self._inflight_bytes:
            return 0
        self._inflight_bytes += size
        return size

    def release_body(self, size: int) -> None:
        self._inflight_bytes -= size

    def saturated(self) -> IngestError:
        metrics.BACKPRESSURE.inc()
        return self.refuse(
            429, "saturated", "node busy; resend later", retry_after=self.config.retry_after_s
        )

    # -- the batch ---------------------------------------------------------------------------
    async def ingest(
        self, token_camera_id: str, body: bytes, *, backfilled: bool = False
    ) -> ReadBatchResult:
        """Ingest one native batch of the authenticated camera; ``backfilled``: every read of
        it is a replay of the camera's buffer (else only those that say so themselves)."""
        cfg = self.config
        if len(body) > cfg.max_body_bytes:
            raise self.refuse(413, "body_too_large", f"body over {cfg.max_body_bytes} bytes")
        items: list[ReadIn | ReadResult]
        try:
            batch = decode_batch(body)
            camera_id, count, items = batch.camera_id, len(batch.reads), list(batch.reads)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            try:
                camera_id, count, items = decode_batch_per_read(body)
            except (msgspec.ValidationError, msgspec.DecodeError):
                raise self.refuse(400, "malformed_batch", str(exc)) from None
        camera = self.registry.get(camera_id)
        if camera is None:
            raise self.refuse(404, "unknown_camera", "camera_id is not registered")
        if camera.id != token_camera_id:
            raise self.refuse(403, "camera_mismatch", "the token belongs to another camera")
        if not camera.active:
            raise self.refuse(403, "camera_inactive", "camera is switched off in the registry")
        if count > cfg.max_batch_reads:
            raise self.refuse(
                413, "batch_too_large", f"{count} reads; at most {cfg.max_batch_reads}"
            )

        now_us = time.time_ns() // 1000
        results: list[ReadResult | None] = []
        valid: list[Read] = []
        rejected = 0
        for r in items:
            if isinstance(r, ReadResult):
                rejected += 1
                metrics.READS_REJECTED.labels(r.reason or "read_malformed").inc()
                results.append(r)
                continue
            outcome = validate_read(r, camera=camera, now_us=now_us, limits=self.limits)
            if isinstance(outcome, Read):
                if backfilled or r.backfilled:
                    outcome = msgspec.structs.replace(outcome, backfilled=True)
                valid.append(outcome)
                results.append(None)
            else:
                rejected += 1
                metrics.READS_REJECTED.labels(outcome).inc()
                results.append(ReadResult(read_id=r.read_id, status="rejected", reason=outcome))
        if not valid:
            result = ReadBatchResult(
                version=1, camera_id=camera.id, stored=0, duplicates=0, rejected=rejected,
                results=[r for r in results if r is not None],
            )  # fmt: skip
            if not items:
                return result
            raise self.refuse(422, "all_reads_rejected", "no read was valid", result=result)

        try:
            future = self.writer.submit_reads(valid)
        except Saturated:
            raise self.saturated() from None
        except WriterStopped:
            raise self.refuse(
                503, "store_unavailable", "node is stopping", retry_after=cfg.retry_after_s
            ) from None
        try:
            appended = await asyncio.wrap_future(future)
        except Exception as exc:  # StoreError, or anything unforeseen: nothing acknowledged
            log.error("batch of camera %s not stored: %s", camera.id, exc)
            raise self.refuse(
                503, "store_unavailable", "store failed; nothing stored, resend later",
                retry_after=cfg.retry_after_s,
            ) from None  # fmt: skip

        stored = duplicates = 0
        it = iter(zip(valid, appended.seqs, appended.duplicate, strict=True))
        for i, slot in enumerate(results):
            if slot is not None:
                continue
            read, seq, dup = next(it)
            if dup:
                duplicates += 1
                results[i] = ReadResult(read_id=read.read_id, status="duplicate", seq=seq)
            else:
                stored += 1
                results[i] = ReadResult(read_id=read.read_id, status="stored", seq=seq)
        metrics.READS_STORED.inc(stored)
        metrics.READS_DUPLICATE.inc(duplicates)
        metrics.BATCHES.labels("ok").inc()
        return ReadBatchResult(
            version=1, camera_id=camera.id, stored=stored, duplicates=duplicates,
            rejected=rejected, results=[r for r in results if r is not None],
        )  # fmt: skip

    @staticmethod
    def refuse(
        status: int,
        code: str,
        message: str,
        *,
        retry_after: int | None = None,
        result: ReadBatchResult | None = None,
    ) -> IngestError:
        metrics.BATCHES.labels(code).inc()
        return IngestError(status, code, message, retry_after=retry_after, result=result)
