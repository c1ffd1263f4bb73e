"""Simulated cameras' heartbeats: ``POST /api/v1/cameras/{id}/heartbeat`` with each camera's
own token and its clock (``camera_time``), every 30 to 60 seconds per camera (each its own
period and phase, so they do not all come at once)."""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import logging
import random
from collections.abc import Callable

import httpx

from kruispunt.sim.faults import Faults

log = logging.getLogger(__name__)

HEARTBEAT_PATH = "/api/v1/cameras/{camera_id}/heartbeat"


async def send_heartbeats(
    base_url: str,
    tokens: dict[str, str],
    faults: Faults,
    *,
    period_s: tuple[float, float] = (30.0, 60.0),
    seed: int = 7,
    client: httpx.AsyncClient | None = None,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> None:
    """Until cancelled. A heartbeat the node does not take is logged, not retried: the
    next one is due within a minute anyway."""
    rng = random.Random(f"{seed}:heartbeats")
    loop = asyncio.get_running_loop()
    now = loop.time()
    due: list[tuple[float, str, float]] = []
    for camera_id in sorted(tokens):
        period = rng.uniform(*period_s)
        due.append((now + rng.uniform(0.0, period), camera_id, period))
    heapq.heapify(due)
    owned = client is None
    http = httpx.AsyncClient(timeout=10.0) if client is None else client
    try:
        while due:
            at, camera_id, period = heapq.heappop(due)
            await asyncio.sleep(max(0.0, at - loop.time()))
            heapq.heappush(due, (at + period, camera_id, period))
            camera_time = faults.heartbeat(camera_id, clock())
            if camera_time is None:
                continue  # offline: nothing leaves the camera
            await _beat(http, base_url, camera_id, tokens[camera_id], camera_time)
    finally:
        if owned:
            await http.aclose()


async def _beat(
    http: httpx.AsyncClient, base_url: str, camera_id: str, token: str, camera_time: dt.datetime
) -> None:
    url = base_url.rstrip("/") + HEARTBEAT_PATH.format(camera_id=camera_id)
    try:
        response = await http.post(
            url,
            json={"camera_time": camera_time.isoformat()},
            headers={"Authorization": f"Bearer {token}"},
        )
    except httpx.TransportError as exc:  # the node is away (or stopping): the reads say so
        log.debug("camera %s: heartbeat failed: %s", camera_id, exc)
        return
    if not response.is_success:
        log.warning("camera %s: heartbeat refused with HTTP %d", camera_id, response.status_code)
