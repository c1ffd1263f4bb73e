"""Signed outgoing webhooks: each zone may have its hits POSTed to its own systems.

A webhook receives the hits its zone may receive (the routing policy, asked for a pseudo
operator of that zone), one POST per hit, the body being that zone's view of the hit as JSON.
Each request is signed: ``X-Kruispunt-Signature: t=<unix seconds>,v1=<hex>`` where ``v1`` is
HMAC-SHA256 of ``f"{t}.{body}"`` under the webhook's secret (``verify_signature`` shows how to
check it; reject stale ``t`` to stop replays).

Delivery runs as one asyncio task per webhook with its own cursor over the hit log's sequence
numbers, persisted after each hit (a restart resumes; a hit may be delivered twice around a
crash, never skipped: receivers de-duplicate on ``X-Kruispunt-Delivery``). Camera health
alarms (raised and cleared, ``X-Kruispunt-Event: camera_alarm``) follow the same way on a
second cursor over the alarm log, to the webhooks of the camera's manager zone only
(``kruispunt.health.routing``); a new webhook starts at the head of both logs. A failing receiver
is retried with exponential backoff up to a cap, then that hit is given up and logged; it
only ever delays its own webhook, never the matcher or the other webhooks.

Errors::

    WebhookError
    ├── WebhookInvalid     bad URL or unknown zone
    ├── WebhookForbidden   the actor may not manage this zone's webhooks
    └── WebhookNotFound    no such webhook
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass

import httpx
import msgspec

from kruispunt.access.principals import Principal, Role
from kruispunt.audit import write_audit
from kruispunt.errors import Refused
from kruispunt.health.events import AlarmEvent, event_view
from kruispunt.health.routing import receives_alarm
from kruispunt.hits import policy
from kruispunt.hits.models import Hit
from kruispunt.live.hub import HitSource, MayReceive, ViewFor
from kruispunt.store.sql import Conn, SqlStore
from kruispunt.writer import Writer

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Kruispunt-Signature"
DELIVERY_HEADER = "X-Kruispunt-Delivery"
MANAGERS = frozenset({Role.ZONE_CHIEF, Role.ADMIN})
_encoder = msgspec.json.Encoder()


# -- signing (pure) ---------------------------------------------------------------------------
def signature(secret: str, body: bytes, t: int) -> str:
    """The header value for ``body`` sent at unix time ``t``."""
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify_signature(
    secret: str, header: str, body: bytes, *, now: float | None = None, tolerance_s: int = 300
) -> bool:
    """What a receiver does: recompute the MAC and refuse a stale timestamp."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - t) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, body, t), f"t={t},v1={parts.get('v1', '')}")


def retryable(status: int) -> bool:
    """Server trouble and throttling are worth retrying; other client errors are not."""
    return status >= 500 or status in (408, 425, 429)


def backoff_delays(base_s: float, cap_s: float, attempts: int) -> list[float]:
    """Waits between ``attempts`` tries: base, 2·base, 4·base ... never above ``cap_s``."""
    return [min(cap_s, base_s * 2**i) for i in range(max(0, attempts - 1))]


# -- the registry -----------------------------------------------------------------------------
class WebhookError(Refused):
    code = "webhook_error"


class WebhookInvalid(WebhookError):
    code = "invalid_webhook"


class WebhookForbidden(WebhookError):
    code = "forbidden"
    status = 403


class WebhookNotFound(WebhookError):
    code = "not_found"
    status = 404


class Webhook(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    zone_id: str
    url: str
    active: bool
    created_us: int


def cursor_name(webhook_id: str) -> str:
    return f"webhook:{webhook_id}"


def alarm_cursor_name(webhook_id: str) -> str:
    return f"webhook-alarms:{webhook_id}"


def _now_us() -> int:
    return time.time_ns() // 1000


def check_url(url: str) -> str:
    parsed = urllib.parse.urlsplit(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise WebhookInvalid("url: an absolute http(s) URL is required")
    if parsed.username or parsed.password:
        raise WebhookInvalid("url: no credentials in the URL (the signature authenticates)")
    if len(url) > 2000:
        raise WebhookInvalid("url: at most 2000 characters")
    return url.strip()


def may_manage(actor: Principal, zone_id: str) -> bool:
    return actor.role is Role.ADMIN or (actor.role is Role.ZONE_CHIEF and actor.zone_id == zone_id)


class WebhookStore:
    """The zones' webhooks (table ``webhooks``); each change audited in its transaction.
    Reads from any thread; changes through the writer."""

    def __init__(self, store: SqlStore, writer: Writer, *, zone_ids: Collection[str]):
        self._store = store
        self._writer = writer
        self._zone_ids = frozenset(zone_ids)
        # Called after a change commits, on the writer thread (the dispatcher re-reads).
        self.on_change: list[Callable[[], None]] = []

    def create(self, zone_id: str, url: str, *, actor: Principal) -> tuple[Webhook, str]:
        """A new webhook and its secret (returned this once). It starts at the head of the
        hit log: hits raised before it existed are not sent."""
        if zone_id not in self._zone_ids:
            raise WebhookInvalid(f"zone_id: unknown zone {zone_id!r}")
        if not may_manage(actor, zone_id):
            raise WebhookForbidden("only the zone's chief or an admin manages its webhooks")
        hook = Webhook(
            id=f"wh-{secrets.token_hex(8)}",
            zone_id=zone_id,
            url=check_url(url),
            active=True,
            created_us=_now_us(),
        )
        secret = f"whsec_{secrets.token_urlsafe(32)}"

        def save(conn: Conn) -> None:
            conn.execute(
                "INSERT INTO webhooks (id, zone_id, url, secret, active, created_us) "
                "VALUES (?, ?, ?, ?, 1, ?)",
                (hook.id, hook.zone_id, hook.url, secret, hook.created_us),
            )
            head = conn.execute("SELECT coalesce(max(seq), 0) FROM hits").fetchone()[0]
            SqlStore.move_cursor(conn, cursor_name(hook.id), 0, int(head))
            alarms = conn.execute("SELECT coalesce(max(seq), 0) FROM camera_alarm_events")
            SqlStore.move_cursor(conn, alarm_cursor_name(hook.id), 0, int(alarms.fetchone()[0]))
            self._audit(conn, actor, "webhook.create", hook)

        self._commit(save)
        return hook, secret

    def delete(self, webhook_id: str, *, actor: Principal) -> Webhook:
        hook = self.get(webhook_id)
        if hook is None:
            raise WebhookNotFound(f"no webhook {webhook_id!r}")
        if not may_manage(actor, hook.zone_id):
            raise WebhookForbidden("only the zone's chief or an admin manages its webhooks")

        def save(conn: Conn) -> None:
            if conn.execute("DELETE FROM webhooks WHERE id=?", (webhook_id,)).rowcount != 1:
                raise WebhookNotFound(f"no webhook {webhook_id!r}")
            for name in (cursor_name(webhook_id), alarm_cursor_name(webhook_id)):
                conn.execute("DELETE FROM processor_cursors WHERE name=?", (name,))
            self._audit(conn, actor, "webhook.delete", hook)

        self._commit(save)
        return hook

    def get(self, webhook_id: str) -> Webhook | None:
        rows = self._select("WHERE id=?", (webhook_id,))
        return rows[0][0] if rows else None

    def all(self, zone_id: str | None = None) -> list[Webhook]:
        if zone_id is None:
            return [hook for hook, _ in self._select("", ())]
        return [hook for hook, _ in self._select("WHERE zone_id=?", (zone_id,))]

    def active_with_secrets(self) -> list[tuple[Webhook, str]]:
        return self._select("WHERE active=1", ())

    def cursor(self, webhook_id: str) -> int:
        return self._store.cursor(cursor_name(webhook_id))

    def move_cursor(
        self, webhook_id: str, from_seq: int, to_seq: int, *, name: str | None = None
    ) -> None:
        """Blocks until committed (call it off the event loop)."""

        def run(_store: object) -> None:
            with self._store.transaction() as conn:
                SqlStore.move_cursor(conn, name or cursor_name(webhook_id), from_seq, to_seq)

        self._writer.call(run).result()

    def alarm_cursor(self, webhook_id: str) -> int:
        """Where the webhook is in the alarm log; a webhook older than the log starts at its
        head (blocks: call it off the event loop)."""
        name = alarm_cursor_name(webhook_id)
        if name in self._store.cursors():
            return self._store.cursor(name)
        head = self._store.camera_alarms_head()
        self.move_cursor(webhook_id, 0, head, name=name)
        return head

    def alarm_events(self, after_seq: int, limit: int) -> list[AlarmEvent]:
        return self._store.camera_alarm_events(after_seq=after_seq, limit=limit)

    def _select(self, where: str, args: tuple[str, ...]) -> list[tuple[Webhook, str]]:
        rows = self._store.reader().execute(
            f"SELECT id, zone_id, url, secret, active, created_us FROM webhooks {where} "
            "ORDER BY created_us, id",
            args,
        )
        return [
            (Webhook(id=i, zone_id=z, url=u, active=bool(a), created_us=c), s)
            for i, z, u, s, a, c in rows
        ]

    def _commit(self, fn: Callable[[Conn], None]) -> None:
        def run(_store: object) -> None:
            with self._store.transaction() as conn:
                fn(conn)

        self._writer.call(run).result()
        for callback in self.on_change:
            try:
                callback()
            except Exception:
                log.exception("webhooks: on_change callback failed")

    @staticmethod
    def _audit(conn: Conn, actor: Principal, action: str, hook: Webhook) -> None:
        host = urllib.parse.urlsplit(hook.url).hostname or ""
        write_audit(
            conn, actor=actor.user_id, actor_zone=actor.zone_id, action=action,
            object_type="webhook", object_id=hook.id,
            detail={"zone_id": hook.zone_id, "host": host},
        )  # fmt: skip


# -- delivery ---------------------------------------------------------------------------------
@dataclass(slots=True)
class DeliveryStats:
    delivered: int = 0
    given_up: int = 0
    attempts: int = 0
    cursor: int = 0
    last_error: str = ""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_delay_s: float = 1.0
    max_delay_s: float = 60.0
    max_attempts: int = 8  # ~2 minutes of trying with the defaults, then the hit is given up
    timeout_s: float = 10.0


class WebhookDispatcher:
    """Delivers hits to every active webhook; start and stop it on the serving event loop."""

    def __init__(
        self,
        webhooks: WebhookStore,
        hit_store: HitSource,
        network_zone_ids: Collection[str],
        *,
        retry: RetryPolicy | None = None,
        poll_s: float = 5.0,
        page: int = 100,
        transport: httpx.AsyncBaseTransport | None = None,
        may_receive: MayReceive = policy.may_receive,
        view_for: ViewFor = policy.view_for,
    ):
        self._webhooks = webhooks
        self._source = hit_store
        self._zones = frozenset(network_zone_ids)
        self._retry = retry or RetryPolicy()
        self._poll_s = poll_s
        self._page = page
        self._transport = transport
        self._may_receive = may_receive
        self._view_for = view_for
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._reconciling = asyncio.Lock()
        self._wakes: dict[str, asyncio.Event] = {}
        self._alarm_wakes: dict[str, asyncio.Event] = {}
        self.stats: dict[str, DeliveryStats] = {}

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._client = httpx.AsyncClient(
            transport=self._transport, timeout=self._retry.timeout_s, follow_redirects=False
        )
        self._webhooks.on_change.append(self.refresh)
        await self._reconcile()

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self._webhooks.on_change.remove(self.refresh)
        tasks = [*self._tasks.values(), *self._background]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._wakes.clear()
        self._alarm_wakes.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self._loop = None

    # -- any thread -------------------------------------------------------------------------
    def notify(self) -> None:
        """New hits are stored: wake every webhook (thread-safe)."""
        self._threadsafe(self._wake_all)

    def notify_alarms(self) -> None:
        """New camera alarm events are stored: wake every webhook (thread-safe)."""
        self._threadsafe(self._wake_alarms)

    def refresh(self) -> None:
        """The set of webhooks changed: start and stop tasks to match (thread-safe)."""
        self._threadsafe(self._reconcile_later)

    def _threadsafe(self, fn: Callable[[], object]) -> None:
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # loop closed: stopping
            loop.call_soon_threadsafe(fn)

    # -- on the loop ------------------------------------------------------------------------
    def _wake_all(self) -> None:
        for wake in self._wakes.values():
            wake.set()

    def _wake_alarms(self) -> None:
        for wake in self._alarm_wakes.values():
            wake.set()

    def _reconcile_later(self) -> None:
        task = asyncio.ensure_future(self._reconcile())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _reconcile(self) -> None:
        async with self._reconciling:  # one at a time: a stale read must not revive a hook
            if self._client is None:
                return
            rows = await asyncio.to_thread(self._webhooks.active_with_secrets)
            self._apply({hook.id: (hook, secret) for hook, secret in rows})

    def _apply(self, wanted: dict[str, tuple[Webhook, str]]) -> None:
        for hook_id in list(self._tasks):
            if hook_id not in wanted:
                self._tasks.pop(hook_id).cancel()
                self._wakes.pop(hook_id, None)
                self._alarm_wakes.pop(hook_id, None)
        for hook_id, (hook, secret) in wanted.items():
            if hook_id not in self._tasks:
                self._wakes[hook_id] = asyncio.Event()
                self._alarm_wakes[hook_id] = asyncio.Event()
                self.stats.setdefault(hook_id, DeliveryStats())
                self._tasks[hook_id] = asyncio.create_task(
                    self._run(hook, secret), name=f"webhook-{hook_id}"
                )

    async def _run(self, hook: Webhook, secret: str) -> None:
        await asyncio.gather(
            self._keep(self._follow, hook, secret), self._keep(self._follow_alarms, hook, secret)
        )

    async def _keep(
        self, follow: Callable[[Webhook, str], Awaitable[None]], hook: Webhook, secret: str
    ) -> None:
        while True:
            try:
                await follow(hook, secret)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the store or the writer failed: start over, later
                self.stats[hook.id].last_error = type(exc).__name__
                log.exception("webhook %s: delivery loop failed; restarting", hook.id)
                await asyncio.sleep(self._retry.max_delay_s)

    async def _follow(self, hook: Webhook, secret: str) -> None:
        stats = self.stats[hook.id]
        wake = self._wakes[hook.id]
        principal = Principal(
            user_id=f"webhook:{hook.id}", zone_id=hook.zone_id, role=Role.OPERATOR
        )
        cursor = await asyncio.to_thread(self._webhooks.cursor, hook.id)
        stats.cursor = cursor
        while True:
            wake.clear()  # before reading: a hit stored after the read wakes us again
            hits = await asyncio.to_thread(self._source.since, cursor, self._page)
            if not hits:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self._poll_s)
                continue
            last = cursor
            for hit in hits:
                if self._may_receive(hit, principal, self._zones):
                    await self._deliver(hook, secret, hit, principal, stats)
                    await self._save(hook.id, cursor, hit.seq)
                    cursor = stats.cursor = hit.seq
                last = hit.seq
            if last != cursor:  # the rest of the page was for other zones
                await self._save(hook.id, cursor, last)
                cursor = stats.cursor = last

    async def _follow_alarms(self, hook: Webhook, secret: str) -> None:
        """The camera alarms of the cameras this webhook's zone manages, in log order."""
        stats = self.stats[hook.id]
        wake = self._alarm_wakes[hook.id]
        principal = Principal(
            user_id=f"webhook:{hook.id}", zone_id=hook.zone_id, role=Role.OPERATOR
        )
        name = alarm_cursor_name(hook.id)
        cursor = await asyncio.to_thread(self._webhooks.alarm_cursor, hook.id)
        while True:
            wake.clear()
            events = await asyncio.to_thread(self._webhooks.alarm_events, cursor, self._page)
            if not events:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self._poll_s)
                continue
            for event in events:
                if receives_alarm(principal, event.manager_zone_id):
                    body = _encoder.encode(event_view(event))
                    delivery = f"{hook.id}:alarm:{event.seq}"
                    await self._post(hook, secret, body, delivery, "camera_alarm", stats)
                await asyncio.to_thread(
                    self._webhooks.move_cursor, hook.id, cursor, event.seq, name=name
                )
                cursor = event.seq

    async def _save(self, hook_id: str, from_seq: int, to_seq: int) -> None:
        await asyncio.to_thread(self._webhooks.move_cursor, hook_id, from_seq, to_seq)

    async def _deliver(
        self, hook: Webhook, secret: str, hit: Hit, principal: Principal, stats: DeliveryStats
    ) -> bool:
        body = _encoder.encode(self._view_for(hit, principal))
        return await self._post(hook, secret, body, f"{hook.id}:{hit.seq}", "hit", stats)

    async def _post(
        self, hook: Webhook, secret: str, body: bytes, delivery: str, event: str,
        stats: DeliveryStats,
    ) -> bool:  # fmt: skip
        assert self._client is not None
        delays = backoff_delays(
            self._retry.base_delay_s, self._retry.max_delay_s, self._retry.max_attempts
        )
        for attempt in range(self._retry.max_attempts):
            stats.attempts += 1
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "kruispunt-webhook",
                SIGNATURE_HEADER: signature(secret, body, int(time.time())),
                DELIVERY_HEADER: delivery,
                "X-Kruispunt-Event": event,
            }
            try:
                resp = await self._client.post(hook.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                stats.last_error = type(exc).__name__
            else:
                if resp.is_success:
                    stats.delivered += 1
                    return True
                stats.last_error = f"HTTP {resp.status_code}"
                if not retryable(resp.status_code):
                    break
            if attempt < len(delays):
                await asyncio.sleep(delays[attempt])
        stats.given_up += 1
        log.warning(
            "webhook %s: %s %s given up after %d attempt(s) (%s)",
            hook.id, event, delivery, attempt + 1, stats.last_error,
        )  # fmt: skip
        return False
