"""ONVIF Profile M: licence-plate analytics metadata as XML.

Two shapes are read, both from a ``tt:MetadataStream`` (or a bare fragment), as the ONVIF
Analytics Service Specification defines them:

* the scene description ("Scene description": ``tt:VideoAnalytics/tt:Frame[@UtcTime]/
  tt:Object[@ObjectId]/tt:Appearance`` with ``tt:LicensePlateInfo`` (``tt:PlateNumber``,
  ``tt:CountryCode``, each with a ``Likelihood``) and optionally ``tt:VehicleInfo``);
* the licence-plate recognition event ("License Plate Recognition" rule, topic
  ``tns1:RuleEngine/Recognition/LicensePlate``): a ``tt:Message[@UtcTime]`` whose data holds
  the ``Likelihood`` simple item and the ``LicensePlateInfo`` / ``VehicleInfo`` element items,
  and, with ``IncludeImage`` set to Embedded, the base64 ``Image`` / ``VehicleImage`` items.

Cameras that put the plate in simple items instead (``PlateNumber``, ``CountryCode``) are read
too. A message with ``PropertyOperation="Deleted"`` clears a state and is no read.
"""

from __future__ import annotations

import base64
import binascii
from xml.etree.ElementTree import Element

from kruispunt.ingest.adapters import parsing as p
from kruispunt.ingest.adapters.base import Decoded, DecodeError, Image, VendorDecoder
from kruispunt.ingest.wire import ReadIn

PLATE_ITEMS = ("PlateNumber", "LicensePlate", "Plate")
COUNTRY_ITEMS = ("CountryCode", "Country")
IMAGE_ITEMS = (("Image", "plate"), ("VehicleImage", "vehicle"))


def _likelihood(node: Element | None) -> str | None:
    if node is None:
        return None
    return node.get("Likelihood") or p.text(node, "Likelihood")


def _vehicle(node: Element | None) -> tuple[str | None, str | None]:
    """(vehicle class, make) from a ``tt:VehicleInfo`` (``Type``, ``Brand``)."""
    if node is None:
        return None, None
    return p.vehicle_class(p.text(node, "Type")), p.text(node, "Brand")


def _first(node: Element, name: str) -> Element | None:
    return next(iter(p.descendants(node, name)), None)


def _simple_items(node: Element) -> dict[str, str]:
    return {
        item.get("Name", ""): item.get("Value", "")
        for item in node
        if p.local(item.tag) == "SimpleItem"
    }


def _wrapped(item: Element | None, name: str) -> Element | None:
    """The ``tt:<name>`` inside an event's ``ElementItem`` (or the item's own children)."""
    if item is None:
        return None
    inner = _first(item, name)
    return item if inner is None else inner


class OnvifDecoder(VendorDecoder):
    type_key = "onvif-profile-m"

    def _decode(self, payload: bytes, content_type: str) -> Decoded:
        root = p.parse_xml(payload)
        images: list[Image] = []
        reads = [*self._scene_reads(root), *self._event_reads(root, images)]
        return Decoded(reads=tuple(reads), images=tuple(images))

    def _scene_reads(self, root: Element) -> list[ReadIn]:
        reads = []
        for frame in p.descendants(root, "Frame"):
            utc = frame.get("UtcTime")
            for obj in (c for c in frame if p.local(c.tag) == "Object"):
                info = _first(obj, "LicensePlateInfo")
                if info is None:
                    continue
                plate_node = p.child(info, "PlateNumber")
                plate = p.text(info, "PlateNumber")
                if plate is None or utc is None:
                    raise DecodeError("LicensePlateInfo without PlateNumber or Frame UtcTime")
                object_id = obj.get("ObjectId", "")
                likelihood = _likelihood(plate_node) or _likelihood(info)
                vehicle_class, make = _vehicle(_first(obj, "VehicleInfo"))
                reads.append(
                    self.read(
                        read_id=self.read_id(utc, object_id, plate),
                        captured_at=self.timestamp(utc),
                        plate=plate,
                        country=p.country(p.text(info, "CountryCode")),
                        confidence=p.confidence(likelihood, percent=False),
                        vehicle_class=vehicle_class,
                        make=make,
                    )
                )
        return reads

    def _event_reads(self, root: Element, images: list[Image]) -> list[ReadIn]:
        reads = []
        for message in p.descendants(root, "Message"):
            data = p.child(message, "Data")
            if data is None:  # the wsnt:Message wrapper, or an event without data
                continue
            if message.get("PropertyOperation") == "Deleted":
                continue
            simple = _simple_items(data)
            elements = {
                item.get("Name", ""): item for item in data if p.local(item.tag) == "ElementItem"
            }
            info = _wrapped(elements.get("LicensePlateInfo"), "LicensePlateInfo")
            plate = p.text(info, "PlateNumber")
            plate = plate or next((simple[k] for k in PLATE_ITEMS if simple.get(k)), None)
            if plate is None:
                continue
            utc = message.get("UtcTime")
            if utc is None:
                raise DecodeError("plate event without UtcTime")
            code = p.text(info, "CountryCode")
            code = code or next((simple[k] for k in COUNTRY_ITEMS if simple.get(k)), None)
            likelihood = simple.get("Likelihood") or _likelihood(
                None if info is None else p.child(info, "PlateNumber")
            )
            vehicle_class, make = _vehicle(_wrapped(elements.get("VehicleInfo"), "VehicleInfo"))
            source = p.child(message, "Source")
            rule = "" if source is None else _simple_items(source).get("Rule", "")
            read_id = self.read_id(utc, simple.get("ObjectId") or rule, plate.strip())
            reads.append(
                self.read(
                    read_id=read_id,
                    captured_at=self.timestamp(utc),
                    plate=plate.strip(),
                    country=p.country(code),
                    confidence=p.confidence(likelihood, percent=False),
                    vehicle_class=vehicle_class,
                    make=make,
                )
            )
            images.extend(self._images(read_id, elements))
        return reads

    @staticmethod
    def _images(read_id: str, elements: dict[str, Element]) -> list[Image]:
        """The ``Image`` / ``VehicleImage`` element items (base64, IncludeImage=Embedded)."""
        out = []
        for name, kind in IMAGE_ITEMS:
            item = elements.get(name)
            if item is None:
                continue
            encoded = "".join(item.itertext()).strip()
            if not encoded:
                continue
            try:
                data = base64.b64decode("".join(encoded.split()), validate=True)
            except binascii.Error:
                raise DecodeError(f"{name} is not base64") from None
            out.append(Image(read_id, "image/jpeg", data, kind=kind))
        return out
