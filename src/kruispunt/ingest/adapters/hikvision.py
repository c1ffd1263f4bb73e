"""Hikvision ANPR event (ISAPI ``EventNotificationAlert`` with ``eventType`` ANPR).

As in the Device Network SDK (Traffic) developer guide, message XML_EventNotificationAlert_ANPR.
Arrives as bare XML, or as the ``multipart/form-data`` alarm-server upload whose first part is
``anpr.xml`` and whose other parts are the pictures named in ``ANPR/pictureInfoList``
(``licensePlatePicture.jpg``, ``detectionPicture.jpg``). ``isDataRetransmission`` true marks
a resend from the camera's buffer (a back-fill). ``confidenceLevel`` is 0-100. ``country`` and
``vehicleInfo/vehicleLogoRecog`` are indexes into Hikvision's own code tables (numbers), so they
are only used when a camera sends a name instead.
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
            xml_parts = [x for x in parts if _is_xml(x)]
            if len(xml_parts) != 1:
                raise DecodeError(f"expected one XML part, found {len(xml_parts)}")
            xml = xml_parts[0].data
            pictures = [x for x in parts if _is_picture(x)]
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
            colour=_name(p.text(p.child(anpr, "vehicleInfo"), "color")),
            make=_name(p.text(p.child(anpr, "vehicleInfo"), "vehicleLogoRecog")),
        )
        images = tuple(
            Image(read_id, _picture_type(x), x.data, kind=_kind(anpr, x)) for x in pictures
        )
        retransmitted = (p.text(root, "isDataRetransmission") or "").lower() == "true"
        return Decoded(reads=(read,), images=images, backfilled=retransmitted)


def _name(value: str | None) -> str | None:
    """A text value, or None for "unknown" and Hikvision's numeric codes (logo index 1036,
    country 64, ...)."""
    return None if value is None or value.isdigit() or value.lower() == "unknown" else value


def _country(anpr: Element) -> str | None:
    return p.country(_name(p.text(anpr, "country")))


def _names(part: p.Part) -> tuple[str, str]:
    return part.name.lower(), (part.filename or "").lower()


def _is_xml(part: p.Part) -> bool:
    return "xml" in part.content_type or any(n.endswith(".xml") for n in _names(part))


def _is_picture(part: p.Part) -> bool:
    """An image part: by its content type, or (for a generic one) by its .jpg file name."""
    if part.content_type.startswith("image/"):
        return True
    return not _is_xml(part) and any(n.endswith((".jpg", ".jpeg")) for n in _names(part))


def _picture_type(part: p.Part) -> str:
    return part.content_type if part.content_type.startswith("image/") else "image/jpeg"


def _kind(anpr: Element, part: p.Part) -> str:
    """The picture's ISAPI type (licensePlatePicture, detectionPicture) by its file name."""
    for info in p.descendants(anpr, "pictureInfo"):
        if p.text(info, "fileName") in (part.name, part.filename):
            return p.text(info, "type") or "image"
    return part.name or "image"
