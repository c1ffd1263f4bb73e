"""The printable reports in a real headless Chromium against a real uvicorn server: the
form opens them without a script, the tables hold the figures, and on paper (print media,
and a PDF printed by Chromium) the page is the report alone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from kruispunt.access.principals import Role, User
from kruispunt.node import Node
from tests.browser import base_url as base_url  # the real uvicorn server fixture
from tests.browser import browser_page, watch_for_problems
from tests.test_oversight import LAST, SINCE, seed_figures, seed_patterns

if TYPE_CHECKING:
    from playwright.sync_api import Page


@pytest.fixture
def page(base_url: str) -> Iterator[Page]:
    with browser_page(base_url, width=1300, height=900) as p:
        yield p


@pytest.fixture
def auditor(node: Node) -> str:
    user = User(id="aud", name="Auditor", zone_id="network", role=Role.AUDITOR)
    return node.users.create(user, actor=None)


def period() -> str:
    return f"since={SINCE.isoformat()}&until={LAST.isoformat()}"


def cell(page: Page, table: str, key: str, column: int = 2) -> str:
    return page.inner_text(f'#{table} tr[data-key="{key}"] td:nth-child({column})').strip()


def test_the_transparency_report_renders_and_prints(
    page: Page, base_url: str, node: Node, auditor: str
) -> None:
    seed_figures(node)
    problems = watch_for_problems(page, base_url)
    page.goto(f"/reports/transparency?access_token={auditor}&{period()}")
    assert page.title() == "Transparency report · Kruispunt"
    assert "the whole node" in page.inner_text('[data-field="zone"]')
    assert node.law.name in page.inner_text('[data-field="jurisdiction"]')
    for table in ("summary", "cameras", "hits-category", "hits-status", "consultations-purpose",
                  "consultations-refused", "access", "purges", "logins"):  # fmt: skip
        assert page.is_visible(f"table#{table}"), table
    assert cell(page, "cameras", "pz5364", 4) == "150"
    assert cell(page, "consultations-purpose", "judicial_police") == "4"
    assert cell(page, "consultations-refused", "nothing_readable") == "1"
    assert cell(page, "hits-category", "stolen_vehicle") == "2"
    assert cell(page, "access", "grants.requested", 3) == "1"
    assert page.locator("#purges tbody tr").count() == 2
    assert "1ABC123" not in page.content()

    # On screen: the node's header and the report's panels.
    block = "document.querySelector('.block')"
    assert page.is_visible("header.top")
    assert page.evaluate(f"getComputedStyle({block}).borderTopWidth") == "1px"
    # On paper: the report alone, tables without panels, their header rows repeated.
    page.emulate_media(media="print")
    assert not page.is_visible("header.top")
    assert page.evaluate(f"getComputedStyle({block}).borderTopWidth") == "0px"
    assert page.evaluate("getComputedStyle(document.querySelector('thead')).display") == (
        "table-header-group"
    )
    assert page.is_visible("table#consultations-purpose")
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
    assert problems == []


def test_the_form_opens_the_abuse_report_without_a_script(
    page: Page, base_url: str, node: Node, auditor: str
) -> None:
    seed_patterns(node)
    problems = watch_for_problems(page, base_url)
    page.goto("/")
    page.click("header.top nav a:has-text('Reports')")
    page.wait_for_url(f"{base_url}/reports")
    page.fill("input[name=access_token]", auditor)
    page.fill("input[name=since]", SINCE.isoformat())
    page.fill("input[name=until]", LAST.isoformat())
    page.click("#open-abuse")
    page.wait_for_selector("table#flags")
    assert page.title() == "Abuse report · Kruispunt"
    kinds = page.eval_on_selector_all(
        "#flags tbody tr", "rows => rows.map(r => r.dataset.kind + ':' + r.dataset.user)"
    )
    assert sorted(kinds) == [
        "off_hours_bulk:owl-b", "outlying_rate:busy-a", "single_use_cases:maker-b",
        "wide_wildcard:wild-a",
    ]  # fmt: skip
    assert "75.0 a day" in page.inner_text('#flags tr[data-kind="outlying_rate"] .explanation')
    assert page.locator("table#thresholds tbody tr").count() > 10
    page.emulate_media(media="print")
    assert not page.is_visible("header.top") and page.is_visible("table#flags")
    assert problems == []
