"""What the record routers share (grants, approvals, authorisations, legal holds, machine
tokens, images, reports): the node's services, the caller's call to one in a worker thread,
a decision on one record, and the query of a list.

A service's refusal is not caught here: it goes up to the route's ``refuses``, as does a
bad body or query (``RequestRefused``).
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

import msgspec
from starlette.requests import Request

from kruispunt.access.auth import principal_from_request
from kruispunt.access.principals import Principal
from kruispunt.api.bodies import JsonBodies
from kruispunt.api.errors import RequestRefused
from kruispunt.node import Node

B = TypeVar("B")
R = TypeVar("R")
S = TypeVar("S", bound=enum.StrEnum)

DecisionNote = Annotated[
    str,
    msgspec.Meta(
        max_length=2000, description="Why (required to refuse or revoke; optional to approve)."
    ),
]
"""The note of a decision body (approve, refuse, revoke), up to 2000 characters."""


def node_of(request: Request) -> Node:
    """The node the app serves: its services (``node_of(request).grants``...)."""
    node: Node = request.app.state.node
    return node


async def as_caller(request: Request, work: Callable[[Principal], R]) -> tuple[Principal, R]:
    """The signed-in caller, and what ``work(caller)`` (a service call) answers, run in a
    worker thread."""
    principal = principal_from_request(request)
    return principal, await asyncio.to_thread(work, principal)


async def decide(
    request: Request, bodies: JsonBodies, kind: type[B], step: Callable[[Principal, B], R]
) -> tuple[Principal, R]:
    """A decision on one record (approve, refuse, revoke, release): the body ``kind`` with
    its note (an empty body is ``kind()``), then ``step(caller, body)`` as ``as_caller``."""
    body = await bodies.read(request, kind, empty=kind())
    return await as_caller(request, lambda principal: step(principal, body))


@dataclass(frozen=True, slots=True)
class ListQuery(Generic[S]):
    """A list's query parameters: ``status``, ``limit`` (1 to the most), ``zone``, ``case``."""

    status: S | None
    limit: int
    zone: str | None
    case: str | None


def list_query(request: Request, statuses: type[S], *, most: int) -> ListQuery[S]:
    """The list's query, or ``bad_query``: a status not of ``statuses``, a limit out of
    bounds. Absent (or empty): any status, ``most`` records, any zone or case."""
    params = request.query_params
    raw = params.get("status")
    try:
        status = statuses(raw) if raw else None
    except ValueError:
        known = ", ".join(s.value for s in statuses)
        raise RequestRefused(f"status: one of {known}", "bad_query") from None
    limit = limit_query(request, most=most)
    return ListQuery(
        status, limit, zone=params.get("zone") or None, case=params.get("case") or None
    )


def limit_query(request: Request, *, most: int) -> int:
    """The ``limit`` query parameter (default ``most``), or ``bad_query``: not 1 to ``most``."""
    text = request.query_params.get("limit") or str(most)
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= most:
        raise RequestRefused(f"limit: an integer from 1 to {most}", "bad_query")
    return int(text)
