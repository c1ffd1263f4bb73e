"""``kruispunt bench ingest``: end-to-end ingest vs the store's own ceiling, in one run.

Ceiling: the same SQLite store, same fsync policy, fed pre-validated reads in transactions of
the node's group-commit size: nothing but the durable insert. End to end: a real node in its
own process (uvicorn, validation, the writer, the processors running), fed over HTTP by
concurrent clients in this process with pre-encoded camera batches. Medians over runs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec

from kruispunt.config import IngestConfig
from kruispunt.domain.cameras import Camera
from kruispunt.domain.reads import Read
from kruispunt.ingest import adapters
from kruispunt.ingest.validate import Limits, validate_read
from kruispunt.ingest.wire import ReadBatchIn, ReadIn, decode_batch
from kruispunt.sim.layout import build_province_cameras
from kruispunt.sim.plates_gen import plate_for
from kruispunt.store.sqlite import SqliteStore

# The documented payload of each format (copies of tests/fixtures/vendors/; the bench does not
# read tests/ at run time): type key -> (payload, content type).
ADAPTER_PAYLOADS: dict[str, tuple[bytes, str]] = {
    "onvif-profile-m": (  # onvif_scene.xml
        (
            b'<?xml version="1.0" encoding="UTF-8"?>\n'
            b'<!-- Follows the ONVIF Analytics Service Specification, "Scene descrip'
            b'tion"\n'
            b"     (tt:VideoAnalytics/tt:Frame/tt:Object/tt:Appearance/tt:LicensePla"
            b"teInfo, schema ver10). -->\n"
            b'<tt:MetadataStream xmlns:tt="http://www.onvif.org/ver10/schema">\n'
            b"  <tt:VideoAnalytics>\n"
            b'    <tt:Frame UtcTime="2024-05-17T13:40:12.509Z">\n'
            b'      <tt:Object ObjectId="2">\n'
            b"        <tt:Appearance>\n"
            b"          <tt:Shape>\n"
            b'            <tt:BoundingBox left="0.1" top="0.2" right="0.3" bottom="0'
            b'.1"/>\n'
            b'            <tt:CenterOfGravity x="0.2" y="0.15"/>\n'
            b"          </tt:Shape>\n"
            b'          <tt:Class><tt:Type Likelihood="0.95">LicensePlate</tt:Type><'
            b"/tt:Class>\n"
            b"          <tt:LicensePlateInfo>\n"
            b'            <tt:PlateNumber Likelihood="0.9">1ABC123</tt:PlateNumber>\n'
            b'            <tt:PlateType Likelihood="0.8">Normal</tt:PlateType>\n'
            b'            <tt:CountryCode Likelihood="0.7">BE</tt:CountryCode>\n'
            b"          </tt:LicensePlateInfo>\n"
            b"        </tt:Appearance>\n"
            b"      </tt:Object>\n"
            b"    </tt:Frame>\n"
            b"  </tt:VideoAnalytics>\n"
            b"</tt:MetadataStream>\n"
        ),
        "application/xml",
    ),
    "hikvision-isapi": (  # hikvision_anpr.xml
        (
            b'<?xml version="1.0" encoding="UTF-8"?>\n'
            b'<!-- Follows Hikvision ISAPI "Intelligent Traffic" / alarm-server ANPR'
            b" upload\n"
            b"     (EventNotificationAlert, eventType ANPR, ANPR/licensePlate, pictu"
            b"reInfoList). -->\n"
            b'<EventNotificationAlert version="2.0" xmlns="http://www.hikvision.com/'
            b'ver20/XMLSchema">\n'
            b"<ipAddress>192.168.1.64</ipAddress>\n"
            b"<portNo>80</portNo>\n"
            b"<protocol>HTTP</protocol>\n"
            b"<macAddress>44:19:b6:00:00:01</macAddress>\n"
            b"<channelID>1</channelID>\n"
            b"<dateTime>2024-05-17T15:40:12+02:00</dateTime>\n"
            b"<activePostCount>1</activePostCount>\n"
            b"<eventType>ANPR</eventType>\n"
            b"<eventState>active</eventState>\n"
            b"<eventDescription>ANPR</eventDescription>\n"
            b"<channelName>Entrance</channelName>\n"
            b"<ANPR>\n"
            b"<country>BE</country>\n"
            b"<licensePlate>1ABC123</licensePlate>\n"
            b"<line>1</line>\n"
            b"<direction>forward</direction>\n"
            b"<confidenceLevel>92</confidenceLevel>\n"
            b"<plateType>unknown</plateType>\n"
            b"<plateColor>white</plateColor>\n"
            b"<vehicleType>vehicle</vehicleType>\n"
            b"<detectDir>8</detectDir>\n"
            b"<vehicleInfo>\n"
            b"<index>1</index>\n"
            b"<colorDepth>2</colorDepth>\n"
            b"<color>white</color>\n"
            b"<length>0</length>\n"
            b"<vehicleLogoRecog>Volkswagen</vehicleLogoRecog>\n"
            b"</vehicleInfo>\n"
            b"<pictureInfoList>\n"
            b"<pictureInfo>\n"
            b"<fileName>licensePlatePicture.jpg</fileName>\n"
            b"<type>licensePlatePicture</type>\n"
            b"<dataType>0</dataType>\n"
            b"</pictureInfo>\n"
            b"<pictureInfo>\n"
            b"<fileName>detectionPicture.jpg</fileName>\n"
            b"<type>detectionPicture</type>\n"
            b"<dataType>0</dataType>\n"
            b"</pictureInfo>\n"
            b"</pictureInfoList>\n"
            b"</ANPR>\n"
            b"<UUID>9bc6f6a8-1dd1-11b2-8000-4419b6000001</UUID>\n"
            b"<picNum>2</picNum>\n"
            b"<isDataRetransmission>false</isDataRetransmission>\n"
            b"</EventNotificationAlert>\n"
        ),
        "application/xml",
    ),
    "axis-lpv": (  # axis_lpv.json
        (
            b"{\n"
            b'  "_source": "AXIS License Plate Verifier push events, JSON fields pro'
            b"tocol 1.6 (developer.axis.com/vapix/applications/license-plate-verifie"
            b"r-api; field table at customerhub.ff-group.ai 'JSON fields protocol 1."
            b"6')\",\n"
            b'  "packetCounter": "42",\n'
            b'  "datetime": "20240517 134012509",\n'
            b'  "plateUTF8": "1ABC123",\n'
            b'  "plateUnicode": "1ABC123",\n'
            b'  "plateText": "\\u0031\\u0041\\u0042\\u0043\\u0031\\u0032\\u0033",\n'
            b'  "plateCountry": "BEL",\n'
            b'  "plateConfidence": "0.91",\n'
            b'  "carState": "lost",\n'
            b'  "geotag": {"lat": 50.85045, "lon": 4.34878},\n'
            b'  "imageType": "plate",\n'
            b'  "plateImageType": "jpeg",\n'
            b'  "plateImageSize": "0",\n'
            b'  "carMoveDirection": "in",\n'
            b'  "timeProcessing": "104",\n'
            b'  "plateCoordinates": [625, 564, 192, 32],\n'
            b'  "carID": "1087595",\n'
            b'  "sensorProviderID": "gate-north",\n'
            b'  "roiID": "1"\n'
            b"}\n"
        ),
        "application/json",
    ),
    "openalpr": (  # openalpr_group.json
        (
            b"{\n"
            b'  "_source": "OpenALPR / Rekor Scout agent webhook, data_type alpr_gro'
            b"up (docs.rekor.ai 'Agent webhooks' / OpenALPR 'Plate group results' ex"
            b'ample); vehicle_crop_jpeg shortened",\n'
            b'  "version": 2,\n'
            b'  "data_type": "alpr_group",\n'
            b'  "epoch_start": 1715953212509,\n'
            b'  "epoch_end": 1715953213709,\n'
            b'  "frame_start": 1820,\n'
            b'  "frame_end": 1850,\n'
            b'  "company_id": "xxxxxxxx-yyyy-yyyy-yyyy-zzzzzzzzzzzz",\n'
            b'  "agent_uid": "EDcLwTdZtGMQrF7gBVIQ",\n'
            b'  "agent_version": "2.8.101",\n'
            b'  "agent_type": "alprd",\n'
            b'  "camera_id": 1630738166,\n'
            b'  "gps_latitude": 50.85045,\n'
            b'  "gps_longitude": 4.34878,\n'
            b'  "country": "eu",\n'
            b'  "uuids": ["EDcLwTdZtGMQrF7gBVIQ-1630738166-1715953212509"],\n'
            b'  "vehicle_path": [{"x": 10, "y": 20, "w": 120, "h": 80, "t": 17159532'
            b'12509, "f": 1820}],\n'
            b'  "plate_indexes": [0],\n'
            b'  "candidates": [{"plate": "1ABC123", "confidence": 94.3, "matches_tem'
            b'plate": 1}],\n'
            b'  "vehicle_crop_jpeg": "/9j/4AAQSkZJRg==",\n'
            b'  "best_plate": {"plate": "1ABC123", "confidence": 94.3, "matches_temp'
            b'late": 1, "plate_index": 0, "region": "be", "region_confidence": 88, "'
            b'processing_time_ms": 12.4, "requested_topn": 10, "coordinates": [{"x":'
            b' 1, "y": 2}, {"x": 3, "y": 2}, {"x": 3, "y": 4}, {"x": 1, "y": 4}]},\n'
            b'  "best_confidence": 94.3,\n'
            b'  "best_plate_number": "1ABC123",\n'
            b'  "best_region": "be",\n'
            b'  "best_region_confidence": 88,\n'
            b'  "matches_template": true,\n'
            b'  "best_image_width": 1280,\n'
            b'  "best_image_height": 720,\n'
            b'  "best_uuid": "EDcLwTdZtGMQrF7gBVIQ-1630738166-1715953212509",\n'
            b'  "best_uuid_epoch_ms": 1715953212509,\n'
            b'  "travel_direction": 182.5,\n'
            b'  "is_parked": false,\n'
            b'  "is_preview": false,\n'
            b'  "vehicle_signature": "",\n'
            b'  "vehicle": {\n'
            b'    "color": [{"name": "white", "confidence": 91.2}, {"name": "silver-'
            b'gray", "confidence": 5.1}],\n'
            b'    "make": [{"name": "volkswagen", "confidence": 80.1}],\n'
            b'    "make_model": [{"name": "volkswagen_golf", "confidence": 70.3}],\n'
            b'    "body_type": [{"name": "sedan-standard", "confidence": 77.4}],\n'
            b'    "year": [{"name": "2015-2019", "confidence": 50.0}],\n'
            b'    "orientation": [{"name": "0", "confidence": 90.0}]\n'
            b"  }\n"
            b"}\n"
        ),
        "application/json",
    ),
    "platerecognizer": (  # platerecognizer_stream.json
        (
            b'{"_source": "Plate Recognizer Stream webhook, guides.platerecognizer.c'
            b'om/docs/stream/results (webhook data example); box values trimmed",\n'
            b' "hook": {"target": "http://kruispunt.example/hooks/pr", "id": "camera'
            b'-1", "event": "recognition", "filename": "camera-1_screenshots/24-05-1'
            b'7/13-40-12.509.jpg"},\n'
            b' "data": {\n'
            b'  "camera_id": "camera-1",\n'
            b'  "filename": "camera-1_screenshots/24-05-17/13-40-12.509.jpg",\n'
            b'  "timestamp": "2024-05-17T13:40:12.509823Z",\n'
            b'  "timestamp_local": "2024-05-17 15:40:12.509823+02:00",\n'
            b'  "results": [{\n'
            b'    "box": {"xmax": 412, "xmin": 337, "ymax": 305, "ymin": 284},\n'
            b'    "candidates": [{"plate": "1abc123", "score": 0.902}],\n'
            b'    "color": [{"color": "white", "score": 0.81}],\n'
            b'    "direction": 210, "dscore": 0.61,\n'
            b'    "model_make": [{"make": "Volkswagen", "model": "Golf", "score": 0.'
            b"74}],\n"
            b'    "orientation": [{"orientation": "Front", "score": 0.9}],\n'
            b'    "plate": "1abc123",\n'
            b'    "region": {"code": "be", "score": 0.79},\n'
            b'    "score": 0.902,\n'
            b'    "vehicle": {"score": 0.84, "type": "Sedan", "box": {"xmax": 590, "'
            b'xmin": 155, "ymax": 373, "ymin": 99}},\n'
            b'    "source_url": "rtsp://camera-1/stream", "position_sec": 12.5\n'
            b"  }]\n"
            b" }\n"
            b"}\n"
        ),
        "application/json",
    ),
    "frigate": (  # frigate_end.json
        (
            b'{"_source": "Frigate NVR docs, Integrations > MQTT, topic frigate/even'
            b"ts (docs.frigate.video/integrations/mqtt), with the License Plate Reco"
            b"gnition fields of docs.frigate.video/configuration/license_plate_recog"
            b'nition",\n'
            b' "type": "end",\n'
            b' "before": {"id": "1715953212.509823-mxklsc", "camera": "driveway", "f'
            b'rame_time": 1715953214.1, "label": "car", "sub_label": null, "top_scor'
            b'e": 0.86, "false_positive": false, "start_time": 1715953212.509823, "e'
            b'nd_time": null, "score": 0.84, "box": [424, 500, 536, 712], "area": 23'
            b'744, "ratio": 2.1, "region": [264, 450, 667, 853], "current_zones": ["'
            b'entrance"], "entered_zones": ["entrance"], "thumbnail": null, "has_sna'
            b'pshot": true, "has_clip": true, "stationary": false, "motionless_count'
            b'": 0, "position_changes": 2, "attributes": {}, "current_attributes": ['
            b'], "recognized_license_plate": "1ABC12", "recognized_license_plate_sco'
            b're": 0.81},\n'
            b' "after": {"id": "1715953212.509823-mxklsc", "camera": "driveway", "fr'
            b'ame_time": 1715953216.3, "label": "car", "sub_label": null, "top_score'
            b'": 0.88, "false_positive": false, "start_time": 1715953212.509823, "en'
            b'd_time": 1715953216.4, "score": 0.86, "box": [442, 506, 534, 524], "ar'
            b'ea": 1692, "ratio": 5.1, "region": [264, 450, 667, 853], "current_zone'
            b's": [], "entered_zones": ["entrance"], "thumbnail": null, "has_snapsho'
            b't": true, "has_clip": true, "stationary": false, "motionless_count": 0'
            b', "position_changes": 3, "attributes": {}, "current_attributes": [], "'
            b'recognized_license_plate": "1ABC123", "recognized_license_plate_score"'
            b": 0.93}\n"
            b"}\n"
        ),
        "application/json",
    ),
    "replay": (
        b'{"read_id": "r1", "captured_at": "2024-05-17T13:40:12Z", "plate": "1ABC123", '
        b'"confidence": 0.9}\n'
        b'{"read_id": "r2", "captured_at": "2024-05-17T13:40:14Z", "plate": "GH123X", '
        b'"country": "NL", "confidence": 0.8}\n',
        "application/x-ndjson",
    ),
}


def synthetic_reads(
    cameras: list[Camera], total: int, batch: int, seed: int = 1
) -> list[ReadBatchIn]:
    """Camera batches of realistic reads: Belgian plates, a share of Dutch/French, a fleet
    small enough that plates repeat (as real traffic does)."""
    rng = random.Random(seed)
    fleet = []
    for _ in range(max(1000, total // 20)):
        kind = rng.random()
        country = None if kind < 0.85 else "NL" if kind < 0.95 else "FR"
        plate = plate_for(country or "BE", rng)
        fleet.append((plate, country))
    base = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    batches = []
    n = 0
    while n < total:
        cam = cameras[(n // batch) % len(cameras)]
        reads = []
        for i in range(min(batch, total - n)):
            plate, country = fleet[rng.randrange(len(fleet))]
            reads.append(
                ReadIn(
                    read_id=f"b{seed}-{n + i}",
                    captured_at=base + dt.timedelta(microseconds=(n + i) * 10),
                    plate=plate,
                    country=country,
                    confidence=round(rng.uniform(0.6, 0.99), 3),
                    direction="approaching",
                    lane=1,
                    vehicle_class="car",
                )
            )
        batches.append(ReadBatchIn(version=1, camera_id=cam.id, reads=reads))
        n += len(reads)
    return batches


def _rss_mb(pid: int, key: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure_ceiling(
    cameras: list[Camera], batches: list[ReadBatchIn], group: int, workdir: Path
) -> float:
    store = SqliteStore(workdir / "ceiling.sqlite", synchronous="FULL")
    store.open()
    for cam in cameras:
        store.upsert_camera(cam, None)
    limits = Limits(max_future_skew_us=300_000_000, max_age_us=86_400_000_000, min_confidence=0)
    by_id = {c.id: c for c in cameras}
    now_us = time.time_ns() // 1000
    reads: list[Read] = []
    for b in batches:
        for r in b.reads:
            v = validate_read(r, camera=by_id[b.camera_id], now_us=now_us, limits=limits)
            assert isinstance(v, Read)
            reads.append(v)
    start = time.perf_counter()
    for i in range(0, len(reads), group):
        store.append(reads[i : i + group])
    elapsed = time.perf_counter() - start
    store.close()
    return len(reads) / elapsed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_node(workdir: Path, port: int, admin: str) -> subprocess.Popen[bytes]:
    cfg = workdir / "node.toml"
    cfg.write_text(
        f'[store]\nurl = "sqlite:///{workdir}/node.sqlite"\nsynchronous = "FULL"\n'
        f'[server]\nport = {port}\nadmin_token = "{admin}"\n'
    )
    return subprocess.Popen(
        [sys.executable, "-m", "kruispunt", "serve", "--config", str(cfg)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"node exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("node did not become ready")


async def _send_all(
    url: str, bodies: list[tuple[str, bytes]], tokens: dict[str, str], clients: int
) -> tuple[int, int]:
    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    for item in bodies:
        queue.put_nowait(item)
    stored = 0
    backpressure = 0
    decoder = msgspec.json.Decoder()

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal stored, backpressure
        while not queue.empty():
            cam, body = queue.get_nowait()
            while True:
                resp = await client.post(
                    f"{url}/api/v1/reads",
                    content=body,
                    headers={
                        "Authorization": f"Bearer {tokens[cam]}",
                        "Content-Type": "application/json",
                    },
                )
                if resp.status_code in (429, 503):
                    backpressure += 1
                    await asyncio.sleep(float(resp.headers.get("Retry-After", "1")) / 10)
                    continue
                resp.raise_for_status()
                stored += decoder.decode(resp.content)["stored"]
                break

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(clients)))
    return stored, backpressure


def measure_end_to_end(
    cameras: list[Camera], batches: list[ReadBatchIn], clients: int, workdir: Path
) -> dict[str, Any]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    admin = "bench-admin-token"
    proc = _start_node(workdir, port, admin)
    try:
        _wait_ready(url, proc)
        auth = {"Authorization": f"Bearer {admin}"}
        tokens: dict[str, str] = {}
        with httpx.Client(base_url=url, headers=auth, timeout=30) as http:
            for cam in cameras:
                http.put(
                    f"/api/v1/cameras/{cam.id}", content=msgspec.json.encode(cam)
                ).raise_for_status()
                tokens[cam.id] = http.post(f"/api/v1/cameras/{cam.id}/token").json()["token"]
        bodies = [(b.camera_id, msgspec.json.encode(b)) for b in batches]
        total = sum(len(b.reads) for b in batches)
        rss_samples: list[float] = []
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.25):
                rss_samples.append(_rss_mb(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        rss_start = _rss_mb(proc.pid)
        sampler.start()
        start = time.perf_counter()
        stored, backpressure = asyncio.run(_send_all(url, bodies, tokens, clients))
        elapsed = time.perf_counter() - start
        # The processors run during the load; measure how long they need to catch up.
        while True:
            status = httpx.get(f"{url}/api/v1/status", timeout=30).json()
            if all(p["lag"] == 0 for p in status["processors"]):
                break
            time.sleep(0.05)
        caught_up = time.perf_counter() - start
        done.set()
        sampler.join()
        peak = _rss_mb(proc.pid, "VmHWM")
        if stored != total:
            raise RuntimeError(f"stored {stored} of {total} reads")
        return {
            "reads_per_s": total / elapsed,
            "processed_per_s": total / caught_up,
            "peak_rss_mb": peak,
            "rss_start_mb": rss_start,
            "rss_mb_by_tenth": _tenths(rss_samples) if rss_samples else [rss_start],
            "backpressure_events": backpressure,
            "store_mb": sum(p.stat().st_size for p in workdir.glob("node.sqlite*")) / 1e6,
        }
    finally:
        proc.terminate()
        proc.wait(30)


def _tenths(samples: list[float]) -> list[float]:
    """The median RSS in each tenth of the run (samples are evenly spaced in time)."""
    n = len(samples)
    return [
        round(statistics.median(samples[i * n // 10 : max(i * n // 10 + 1, (i + 1) * n // 10)]), 1)
        for i in range(10)
    ]


def decode_rate(batches: list[ReadBatchIn]) -> float:
    bodies = [msgspec.json.encode(b) for b in batches[:50]]
    n = sum(len(b.reads) for b in batches[:50])
    start = time.perf_counter()
    for body in bodies:
        decode_batch(body)
    return n / (time.perf_counter() - start)


def adapter_rates(seconds: float = 0.5) -> dict[str, float]:
    """Reads per second each vendor adapter decodes from its documented payload."""
    rates: dict[str, float] = {}
    for key in sorted(adapters.REGISTRY):
        if key not in ADAPTER_PAYLOADS:
            continue
        payload, content_type = ADAPTER_PAYLOADS[key]
        decoder = adapters.build(key)
        rates[key] = round(adapters.decode_rate(decoder, payload, seconds, content_type))
    return rates


def _runs(count: int) -> Iterator[Path]:
    for _ in range(count):
        with tempfile.TemporaryDirectory(prefix="kruispunt-bench-") as tmp:
            yield Path(tmp)


def soak(cameras: list[Camera], reads: int, batch: int, clients: int) -> dict[str, Any]:
    """One long run: is the node's memory flat once its bounded caches are warm?"""
    with tempfile.TemporaryDirectory(prefix="kruispunt-soak-") as tmp:
        run = measure_end_to_end(
            cameras, synthetic_reads(cameras, reads, batch, 99), clients, Path(tmp)
        )
    tenths = run["rss_mb_by_tenth"]
    return {
        "reads": reads,
        "reads_per_s": round(run["reads_per_s"]),
        "rss_mb_by_tenth": tenths,
        "growth_second_half_mb": round(tenths[-1] - tenths[len(tenths) // 2 - 1], 1),
        "peak_rss_mb": round(run["peak_rss_mb"], 1),
    }


def run_ingest_bench(
    *, reads: int, batch: int, clients: int, runs: int, soak_reads: int = 0
) -> dict[str, Any]:
    cameras = build_province_cameras()
    group = IngestConfig().group_commit_max_reads
    ceilings: list[float] = []
    e2e: list[dict[str, Any]] = []
    for run, workdir in enumerate(_runs(runs)):
        batches = synthetic_reads(cameras, reads, batch, seed=run + 1)
        # Alternate the order so neither side always gets the warmer machine.
        if run % 2 == 0:
            ceilings.append(measure_ceiling(cameras, batches, group, workdir))
            e2e.append(measure_end_to_end(cameras, batches, clients, workdir))
        else:
            e2e.append(measure_end_to_end(cameras, batches, clients, workdir))
            ceilings.append(measure_ceiling(cameras, batches, group, workdir))
    rate = statistics.median(r["reads_per_s"] for r in e2e)
    ceiling = statistics.median(ceilings)
    return {
        "reads_per_s": round(rate),
        "store_ceiling_reads_per_s": round(ceiling),
        "ratio": round(rate / ceiling, 3),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in e2e), 1),
        "processed_per_s": round(statistics.median(r["processed_per_s"] for r in e2e)),
        "backpressure_events": sum(r["backpressure_events"] for r in e2e),
        "decode_reads_per_s": round(decode_rate(synthetic_reads(cameras, 50 * batch, batch))),
        "adapters": adapter_rates(),
        "reads_per_run": reads,
        "batch": batch,
        "clients": clients,
        "runs": runs,
        "store": "sqlite (WAL, synchronous=FULL, a table per day)",
        "machine": f"{os.cpu_count()} cpu, {sys.platform}, python {sys.version.split()[0]}",
        "memory": soak(cameras, soak_reads, batch, clients) if soak_reads else None,
        "per_run": {
            "ceiling": [round(c) for c in ceilings],
            "end_to_end": [round(r["reads_per_s"]) for r in e2e],
        },
    }
