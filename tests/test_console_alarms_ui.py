"""Camera alarms in the operator console, in a real headless Chromium against a real uvicorn
server on a real node: the health monitor (driven with a settable clock and direct ticks, as
in ``test_health_monitor``) raises a silence alarm for a camera; it appears, announced, in the
console of an operator of the zone that manages the camera and in no other zone's console;
when the camera reads again it is shown cleared; a console opened later shows only the open
alarms of its own zone (from the alarm history, as the stream does not replay them)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from kruispunt.domain.reads import Read
from kruispunt.health.profile import bucket_start
from kruispunt.node import Node
from kruispunt.processors.traffic_counts import BUCKET_US
from kruispunt.store.base import ReadStore
from tests.browser import browser_page as open_page
from tests.browser import watch_for_problems
from tests.conftest import make_camera
from tests.people import Clock
from tests.test_console_ui import log_in
from tests.test_live_api import Live, running_live

if TYPE_CHECKING:
    from playwright.sync_api import Page

SECOND = 1_000_000
MINUTE = 60 * SECOND
DAY = 86_400 * SECOND
A, B = "pz5364", "pz5352"
CAM_A, CAM_B = "pz5364-c301", "pz5352-c301"


@pytest.fixture
def console(node: Node) -> Iterator[Live]:
    with running_live(node) as running:
        yield running


@pytest.fixture
def pages(console: Live) -> Iterator[tuple[Page, Page]]:
    """Two consoles in one Chromium: Turnhout's operator's and Brasschaat's."""
    with open_page(console.base, width=1400, height=1000) as first:
        browser = first.context.browser
        assert browser is not None
        second = browser.new_page(viewport={"width": 1400, "height": 1000}, base_url=console.base)
        second.set_default_timeout(10_000)
        yield first, second


def history(node: Node, now: int) -> None:
    """Three weeks of steady traffic for both cameras (and the next hours)."""
    counts = {
        (cam, b): (40, 1, 0)
        for cam in (CAM_A, CAM_B)
        for b in range(bucket_start(now) - 21 * DAY, bucket_start(now) + 3 * 3600 * SECOND,
                       BUCKET_US)
    }  # fmt: skip

    def commit(store: ReadStore) -> None:
        store.commit_processor("test-history", 0, 0, counts)

    node.writer.call(commit).result()


def feed(node: Node, cam: str, zone: str, at_us: int, tag: str) -> None:
    node.writer.submit_reads([
        Read(seq=0, read_id=f"{tag}-{i}", camera_id=cam, zone_id=zone,
             captured_us=at_us - (i + 1) * SECOND, received_us=at_us - i * SECOND,
             plate_raw=f"1-ABC-{i:03d}", plate=f"1ABC{i:03d}", country="BE",
             country_inferred=False, plate_format=None, confidence=0.9)
        for i in range(10)
    ]).result()  # fmt: skip


def alarm(cam: str, state: str = "raised") -> str:
    return f'#alarms li[data-camera="{cam}"][data-state="{state}"]'


def test_a_camera_alarm_reaches_the_managing_zones_console_only_and_is_shown_cleared(
    pages: tuple[Page, Page], console: Live
) -> None:
    turnhout, brasschaat = pages
    node = console.node
    node.upsert_cameras([
        make_camera(CAM_A, zone=A, manager="PZ Regio Turnhout", name="Grote Markt, Turnhout"),
        make_camera(CAM_B, zone=B, manager="PZ Brasschaat", name="Bredabaan, Brasschaat"),
    ])  # fmt: skip
    clock = Clock()
    node.health.clock = clock
    t0 = clock.us
    history(node, t0)
    node.health.relearn(t0)
    feed(node, CAM_A, A, t0, "a0")
    feed(node, CAM_B, B, t0, "b0")
    assert node.health.tick() == []

    problems = watch_for_problems(turnhout, console.base)
    problems += watch_for_problems(brasschaat, console.base)
    log_in(turnhout, console.tokens["op-t"])
    log_in(brasschaat, console.tokens["op-b"])
    for page in pages:
        assert page.is_visible("#camera-alarms") and page.is_visible("#no-alarms")
        assert page.get_attribute("#alarm-announce", "aria-live") == "polite"

    # Half an hour without a read where 40 a quarter hour are usual: both cameras silent.
    clock.us = t0 + 30 * MINUTE
    raised = node.health.tick()
    assert sorted((e.alarm.camera_id, e.alarm.kind) for e in raised) == [
        (CAM_B, "silence"), (CAM_A, "silence"),
    ]  # fmt: skip
    item = alarm(CAM_A)
    turnhout.wait_for_selector(item)
    assert turnhout.inner_text(f"{item} .alarm-kind") == "Silent"
    assert turnhout.inner_text(f"{item} .alarm-severity") == "critical"
    assert turnhout.inner_text(f"{item} .alarm-camera") == f"{CAM_A} · Grote Markt, Turnhout"
    assert "no read for 30.0 min" in turnhout.inner_text(f"{item} .alarm-explanation")
    since = turnhout.get_attribute(f"{item} time.alarm-since", "datetime")
    assert since is not None and since.endswith("Z")
    assert turnhout.inner_text("#alarm-count") == "(1 open)"
    assert not turnhout.is_visible("#no-alarms")
    turnhout.wait_for_function(
        "cam => document.getElementById('alarm-announce').textContent.includes(cam)", arg=CAM_A
    )
    assert turnhout.inner_text("#alarm-announce").startswith("Camera alarm: Silent, critical")
    # Each zone hears of the cameras it manages, and of no other.
    brasschaat.wait_for_selector(alarm(CAM_B))
    assert brasschaat.query_selector(f'#alarms li[data-camera="{CAM_A}"]') is None
    assert turnhout.query_selector(f'#alarms li[data-camera="{CAM_B}"]') is None
    assert turnhout.locator("#alarms li").count() == 1

    # A's camera reads again: its alarm is shown cleared, in place; B's stays open.
    clock.us += MINUTE
    feed(node, CAM_A, A, clock.us, "a1")
    cleared = node.health.tick()
    assert [(e.event, e.alarm.camera_id) for e in cleared] == [("cleared", CAM_A)]
    turnhout.wait_for_selector(alarm(CAM_A, "cleared"))
    assert turnhout.inner_text(f"{alarm(CAM_A, 'cleared')} .alarm-cleared").startswith("· cleared")
    turnhout.wait_for_function(
        "() => document.getElementById('alarm-announce').textContent.includes('cleared')"
    )
    assert turnhout.inner_text("#alarm-count") == ""
    assert turnhout.locator("#alarms li").count() == 1

    # A console opened later shows the open alarms of its own zone only (from the history).
    brasschaat.reload()
    brasschaat.wait_for_selector("#conn-state.conn-live")
    brasschaat.wait_for_selector(alarm(CAM_B))
    assert brasschaat.locator("#alarms li").count() == 1
    assert brasschaat.inner_text("#alarm-announce") == ""  # nothing new: nothing announced
    turnhout.reload()
    turnhout.wait_for_selector("#conn-state.conn-live")
    turnhout.wait_for_load_state("networkidle")
    assert turnhout.locator("#alarms li").count() == 0 and turnhout.is_visible("#no-alarms")
    assert "1ABC" not in turnhout.content() + brasschaat.content()
    assert problems == []
