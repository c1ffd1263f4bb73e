"""MQTT ingestion against the real Mosquitto: acks, refusals, durability, back-pressure."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from kruispunt.config import MqttConfig
from kruispunt.ingest.mqtt import MqttIngest, MqttIngestError, release_sockets
from kruispunt.ingest.wire import ReadBatchResult
from kruispunt.node import Node
from kruispunt.writer import Saturated, WriterStopped
from tests.backends import require_mqtt, unique_name
from tests.conftest import batch_json, read_json

CAM = "pz5364-c001"
OTHER = "pz5352-c001"
ACK_TIMEOUT_S = 5.0


def _host_port(url: str) -> tuple[str, int]:
    host, _, port = url.removeprefix("mqtt://").partition(":")
    return host, int(port or 1883)


class CameraClient:
    """A camera publishing with paho (MQTT v5) and collecting the node's acks."""

    def __init__(self, url: str, prefix: str, camera_id: str):
        self.topic = f"{prefix}/cameras/{camera_id}/reads"
        self.acks: queue.Queue[tuple[dict[str, Any], bytes | None]] = queue.Queue()
        self._subscribed = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"cam-{uuid.uuid4().hex[:10]}",
            protocol=paho.MQTTv5,
        )
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self._ack_topic = f"{prefix}/cameras/{camera_id}/acks"
        host, port = _host_port(url)
        self.client.connect(host, port)
        self.client.loop_start()
        assert self._subscribed.wait(ACK_TIMEOUT_S), "camera client did not subscribe"

    def _on_connect(self, client: paho.Client, *_: Any) -> None:
        client.subscribe(self._ack_topic, qos=1)

    def _on_subscribe(self, *_: Any) -> None:
        self._subscribed.set()

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        corr = getattr(msg.properties, "CorrelationData", None)
        self.acks.put((msgspec.json.decode(msg.payload), corr))

    def publish(self, payload: bytes, *, correlation: bytes | None = None) -> None:
        props = None
        if correlation is not None:
            props = Properties(PacketTypes.PUBLISH)
            props.CorrelationData = correlation
        info = self.client.publish(self.topic, payload, qos=1, properties=props)
        info.wait_for_publish(ACK_TIMEOUT_S)
        assert info.is_published()

    def next_ack(self) -> dict[str, Any]:
        return self.acks.get(timeout=ACK_TIMEOUT_S)[0]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        release_sockets(self.client)


@pytest.fixture
def mqtt_url() -> str:
    return require_mqtt()


@pytest.fixture
def prefix() -> str:
    return unique_name("kp")


@pytest.fixture
def make_ingest(node: Node, mqtt_url: str, prefix: str) -> Iterator[Callable[..., MqttIngest]]:
    started: list[MqttIngest] = []

    def make(client_id: str | None = None, **kw: Any) -> MqttIngest:
        config = MqttConfig(
            url=mqtt_url, topic_prefix=prefix, client_id=client_id or unique_name("node")
        )
        kw.setdefault("session_expiry_s", 60)  # do not leave week-long sessions in the broker
        ingest = MqttIngest(node.ingest, None, config, **kw)
        started.append(ingest)
        ingest.start(timeout_s=5)
        return ingest

    yield make
    for ingest in started:
        ingest.stop()


@pytest.fixture
def cameras(mqtt_url: str, prefix: str) -> Iterator[Callable[[str], CameraClient]]:
    made: list[CameraClient] = []

    def make(camera_id: str = CAM) -> CameraClient:
        made.append(CameraClient(mqtt_url, prefix, camera_id))
        return made[-1]

    yield make
    for camera in made:
        camera.close()


def refuse_first_submits(node: Node, monkeypatch: pytest.MonkeyPatch, times: int) -> None:
    """The writer says it is saturated to the first ``times`` submissions, then takes them."""
    real_submit = node.writer.submit_reads
    refusals = iter([Saturated() for _ in range(times)])

    def flaky_submit(reads: Any) -> Any:
        exc = next(refusals, None)
        if exc is not None:
            raise exc
        return real_submit(reads)

    monkeypatch.setattr(node.writer, "submit_reads", flaky_submit)


def wait_for(predicate: Callable[[], bool], timeout_s: float = ACK_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_batch_is_stored_and_acked_and_resend_is_duplicate(
    node: Node, make_ingest: Callable[..., MqttIngest], cameras: Callable[[str], CameraClient]
) -> None:
    ingest = make_ingest()
    cam = cameras(CAM)
    body = batch_json(CAM, [read_json("r1", "1-ABC-123"), read_json("r2", "1-XYZ-789")])

    cam.publish(body, correlation=b"batch-0001")
    doc, corr = cam.acks.get(timeout=ACK_TIMEOUT_S)
    assert corr == b"batch-0001"
    assert doc["batch_id"] == "batch-0001"
    assert doc["batch_sha256"] == hashlib.sha256(body).hexdigest()
    result = msgspec.convert(
        {k: v for k, v in doc.items() if k not in ("batch_id", "batch_sha256")}, ReadBatchResult
    )
    assert (result.camera_id, result.stored, result.duplicates, result.rejected) == (CAM, 2, 0, 0)
    assert [(r.read_id, r.status) for r in result.results] == [("r1", "stored"), ("r2", "stored")]
    assert node.store.count_reads() == 2

    cam.publish(body)
    doc = cam.next_ack()
    assert doc["batch_id"] is None
    assert (doc["stored"], doc["duplicates"]) == (0, 2)
    assert {r["status"] for r in doc["results"]} == {"duplicate"}
    assert node.store.count_reads() == 2
    assert ingest.stats.received == 2
    assert ingest.stats.stored_batches == 2


def test_refusals(
    node: Node, make_ingest: Callable[..., MqttIngest], cameras: Callable[[str], CameraClient]
) -> None:
    ingest = make_ingest()
    cam = cameras(CAM)

    cam.publish(batch_json(OTHER, [read_json("m1")]))  # names another camera
    doc = cam.next_ack()
    assert doc["error"] == "camera_mismatch"
    assert doc["retry_after"] is None and doc["results"] is None

    cam.publish(b'{"version": 1, "camera_id": ')
    assert cam.next_ack()["error"] == "malformed_batch"

    cam.publish(b"x" * (node.config.ingest.max_body_bytes + 1))
    assert cam.next_ack()["error"] == "body_too_large"

    cam.publish(batch_json(CAM, [read_json("z1", confidence=7.0)]))
    doc = cam.next_ack()
    assert doc["error"] == "all_reads_rejected"
    assert doc["results"] == [
        {"read_id": "z1", "status": "rejected", "reason": "confidence_out_of_range"}
    ]

    ghost = cameras("pz9999-c404")
    ghost.publish(batch_json("pz9999-c404", [read_json("g1")]))
    assert ghost.next_ack()["error"] == "unknown_camera"

    assert node.store.count_reads() == 0
    assert ingest.stats.refused == {
        "camera_mismatch": 1, "malformed_batch": 1, "body_too_large": 1,
        "all_reads_rejected": 1, "unknown_camera": 1,
    }  # fmt: skip


def test_one_bad_read_is_rejected_alone(
    node: Node, make_ingest: Callable[..., MqttIngest], cameras: Callable[[str], CameraClient]
) -> None:
    make_ingest()
    cam = cameras(CAM)
    reads = [read_json("a1"), read_json("a2", confidence="high"), read_json("a3", "2-DEF-456")]
    cam.publish(batch_json(CAM, reads))
    doc = cam.next_ack()
    assert (doc["stored"], doc["rejected"]) == (2, 1)
    statuses = {r["read_id"]: (r["status"], r.get("reason")) for r in doc["results"]}
    assert statuses == {
        "a1": ("stored", None), "a2": ("rejected", "read_malformed"), "a3": ("stored", None)
    }  # fmt: skip
    assert node.store.count_reads() == 2


def test_batches_published_while_node_is_down_are_stored_once(
    node: Node, make_ingest: Callable[..., MqttIngest], cameras: Callable[[str], CameraClient]
) -> None:
    client_id = unique_name("node")
    first = make_ingest(client_id)
    cam = cameras(CAM)
    cam.publish(batch_json(CAM, [read_json("d0")]))
    assert cam.next_ack()["stored"] == 1
    first.stop()

    for i in range(1, 6):
        cam.publish(batch_json(CAM, [read_json(f"d{i}a"), read_json(f"d{i}b")]))
    time.sleep(0.2)
    assert node.store.count_reads() == 1  # nobody is listening

    second = make_ingest(client_id)
    acks = [cam.next_ack() for _ in range(5)]
    assert sorted(a["stored"] for a in acks) == [2] * 5
    assert node.store.count_reads() == 11
    wait_for(lambda: second.stats.stored_batches == 5)
    assert cam.acks.empty()


def test_saturation_keeps_the_message_and_retries_it(
    node: Node,
    make_ingest: Callable[..., MqttIngest],
    cameras: Callable[[str], CameraClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    refuse_first_submits(node, monkeypatch, 2)
    ingest = make_ingest(retry_delay_s=0.05)
    cam = cameras(CAM)
    cam.publish(batch_json(CAM, [read_json("s1")]))  # published once, never resent
    doc = cam.next_ack()
    assert doc["stored"] == 1
    assert ingest.stats.deferred == 2
    assert node.store.count_reads() == 1
    assert cam.acks.empty()  # no "saturated" ack: the node keeps the message itself


def test_store_failure_loses_nothing_across_a_restart(
    node: Node,
    make_ingest: Callable[..., MqttIngest],
    cameras: Callable[[str], CameraClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken_submit(reads: Any) -> Any:
        raise WriterStopped

    client_id = unique_name("node")
    with monkeypatch.context() as patch:
        patch.setattr(node.writer, "submit_reads", broken_submit)
        first = make_ingest(client_id, retry_delay_s=0.05)
        cam = cameras(CAM)
        cam.publish(batch_json(CAM, [read_json("f1"), read_json("f2")]))
        wait_for(lambda: first.stats.deferred >= 2)
        first.stop()  # the batch was never acknowledged to the broker
    assert first.stats.abandoned == 1
    assert cam.acks.empty()
    assert node.store.count_reads() == 0

    make_ingest(client_id)  # the store works again; the broker redelivers the batch
    doc = cam.next_ack()
    assert (doc["stored"], doc["duplicates"]) == (2, 0)
    assert node.store.count_reads() == 2


def test_stop_finishes_the_batch_in_flight_and_acknowledges_it(
    node: Node,
    make_ingest: Callable[..., MqttIngest],
    cameras: Callable[[str], CameraClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_ingest = node.ingest.ingest
    entered = threading.Event()

    async def slow_ingest(camera_id: str, body: bytes) -> ReadBatchResult:
        entered.set()
        await asyncio.sleep(0.3)
        return await real_ingest(camera_id, body)

    client_id = unique_name("node")
    with monkeypatch.context() as patch:
        patch.setattr(node.ingest, "ingest", slow_ingest)
        first = make_ingest(client_id)
        cam = cameras(CAM)
        cam.publish(batch_json(CAM, [read_json("i1")]))
        assert entered.wait(ACK_TIMEOUT_S)
        first.stop()
    assert cam.next_ack()["stored"] == 1
    assert node.store.count_reads() == 1
    # The PUBACK went out before the DISCONNECT: the next session gets no redelivery.
    second = make_ingest(client_id)
    time.sleep(0.3)
    assert second.stats.received == 0
    assert cam.acks.empty()


def test_bounded_concurrency(
    node: Node,
    make_ingest: Callable[..., MqttIngest],
    cameras: Callable[[str], CameraClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_ingest = node.ingest.ingest
    active = peak = 0

    async def slow_ingest(camera_id: str, body: bytes) -> ReadBatchResult:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        try:
            await asyncio.sleep(0.05)
            return await real_ingest(camera_id, body)
        finally:
            active -= 1

    monkeypatch.setattr(node.ingest, "ingest", slow_ingest)
    make_ingest(max_inflight=2)
    cam = cameras(CAM)
    for i in range(12):
        cam.publish(batch_json(CAM, [read_json(f"b{i}")]))
    acks = [cam.next_ack() for _ in range(12)]
    assert all(a["stored"] == 1 for a in acks)
    assert peak == 2
    assert node.store.count_reads() == 12


def test_reconnects_after_losing_the_connection(
    node: Node,
    mqtt_url: str,
    make_ingest: Callable[..., MqttIngest],
    cameras: Callable[[str], CameraClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="kruispunt.ingest.mqtt")
    client_id = unique_name("node")
    ingest = make_ingest(client_id)
    # Another client taking over the session makes the broker drop the node's connection.
    thief = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    connected = threading.Event()

    def on_connect(*_: Any) -> None:
        connected.set()

    thief.on_connect = on_connect
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 60
    host, port = _host_port(mqtt_url)
    thief.connect(host, port, clean_start=False, properties=props)
    thief.loop_start()
    assert connected.wait(ACK_TIMEOUT_S)
    wait_for(lambda: not ingest.stats.connected)
    thief.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, "Normal disconnection"))
    thief.loop_stop()
    release_sockets(thief)

    wait_for(lambda: ingest.stats.connected)
    assert ingest.stats.reconnects == 1
    warnings = [r.getMessage() for r in caplog.records if r.name == "kruispunt.ingest.mqtt"]
    assert len(warnings) == 2, warnings  # the outage once, its end once
    assert "connection lost" in warnings[0] and "reachable again" in warnings[1]
    cam = cameras(CAM)
    cam.publish(batch_json(CAM, [read_json("c1")]))
    assert cam.next_ack()["stored"] == 1
    assert node.store.count_reads() == 1


def test_start_fails_clearly_without_a_broker(node: Node) -> None:
    config = MqttConfig(url="mqtt://127.0.0.1:1", topic_prefix="kp", client_id=unique_name("n"))
    ingest = MqttIngest(node.ingest, None, config)
    with pytest.raises(MqttIngestError, match=r"not subscribed.*within"):
        ingest.start(timeout_s=0.5)
    assert not any(t.name == "mqtt-ingest" and t.is_alive() for t in threading.enumerate())


def test_bad_url_is_refused(node: Node) -> None:
    with pytest.raises(MqttIngestError, match="mqtt://host:port"):
        MqttIngest(node.ingest, None, MqttConfig(url="http://broker:1883"))
