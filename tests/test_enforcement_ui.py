"""The enforcement dashboards in a real headless Chromium against a real uvicorn server on a
real node with seeded offences: the form opens them without a script, the SVG charts draw
the seeded figures (bars of the right heights, the stylesheet's colours: no inline style),
the tables list the top sections and entry cameras, and no plate reaches the page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from kruispunt.access.principals import Role
from kruispunt.enforcement.offences import OffenceStatus
from kruispunt.node import Node
from tests.browser import base_url as base_url  # the real uvicorn server fixture
from tests.browser import browser_page, watch_for_problems
from tests.conftest import make_camera
from tests.test_offences_api import CITY, DAYS, A, lez_offence, seed, speeding, user

if TYPE_CHECKING:
    from playwright.sync_api import Page

PERIOD = f"since={DAYS[0]}&until={DAYS[2]}"


@pytest.fixture
def page(base_url: str) -> Iterator[Page]:
    with browser_page(base_url, width=1300, height=900) as p:
        yield p


def token(node: Node, uid: str, zone: str, role: Role = Role.TRAFFIC_OFFICER) -> str:
    return user(node, uid, zone, role)["Authorization"].removeprefix("Bearer ")


@pytest.fixture
def seeded(node: Node) -> Node:
    node.upsert_cameras([
        make_camera("pz5345-lez01", zone=CITY, name="LEZ Noorderlaan"),
        make_camera("pz5345-lez02", zone=CITY, name="LEZ Kennedytunnel"),
    ])  # fmt: skip
    seed(node, [
        speeding(1, A, DAYS[0], kmh=81.0), speeding(2, A, DAYS[0], kmh=93.5, minute=5),
        speeding(3, A, DAYS[0], kmh=82.0, minute=9),
        speeding(4, A, DAYS[1], kmh=104.0, section="e34-west"),
        speeding(5, A, DAYS[2], kmh=79.0, status=OffenceStatus.CANCELLED),
        lez_offence(21, DAYS[0], fine=None), lez_offence(22, DAYS[0]),
        lez_offence(23, DAYS[1], camera="pz5345-lez02"), lez_offence(24, DAYS[2]),
        lez_offence(25, DAYS[2], fine=None),
    ])  # fmt: skip
    return node


def bars(page: Page, chart: str) -> list[tuple[str, int]]:
    return [
        (key, int(total))
        for key, total in page.eval_on_selector_all(
            f"svg#{chart} g.bar", "gs => gs.map(g => [g.dataset.key, g.dataset.total])"
        )
    ]


def heights(page: Page, chart: str) -> list[float]:
    """Each bar's drawn height on screen (its segments' boxes together)."""
    return [
        float(h)
        for h in page.eval_on_selector_all(
            f"svg#{chart} g.bar",
            "gs => gs.map(g => Array.from(g.querySelectorAll('rect'))"
            ".reduce((n, r) => n + r.getBoundingClientRect().height, 0))",
        )
    ]


def rows(page: Page, table: str) -> list[list[str]]:
    return [
        [c.strip() for c in cells]
        for cells in page.eval_on_selector_all(
            f"table#{table} tbody tr",
            "trs => trs.map(tr => Array.from(tr.cells).map(td => td.textContent))",
        )
    ]


def test_the_section_dashboard_draws_its_charts_from_the_form(
    page: Page, base_url: str, seeded: Node
) -> None:
    officer = token(seeded, "officer-a", A)
    problems = watch_for_problems(page, base_url)
    page.goto("/")
    page.click("header.top nav a:has-text('Enforcement')")
    page.wait_for_url(f"{base_url}/enforcement")
    page.fill("input[name=access_token]", officer)
    page.fill("input[name=since]", DAYS[0])
    page.fill("input[name=until]", DAYS[2])
    page.click("#open-sections")
    page.wait_for_selector("svg#per-day")
    assert page.title() == "Section control · Kruispunt"
    assert page.inner_text('[data-key="total"] dd') == "5"
    assert page.inner_text('[data-key="cancelled"] dd') == "1"

    assert bars(page, "per-day") == [(DAYS[0], 3), (DAYS[1], 1), (DAYS[2], 1)]
    drawn = heights(page, "per-day")
    assert drawn[0] > drawn[1] > 0 and drawn[1] == pytest.approx(drawn[2], abs=0.5)
    assert drawn[0] == pytest.approx(3 * drawn[1], rel=0.02)  # drawn to scale
    kinds = page.eval_on_selector_all(
        f'svg#per-day g.bar[data-key="{DAYS[2]}"] rect', "rs => rs.map(r => r.dataset.kind)"
    )
    assert kinds == ["cancelled"]
    # The colours come from the node's stylesheet (the CSP refuses inline styles).
    fill = page.eval_on_selector("svg#per-day rect.seg-fine", "r => getComputedStyle(r).fill")
    assert fill == "rgb(185, 28, 28)"

    # The live offences' measured speeds, per 5 km/h: 80, 80, 90 and 100.
    speeds = dict(bars(page, "speeds"))
    assert {k: v for k, v in speeds.items() if v} == {"80": 2, "90": 1, "100": 1}
    assert list(speeds) == ["80", "85", "90", "95", "100"]
    bins = dict(zip(speeds, heights(page, "speeds"), strict=True))
    assert bins["80"] == pytest.approx(2 * bins["90"], rel=0.02) and bins["85"] == 0
    assert "offences" in page.inner_text('[data-field="speeds-source"]')

    assert rows(page, "top") == [
        ["N12 n12-oost", "4", "3", "0", "93.5"],
        ["N12 e34-west", "1", "1", "0", "104.0"],
    ]
    assert rows(page, "categories") == [["speeding", "5"]]
    assert "1ABC" not in page.content()
    assert problems == []


def test_the_lez_dashboard_shows_warnings_against_fines_and_entry_cameras(
    page: Page, base_url: str, seeded: Node
) -> None:
    chief = token(seeded, "chief-city", CITY, Role.ZONE_CHIEF)
    problems = watch_for_problems(page, base_url)
    page.goto(f"/enforcement/lez?access_token={chief}&{PERIOD}")
    page.wait_for_selector("svg#per-day")
    assert page.title() == "Low-emission zone · Kruispunt"
    assert bars(page, "per-day") == [(DAYS[0], 2), (DAYS[1], 1), (DAYS[2], 2)]
    segments = page.eval_on_selector_all(
        f'svg#per-day g.bar[data-key="{DAYS[0]}"] rect',
        "rs => rs.map(r => r.dataset.kind + ':' + r.dataset.value)",
    )
    assert segments == ["fine:1", "warning:1"]
    assert rows(page, "warnings-fines") == [
        ["Warnings", "2", "40.0 %"], ["Fines", "3", "60.0 %"], ["Cancelled", "0", ""],
    ]  # fmt: skip
    widths = page.eval_on_selector_all(
        "svg#share rect", "rs => rs.map(r => r.getBoundingClientRect().width)"
    )
    assert widths[1] == pytest.approx(1.5 * widths[0], rel=0.02)
    assert rows(page, "top") == [
        ["LEZ Noorderlaan", "4", "2", "2"], ["LEZ Kennedytunnel", "1", "1", "0"],
    ]  # fmt: skip
    assert page.inner_text('[data-key="fines_eur"] dd') == "450"
    assert not page.is_visible("svg#speeds")
    assert "2LEZ" not in page.content()
    # On paper: the dashboard alone.
    page.emulate_media(media="print")
    assert not page.is_visible("header.top") and page.is_visible("svg#per-day")
    assert problems == []


def test_another_zones_officer_gets_no_lez_dashboard(
    page: Page, base_url: str, seeded: Node
) -> None:
    officer = token(seeded, "officer-a", A)
    resp = page.goto(f"/enforcement/lez?access_token={officer}&{PERIOD}")
    assert resp is not None and resp.status == 403
    assert "module_not_visible" in page.content() and "Noorderlaan" not in page.content()
