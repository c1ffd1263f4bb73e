"""Why a search is refused before or while it reads (the gate's refusals are its own).

- ``SearchInvalid`` (400): the request cannot be a search (a malformed pattern, an area that
  is not a polygon or is absurdly large, a bad cursor, contradictory fields). Nothing read.
- ``SearchTooBroad`` (422): the request is well formed and allowed, but would scan more than
  the node's caps (rows, day tables, time): narrow the period, the cameras or the pattern.
  Refused before any row is returned, and audited as a refusal.
"""

from __future__ import annotations

from typing import Any

from kruispunt.errors import Refused


class SearchInvalid(Refused):
    code = "invalid_search"
    status = 400

    def __init__(
        self,
        message: str,
        code: str | None = None,
        detail: dict[str, Any] | None = None,
        *,
        status: int = 400,
    ):
        super().__init__(message, code)
        self.detail = detail or {}
        self.status = status


class SearchTooBroad(Refused):
    code = "query_too_broad"
    status = 422

    def __init__(self, message: str, detail: dict[str, Any] | None = None):
        super().__init__(message)
        self.detail = detail or {}
