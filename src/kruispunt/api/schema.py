"""OpenAPI documentation for bodies decoded with msgspec (faster than pydantic on the hot path)."""

from __future__ import annotations

from typing import Any

import msgspec

_REF = "#/components/schemas/{name}"


def _schemas(*types: Any) -> tuple[tuple[dict[str, Any], ...], dict[str, Any]]:
    return msgspec.json.schema_components(types, ref_template=_REF)


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
