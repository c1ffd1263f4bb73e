"""The camera health page in a real headless Chromium against a real uvicorn server: reached
from the navigation and its form, it lists every camera of the zone with its state, its
alarm and an SVG sparkline of its reads; the state filter shows only the cameras asked for,
without asking the node again; nothing leaves the node and the strict CSP holds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from kruispunt.access.principals import Role, User
from kruispunt.domain.reads import Read
from kruispunt.health.profile import bucket_start
from kruispunt.node import Node
from kruispunt.processors.traffic_counts import BUCKET_US
from kruispunt.store.base import ReadStore
from tests.browser import base_url as base_url  # the real uvicorn server fixture
from tests.browser import browser_page, watch_for_problems
from tests.conftest import make_camera
from tests.people import Clock

if TYPE_CHECKING:
    from playwright.sync_api import Page

A = "pz5364"
OK, SILENT, NEW = "pz5364-c201", "pz5364-c202", "pz5364-c203"
DAY = 86_400_000_000


@pytest.fixture
def page(base_url: str) -> Iterator[Page]:
    with browser_page(base_url, width=1300, height=900) as p:
        yield p


@pytest.fixture
def operator(node: Node) -> str:
    return node.users.create(User(id="op", name="op", zone_id=A, role=Role.OPERATOR), actor=None)


def seed(node: Node) -> None:
    """An ok camera (weeks of history, reads now), one whose heartbeat is lost, a new one."""
    node.upsert_cameras([make_camera(c, zone=A) for c in (OK, SILENT, NEW)])
    clock = Clock()
    node.health.clock = clock
    now = clock.us
    counts = {
        (OK, b): (30 + (b // BUCKET_US) % 7, 1, 0)
        for b in range(
            bucket_start(now) - 20 * DAY, bucket_start(now) + 2 * 3_600_000_000, BUCKET_US
        )
    }

    def commit(store: ReadStore) -> None:
        store.commit_processor("test-history", 0, 0, counts)

    node.writer.call(commit).result()
    node.health.heartbeat(SILENT)
    clock.us += 5 * 60_000_000
    node.health.heartbeat(OK)
    node.health.relearn()
    node.writer.submit_reads([
        Read(seq=0, read_id=f"ok-{i}", camera_id=OK, zone_id=A, captured_us=clock.us - i,
             received_us=clock.us, plate_raw="1-ABC-123", plate="1ABC123", country="BE",
             country_inferred=False, plate_format=None, confidence=0.9)
        for i in range(3)
    ]).result()  # fmt: skip
    events = node.health.tick()
    assert [(e.alarm.camera_id, e.alarm.kind) for e in events] == [(SILENT, "heartbeat_lost")]
    clock.us = time.time_ns() // 1000  # the page's "last read" ages against now


def test_the_page_lists_the_cameras_with_state_and_sparkline_and_filters(
    page: Page, base_url: str, node: Node, operator: str
) -> None:
    seed(node)
    problems = watch_for_problems(page, base_url)
    page.goto("/")
    page.click("header.top nav a:has-text('Health')")
    page.wait_for_url(f"{base_url}/camera-health")
    page.fill("input[name=access_token]", operator)
    page.click("#open-health")
    page.wait_for_selector("table#health-table")
    assert page.title() == "Camera health · Kruispunt"
    states = page.eval_on_selector_all(
        "#health-table tbody tr", "rows => rows.map(r => r.dataset.camera + ':' + r.dataset.state)"
    )
    assert f"{OK}:ok" in states and f"{SILENT}:alarm" in states and f"{NEW}:unknown" in states
    assert not any(s.startswith(("pz5369", "pz5355")) for s in states)  # not this zone's
    row = f'#health-table tr[data-camera="{SILENT}"]'
    assert "heartbeat lost" in page.inner_text(f"{row} .alarm")
    assert page.inner_text(f"{row} .badge") == "alarm"
    # Every row has its sparkline; the ok camera's line climbs and falls with its traffic.
    assert page.locator("#health-table svg.spark polyline").count() == len(states)
    points = page.get_attribute(f'#health-table tr[data-camera="{OK}"] polyline', "points")
    assert points is not None and len({p.split(",")[1] for p in points.split()}) > 3
    assert (
        page.evaluate(f"getComputedStyle(document.querySelector('{row} .badge')).backgroundColor")
        == "rgb(254, 226, 226)"
    )  # the stylesheet applies (CSP: only the node's own files)

    history = page.eval_on_selector_all(
        "#alarm-history tbody tr", "rows => rows.map(r => r.dataset.event + ':' + r.dataset.kind)"
    )
    assert history == ["raised:heartbeat_lost"]
    assert "learning: 0 of 14 days" in page.inner_text(f'#health-table tr[data-camera="{NEW}"]')

    page.select_option("#state-filter", "alarm")
    visible = page.eval_on_selector_all(
        "#health-table tbody tr", "rows => rows.filter(r => !r.hidden).map(r => r.dataset.camera)"
    )
    assert visible == [SILENT]
    assert page.inner_text("#shown") == "1 shown"
    page.select_option("#state-filter", "ok")
    assert page.is_visible(f'#health-table tr[data-camera="{OK}"]')
    assert not page.is_visible(f"{row}")
    page.select_option("#state-filter", "")
    assert page.locator("#health-table tbody tr:visible").count() == len(states)
    assert "1ABC" not in page.content()
    assert problems == []
