"""``kruispunt demo`` and ``kruispunt simulate``: a node fed by the simulated province.

The simulator talks to the node over the same HTTP API and with the same per-camera tokens
as real cameras do; the demo only wires both into one process for convenience.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from kruispunt.access.principals import Principal, Role
from kruispunt.api.app import create_app
from kruispunt.config import Config, load_config
from kruispunt.node import Node
from kruispunt.serve import Server, uvicorn_config
from kruispunt.sim.driver import DriveStats, drive, load_tokens
from kruispunt.sim.hotlist_seed import demo_hotlists, demo_users
from kruispunt.sim.layout import build_province_cameras
from kruispunt.sim.traffic import TrafficModel

log = logging.getLogger(__name__)
console = Console(stderr=True)

PROVINCE_READS_PER_DAY = 3_000_000
BACKFILL = dt.timedelta(hours=2)


def write_secret(path: Path, text: str) -> None:
    """Write a file only its owner can read, from the first byte on."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def seed_users_and_hotlists(node: Node, model: TrafficModel) -> dict[str, str]:
    """Demo users (operator, zone chief, investigator per zone; fresh tokens each start) and
    demo hotlists of simulated vehicles, so hits flow across zones. Returns user -> token."""
    admin = Principal(user_id="demo", zone_id="network", role=Role.ADMIN)
    tokens = {}
    for user in demo_users(list(node.zones)):
        if node.users.get(user.id) is None:
            tokens[user.id] = node.users.create(user, actor=admin)
        else:
            tokens[user.id] = node.users.issue_token(user.id, actor=admin)
    now_us = time.time_ns() // 1000
    for lst, entries in demo_hotlists(model, now_us=now_us):
        if node.hotlists.list_of(lst.id) is not None:
            continue  # kept from an earlier demo run
        node.hotlists.create_list(lst, actor=admin)
        for entry in entries:
            node.hotlists.add_entry(entry, actor=admin)
    return tokens


DEMO_PROCESSORS = (
    "traffic_counts",
    "hotlist_matcher",
    "section_control",
    "lez",
    "registry_checks",
)


def demo_config(data_dir: Path, port: int) -> Config:
    admin = os.environ.get("KRUISPUNT_ADMIN_TOKEN") or secrets.token_urlsafe(24)
    return load_config(
        None,
        overrides={
            "store": {"url": f"sqlite:///{data_dir.resolve()}/kruispunt.sqlite"},
            "server": {"port": port, "admin_token": admin},
            # The simulated province has section-control pairs and the Antwerp LEZ: run
            # traffic enforcement and the registry checks on their fakes.
            "processors": {"enabled": DEMO_PROCESSORS},
            # Camera health: learning from the back-filled counts, then judging each minute.
            "health": {"enabled": True, "tick_s": 60.0},
        },
    )


def _model(scale: float, misread_rate: float, seed: int) -> TrafficModel:
    return TrafficModel(
        build_province_cameras(seed),
        seed=seed,
        misread_rate=misread_rate,
        reads_per_day=max(1, round(PROVINCE_READS_PER_DAY * scale)),
    )


async def _feed(
    url: str, tokens: dict[str, str], model: TrafficModel, after_backfill: Callable[[], None]
) -> None:
    """First the last two hours at high speed (so the console has data at once), then live."""
    now = dt.datetime.now(dt.UTC)
    backfill_speed = 240.0
    stats = await drive(
        url, tokens, model, start=now - BACKFILL, speed=backfill_speed,
        duration_s=BACKFILL.total_seconds(),  # simulated seconds
    )  # fmt: skip
    console.print(f"back-filled the last 2 hours: {stats.stored} reads stored")
    after_backfill()
    await drive(url, tokens, model, start=dt.datetime.now(dt.UTC), speed=1.0, duration_s=None)


def run_demo(*, port: int, data_dir: Path, scale: float, misread_rate: float) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    config = demo_config(data_dir, port)
    node = Node(config)
    node.start()
    try:
        cameras = build_province_cameras()
        node.upsert_cameras(cameras)
        tokens = {c.id: node.issue_token(c.id) for c in cameras}
        tokens_file = data_dir / "camera-tokens.json"
        write_secret(tokens_file, json.dumps(tokens, indent=1))
        url = f"http://127.0.0.1:{port}"
        model = _model(scale, misread_rate, seed=7)
        users_file = data_dir / "user-tokens.json"
        write_secret(users_file, json.dumps(seed_users_and_hotlists(node, model), indent=1))
        console.print(
            f"[bold]Kruispunt demo[/bold]: {len(cameras)} simulated cameras on {url}\n"
            f"  store: {config.store.url}\n  camera tokens: {tokens_file}\n"
            f"  operator console: {url}/console (user tokens: {users_file})\n"
            f"  investigation: {url}/investigate (an investigator's token from the same file)\n"
            f"  oversight reports: {url}/reports\n"
            f"  camera health: {url}/camera-health (an operator's token)\n"
            f"  admin token (registry changes): {config.server.admin_token}\n"
            "  Ctrl-C stops."
        )
        asyncio.run(_serve_and_feed(node, config, url, tokens, model))
    finally:
        node.stop()


async def _serve_and_feed(
    node: Node, config: Config, url: str, tokens: dict[str, str], model: TrafficModel
) -> None:
    server = Server(uvicorn_config(create_app(node, manage_node=False), config))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving
            return
        await asyncio.sleep(0.05)
    # A back-fill arrives hours after capture: camera health judges clocks on live uploads.
    feeding = asyncio.create_task(_feed(url, tokens, model, node.health.tracker.forget_arrivals))
    try:
        await serving
    finally:
        feeding.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feeding


def run_simulation(
    *,
    url: str,
    tokens_file: Path,
    speed: float,
    scale: float,
    duration_s: float | None,
    misread_rate: float,
    seed: int,
) -> DriveStats:
    tokens = load_tokens(tokens_file)
    model = _model(scale, misread_rate, seed)
    start = dt.datetime.now(dt.UTC)
    if speed > 1.0 and duration_s is not None:
        # Replay the past at speed (duration_s is simulated time) so no capture lies in the
        # node's future.
        start -= dt.timedelta(seconds=duration_s)
    stats = asyncio.run(
        drive(url.rstrip("/"), tokens, model, start=start, speed=speed, duration_s=duration_s)
    )
    console.print(f"simulation done: {stats}")
    return stats
