"""Guarded parsers shared by the adapters: bounded JSON, entity-free XML, multipart forms,
and the small value mappings (country codes, vehicle classes, confidences)."""

from __future__ import annotations

import email.message
import email.parser
import email.policy
import re
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element

import defusedxml.ElementTree  # type: ignore[import-untyped]
import msgspec

from kruispunt.ingest.adapters.base import DecodeError

MAX_JSON_DEPTH = 32
MAX_XML_DEPTH = 64
MAX_PARTS = 32

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")


def check_json_depth(payload: bytes, limit: int = MAX_JSON_DEPTH) -> None:
    """Refuse JSON nested deeper than ``limit`` before the parser sees it."""
    depth = 0
    for m in _BRACKETS.finditer(_JSON_STRING.sub(b"", payload)):
        if m.group() in b"[{":
            depth += 1
            if depth > limit:
                raise DecodeError(f"JSON nested deeper than {limit}")
        else:
            depth -= 1


def decode_json(payload: bytes, type_: Any) -> Any:
    """Decode ``payload`` as ``type_`` (a msgspec type) after bounding its depth."""
    check_json_depth(payload)
    return msgspec.json.decode(payload, type=type_, strict=False)


def parse_xml(payload: bytes) -> Element:
    """Parse XML refusing DTDs, entities and external references; bound its depth."""
    root: Element = defusedxml.ElementTree.fromstring(
        payload, forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    _check_xml_depth(root)
    return root


def _check_xml_depth(root: Element) -> None:
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_XML_DEPTH:
            raise DecodeError(f"XML nested deeper than {MAX_XML_DEPTH}")
        stack.extend((child, depth + 1) for child in node)


def local(tag: str) -> str:
    """An element's name without its namespace."""
    return tag.rpartition("}")[2]


def child(node: Element, name: str) -> Element | None:
    for c in node:
        if local(c.tag) == name:
            return c
    return None


def text(node: Element | None, name: str) -> str | None:
    """The stripped text of ``node``'s direct child ``name``, or None."""
    c = None if node is None else child(node, name)
    if c is None or c.text is None:
        return None
    return c.text.strip() or None


def descendants(node: Element, name: str) -> list[Element]:
    return [e for e in node.iter() if local(e.tag) == name]


@dataclass(frozen=True, slots=True)
class Part:
    name: str
    filename: str | None
    content_type: str
    data: bytes


def parse_multipart(payload: bytes, content_type: str) -> list[Part]:
    """The parts of a ``multipart/form-data`` (or ``multipart/mixed``) body."""
    if "boundary=" not in content_type:
        raise DecodeError("multipart body without a boundary")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + payload)
    if not msg.is_multipart():
        raise DecodeError("body is not multipart")
    raw_parts = msg.get_payload()
    if not isinstance(raw_parts, list) or not raw_parts:
        raise DecodeError("multipart body has no parts")
    if len(raw_parts) > MAX_PARTS:
        raise DecodeError(f"multipart body has more than {MAX_PARTS} parts")
    if msg.defects:
        raise DecodeError(f"malformed multipart body ({type(msg.defects[0]).__name__})")
    parts = []
    for p in raw_parts:
        if not isinstance(p, email.message.Message):
            raise DecodeError("malformed multipart part")
        data = p.get_payload(decode=True)
        if not isinstance(data, bytes):
            raise DecodeError("nested multipart bodies are not accepted")
        name = p.get_param("name", header="content-disposition")
        filename = p.get_filename()
        parts.append(
            Part(
                name=name if isinstance(name, str) else (filename or ""),
                filename=filename,
                content_type=p.get_content_type(),
                data=data,
            )
        )
    return parts


def confidence(value: float | str | None, *, percent: bool) -> float:
    """A vendor confidence as a fraction in [0, 1]; validation rejects what is outside."""
    if value is None or value == "":
        return 0.0
    try:
        number = float(value)
    except ValueError:
        raise DecodeError(f"bad confidence {str(value)[:20]!r}") from None
    return number / 100.0 if percent else number


def small_int(value: str | int | None, lo: int = 0, hi: int = 16) -> int | None:
    """An optional small integer (a lane), None when absent or outside [lo, hi]."""
    try:
        number = int(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and lo <= number <= hi else None


_ALPHA3 = {
    "AUT": "AT", "BEL": "BE", "BGR": "BG", "CHE": "CH", "CYP": "CY", "CZE": "CZ",
    "DEU": "DE", "DNK": "DK", "ESP": "ES", "EST": "EE", "FIN": "FI", "FRA": "FR",
    "GBR": "GB", "GRC": "GR", "HRV": "HR", "HUN": "HU", "IRL": "IE", "ISL": "IS",
    "ITA": "IT", "LIE": "LI", "LTU": "LT", "LUX": "LU", "LVA": "LV", "MLT": "MT",
    "NLD": "NL", "NOR": "NO", "POL": "PL", "PRT": "PT", "ROU": "RO", "SVK": "SK",
    "SVN": "SI", "SWE": "SE", "UKR": "UA", "SRB": "RS", "TUR": "TR", "MDA": "MD",
    "USA": "US", "CAN": "CA", "MEX": "MX", "AUS": "AU", "NZL": "NZ", "BRA": "BR",
}  # fmt: skip


def country(code: str | None) -> str | None:
    """ISO 3166-1 alpha-2 from alpha-2, alpha-3 or a region like ``us-ca``/``be``; None
    when unknown (the plate recogniser then infers it)."""
    if not code:
        return None
    head = code.strip().split("-")[0].upper()
    if len(head) == 2 and head.isascii() and head.isalpha():
        return head
    return _ALPHA3.get(head)


_CLASSES = (
    ("motorcycle", "motorcycle"), ("motorbike", "motorcycle"), ("bus", "bus"), ("truck", "truck"),
    ("lorry", "truck"), ("trailer", "trailer"), ("van", "van"), ("pickup", "van"),
    ("suv", "car"), ("mpv", "van"), ("car", "car"), ("sedan", "car"), ("hatch", "car"),
    ("coupe", "car"), ("wagon", "car"), ("vehicle", "other"),
)  # fmt: skip


def vehicle_class(name: str | None) -> str | None:
    """A vendor's vehicle type mapped onto the native classes (first keyword wins)."""
    if not name:
        return None
    low = name.lower()
    if "pickup" in low:
        return "van"
    for key, cls in _CLASSES:
        if key in low:
            return cls
    return None


def first(items: list[Any] | None) -> Any:
    return items[0] if items else None
