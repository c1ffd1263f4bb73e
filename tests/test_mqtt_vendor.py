"""MQTT topics per format: vendor payloads on ``{prefix}/cameras/{id}/ingest/{format}``,
decoded by the camera's decoder, against the real Mosquitto."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from kruispunt.config import MqttConfig
from kruispunt.domain.cameras import CameraIngest
from kruispunt.ingest.mqtt import MqttIngest
from kruispunt.node import Node
from tests.backends import require_mqtt, unique_name
from tests.conftest import make_camera
from tests.test_mqtt_ingest import ACK_TIMEOUT_S, CAM, CameraClient, refuse_first_submits, wait_for
from tests.test_vendor_ingest import JPEG, fresh, multipart

Ingest = Callable[..., MqttIngest]
Cameras = Callable[[str], CameraClient]


@pytest.fixture
def broker() -> tuple[str, str]:
    """The broker's URL and a topic prefix of this test's own."""
    return require_mqtt(), unique_name("kp")


@pytest.fixture
def make_ingest(node: Node, broker: tuple[str, str]) -> Iterator[Ingest]:
    started: list[MqttIngest] = []

    def make(**kw: Any) -> MqttIngest:
        url, prefix = broker
        config = MqttConfig(url=url, topic_prefix=prefix, client_id=unique_name("node"))
        started.append(MqttIngest(node.ingest, None, config, session_expiry_s=60, **kw))
        started[-1].start(timeout_s=5)
        return started[-1]

    yield make
    for ingest in started:
        ingest.stop()


@pytest.fixture
def cameras(broker: tuple[str, str]) -> Iterator[Cameras]:
    made: list[CameraClient] = []

    def make(camera_id: str = CAM) -> CameraClient:
        made.append(CameraClient(*broker, camera_id))
        return made[-1]

    yield make
    for camera in made:
        camera.close()


def register(node: Node, camera_id: str, fmt: str, **settings: Any) -> None:
    zone = camera_id.partition("-")[0]
    setting = CameraIngest(format=fmt, settings=settings)
    node.save_camera(make_camera(camera_id, zone=zone, ingest=setting))


def publish(cam: CameraClient, suffix: str, payload: bytes, content_type: str = "") -> None:
    """Publish to ``{prefix}/cameras/{camera}/{suffix}`` (QoS 1, MQTT v5 Content Type)."""
    props = None
    if content_type:
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ContentType = content_type
    topic = cam.topic.removesuffix("reads") + suffix
    info = cam.client.publish(topic, payload, qos=1, properties=props)
    info.wait_for_publish(ACK_TIMEOUT_S)
    assert info.is_published()


def frigate(kind: str, plate: str | None = "1ABC123", label: str = "car") -> bytes:
    doc = json.loads(fresh("frigate_end.json"))
    doc["type"] = kind
    doc["after"]["label"] = label
    doc["after"]["id"] = f"{kind}-{label}-{plate}"
    if plate is None:
        doc["after"].pop("recognized_license_plate", None)
        doc["after"].pop("recognized_license_plate_score", None)
    return json.dumps(doc).encode()


def test_a_hikvision_upload_is_stored_with_its_picture_and_acked(
    node: Node, make_ingest: Ingest, cameras: Cameras
) -> None:
    register(node, CAM, "hikvision-isapi", local_timezone="Europe/Brussels")
    ingest = make_ingest(images=node.images)
    cam = cameras(CAM)
    body, ctype = multipart(
        [
            ("anpr.xml", "text/xml", fresh("hikvision_anpr.xml")),
            ("licensePlatePicture.jpg", "image/jpeg", JPEG),
        ]
    )
    publish(cam, "ingest/hikvision-isapi", body, ctype)
    doc = cam.next_ack()
    assert (doc["format"], doc["stored"], doc["camera_id"]) == ("hikvision-isapi", 1, CAM), doc
    assert doc["batch_sha256"] == hashlib.sha256(body).hexdigest()
    (image,) = doc["images"]
    assert image["status"] == "stored"
    record = node.images.get(image["image_id"])
    assert (record.camera_id, record.read_id) == (CAM, doc["results"][0]["read_id"])
    assert node.store.count_reads() == 1
    publish(cam, "ingest/hikvision-isapi", body, ctype)  # resent: nothing new
    doc = cam.next_ack()
    assert (doc["stored"], doc["duplicates"], doc["images"][0]["status"]) == (0, 1, "duplicate")
    assert ingest.stats.stored_batches == 2 and node.store.count_reads() == 1


def test_frigate_events_only_plates_count_and_the_rest_is_quietly_taken(
    node: Node, make_ingest: Ingest, cameras: Cameras
) -> None:
    # Frigate's mqtt.topic_prefix = <prefix>/cameras/<camera>/ingest/frigate
    register(node, CAM, "frigate")
    ingest = make_ingest()
    cam = cameras(CAM)
    for payload in (
        frigate("new"),
        frigate("update"),
        frigate("end", plate=None, label="person"),
        frigate("end", plate=None),  # a car whose plate was never read
    ):
        publish(cam, "ingest/frigate/events", payload)
    update = b'{"type": "description", "id": "x", "camera": "driveway", "description": "car"}'
    publish(cam, "ingest/frigate/tracked_object_update", update)
    wait_for(lambda: ingest.stats.ignored == 5)
    assert cam.acks.empty()  # no error ack, no ack at all
    plate = frigate("end")
    publish(cam, "ingest/frigate/events", plate)
    doc = cam.next_ack()
    assert (doc["format"], doc["stored"]) == ("frigate", 1), doc
    assert doc["batch_sha256"] == hashlib.sha256(plate).hexdigest()
    assert node.store.count_reads() == 1 and ingest.stats.refused == {}


def test_refusals_on_the_format_topics(node: Node, make_ingest: Ingest, cameras: Cameras) -> None:
    register(node, CAM, "hikvision-isapi")
    ingest = make_ingest()
    cam = cameras(CAM)
    publish(cam, "ingest/hikvision-isapi", b"<not xml")
    doc = cam.next_ack()
    assert doc["error"] == "malformed_payload" and doc["message"].startswith("hikvision-isapi:")
    publish(cam, "ingest/axis-lpv", fresh("axis_lpv.json"))  # registered for another format
    doc = cam.next_ack()
    assert doc["error"] == "wrong_format" and "hikvision-isapi" in doc["message"]
    publish(cam, "ingest/betamax", b"{}")
    assert cam.next_ack()["error"] == "unknown_format"
    ghost = cameras("pz9999-c404")
    publish(ghost, "ingest/frigate/events", frigate("end"))
    assert ghost.next_ack()["error"] == "unknown_camera"
    assert node.store.count_reads() == 0
    assert ingest.stats.refused == {
        "malformed_payload": 1, "wrong_format": 1, "unknown_format": 1, "unknown_camera": 1
    }  # fmt: skip


def test_a_saturated_node_keeps_a_vendor_payload_and_retries_it(
    node: Node, make_ingest: Ingest, cameras: Cameras, monkeypatch: pytest.MonkeyPatch
) -> None:
    refuse_first_submits(node, monkeypatch, 1)
    ingest = make_ingest(retry_delay_s=0.05)
    cam = cameras(CAM)  # registered without a format: any, with default settings
    publish(cam, "ingest/axis-lpv", fresh("axis_lpv.json"))
    doc = cam.next_ack()
    assert (doc["format"], doc["stored"]) == ("axis-lpv", 1), doc
    assert ingest.stats.deferred == 1 and node.store.count_reads() == 1
    assert cam.acks.empty()
