"""ONVIF Profile M: licence-plate analytics metadata as XML.

Two shapes are read, both from a ``tt:MetadataStream`` (or a bare fragment):

* the scene description (ONVIF Analytics Service Specification, "Scene description":
  ``tt:VideoAnalytics/tt:Frame[@UtcTime]/tt:Object[@ObjectId]/tt:Appearance/
  tt:LicensePlateInfo`` with ``tt:PlateNumber``, ``tt:CountryCode`` and a ``Likelihood``);
* the event notification (``wsnt:NotificationMessage`` with topic
  ``tns1:RuleEngine/LicensePlateRecognition/Plate`` and ``tt:SimpleItem`` data items
  ``PlateNumber``, ``CountryCode``, ``Likelihood``).
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

from kruispunt.ingest.adapters import parsing as p
from kruispunt.ingest.adapters.base import Decoded, DecodeError, VendorDecoder
from kruispunt.ingest.wire import ReadIn

PLATE_ITEMS = ("PlateNumber", "LicensePlate", "Plate")
COUNTRY_ITEMS = ("CountryCode", "Country")


def _likelihood(node: Element | None) -> str | None:
    if node is None:
        return None
    return node.get("Likelihood") or p.text(node, "Likelihood")


class OnvifDecoder(VendorDecoder):
    type_key = "onvif-profile-m"

    def _decode(self, payload: bytes, content_type: str) -> Decoded:
        root = p.parse_xml(payload)
        reads = [*self._scene_reads(root), *self._event_reads(root)]
        return Decoded(reads=tuple(reads))

    def _scene_reads(self, root: Element) -> list[ReadIn]:
        reads = []
        for frame in p.descendants(root, "Frame"):
            utc = frame.get("UtcTime")
            for obj in (c for c in frame if p.local(c.tag) == "Object"):
                info = next(iter(p.descendants(obj, "LicensePlateInfo")), None)
                if info is None:
                    continue
                plate_node = p.child(info, "PlateNumber")
                plate = p.text(info, "PlateNumber")
                if plate is None or utc is None:
                    raise DecodeError("LicensePlateInfo without PlateNumber or Frame UtcTime")
                object_id = obj.get("ObjectId", "")
                likelihood = _likelihood(plate_node) or _likelihood(info)
                reads.append(
                    self.read(
                        read_id=self.read_id(utc, object_id, plate),
                        captured_at=self.timestamp(utc),
                        plate=plate,
                        country=p.country(p.text(info, "CountryCode")),
                        confidence=p.confidence(likelihood, percent=False),
                    )
                )
        return reads

    def _event_reads(self, root: Element) -> list[ReadIn]:
        reads = []
        for message in p.descendants(root, "Message"):
            data = p.child(message, "Data")
            if data is None:  # the wsnt:Message wrapper, or an event without data
                continue
            utc = message.get("UtcTime")
            items = {
                item.get("Name", ""): item.get("Value", "")
                for item in data
                if p.local(item.tag) == "SimpleItem"
            }
            plate = next((items[k] for k in PLATE_ITEMS if items.get(k)), None)
            if plate is None:
                continue
            if utc is None:
                raise DecodeError("plate event without UtcTime")
            code = next((items[k] for k in COUNTRY_ITEMS if items.get(k)), None)
            reads.append(
                self.read(
                    read_id=self.read_id(utc, items.get("ObjectId", ""), plate),
                    captured_at=self.timestamp(utc),
                    plate=plate.strip(),
                    country=p.country(code),
                    confidence=p.confidence(items.get("Likelihood"), percent=False),
                )
            )
        return reads
