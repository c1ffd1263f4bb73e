"""``kruispunt demo`` and ``kruispunt simulate``: a node fed by the simulated province.

The simulator talks to the node over the same HTTP API and with the same per-camera tokens
as real cameras do (reads and heartbeats); the demo only wires both into one process for
convenience. So that camera health shows what an operator sees in production from the first
minute, the demo first writes three weeks of simulated traffic *counts* (no reads) for the
profiles to learn from, holds the health monitor until the two-hour back-fill is in, and lets
a few cameras of the simulated province fail (``DEMO_FAULTS``).
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
from kruispunt.health.profile import bucket_start
from kruispunt.node import Node
from kruispunt.processors.traffic_counts import BUCKET_US, Counts
from kruispunt.serve import Server, uvicorn_config
from kruispunt.sim.driver import DriveStats, drive, load_tokens
from kruispunt.sim.faults import Fault, Faults
from kruispunt.sim.heartbeats import send_heartbeats
from kruispunt.sim.history import simulated_counts
from kruispunt.sim.hotlist_seed import demo_hotlists, demo_users
from kruispunt.sim.layout import build_province_cameras
from kruispunt.sim.traffic import TrafficModel
from kruispunt.store.base import ReadStore

log = logging.getLogger(__name__)
console = Console(stderr=True)

PROVINCE_READS_PER_DAY = 3_000_000
BACKFILL = dt.timedelta(hours=2)
HISTORY_DAYS = 21  # camera health needs 14 days of a camera's counts before judging rates
HISTORY_CURSOR = "demo-simulated-history"  # the processor cursor its counts are written under
US_PER_DAY = 86_400_000_000

# What goes wrong in the simulated province (kruispunt.sim.faults), so that the camera health
# page and the operators' consoles show real alarms within minutes. ``after_s`` counts from
# the moment the demo starts feeding; the detectors' thresholds are the production ones.
DEMO_FAULTS = (
    # Already dirty during the back-fill: the last two hours (the detector's window) show it.
    Fault("pz5364-c032", "low_confidence", after_s=-3 * 3600.0, low_share=0.6,
          note="N132 Beersebaan, Lille: dirty lens, 60% of its reads under 0.7 confidence"),
    # Reads and heartbeats 45 s in the future: found from the arrivals in minutes.
    Fault("pz5355-c017", "clock_ahead", after_s=0.0, clock_offset_s=45.0,
          note="N12 Turnhoutsebaan, Schilde: clock 45 s ahead (lost its NTP server)"),
    # No heartbeat for heartbeat_timeout_s (2 min): lost at once, silent later.
    Fault("fedpol-c003", "offline", after_s=5 * 60.0,
          note="E19 (A1), Wuustwezel: power cut, neither reads nor heartbeats"),
    # The province's busiest camera: silent within 5 to 10 minutes by day, later at night.
    Fault("pz5345-c022", "silent", after_s=10 * 60.0,
          note="Pelikaanstraat, Antwerpen: recognition hangs, heartbeats go on"),
)  # fmt: skip


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


def _write_counts(counts: Counts) -> Callable[[ReadStore], None]:
    def write(store: ReadStore) -> None:
        # Through the traffic-count processors' own path, under a cursor of its own that
        # stays at 0: no read is counted, the counts are added as they are.
        store.commit_processor(HISTORY_CURSOR, 0, 0, counts)

    return write


def seed_count_history(
    node: Node, model: TrafficModel, *, until_us: int, days: int = HISTORY_DAYS, seed: int = 7
) -> int:
    """Write the simulated history of traffic counts (``kruispunt.sim.history``) of the
    ``days`` before ``until_us`` (a quarter-hour boundary), so camera health learns each
    camera's profile at once. No read is invented: counts only. A quarter hour that already
    has counts (an earlier demo run) keeps them. Returns the rows written."""
    if until_us % BUCKET_US:
        raise ValueError("until_us: a quarter-hour boundary")
    start = bucket_start(until_us - days * US_PER_DAY)
    have = {(c.camera_id, c.bucket_us) for c in node.store.traffic_counts(start)}
    written = 0
    for batch in simulated_counts(model, start_us=start, end_us=until_us, seed=seed, skip=have):
        node.writer.call(_write_counts(batch)).result()
        written += len(batch)
    return written


def start_health(node: Node, *, timeout_s: float = 60.0) -> None:
    """Start judging camera health once the back-fill is in (held until then: a tick during
    it would find every camera's last two hours half counted and alarm on all of them)."""
    deadline = time.monotonic() + timeout_s
    while any(r.lag() for r in node.runners) and time.monotonic() < deadline:
        time.sleep(0.2)  # the traffic-count processor counts the back-filled reads
    health = node.health
    health.start()
    # The back-filled reads still in the writer's tail give each camera's last read (sent
    # flagged as a back-fill, their arrival times are not taken as clock evidence).
    health.pull()
    health.relearn()
    health.tick()


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
            # Camera health: profiles learned from the simulated history of counts, then
            # every camera judged each minute (thresholds as in production).
            "health": {"enabled": True, "tick_s": 60.0},
        },
    )


def province_model(scale: float, misread_rate: float, seed: int) -> TrafficModel:
    return TrafficModel(
        build_province_cameras(seed),
        seed=seed,
        misread_rate=misread_rate,
        reads_per_day=max(1, round(PROVINCE_READS_PER_DAY * scale)),
    )


async def _feed(
    node: Node, url: str, tokens: dict[str, str], model: TrafficModel, faults: Faults
) -> None:
    """The cameras' heartbeats throughout; first the last two hours of reads at high speed
    (so the console has data at once), then camera health starts, then live."""
    beats = asyncio.create_task(send_heartbeats(url, tokens, faults))
    try:
        now = faults.live_start
        start = _at(bucket_start(_us(now - BACKFILL)))  # where the simulated counts stop
        stats = await drive(
            url, tokens, model, start=start, speed=240.0,
            duration_s=(now - start).total_seconds(),  # simulated seconds
            transform=faults.read, backfill=True,
        )  # fmt: skip
        console.print(f"back-filled the last 2 hours: {stats.stored} reads stored")
        await asyncio.to_thread(start_health, node)
        console.print("camera health: judging every camera each minute")
        await drive(
            url, tokens, model, start=dt.datetime.now(dt.UTC), speed=1.0, duration_s=None,
            transform=faults.read,
        )  # fmt: skip
    finally:
        beats.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beats


def _us(at: dt.datetime) -> int:
    return int(at.timestamp() * 1_000_000)


def _at(us: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(us / 1_000_000, dt.UTC)


def _print_faults(faults: tuple[Fault, ...]) -> None:
    console.print("  simulated faults (camera health alarms within minutes):")
    for f in faults:
        when = "from the start" if f.after_s <= 0 else f"after {f.after_s / 60:.0f} min"
        console.print(f"    {f.camera_id} ({f.kind}, {when}): {f.note}")


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
        model = province_model(scale, misread_rate, seed=7)
        # Held until the back-fill is in (``start_health``); the history comes first.
        node.health.stop()
        feed_start = dt.datetime.now(dt.UTC)
        t0 = time.monotonic()
        rows = seed_count_history(node, model, until_us=bucket_start(_us(feed_start - BACKFILL)))
        console.print(
            f"simulated history: {rows} quarter-hour counts of the last {HISTORY_DAYS} days "
            f"written in {time.monotonic() - t0:.1f} s (counts only, no reads)"
        )
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
        _print_faults(DEMO_FAULTS)
        faults = Faults(DEMO_FAULTS, live_start=feed_start)
        asyncio.run(_serve_and_feed(node, config, url, tokens, model, faults))
    finally:
        node.stop()


async def _serve_and_feed(
    node: Node,
    config: Config,
    url: str,
    tokens: dict[str, str],
    model: TrafficModel,
    faults: Faults,
) -> None:
    server = Server(uvicorn_config(create_app(node, manage_node=False), config))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving
            return
        await asyncio.sleep(0.05)
    feeding = asyncio.create_task(_feed(node, url, tokens, model, faults))
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
    model = province_model(scale, misread_rate, seed)
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
