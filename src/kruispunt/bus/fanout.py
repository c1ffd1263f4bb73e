"""Broadcast between node processes on core NATS: live hits, cache invalidations.

Core NATS, not JetStream: these events matter only to processes running now (a process
that starts later loads fresh state anyway), so nothing is stored. Every process publishes
and subscribes on one subject; an origin header lets a process ignore its own echoes,
because it has already applied what it published.
"""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Callable

import nats.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from kruispunt.bus.jetstream import BusError, LoopThread, connect

log = logging.getLogger(__name__)

ORIGIN_HEADER = "Kruispunt-Origin"


class NatsFanout:
    """Publish to, and hear from, every process on ``subject``.

    ``on_message(payload)`` runs on the fan-out's own thread, once per message from
    another process, in the order that process published them; it must not block long.
    """

    def __init__(
        self,
        url: str,
        subject: str,
        on_message: Callable[[bytes], None],
        *,
        origin: str,
        start_timeout_s: float = 10.0,
        flush_timeout_s: int = 2,
    ) -> None:
        if not origin:
            raise ValueError("origin must not be empty")
        self._url = url
        self.subject = subject
        self._on_message = on_message
        self.origin = origin
        self._start_timeout = start_timeout_s
        self._flush_timeout = flush_timeout_s
        self._loop = LoopThread(f"kruispunt-fanout-{subject}")
        self._nc: NATS | None = None
        self._sub: Subscription | None = None
        self.published = 0
        self.received = 0
        self.failures = 0

    def start(self) -> None:
        """Connect and subscribe; raises BusError when NATS cannot be reached."""
        self._loop.start()
        try:
            self._loop.run(self._open(), self._start_timeout + 1)
        except BaseException as exc:
            self._loop.stop()
            if isinstance(exc, BusError):
                raise
            raise BusError(f"cannot start fan-out on {self._url}: {exc!r}") from exc

    async def _open(self) -> None:
        nc = await connect(
            self._url, f"kruispunt-fanout-{self.origin}", within_s=self._start_timeout
        )
        try:
            self._sub = await nc.subscribe(self.subject, cb=self._deliver)
            await nc.flush(
                timeout=max(1, int(self._start_timeout))
            )  # subscribed before start() returns
        except BaseException:
            await nc.close()
            raise
        self._nc = nc

    async def _deliver(self, msg: Msg) -> None:
        if msg.headers and msg.headers.get(ORIGIN_HEADER) == self.origin:
            return
        self.received += 1
        try:
            self._on_message(msg.data)
        except Exception:
            log.exception("fan-out %s: on_message failed", self.subject)

    def publish(self, payload: bytes) -> concurrent.futures.Future[None]:
        """Send to every other process; thread-safe. Fire and forget: the future (which
        callers may ignore) fails when the message could not be flushed to the server."""
        try:
            return self._loop.submit(self._publish(payload))
        except RuntimeError as exc:
            raise BusError("fan-out is not running") from exc

    async def _publish(self, payload: bytes) -> None:
        nc = self._nc
        if nc is None:
            raise BusError("fan-out is not running")
        try:
            await nc.publish(self.subject, payload, headers={ORIGIN_HEADER: self.origin})
            await nc.flush(timeout=self._flush_timeout)
        except (nats.errors.Error, OSError) as exc:
            self.failures += 1
            log.warning("fan-out %s: publish failed: %s", self.subject, type(exc).__name__)
            raise
        self.published += 1

    def stop(self, timeout: float = 5.0) -> None:
        if not self._loop.alive:
            return
        try:
            self._loop.run(self._close(), timeout)
        except Exception as exc:
            log.warning("fan-out %s: unclean stop: %r", self.subject, exc)
        finally:
            self._loop.stop()

    async def _close(self) -> None:
        nc, self._nc = self._nc, None
        if nc is not None:
            try:
                await nc.drain()
            except Exception:
                await nc.close()
