"""The OpenAPI spec is whole: every schema reference resolves."""

from __future__ import annotations

import json
import re

import httpx


async def test_every_schema_reference_resolves(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    names = set(spec["components"]["schemas"])
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(spec)))
    assert refs, "no references at all: the spec lost its schemas"
    assert refs - names == set()
    for path in ("/api/v1/reads", "/api/v1/hotlists", "/api/v1/hits", "/api/v1/users"):
        assert path in spec["paths"], path
