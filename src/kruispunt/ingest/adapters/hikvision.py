"""Hikvision ANPR event (ISAPI ``EventNotificationAlert`` with ``eventType`` ANPR).

Arrives as bare XML, or as the ``multipart/form-data`` alarm-server upload whose first part is
``anpr.xml`` and whose other parts are the pictures named in ``ANPR/pictureInfoList``
(``licensePlatePicture.jpg``, ``detectionPicture.jpg``). ``isDataRetransmission`` true marks
a resend from the camera's buffer (a back-fill).
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

from kruispunt.ingest.adapters import parsing as p
from kruispunt.ingest.adapters.base import Decoded, DecodeError, Image, VendorDecoder

_DIRECTIONS = {"forward": "approaching", "reverse": "receding", "unknown": "unknown"}


class HikvisionDecoder(VendorDecoder):
    type_key = "hikvision-isapi"

    def _decode(self, payload: bytes, content_type: str) -> Decoded:
        if content_type.lower().startswith("multipart/"):
            parts = p.parse_multipart(payload, content_type)
            xml_parts = [
                x for x in parts if "xml" in x.content_type or x.name.lower().endswith(".xml")
            ]
            if len(xml_parts) != 1:
                raise DecodeError(f"expected one XML part, found {len(xml_parts)}")
            xml = xml_parts[0].data
            pictures = [x for x in parts if x.content_type.startswith("image/")]
        else:
            xml, pictures = payload, []
        root = p.parse_xml(xml)
        if p.local(root.tag) != "EventNotificationAlert":
            raise DecodeError(f"expected EventNotificationAlert, got {p.local(root.tag)[:40]}")
        event_type = (p.text(root, "eventType") or "").upper()
        if event_type != "ANPR":
            raise DecodeError(f"not an ANPR event (eventType {event_type[:20]!r})")
        anpr = p.child(root, "ANPR")
        plate = p.text(anpr, "licensePlate")
        when = p.text(root, "dateTime")
        if anpr is None or plate is None or when is None:
            raise DecodeError("ANPR event without licensePlate or dateTime")
        uuid = p.text(root, "UUID")
        read_id = self.read_id(uuid) if uuid else self.payload_id(xml)
        read = self.read(
            read_id=read_id,
            captured_at=self.timestamp(when),
            plate=plate,
            country=_country(anpr),
            confidence=p.confidence(p.text(anpr, "confidenceLevel"), percent=True),
            direction=_DIRECTIONS.get((p.text(anpr, "direction") or "").lower()),
            lane=p.small_int(p.text(anpr, "line")),
            vehicle_class=p.vehicle_class(p.text(anpr, "vehicleType")),
            colour=p.text(p.child(anpr, "vehicleInfo"), "color"),
            make=p.text(p.child(anpr, "vehicleInfo"), "vehicleLogoRecog"),
        )
        images = tuple(
            Image(read_id=read_id, content_type=x.content_type, data=x.data, kind=_kind(anpr, x))
            for x in pictures
        )
        retransmitted = (p.text(root, "isDataRetransmission") or "").lower() == "true"
        return Decoded(reads=(read,), images=images, backfilled=retransmitted)


def _country(anpr: Element) -> str | None:
    code = p.text(anpr, "country")
    return p.country(code) if code and not code.isdigit() else None


def _kind(anpr: Element, part: p.Part) -> str:
    """The picture's ISAPI type (licensePlatePicture, detectionPicture) by its file name."""
    for info in p.descendants(anpr, "pictureInfo"):
        if p.text(info, "fileName") in (part.name, part.filename):
            return p.text(info, "type") or "image"
    return part.name or "image"
