"""MQTT ingestion: cameras that cannot POST publish their reads to a broker; the node subscribes.

Topics (``{prefix}`` is ``mqtt.topic_prefix``, ``kruispunt`` by default)::

    {prefix}/cameras/{camera_id}/reads            camera -> node, QoS 1: the v1 batch JSON of
                                                  the HTTP API (``POST /api/v1/reads``)
    {prefix}/cameras/{camera_id}/ingest/{format}  camera -> node, QoS 1: one payload in a
                                                  vendor's format, as ``POST /api/v1/ingest/
                                                  {format}`` takes it (same decoder, same rules)
    {prefix}/cameras/{camera_id}/ingest/{format}/events   the same (Frigate, see below;
    {prefix}/cameras/{camera_id}/ingest/{format}/tracked_object_update   also this one)
    {prefix}/cameras/{camera_id}/acks             node -> camera, QoS 1, not retained: outcome

A vendor payload is decoded by the camera's decoder for the format: the format and settings
the camera is registered with (``Camera.ingest``); a camera registered for another format is
refused (wrong_format), one registered without a format may use any with default settings
(``ingest/formats.py``). The decoded reads then take the native path; pictures that came with
them are kept in the image store once the reads are durable (``ingest/vendor.py``, shared with
HTTP). A payload that decodes to no read (a Frigate ``new``/``update`` event, an object
without a plate) is acknowledged to the broker and otherwise ignored: no ack is published.
The MQTT v5 Content Type of a publish, if any, is passed to the decoder (multipart needs it).

Frigate NVR publishes its events to ``{its mqtt.topic_prefix}/events``: set Frigate's
``mqtt.topic_prefix`` to ``kruispunt/cameras/<camera_id>/ingest/frigate`` (and its
``mqtt.user``/``password`` to the camera's) and its events arrive on
``.../ingest/frigate/events`` (and its plate updates on ``.../tracked_object_update``, read
when the camera's ``emit_on`` setting has ``lpr``). Frigate's other topics (``available``,
``stats``, per-camera state, snapshots) land under the same prefix; the node does not
subscribe to them. Every Frigate camera's events become reads of that one Kruispunt camera:
give each ANPR camera its own Frigate instance.

The ack is the ``ReadBatchResult`` JSON of ``POST /api/v1/reads`` (for a vendor payload the
``POST /api/v1/ingest/{format}`` result, with ``format``, ``backfilled`` and ``images``) when
the batch was taken, or ``{"error": code, "message": ..., "retry_after": null, "results":
[...] | null}`` when it was refused for good (malformed_batch, malformed_payload,
unknown_camera, unknown_format, wrong_format, camera_mismatch, camera_inactive, body_too_large,
batch_too_large, all_reads_rejected: resending the same payload will not help).
Both carry two more keys so that a camera can tell which batch an ack answers:

- ``batch_sha256``: the SHA-256 (hex) of the published payload, always present; any camera,
  MQTT 3.1.1 included, can match it against what it sent;
- ``batch_id``: the MQTT v5 user property ``batch_id`` of the publish if it has one, else its
  MQTT v5 Correlation Data (UTF-8, or hex when not text), else null. The Correlation Data is
  also echoed, unchanged, as the Correlation Data property of the ack (the MQTT v5
  request/response pattern). A Response Topic is ignored: acks only ever go to the camera's
  own ``acks`` topic, so a camera cannot make the node publish elsewhere.

A redelivered or resent batch is answered again: its reads then come back as ``duplicate``.

Authentication is the broker's: it authenticates each camera (username = camera id, password
= for instance the camera's token) and its ACL lets a camera publish only under its own
topics. The node takes the camera id from the topic and passes it to
:meth:`IngestService.ingest` as the authenticated camera, which refuses a batch naming another
camera (camera_mismatch). A topic of an unregistered camera is refused (unknown_camera) before
its payload is looked at. Example Mosquitto set-up (2.x)::

    # /etc/mosquitto/conf.d/kruispunt.conf
    persistence true                   # queued messages and sessions survive a broker restart
    max_queued_messages 0              # default 1000: beyond it, messages for an offline or
    max_queued_bytes 2000000000        #   busy node are DROPPED; bound by bytes instead
    persistent_client_expiration 14d
    allow_anonymous false
    password_file /etc/mosquitto/passwd   # mosquitto_passwd -b passwd <camera_id> <token>
    acl_file /etc/mosquitto/acl

    # /etc/mosquitto/acl
    user kruispunt-node
    topic read kruispunt/cameras/+/reads
    topic read kruispunt/cameras/+/ingest/#
    topic write kruispunt/cameras/+/acks
    pattern write kruispunt/cameras/%u/reads
    pattern write kruispunt/cameras/%u/ingest/#
    pattern read kruispunt/cameras/%u/acks

A broker that refuses the node the ``ingest`` subscriptions (an ACL from before them) leaves
the native topic working: the node logs a warning and goes on.

Durability. The node connects with MQTT v5, a fixed client id (``mqtt.client_id``),
clean start off and a session expiry (by default ``ingest.max_age_days``, at least a day:
older reads would be refused anyway), so the broker keeps its subscription and queues QoS 1
messages while the node is down; they are delivered when it comes back. Messages are
acknowledged by hand (paho-mqtt ``manual_ack``; aiomqtt 2.5 cannot do this): the PUBACK is sent
only after the batch is durably committed (``ingest`` returns after the commit) or refused for
good. Mosquitto resends an unacknowledged message only when the session reconnects, never
while connected, so on ``saturated`` or ``store_unavailable`` the node keeps the message,
unacknowledged, and retries it itself with back-off (``retry_after_s``, doubling, at most 30
s); nothing is published to the camera meanwhile. If the node stops or dies first, the broker
redelivers the message to the next session. A PUBACK is only sent on the connection that
delivered the message: after a reconnect the broker redelivers it anyway (the stale copy's
reads are stored once; the redelivery is answered with duplicates).

Back-pressure. At most ``max_inflight`` messages are held at once (being ingested or waiting
for a retry). The node asks the broker for that Receive Maximum, but Mosquitto 2.0.11 does not
keep to it, so when all slots are taken the network thread stops reading the socket until one
frees: the broker queues the rest (see ``max_queued_messages`` above). Memory is bounded by
``max_inflight`` times the broker's message size limit. Payloads over
``ingest.max_body_bytes`` are refused (body_too_large) without decoding.

Plate text is personal data: nothing here logs it, or a payload, above DEBUG.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import msgspec
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from kruispunt.config import MqttConfig
from kruispunt.images.service import ImageService
from kruispunt.ingest import vendor
from kruispunt.ingest.adapters import Decoded
from kruispunt.ingest.service import IngestError, IngestService
from kruispunt.ingest.wire import ReadBatchResult

log = logging.getLogger(__name__)

RETRY_CODES = frozenset({"saturated", "store_unavailable"})
# Sub-topics taken after ``ingest/{format}``: where Frigate publishes under its topic prefix.
SUBTOPICS = ("events", "tracked_object_update")
MAX_RETRY_DELAY_S = 30.0
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30


class MqttIngestError(Exception):
    """MQTT ingestion could not start (bad URL, broker unreachable, subscription refused)."""


@dataclass
class MqttStats:
    received: int = 0
    stored_batches: int = 0  # acknowledged after a durable commit (all-duplicate batches too)
    refused: dict[str, int] = field(default_factory=dict)  # refused for good, by code
    deferred: int = 0  # saturated / store_unavailable: kept unacknowledged and retried
    ignored: int = 0  # vendor payloads without a read (Frigate updates ...): no ack published
    abandoned: int = 0  # left unacknowledged (stop, reconnect, error): the broker redelivers
    reconnects: int = 0
    connected: bool = False


@dataclass(frozen=True, slots=True)
class _Incoming:
    topic: str
    payload: bytes
    mid: int
    qos: int
    dup: bool
    properties: Properties | None
    generation: int


def parse_url(url: str) -> tuple[str, int]:
    """``mqtt://host:port`` -> (host, port); the port defaults to 1883."""
    parts = urlsplit(url)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise MqttIngestError(f"mqtt.url: expected mqtt://host:port, got {url!r}")
    try:
        port = parts.port or 1883
    except ValueError as exc:
        raise MqttIngestError(f"mqtt.url: bad port in {url!r}") from exc
    return parts.hostname, port


def _properties(packet_type: int) -> Properties:
    return Properties(packet_type)  # type: ignore[no-untyped-call]  # paho leaves it untyped


def release_sockets(client: paho.Client) -> None:
    """Close a stopped paho client's sockets. paho closes its wake-up socket pair only in
    ``__del__``, which a reference cycle (callbacks are bound methods) may run after the
    sockets' own finalizers: a ResourceWarning. Call after ``loop_stop()``."""
    reset = getattr(client, "_reset_sockets", None)
    if callable(reset):
        reset()


def _batch_id(props: Properties | None) -> str | None:
    if props is None:
        return None
    for key, value in getattr(props, "UserProperty", None) or ():
        if key == "batch_id":
            return str(value)
    corr = getattr(props, "CorrelationData", None)
    if isinstance(corr, bytes | bytearray):
        try:
            return bytes(corr).decode("utf-8")
        except UnicodeDecodeError:
            return bytes(corr).hex()
    return None


class MqttIngest:
    """Subscribes to ``{prefix}/cameras/+/reads`` and ``.../ingest/{format}`` and feeds the
    batches to the IngestService (vendor payloads through the camera's decoder first).

    Runs on a daemon thread with its own asyncio event loop (the ingest service is async) plus
    paho-mqtt's network thread, which reconnects with back-off. One instance is started once.
    """

    def __init__(
        self,
        ingest: IngestService,
        registry_has: Callable[[str], bool] | None,
        config: MqttConfig,
        *,
        max_inflight: int = 16,
        session_expiry_s: int | None = None,
        keepalive_s: int = 30,
        retry_delay_s: float | None = None,
        images: ImageService | None = None,
    ) -> None:
        if config.url is None:
            raise MqttIngestError("mqtt.url is not set")
        if max_inflight < 1:
            raise ValueError("max_inflight must be at least 1")
        self._host, self._port = parse_url(config.url)
        self._ingest = ingest
        self._registry_has = registry_has or (lambda cid: ingest.registry.get(cid) is not None)
        self.config = config
        self.max_inflight = max_inflight
        self.session_expiry_s = (
            session_expiry_s
            if session_expiry_s is not None
            else max(1, ingest.config.max_age_days) * 86_400
        )
        self._keepalive_s = keepalive_s
        self._retry_delay_s = retry_delay_s
        self._max_body = ingest.config.max_body_bytes
        self._images = images
        prefix = config.topic_prefix.rstrip("/")
        self._camera_prefix = f"{prefix}/cameras/"
        self.subscription = f"{prefix}/cameras/+/reads"
        # The native topic first: it alone must be granted (see _on_subscribe).
        self.subscriptions = (
            self.subscription,
            f"{prefix}/cameras/+/ingest/+",
            *(f"{prefix}/cameras/+/ingest/+/{sub}" for sub in SUBTOPICS),
        )
        self.stats = MqttStats()

        self._slots = threading.BoundedSemaphore(max_inflight)
        self._stopping = threading.Event()
        self._subscribed = threading.Event()
        self._conn_lock = threading.Lock()  # generation + connected vs. PUBACKs
        self._generation = 0
        self._ever_connected = False
        self._outage = False  # an outage was logged and not yet ended
        self._last_problem = "no answer from the broker"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._stop_event: asyncio.Event | None = None
        self._started = False
        self._stopped = False

        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=config.client_id,
            protocol=paho.MQTTv5,
            manual_ack=True,
        )
        if config.username is not None:
            client.username_pw_set(config.username, config.password)
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self._client = client

    # -- life cycle -------------------------------------------------------------------------
    def start(self, timeout_s: float = 10.0) -> None:
        """Connect and subscribe; returns once subscribed, raises MqttIngestError if not
        subscribed within ``timeout_s`` (everything started is stopped again)."""
        if self._started:
            raise RuntimeError("MqttIngest is started once; make a new one")
        self._started = True
        self._thread = threading.Thread(target=self._run_loop, name="mqtt-ingest", daemon=True)
        self._thread.start()
        self._loop_ready.wait()
        props = _properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry_s
        props.ReceiveMaximum = min(self.max_inflight, 65_535)
        self._client.connect_async(
            self._host, self._port, self._keepalive_s, clean_start=False, properties=props
        )
        self._client.loop_start()
        if not self._subscribed.wait(timeout_s):
            problem = self._last_problem
            self.stop()
            raise MqttIngestError(
                f"MQTT: not subscribed to {self.subscription} at {self._host}:{self._port} "
                f"within {timeout_s:g} s: {problem}"
            )
        log.info(
            "MQTT ingest subscribed to %s at %s:%d as %s",
            self.subscription, self._host, self._port, self.config.client_id,
        )  # fmt: skip

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop taking messages, finish the batches being ingested (up to ``timeout_s``;
        batches waiting for a retry stay unacknowledged for the broker to redeliver), send
        their acks, disconnect (the session is kept)."""
        if not self._started or self._stopped:
            return
        self._stopped = True
        self._stopping.set()
        loop = self._loop
        if loop is not None and loop.is_running():
            drain = asyncio.run_coroutine_threadsafe(self._drain(timeout_s), loop)
            try:
                drain.result(timeout_s + 5)
            except Exception:  # a drain that failed must not keep the node from stopping
                log.exception("MQTT ingest: draining in-flight batches failed")
        self._client.disconnect()
        self._client.loop_stop()
        release_sockets(self._client)
        with self._conn_lock:
            self.stats.connected = False
            self._generation += 1
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join()
        log.info("MQTT ingest stopped")

    def _run_loop(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        self._stop_event = asyncio.Event()
        loop.call_soon(self._loop_ready.set)
        try:
            loop.run_forever()
            tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        finally:
            loop.close()

    async def _drain(self, timeout_s: float) -> None:
        assert self._stop_event is not None
        self._stop_event.set()  # wakes batches waiting for a retry: they give up
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout_s)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("MQTT ingest: %d batches unfinished at stop", len(pending))
                await asyncio.wait(pending)

    # -- paho callbacks (paho's network thread) ---------------------------------------------
    def _on_connect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            self._problem(f"broker refused the connection: {reason_code}")
            return
        with self._conn_lock:
            self._generation += 1
            self.stats.connected = True
        if self._ever_connected:
            self.stats.reconnects += 1
        self._ever_connected = True
        if self._outage:
            log.warning("MQTT broker %s:%d reachable again", self._host, self._port)
            self._outage = False
        if not flags.session_present:
            log.info("MQTT: new session for %s (nothing was queued)", self.config.client_id)
        # Always (re)subscribe: harmless when the session kept the subscription, needed when
        # the broker lost it.
        client.subscribe([(topic, 1) for topic in self.subscriptions])

    def _on_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        self._problem("cannot connect")

    def _on_disconnect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._conn_lock:
            self._generation += 1  # PUBACKs for messages of that connection are pointless now
            self.stats.connected = False
        if not self._stopping.is_set():
            self._problem(f"connection lost: {reason_code}")

    def _on_subscribe(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        if not reason_codes or reason_codes[0].is_failure:
            code = reason_codes[0] if reason_codes else "no reason code"
            self._problem(f"subscription to {self.subscription} refused: {code}")
            return
        for topic, rc in zip(self.subscriptions, reason_codes, strict=False):
            if rc.is_failure:  # e.g. an ACL from before the vendor topics: native still works
                log.warning("MQTT: subscription to %s refused: %s", topic, rc)
            elif rc.value == 0:
                log.warning("MQTT: broker granted only QoS 0 for %s; reads may be lost", topic)
        self._subscribed.set()

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        # Not acknowledged when stopping: the broker redelivers it to the next session.
        if self._stopping.is_set():
            return
        # Back-pressure: block the network thread (the broker queues) until a slot frees.
        while not self._slots.acquire(timeout=0.5):
            if self._stopping.is_set():
                return
        try:
            topic = message.topic
        except UnicodeDecodeError:
            topic = ""
        self.stats.received += 1
        incoming = _Incoming(
            topic=topic, payload=bytes(message.payload), mid=message.mid, qos=message.qos,
            dup=bool(message.dup), properties=getattr(message, "properties", None),
            generation=self._generation,
        )  # fmt: skip
        loop = self._loop
        try:
            assert loop is not None
            loop.call_soon_threadsafe(self._spawn, incoming)
        except (RuntimeError, AssertionError):  # the loop is gone: we are stopping
            self._slots.release()

    def _problem(self, reason: str) -> None:
        """Log the first problem of an outage once; later ones only at DEBUG."""
        self._last_problem = reason
        if self._outage:
            log.debug("MQTT broker %s:%d: %s", self._host, self._port, reason)
            return
        self._outage = True
        log.warning(
            "MQTT broker %s:%d: %s; retrying with back-off (%d..%d s)",
            self._host, self._port, reason, RECONNECT_MIN_S, RECONNECT_MAX_S,
        )  # fmt: skip

    # -- handling one message (the asyncio thread) ------------------------------------------
    def _spawn(self, incoming: _Incoming) -> None:
        task = asyncio.get_running_loop().create_task(self._handle(incoming))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, msg: _Incoming) -> None:
        try:
            await self._process(msg)
        except asyncio.CancelledError:
            self.stats.abandoned += 1
            raise
        except Exception:
            # A bug, not the camera's fault: leave it unacknowledged (the broker redelivers it
            # on the next session) rather than lose it or retry it forever.
            self.stats.abandoned += 1
            log.exception("MQTT: batch on %s not handled; left unacknowledged", msg.topic)
        finally:
            self._slots.release()

    async def _process(self, msg: _Incoming) -> None:
        route = self._route(msg.topic)
        if route is None:  # cannot happen with our subscriptions; nobody to answer
            log.warning("MQTT: ignoring a message on unexpected topic %r", msg.topic)
            self._puback(msg)
            return
        camera_id, fmt = route
        try:
            decoded = await self._decode(camera_id, fmt, msg) if fmt is not None else None
        except IngestError as exc:  # unknown camera or format, wrong format, malformed
            self._refuse(camera_id, msg, exc)
            return
        if decoded is not None and not decoded.reads:
            self.stats.ignored += 1
            log.debug("MQTT: %s payload of camera %s has no read; ignored", fmt, camera_id)
            self._puback(msg)
            return
        attempt = 0
        while True:
            if self._stopping.is_set() or msg.generation != self._generation:
                self.stats.abandoned += 1  # the broker redelivers it
                return
            try:
                result = await self._ingest_one(camera_id, msg.payload, fmt, decoded)
            except IngestError as exc:
                if exc.code in RETRY_CODES:
                    self.stats.deferred += 1
                    delay = self._retry_delay(exc, attempt)
                    attempt += 1
                    log.log(
                        logging.INFO if attempt == 1 else logging.DEBUG,
                        "MQTT: batch of camera %s %s; kept unacknowledged, retry %d in %.1f s",
                        camera_id, exc.code, attempt, delay,
                    )  # fmt: skip
                    await self._sleep_unless_stopping(delay)
                    continue
                self._refuse(camera_id, msg, exc)
                return
            self.stats.stored_batches += 1
            log.debug(
                "MQTT: camera %s: %d stored, %d duplicates, %d rejected%s",
                camera_id, result.stored, result.duplicates, result.rejected,
                " (redelivered)" if msg.dup else "",
            )  # fmt: skip
            self._answer(camera_id, msg, msgspec.structs.asdict(result))
            self._puback(msg)
            return

    def _refuse(self, camera_id: str, msg: _Incoming, exc: IngestError) -> None:
        """Refused for good: answer the camera, acknowledge to the broker."""
        self.stats.refused[exc.code] = self.stats.refused.get(exc.code, 0) + 1
        log.info("MQTT: batch of camera %s refused: %s", camera_id, exc.code)
        log.debug("MQTT: refusal detail for camera %s: %s", camera_id, exc.message)
        self._answer(camera_id, msg, self._error_doc(exc))
        self._puback(msg)

    async def _decode(self, camera_id: str, fmt: str, msg: _Incoming) -> Decoded:
        """A vendor payload's reads, decoded once (not again on a retry)."""
        decoder = vendor.decoder_for(self._ingest, camera_id, fmt)
        content_type = getattr(msg.properties, "ContentType", None) if msg.properties else None
        return await vendor.decode(decoder, msg.payload, str(content_type or ""))

    async def _ingest_one(
        self, camera_id: str, payload: bytes, fmt: str | None, decoded: Decoded | None
    ) -> ReadBatchResult:
        if fmt is not None and decoded is not None:
            return await vendor.ingest(self._ingest, self._images, camera_id, fmt, decoded)
        if not self._registry_has(camera_id):
            raise IngestService.refuse(404, "unknown_camera", "camera_id is not registered")
        if len(payload) > self._max_body:
            raise IngestService.refuse(413, "body_too_large", f"body over {self._max_body} bytes")
        return await self._ingest.ingest(camera_id, payload)

    def _retry_delay(self, exc: IngestError, attempt: int) -> float:
        base = self._retry_delay_s
        if base is None:
            base = float(exc.retry_after or self._ingest.config.retry_after_s)
        return float(min(base * 2**attempt, MAX_RETRY_DELAY_S))

    async def _sleep_unless_stopping(self, delay: float) -> None:
        assert self._stop_event is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_event.wait(), delay)

    def _route(self, topic: str) -> tuple[str, str | None] | None:
        """(camera id, vendor format or None for the native ``reads``) of a topic we take."""
        if not topic.startswith(self._camera_prefix):
            return None
        camera_id, _, rest = topic[len(self._camera_prefix) :].partition("/")
        parts = rest.split("/")
        if not camera_id:
            return None
        if parts == ["reads"]:
            return camera_id, None
        ingest = parts[0] == "ingest" and len(parts) in (2, 3) and bool(parts[1])
        if ingest and (len(parts) == 2 or parts[2] in SUBTOPICS):
            return camera_id, parts[1]
        return None

    @staticmethod
    def _error_doc(exc: IngestError) -> dict[str, Any]:
        return {
            "error": exc.code,
            "message": exc.message,
            "retry_after": exc.retry_after,
            "results": exc.result.results if exc.result is not None else None,
        }

    def _answer(self, camera_id: str, msg: _Incoming, doc: dict[str, Any]) -> None:
        """Publish the outcome to the camera's acks topic (QoS 1; paho resends it after a
        reconnect if the broker has not acknowledged it)."""
        doc["batch_id"] = _batch_id(msg.properties)
        doc["batch_sha256"] = hashlib.sha256(msg.payload).hexdigest()
        props: Properties | None = None
        corr = getattr(msg.properties, "CorrelationData", None) if msg.properties else None
        if corr is not None:
            props = _properties(PacketTypes.PUBLISH)
            props.CorrelationData = corr
        info = self._client.publish(
            f"{self._camera_prefix}{camera_id}/acks",
            msgspec.json.encode(doc),
            qos=1,
            retain=False,
            properties=props,
        )
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            log.warning("MQTT: ack to camera %s not queued: %s", camera_id, info.rc)

    def _puback(self, msg: _Incoming) -> bool:
        """Acknowledge to the broker, only on the connection that delivered the message (a
        packet id of an earlier connection may name another message now)."""
        if msg.qos == 0:
            return True
        with self._conn_lock:
            if not self.stats.connected or msg.generation != self._generation:
                self.stats.abandoned += 1
                return False
            self._client.ack(msg.mid, msg.qos)
            return True
