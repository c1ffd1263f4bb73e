# ruff: noqa: E501
"""Vendor ingest adapters: documented payloads decode to native reads; anything else is one
clear DecodeError (never a crash, never a partial read)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import msgspec
import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kruispunt.ingest.adapters as adapters_pkg
from kruispunt.ingest.adapters import REGISTRY, Decoded, DecodeError, build, decode_rate
from kruispunt.ingest.wire import ReadIn

# The documented payloads shipped with the package (samples/SOURCES.md says which documents).
FIXTURES = Path(adapters_pkg.__file__).parent / "samples"
JPEG = b"\xff\xd8\xff\xe0fake-jpeg\xff\xd9"
UTC = dt.UTC


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def multipart(
    parts: list[tuple[str, str, bytes]], boundary: str = "XbOuNdArY"
) -> tuple[bytes, str]:
    body = b""
    for name, ctype, data in parts:
        body += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}"\r\n'
                f"Content-Type: {ctype}\r\n\r\n"
            ).encode()
            + data
            + b"\r\n"
        )
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def roundtrip(decoded: Decoded) -> None:
    """Every read is a valid native read (survives the wire decoder)."""
    for r in decoded.reads:
        assert msgspec.json.decode(msgspec.json.encode(r), type=ReadIn) == r


# Documented payloads ----------------------------------------------------------------------


def test_onvif_scene_description() -> None:
    out = build("onvif-profile-m").decode(fixture("onvif_scene.xml"), "application/xml")
    (r,) = out.reads
    assert (r.plate, r.country, r.confidence) == ("1ABC123", "BE", 0.9)
    assert r.captured_at == dt.datetime(2024, 5, 17, 13, 40, 12, 509000, tzinfo=UTC)
    roundtrip(out)


def test_onvif_event_notification() -> None:
    out = build("onvif-profile-m").decode(fixture("onvif_event.xml"))
    (r,) = out.reads
    assert (r.plate, r.country, r.confidence) == ("GH-123-X", "NL", 0.87)
    assert (r.vehicle_class, r.make) == ("car", "Volvo")
    assert r.captured_at == dt.datetime(2024, 5, 17, 13, 40, 13, tzinfo=UTC)
    assert r.read_id == "onvif-profile-m:2024-05-17T13:40:13Z:LPR1:GH-123-X"
    assert out.images == ()
    roundtrip(out)


def test_onvif_event_embedded_image_and_cleared_state() -> None:
    """IncludeImage=Embedded adds a base64 ``Image`` element item; a Deleted message clears
    a state and is no read."""
    image = b'<tt:ElementItem Name="Image">' + base64.b64encode(JPEG) + b"</tt:ElementItem>"
    xml = fixture("onvif_event.xml").replace(b"</tt:Data>", image + b"</tt:Data>")
    out = build("onvif-profile-m").decode(xml)
    (r,) = out.reads
    assert [(i.read_id, i.kind, i.data) for i in out.images] == [(r.read_id, "plate", JPEG)]
    deleted = fixture("onvif_event.xml").replace(
        b'UtcTime="2024-05-17T13:40:13Z"',
        b'UtcTime="2024-05-17T13:40:13Z" PropertyOperation="Deleted"',
    )
    assert build("onvif-profile-m").decode(deleted).reads == ()


def test_onvif_event_with_plate_in_simple_items() -> None:
    """Cameras that send the plate as simple items (not the LicensePlateInfo element) too."""
    xml = (
        b'<tt:Message xmlns:tt="http://www.onvif.org/ver10/schema" UtcTime="2024-05-17T13:40:13Z">'
        b'<tt:Data><tt:SimpleItem Name="PlateNumber" Value="GH-123-X"/>'
        b'<tt:SimpleItem Name="CountryCode" Value="NLD"/>'
        b'<tt:SimpleItem Name="Likelihood" Value="0.5"/></tt:Data></tt:Message>'
    )
    (r,) = build("onvif-profile-m").decode(xml).reads
    assert (r.plate, r.country, r.confidence) == ("GH-123-X", "NL", 0.5)


def test_hikvision_bare_xml() -> None:
    out = build("hikvision-isapi").decode(fixture("hikvision_anpr.xml"), "application/xml")
    (r,) = out.reads
    assert r.read_id == "hikvision-isapi:9bc6f6a8-1dd1-11b2-8000-4419b6000001"
    # country and vehicleLogoRecog are Hikvision code-table numbers: not guessed at.
    assert (r.plate, r.country, r.confidence, r.direction, r.lane) == (
        "1ABC123", None, 0.92, "approaching", 1,
    )  # fmt: skip
    assert (r.colour, r.make, r.vehicle_class) == ("white", None, "other")
    assert r.captured_at == dt.datetime(2024, 5, 17, 13, 40, 12, tzinfo=UTC)
    assert out.images == () and not out.backfilled
    roundtrip(out)


def test_hikvision_names_instead_of_codes_are_kept() -> None:
    xml = (
        fixture("hikvision_anpr.xml")
        .replace(b"<country>3</country>", b"<country>BE</country>")
        .replace(b"<vehicleLogoRecog>1036<", b"<vehicleLogoRecog>Volkswagen<")
        .replace(b"<color>white</color>", b"<color>unknown</color>")
        .replace(b"<vehicleType>vehicle<", b"<vehicleType>SUVMPV<")
    )
    (r,) = build("hikvision-isapi").decode(xml).reads
    assert (r.country, r.make, r.colour, r.vehicle_class) == ("BE", "Volkswagen", None, "car")


def test_hikvision_multipart_with_pictures() -> None:
    body, ctype = multipart(
        [
            ("anpr.xml", "text/xml", fixture("hikvision_anpr.xml")),
            ("licensePlatePicture.jpg", "image/jpeg", JPEG),
            ("detectionPicture.jpg", "image/jpeg", JPEG + b"2"),
        ]
    )
    out = build("hikvision-isapi").decode(body, ctype)
    (r,) = out.reads
    assert [(i.read_id, i.kind, i.content_type) for i in out.images] == [
        (r.read_id, "licensePlatePicture", "image/jpeg"),
        (r.read_id, "detectionPicture", "image/jpeg"),
    ]
    assert out.images[0].data == JPEG


def test_hikvision_multipart_with_generic_part_types() -> None:
    """Parts sent as application/octet-stream are told apart by their file names."""
    body, ctype = multipart(
        [
            ("anpr.xml", "application/octet-stream", fixture("hikvision_anpr.xml")),
            ("licensePlatePicture.jpg", "application/octet-stream", JPEG),
        ]
    )
    out = build("hikvision-isapi").decode(body, ctype)
    assert [(i.kind, i.content_type, i.data) for i in out.images] == [
        ("licensePlatePicture", "image/jpeg", JPEG)
    ]


def test_hikvision_retransmission_is_backfill() -> None:
    xml = fixture("hikvision_anpr.xml").replace(
        b"<isDataRetransmission>false", b"<isDataRetransmission>true"
    )
    assert build("hikvision-isapi").decode(xml).backfilled


def test_axis_lpv_json_and_multipart() -> None:
    # ``datetime`` without an offset is the event time in UTC, whatever the local zone.
    dec = build("axis-lpv", {"local_timezone": "Europe/Brussels"})
    out = dec.decode(fixture("axis_lpv.json"), "application/json")
    (r,) = out.reads
    assert (r.plate, r.country, r.confidence, r.direction, r.lane) == (
        "1ABC123", "BE", 0.91, "in", 1,
    )  # fmt: skip
    assert r.captured_at == dt.datetime(2024, 5, 17, 13, 40, 12, 509000, tzinfo=UTC)
    assert r.read_id == "axis-lpv:gate-north:1087595:20240517 134012509"
    roundtrip(out)
    body, ctype = multipart(
        [("event", "application/json", fixture("axis_lpv.json")), ("plate", "image/jpeg", JPEG)]
    )
    out2 = dec.decode(body, ctype)
    assert out2.reads == out.reads
    assert [(i.read_id, i.kind, i.data) for i in out2.images] == [(r.read_id, "plate", JPEG)]


def test_axis_datetime_with_offset_and_json_as_form_field() -> None:
    doc = fixture("axis_lpv.json").replace(b'"20240517 134012509"', b'"20240517 154012509+0200"')
    body = (
        b'--B\r\nContent-Disposition: form-data; name="json"\r\n\r\n' + doc + b"\r\n"
        b'--B\r\nContent-Disposition: form-data; name="image"; filename="p.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n" + JPEG + b"\r\n--B--\r\n"
    )
    out = build("axis-lpv").decode(body, "multipart/form-data; boundary=B")
    (r,) = out.reads
    assert r.captured_at == dt.datetime(2024, 5, 17, 13, 40, 12, 509000, tzinfo=UTC)
    assert [i.data for i in out.images] == [JPEG]


def test_axis_only_configured_states_become_reads() -> None:
    doc = json.loads(fixture("axis_lpv.json"))
    doc["carState"] = "new"
    assert build("axis-lpv").decode(json.dumps(doc).encode()).reads == ()
    assert len(build("axis-lpv", {"emit_on": ["new"]}).decode(json.dumps(doc).encode()).reads)


def test_openalpr_group() -> None:
    out = build("openalpr").decode(fixture("openalpr_group.json"))
    (r,) = out.reads
    assert (r.plate, r.country, r.confidence) == ("1ABC123", "BE", pytest.approx(0.943))
    assert (r.make, r.colour, r.vehicle_class) == ("volkswagen", "white", "car")
    assert r.captured_at == dt.datetime(2024, 5, 17, 13, 40, 12, 509000, tzinfo=UTC)
    assert [(i.kind, i.content_type) for i in out.images] == [
        ("plate_crop", "image/jpeg"), ("vehicle_crop", "image/jpeg"),
    ]  # fmt: skip
    assert out.images[1].data.startswith(b"\xff\xd8")
    roundtrip(out)


def test_openalpr_group_as_documented_without_vehicle_data() -> None:
    """The documented v2 group has no ``vehicle`` block nor ``vehicle_crop_jpeg``."""
    doc = json.loads(fixture("openalpr_group.json"))
    del doc["vehicle"], doc["vehicle_crop_jpeg"], doc["best_plate"]
    out = build("openalpr").decode(json.dumps(doc).encode())
    (r,) = out.reads
    assert (r.plate, r.make, r.colour, r.vehicle_class) == ("1ABC123", None, None, None)
    assert out.images == ()


def test_openalpr_heartbeat_is_no_read() -> None:
    beat = b'{"data_type": "heartbeat", "version": 2, "timestamp": 1715953212509}'
    assert build("openalpr").decode(beat).reads == ()


def test_openalpr_results() -> None:
    out = build("openalpr").decode(fixture("openalpr_results.json"))
    assert [(r.plate, r.country) for r in out.reads] == [("1ABC123", "BE"), ("GH123X", "NL")]
    assert len({r.read_id for r in out.reads}) == 2


def test_platerecognizer_stream_and_snapshot() -> None:
    dec = build("platerecognizer")
    (s,) = dec.decode(fixture("platerecognizer_stream.json")).reads
    assert (s.plate, s.country, s.confidence, s.vehicle_class) == ("1ABC123", "BE", 0.902, "car")
    assert (s.make, s.colour) == ("Volkswagen", "white")
    assert s.captured_at == dt.datetime(2024, 5, 17, 13, 40, 12, 509823, tzinfo=UTC)
    (n,) = dec.decode(fixture("platerecognizer_snapshot.json")).reads
    assert (n.plate, n.country, n.vehicle_class, n.make) == ("GH123X", "NL", "van", None)
    # Snapshot's timestamp carries no offset: it is UTC, whatever the local zone.
    (n2,) = (
        build("platerecognizer", {"local_timezone": "Europe/Brussels"})
        .decode(fixture("platerecognizer_snapshot.json"))
        .reads
    )
    assert (
        n.captured_at == n2.captured_at == dt.datetime(2024, 5, 17, 13, 41, 0, 117545, tzinfo=UTC)
    )
    body, ctype = multipart(
        [("json", "application/json", fixture("platerecognizer_stream.json")),
         ("upload", "image/jpeg", JPEG)]
    )  # fmt: skip
    out = dec.decode(body, ctype)
    assert out.reads == (s,) and out.images[0].data == JPEG


def test_platerecognizer_webhook_with_image_as_a_form() -> None:
    """ "Webhook with Image": ``json`` is a plain form field, ``upload`` the file."""
    body = (
        b'--B\r\nContent-Disposition: form-data; name="json"\r\n\r\n'
        + fixture("platerecognizer_snapshot.json")
        + b'\r\n--B\r\nContent-Disposition: form-data; name="upload"; filename="gate-west.jpg"'
        b"\r\nContent-Type: image/jpeg\r\n\r\n" + JPEG + b"\r\n--B--\r\n"
    )
    out = build("platerecognizer").decode(body, "multipart/form-data; boundary=B")
    (r,) = out.reads
    assert r.plate == "GH123X"
    assert [(i.read_id, i.kind, i.content_type, i.data) for i in out.images] == [
        (r.read_id, "frame", "image/jpeg", JPEG)
    ]


def test_frigate_end_event() -> None:
    out = build("frigate").decode(fixture("frigate_end.json"))
    (r,) = out.reads
    assert r.read_id == "frigate:1715953212.509823-mxklsc"
    assert (r.plate, r.confidence, r.vehicle_class) == ("1ABC123", 0.93, "car")
    assert r.captured_at == dt.datetime(2024, 5, 17, 13, 40, 12, 509823, tzinfo=UTC)
    update = fixture("frigate_end.json").replace(b'"type": "end"', b'"type": "update"')
    assert build("frigate").decode(update).reads == ()
    roundtrip(out)


def test_frigate_plate_as_serialised_pair() -> None:
    """Frigate's own serialisation of the plate: ``[plate, score]`` (like ``sub_label``)."""
    doc = json.loads(fixture("frigate_end.json"))
    del doc["after"]["recognized_license_plate_score"]
    doc["after"]["recognized_license_plate"] = ["1ABC123", 0.93]
    (r,) = build("frigate").decode(json.dumps(doc).encode()).reads
    assert (r.read_id, r.plate, r.confidence) == (
        "frigate:1715953212.509823-mxklsc",
        "1ABC123",
        0.93,
    )
    doc["after"]["recognized_license_plate"] = None
    assert build("frigate").decode(json.dumps(doc).encode()).reads == ()


def test_frigate_lpr_tracked_object_update() -> None:
    payload = fixture("frigate_lpr_update.json")
    assert build("frigate").decode(payload).reads == ()  # not in the default emit_on
    (r,) = build("frigate", {"emit_on": ["lpr"]}).decode(payload).reads
    assert (r.read_id, r.plate, r.confidence) == (
        "frigate:1715953212.509823-mxklsc",
        "1ABC123",
        0.93,
    )
    assert r.captured_at == dt.datetime(2024, 5, 17, 13, 40, 14, 748393, tzinfo=UTC)
    description = b'{"type": "description", "id": "x", "description": "A red car."}'
    assert build("frigate", {"emit_on": ["end", "lpr"]}).decode(description).reads == ()


def test_replay_jsonl_and_csv_are_backfilled() -> None:
    jsonl = (
        b'{"read_id": "c1-1", "captured_at": "2024-05-17T13:40:12Z", "plate": "1ABC123",'
        b' "confidence": 0.9, "country": "BE"}\n\n'
        b'{"captured_at": "2024-05-17T13:41:00+02:00", "plate": "GH123X", "confidence": 0.8}\n'
    )
    dec = build("replay", {"camera_id": "cam-1"})
    out = dec.decode(jsonl, "application/x-ndjson")
    assert out.backfilled and [r.plate for r in out.reads] == ["1ABC123", "GH123X"]
    assert out.reads[0].read_id == "c1-1" and out.reads[1].read_id.startswith("replay:sha256:")
    assert out.reads[1].captured_at == dt.datetime(2024, 5, 17, 11, 41, tzinfo=UTC)
    assert {r.camera_id for r in out.reads} == {"cam-1"}
    csv_body = (
        b"read_id,captured_at,plate,confidence,lane,direction\r\n"
        b"c1-1,2024-05-17T13:40:12Z,1ABC123,0.9,2,in\r\n"
        b"c1-2,2024-05-17T13:40:13Z,GH123X,0.8,,\r\n"
    )
    out = dec.decode(csv_body, "text/csv")
    assert out.backfilled and [(r.read_id, r.lane) for r in out.reads] == [
        ("c1-1", 2), ("c1-2", None),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("key", "name"),
    [("onvif-profile-m", "onvif_scene.xml"), ("hikvision-isapi", "hikvision_anpr.xml"),
     ("axis-lpv", "axis_lpv.json"), ("openalpr", "openalpr_group.json"),
     ("platerecognizer", "platerecognizer_stream.json"), ("frigate", "frigate_end.json")],
)  # fmt: skip
def test_resent_event_is_the_same_read(key: str, name: str) -> None:
    assert build(key).decode(fixture(name)) == build(key).decode(fixture(name))


# Malformed variants ------------------------------------------------------------------------


MALFORMED = [
    ("onvif-profile-m", fixture("onvif_scene.xml").replace(b' UtcTime="2024-05-17T13:40:12.509Z"', b"")),
    ("onvif-profile-m", fixture("onvif_event.xml").replace(b"2024-05-17T13:40:13Z", b"yesterday")),
    ("onvif-profile-m", fixture("onvif_event.xml").replace(b' UtcTime="2024-05-17T13:40:13Z"', b"")),
    ("onvif-profile-m", fixture("onvif_event.xml").replace(b"</tt:Data>", b'<tt:ElementItem Name="Image">@@@</tt:ElementItem></tt:Data>')),
    ("hikvision-isapi", fixture("hikvision_anpr.xml").replace(b"<eventType>ANPR", b"<eventType>VMD")),
    ("hikvision-isapi", fixture("hikvision_anpr.xml").replace(b"<licensePlate>1ABC123</licensePlate>", b"")),
    ("hikvision-isapi", b"<html>not an alert</html>"),
    ("axis-lpv", fixture("axis_lpv.json").replace(b'"20240517 134012509"', b'"17/05/2024"')),
    ("axis-lpv", fixture("axis_lpv.json").replace(b'"carID": 1087595,', b"")),
    ("openalpr", fixture("openalpr_group.json").replace(b'"alpr_group"', b'"alpr_mystery"')),
    ("openalpr", fixture("openalpr_group.json").replace(b'"/9j/4AAQSkZJRg=="', b'"@@@"')),
    ("openalpr", fixture("openalpr_group.json").replace(b'"/9j/2wBDAA=="', b'"@@@"')),
    ("openalpr", fixture("openalpr_group.json").replace(b'"epoch_start": 1715953212509', b'"epoch_start": "yesterday"')),
    ("openalpr", fixture("openalpr_results.json").replace(b'"plate": "GH123X"', b'"plate": 7')),
    ("platerecognizer", fixture("platerecognizer_stream.json").replace(b'"timestamp":', b'"ts":')),
    ("platerecognizer", fixture("platerecognizer_snapshot.json").replace(b'"2024-05-17 13:41:00.117545"', b'"17/05/2024"')),
    ("platerecognizer", fixture("platerecognizer_snapshot.json").replace(b'"plate": "gh123x"', b'"plate": null')),
    ("hikvision-isapi", fixture("hikvision_anpr.xml").replace(b"<dateTime>2024-05-17T15:40:12.000+02:00</dateTime>", b"")),
    ("frigate", fixture("frigate_end.json").replace(b'"start_time": 1715953212.509823, "end_time": 1715953216.4', b'"start_time": -5, "end_time": 1')),
    ("frigate", fixture("frigate_end.json").replace(b'"1ABC123"', b'"' + b"X" * 200 + b'"')),
    ("frigate", fixture("frigate_end.json").replace(b'"1ABC123", "recognized_license_plate_score": 0.93', b'["1ABC123", "high"]')),
    ("replay", b'{"captured_at": "2024-05-17T13:40:12Z", "plate": "A", "confidence": 0.9}\n{"plate": "B"}\n'),
    ("replay", b'{"captured_at": "2024-05-17T13:40:12Z", "plate": "A", "confidence": 0.9, "bogus": 1}\n'),
    ("replay", b"\xff\xfe\x00garbage"),
]  # fmt: skip


@pytest.mark.parametrize(("key", "payload"), MALFORMED)
def test_malformed_is_one_clear_rejection(key: str, payload: bytes) -> None:
    with pytest.raises(DecodeError, match=f"^{key}: "):
        build(key).decode(payload)


def test_replay_csv_rejects_unknown_columns_and_ragged_rows() -> None:
    dec = build("replay", {"format": "csv"})
    with pytest.raises(DecodeError, match="unknown"):
        dec.decode(b"plate,speed\r\nA,3\r\n")
    with pytest.raises(DecodeError, match="more cells"):
        dec.decode(b"captured_at,plate,confidence\r\n2024-05-17T13:40:12Z,A,0.9,extra\r\n")


def test_multipart_without_the_data_part() -> None:
    body, ctype = multipart([("licensePlatePicture.jpg", "image/jpeg", JPEG)])
    with pytest.raises(DecodeError, match="one XML part"):
        build("hikvision-isapi").decode(body, ctype)
    with pytest.raises(DecodeError, match="boundary"):
        build("hikvision-isapi").decode(body, "multipart/form-data")


def test_config_is_strict() -> None:
    with pytest.raises(pydantic.ValidationError):
        build("frigate", {"emit_on": ["end"], "bogus": 1})
    with pytest.raises(pydantic.ValidationError):
        build("axis-lpv", {"local_timezone": "Mars/Olympus"})
    with pytest.raises(KeyError, match="unknown ingest adapter"):
        build("nope")


# Hostile payloads --------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<EventNotificationAlert><eventType>ANPR</eventType><ANPR><licensePlate>&lol3;</licensePlate>
</ANPR><dateTime>2024-05-17T13:40:12Z</dateTime></EventNotificationAlert>"""
XXE = b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<EventNotificationAlert><eventType>ANPR</eventType><ANPR><licensePlate>&xxe;</licensePlate>
</ANPR><dateTime>2024-05-17T13:40:12Z</dateTime></EventNotificationAlert>"""
DEEP_JSON = b'{"data":' * 5000 + b"1" + b"}" * 5000
DEEP_XML = b"<a>" * 5000 + b"</a>" * 5000


@pytest.mark.parametrize("key", sorted(REGISTRY))
@pytest.mark.parametrize("payload", [BILLION_LAUGHS, XXE, DEEP_JSON, DEEP_XML, b"", b"\x00" * 10])
def test_hostile_payloads_are_rejected(key: str, payload: bytes) -> None:
    if key == "replay" and payload == b"":
        return  # an empty replay file is valid: no reads
    with pytest.raises(DecodeError):
        build(key).decode(payload, "application/xml" if payload.startswith(b"<") else "")


@pytest.mark.parametrize("key", sorted(REGISTRY))
def test_oversized_payload_refused_before_parsing(key: str) -> None:
    with pytest.raises(DecodeError, match="exceeds the limit"):
        build(key, {"max_bytes": 1024}).decode(b" " * 1025)


def test_deep_json_inside_strings_is_not_depth() -> None:
    doc = json.loads(fixture("frigate_end.json"))
    doc["after"]["sub_label"] = "[" * 1000
    assert len(build("frigate").decode(json.dumps(doc).encode()).reads) == 1


FIXTURE_OF = {
    "onvif-profile-m": "onvif_event.xml",
    "hikvision-isapi": "hikvision_anpr.xml",
    "axis-lpv": "axis_lpv.json",
    "openalpr": "openalpr_group.json",
    "platerecognizer": "platerecognizer_stream.json",
    "frigate": "frigate_end.json",
}


def _all_or_nothing(key: str, payload: bytes, content_type: str = "") -> None:
    try:
        out = build(key).decode(payload, content_type)
    except DecodeError as exc:
        assert str(exc).startswith(f"{key}: ")
        return
    roundtrip(out)


fuzz = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fuzz
@given(key=st.sampled_from(sorted(FIXTURE_OF)), cut=st.floats(0, 1))
def test_fuzz_truncated(key: str, cut: float) -> None:
    data = fixture(FIXTURE_OF[key])
    _all_or_nothing(key, data[: int(len(data) * cut)])


@fuzz
@given(key=st.sampled_from(sorted(REGISTRY)), junk=st.binary(max_size=2048), ct=st.sampled_from(
    ["", "application/json", "text/csv", "multipart/form-data; boundary=x"]))  # fmt: skip
def test_fuzz_random_bytes(key: str, junk: bytes, ct: str) -> None:
    _all_or_nothing(key, junk, ct)


@fuzz
@given(key=st.sampled_from(sorted(FIXTURE_OF)), pos=st.floats(0, 1), junk=st.binary(max_size=64))
def test_fuzz_spliced(key: str, pos: float, junk: bytes) -> None:
    data = fixture(FIXTURE_OF[key])
    at = int(len(data) * pos)
    _all_or_nothing(key, data[:at] + junk + data[at + len(junk) :])


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=40,
)  # fmt: skip


@fuzz
@given(key=st.sampled_from(["axis-lpv", "openalpr", "platerecognizer", "frigate", "replay"]),
       field=st.text(max_size=30), value=json_values)  # fmt: skip
def test_fuzz_hostile_json_fields(key: str, field: str, value: object) -> None:
    name = FIXTURE_OF.get(key, "frigate_end.json")
    doc = json.loads(fixture(name))
    target = doc.get("after") or doc.get("data") or doc
    target[field if field else "plate"] = value
    _all_or_nothing(key, json.dumps(doc).encode())


def test_decode_rate_counts_reads() -> None:
    rate = decode_rate(build("openalpr"), fixture("openalpr_results.json"), seconds=0.05)
    assert rate > 100
