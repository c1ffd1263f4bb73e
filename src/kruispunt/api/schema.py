"""OpenAPI documentation for bodies decoded with msgspec (faster than pydantic on the hot path)."""

from __future__ import annotations

from typing import Any

import msgspec

_REF = "#/components/schemas/{name}"


# Every type a route documents, so the spec's components hold whatever its $refs name.
_documented: list[Any] = []


def _schemas(*types: Any) -> tuple[tuple[dict[str, Any], ...], dict[str, Any]]:
    _documented.extend(types)
    return msgspec.json.schema_components(types, ref_template=_REF)


def documented_components() -> dict[str, Any]:
    """The component schemas of every type documented through this module."""
    _, comps = msgspec.json.schema_components(tuple(_documented), ref_template=_REF)
    return comps


def body(model: Any, *, description: str) -> dict[str, Any]:
    (schema,), _components = _schemas(model)
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": schema}},
        }
    }


def responses(mapping: dict[int, tuple[Any, str]]) -> dict[int | str, dict[str, Any]]:
    out: dict[int | str, dict[str, Any]] = {}
    for status, (model, description) in mapping.items():
        (schema,), _ = _schemas(model)
        out[status] = {
            "description": description,
            "content": {"application/json": {"schema": schema}},
        }
    return out


def components(*types: Any) -> dict[str, Any]:
    _, comps = _schemas(*types)
    return comps
