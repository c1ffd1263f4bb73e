"""The overview in a real headless Chromium against a real uvicorn server on a real node.

Needs the ``playwright`` package (test extra) and Debian's ``/usr/bin/chromium``; the browser
Playwright would download is never used. Missing either: skipped locally, a failure in CI.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.browser import base_url as base_url  # the real uvicorn server fixture
from tests.browser import browser_page, watch_for_problems
from tests.conftest import batch_json, read_json

if TYPE_CHECKING:
    from playwright.sync_api import Page

ACTIVE, SILENT = "pz5364-c001", "pz5352-c001"


@pytest.fixture
def page(base_url: str) -> Iterator[Page]:
    with browser_page(base_url, width=1400, height=900) as p:
        yield p


def post_reads(base_url: str, camera_id: str, token: str, n: int) -> None:
    reads = [read_json(f"ui-{i}", plate=f"1-UIT-{i:03d}") for i in range(n)]
    resp = httpx.post(
        f"{base_url}/api/v1/reads",
        content=batch_json(camera_id, reads),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert resp.status_code == 200, resp.text


def dot_classes(page: Page, camera_id: str) -> list[str]:
    return (page.get_attribute(f'circle[data-camera="{camera_id}"]', "class") or "").split()


def stat(page: Page, name: str) -> str:
    return page.inner_text(f'[data-stat="{name}"]')


def test_overview_goes_live_in_chromium(
    page: Page, base_url: str, tokens: dict[str, str], tmp_path: Path
) -> None:
    problems = watch_for_problems(page, base_url)

    page.goto("/")
    page.wait_for_selector("#live-state.ok")  # the first refresh came back
    assert stat(page, "reads_total") == "0"
    assert len(page.query_selector_all("svg.map circle[data-camera]")) == 2
    assert "cam-silent" in dot_classes(page, ACTIVE)

    post_reads(base_url, ACTIVE, tokens[ACTIVE], 20)
    page.wait_for_function(
        "() => Number(document.querySelector('[data-stat=reads_total]').textContent"
        ".replace(/\\D/g, '')) > 0"
    )
    page.wait_for_function(
        f"() => document.querySelector('circle[data-camera=\"{ACTIVE}\"]')"
        ".classList.contains('cam-active')"
    )
    assert stat(page, "reads_total") == "20"
    assert "cam-silent" not in dot_classes(page, ACTIVE)
    assert "cam-silent" in dot_classes(page, SILENT)
    assert "cam-active" not in dot_classes(page, SILENT)
    zone_row = '#zone-legend tr[data-zone="pz5364"]'
    assert page.inner_text(f'{zone_row} [data-field="reads_last_hour"]') == "20"
    silent = page.eval_on_selector_all(
        "#silent-cameras li", "lis => lis.map(li => li.dataset.camera)"
    )
    assert silent == [SILENT]
    assert page.inner_text("#processors").startswith("traffic_counts")
    assert float(stat(page, "reads_per_s")) >= 0
    assert "UIT" not in page.content()  # no plate reaches the page

    shot = tmp_path / "overview.png"
    page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000

    page.goto("/cameras")
    page.click("th:has-text('Reads last hour') button")  # ascending
    page.click("th:has-text('Reads last hour') button")  # descending
    first = page.get_attribute("#camera-table tbody tr:first-child", "data-camera")
    assert first == ACTIVE
    assert problems == []
