"""The investigation page (``/investigate``) in a real headless Chromium against a real uvicorn
server on a real node with seeded reads: the reason dialog first, the server's refusals shown
there or in the search's panel, the plate timeline with its map and pages, a partial search,
the period the law cuts, place and time (counts first), multi-site, convoy, journey and the
exports as downloaded files.

One node, one server and one browser for the module (they only read what is seeded here);
each test has its own browser context, so its own sign-in and session storage. Same browser
rules as ``test_web_ui``: Debian's ``/usr/bin/chromium`` through Playwright; missing, skipped
locally and a failure in CI.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from kruispunt.access.principals import Principal, Role, User
from kruispunt.domain.cameras import Purpose
from kruispunt.domain.reads import Read
from kruispunt.node import Node
from tests.browser import chromium, serving, watch_for_problems
from tests.conftest import make_camera, make_config

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

S = 1_000_000
MIN = 60 * S
HOUR = 60 * MIN
DAY = 24 * HOUR
A, B = "pz5364", "pz5352"
C1, C2, C3, FAR, B1 = "pz5364-c001", "pz5364-c002", "pz5364-c003", "pz5364-c009", "pz5352-c001"
LEZ_CAM = "pz5364-c030"  # a city's low-emission-zone camera: no police purpose
PLATE, FOLLOWER, OTHER = "1ABC123", "2FOL999", "1ABD12"
CASE = "TU.12.LB.001234/25"
REASON = "ANPR trail of the getaway car of the robbery in Turnhout on 3 May"
PASSWORD = "correct horse battery staple 42"


@dataclass(frozen=True)
class Seeded:
    base: str
    node: Node
    token: str
    t: int
    """Start of the plate's first trip (five hours ago)."""
    now: int


def _read(n: int, plate_raw: str, camera: str, at_us: int) -> Read:
    zone = B if camera.startswith(B) else A
    plate = plate_raw.replace("-", "")
    return Read(
        0, f"ui-{n}", camera, zone, at_us, at_us + S, plate_raw, plate, "BE", False,
        "BE.current", 0.93, "approaching", 1, "car", "Volkswagen", "grey", None,
    )  # fmt: skip


def seed(node: Node) -> tuple[int, int]:
    """Cameras a kilometre apart on a north-south road (one far away, one in a zone the
    investigator is not granted) and the reads of a plate, its follower and a look-alike."""
    node.upsert_cameras([
        make_camera(C1), make_camera(C2, lat=51.3317), make_camera(C3, lat=51.3407),
        make_camera(FAR, lat=51.2000, lon=4.4000), make_camera(B1, zone=B),
        make_camera(LEZ_CAM, lat=51.3250, purposes=(Purpose.LEZ,)),
    ])  # fmt: skip
    now = node.policy.now()
    t = now - 5 * HOUR
    target = [
        (C1, t), (C2, t + MIN), (C3, t + 2 * MIN),  # trip 1, 60 km/h
        (C3, t + 3 * HOUR), (FAR, t + 3 * HOUR + 2 * MIN),  # trip 2, implausibly fast
        (C1, now - DAY), (C2, now - 2 * DAY),
    ]  # fmt: skip
    reads = [_read(i, "1-ABC-123", cam, at) for i, (cam, at) in enumerate(target)]
    reads += [_read(100 + i, "2-FOL-999", cam, at + 20 * S) for i, (cam, at) in enumerate(target)]
    reads += [
        _read(200, "1-ABD-12", C2, t + 5 * MIN),
        _read(201, "1-ABC-123", B1, now - HOUR),  # another zone's: never shown
        _read(202, "1-ABC-123", C1, now - 28 * DAY),  # readable only for a judicial purpose
        _read(203, "1-ABC-123", LEZ_CAM, t + 10 * MIN),  # purpose limitation: never shown
    ]
    node.writer.call(lambda store: store.append(reads)).result()
    return t, now


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    node = Node(make_config(tmp_path_factory.mktemp("investigate"), images={"store": "memory"}))
    node.start()
    try:
        t, now = seed(node)
        token = node.users.create(
            User(id="inv-a", name="Investigator A", zone_id=A, role=Role.INVESTIGATOR), actor=None
        )
        admin = Principal(user_id="admin", zone_id="network", role=Role.ADMIN)
        node.sessions.set_password("inv-a", PASSWORD, actor=admin)
        with serving(node) as base:
            yield Seeded(base, node, token, t, now)
    finally:
        node.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser: Browser, seeded: Seeded) -> Iterator[Page]:
    # UTC: the page shows and takes the computer's local time; the test computes in UTC.
    context = browser.new_context(
        base_url=seeded.base, timezone_id="UTC", viewport={"width": 1400, "height": 1000},
        accept_downloads=True,
    )  # fmt: skip
    try:
        p = context.new_page()
        p.set_default_timeout(10_000)
        yield p
    finally:
        context.close()


# -- helpers --------------------------------------------------------------------------------
def local(us: int) -> str:
    """A capture time as the page's datetime-local fields take it (the browser is in UTC)."""
    return dt.datetime.fromtimestamp(us / S, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def shown(us: int) -> str:
    return dt.datetime.fromtimestamp(us / S, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def sign_in_with_token(page: Page, token: str) -> None:
    page.goto("/investigate")
    page.fill("#token-input", token)
    page.click("#token-form button[type=submit]")
    page.wait_for_selector("#why-dialog[open]")


def answer(page: Page, reason: str = REASON, case: str = CASE) -> None:
    page.select_option("#why-purpose-input", "judicial_police")
    page.fill("#why-case-input", case)
    page.fill("#why-reason-input", reason)
    page.click("#why-ok")


def ready(page: Page, seeded: Seeded) -> list[str]:
    problems = watch_for_problems(page, seeded.base)
    sign_in_with_token(page, seeded.token)
    answer(page)
    page.wait_for_selector("#work", state="visible")
    return problems


def unexpected(problems: list[str]) -> list[str]:
    """The problems, less the refusals a test asks for (Chromium logs each 4xx answer)."""
    refusal = "Failed to load resource: the server responded with a status of 4"
    return [p for p in problems if refusal not in p]


def rows(page: Page, table: str) -> list[list[str]]:
    found: list[list[str]] = page.eval_on_selector_all(
        f"{table} tbody > tr",
        "trs => trs.map(tr => Array.from(tr.children, td => td.textContent.trim()))",
    )
    return found


def wait_rows(page: Page, table: str, n: int) -> None:
    page.wait_for_function(
        "([sel, n]) => document.querySelectorAll(sel + ' tbody > tr').length === n", arg=[table, n]
    )


def search_plate(page: Page, plate: str, **fields: Any) -> None:
    page.fill("#plate-form [name=plate]", plate)
    for name, value in fields.items():
        page.fill(f"#plate-form [name={name}]", str(value))
    page.click("#plate-form button[type=submit]")


def map_cameras(page: Page) -> list[str]:
    found: list[str] = page.eval_on_selector_all(
        ".inv-map circle.inv-point", "cs => cs.map(c => c.dataset.camera)"
    )
    return found


# -- the reason dialog ----------------------------------------------------------------------
def test_the_reason_dialog_comes_first_and_a_vague_reason_is_refused_by_the_node(
    page: Page, seeded: Seeded
) -> None:
    problems = watch_for_problems(page, seeded.base)
    page.goto("/investigate")
    assert page.is_visible("#signin") and page.is_hidden("#work")
    page.fill("#signin-user", "inv-a")
    page.fill("#signin-password", PASSWORD)
    page.click("#signin-form button[type=submit]")

    # Signed in: the dialog is open and modal, and no search form can be reached.
    page.wait_for_selector("#why-dialog[open]")
    assert page.eval_on_selector("#why-dialog", "d => d.matches(':modal')")
    assert page.is_hidden("#work") and page.is_hidden("#plate-form")
    assert "inv-a" in page.inner_text("#whoami")
    # An investigator cannot pick a purpose of another role.
    assert page.is_disabled("#why-purpose-input option[value=traffic_enforcement]")
    assert page.is_enabled("#why-purpose-input option[value=judicial_police]")

    # Empty answers are stopped here; anything else is the node's to judge.
    page.click("#why-ok")
    assert "Give a purpose, a case number and a reason" in page.inner_text("#why-error")
    assert page.is_visible("#why-dialog") and page.is_hidden("#work")
    answer(page, reason="onderzoek")
    page.wait_for_selector("#work", state="visible")
    assert page.is_hidden("#why-dialog")
    assert page.inner_text("#why-case") == CASE and page.inner_text("#why-reason") == "onderzoek"

    search_plate(page, "1-ABC-123")
    page.wait_for_selector("#why-dialog[open]")  # the node refused: the dialog again
    message = page.inner_text("#why-error")
    assert message.startswith("The node refused:") and "reason" in message
    assert page.get_attribute("#why-reason-input", "aria-invalid") == "true"
    assert page.evaluate("document.activeElement.id") == "why-reason-input"
    assert "vague_reason" in page.inner_text("#plate-error")
    assert page.locator("#plate-table tbody tr").count() == 0

    # A proper reason: the interrupted search runs with it.
    page.fill("#why-reason-input", REASON)
    page.click("#why-ok")
    wait_rows(page, "#plate-table", 7)
    assert page.inner_text("#why-reason") == REASON
    assert page.inner_text("#plate-error") == ""

    page.click("#why-change")  # the answers can be changed at any time
    page.wait_for_selector("#why-dialog[open]")
    assert page.input_value("#why-case-input") == CASE
    page.click("#why-cancel")
    assert page.is_hidden("#why-dialog") and page.is_visible("#work")

    page.click("#signout")
    assert page.is_visible("#signin") and page.is_hidden("#work")
    assert page.locator("#plate-table tbody tr").count() == 0  # nothing left for the next one
    assert unexpected(problems) == []


# -- plate search ---------------------------------------------------------------------------
def test_a_plate_search_shows_the_timeline_the_map_and_the_next_pages(
    page: Page, seeded: Seeded
) -> None:
    problems = ready(page, seeded)
    search_plate(page, "1-abc-123", limit=3)
    wait_rows(page, "#plate-table", 3)
    assert page.is_visible("#plate-more")
    page.click("#plate-more")
    wait_rows(page, "#plate-table", 6)
    page.click("#plate-more")
    wait_rows(page, "#plate-table", 7)
    assert page.is_hidden("#plate-more")

    table = rows(page, "#plate-table")
    t, now = seeded.t, seeded.now
    times = [
        now - 2 * DAY,
        now - DAY,
        t,
        t + MIN,
        t + 2 * MIN,
        t + 3 * HOUR,
        t + 3 * HOUR + 2 * MIN,
    ]
    assert [r[1] for r in table] == [str(i) for i in range(1, 8)]
    assert [r[2] for r in table] == [shown(x) for x in times]  # oldest first
    assert [r[3].split(" · ")[0] for r in table] == [C2, C1, C1, C2, C3, C3, FAR]
    first = table[0]
    assert first[4] == f"PZ Regio Turnhout ({A})" and first[5] == "approaching"
    assert first[6] == "1-ABC-123" and first[7] == "exact" and first[8] == "93%"
    assert B1 not in json.dumps(table)  # the zone not granted never shows
    assert "7 reads of plate 1ABC123" in page.inner_text("#plate-summary")
    assert "The whole period asked for was searched." in page.inner_text("#plate-decision")

    # The map: one numbered point per camera, the route in time order, zoomed on them.
    assert sorted(map_cameras(page)) == sorted([C1, C2, C3, FAR])
    assert page.locator(".inv-map polyline.inv-route").count() == 1
    box = page.get_attribute(".inv-map svg.map", "viewBox") or ""
    assert float(box.split()[2]) < 1000
    assert "4 cameras of the plate search" in page.inner_text("#map-note")
    # Each tab has its own map.
    page.click("#tab-journey")
    assert map_cameras(page) == []
    page.click("#tab-plate")
    assert len(map_cameras(page)) == 4
    assert problems == []


def test_a_partial_search_and_what_the_law_cuts_from_the_period(page: Page, seeded: Seeded) -> None:
    problems = ready(page, seeded)
    search_plate(page, "1-AB?-12*", limit=50)
    wait_rows(page, "#plate-table", 8)
    table = rows(page, "#plate-table")
    assert {r[6] for r in table} == {"1-ABC-123", "1-ABD-12"}
    assert {r[7] for r in table} == {"pattern"}
    assert "partial plate 1AB?12*" in page.inner_text("#plate-summary")

    # Four weeks back is readable for this purpose; beyond the first month it needs the
    # prosecutor: the reads come back, and the part cut is said plainly.
    now = seeded.now
    page.fill("#plate-form [name=since]", local(now - 35 * DAY))
    page.fill("#plate-form [name=until]", local(now - 25 * DAY))
    search_plate(page, "1ABC123")
    wait_rows(page, "#plate-table", 1)
    assert rows(page, "#plate-table")[0][2] == shown(now - 28 * DAY)
    cut = page.inner_text("#plate-decision .cut-box")
    assert "Part of the period was NOT searched" in cut and "prosecutor" in cut
    codes = page.eval_on_selector_all(
        "#plate-decision .cut-box li", "lis => lis.map(li => li.dataset.code)"
    )
    assert codes == ["authorisation_required"]
    assert page.eval_on_selector("#plate-decision", "d => d.classList.contains('incomplete')")

    # A wide search needs a supervisor's approval: the dialog asks for it.
    page.fill("#plate-form [name=since]", local(now - 27 * DAY))
    page.fill("#plate-form [name=until]", local(now))
    search_plate(page, "1ABC123")
    page.wait_for_selector("#why-dialog[open]")
    assert "days" in page.inner_text("#why-error")
    assert page.evaluate("document.activeElement.id") == "why-approval-input"
    page.click("#why-cancel")
    assert "approval_required" in page.inner_text("#plate-error")
    assert unexpected(problems) == []


def test_a_zone_not_granted_is_refused_and_the_refusal_shown(page: Page, seeded: Seeded) -> None:
    problems = ready(page, seeded)
    page.click("#plate-form summary")
    page.select_option("#plate-form select[name=zones]", [B])
    search_plate(page, "1ABC123")
    page.wait_for_selector("#plate-error:not(:empty)")
    error = page.inner_text("#plate-error")
    assert "zone_not_visible" in error and B in error
    assert page.is_hidden("#why-dialog")  # not a matter of the reason
    assert page.is_hidden("#plate-results")

    # A camera of that zone named among others: the others are searched, and the page says
    # which were not.
    page.select_option("#plate-form select[name=zones]", [])
    page.select_option("#plate-form select[name=cameras]", [C1, B1])
    search_plate(page, "1ABC123")
    page.wait_for_selector("#plate-results", state="visible")
    assert {r[3].split(" · ")[0] for r in rows(page, "#plate-table")} == {C1}
    assert B1 in page.inner_text("#plate-decision .not-visible")
    assert page.inner_text("#plate-error") == ""
    assert unexpected(problems) == []


def test_the_exports_download_the_search(page: Page, seeded: Seeded, tmp_path: Path) -> None:
    problems = ready(page, seeded)
    search_plate(page, "1ABC123", limit=2)  # one page on screen; the files hold the search
    wait_rows(page, "#plate-table", 2)

    with page.expect_download() as csv_download:
        page.click("#export-csv")
    download = csv_download.value
    assert download.suggested_filename.endswith(".csv")
    path = tmp_path / "export.csv"
    download.save_as(path)
    exported = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert len(exported) == 7
    assert {r["plate"] for r in exported} == {PLATE}
    assert {r["camera_id"] for r in exported} == {C1, C2, C3, FAR}
    page.wait_for_selector("#plate-status:has-text('Downloaded')")

    with page.expect_download() as geo_download:
        page.click("#export-geojson")
    geo = json.loads(Path(geo_download.value.path()).read_text(encoding="utf-8"))
    assert geo["type"] == "FeatureCollection" and len(geo["features"]) == 7

    page.check("#plate-table tbody tr:first-child .evidence-pick")  # only the ticked read
    with page.expect_download() as zip_download:
        page.click("#export-evidence")
    names = zipfile.ZipFile(zip_download.value.path()).namelist()
    assert zip_download.value.suggested_filename.endswith(".zip")
    assert len([n for n in names if n.endswith("/read.json")]) == 1
    assert problems == []


# -- place and time, multi-site, convoy, journey ---------------------------------------------
def test_place_and_time_gives_the_counts_first_then_the_list(page: Page, seeded: Seeded) -> None:
    problems = ready(page, seeded)
    page.click("#tab-place")
    t = seeded.t
    page.fill("#place-form [name=since]", local(t - 10 * MIN))
    page.fill("#place-form [name=until]", local(t + 30 * MIN))
    page.select_option("#place-form select[name=cameras]", [C1, C2])
    page.fill("#place-form [name=limit]", "2")
    page.click("#place-form button[type=submit]")
    page.wait_for_selector("#place-results", state="visible")
    assert page.inner_text("#place-counts").startswith("5 reads of 3 vehicles")
    assert [r[0].split(" · ")[0] for r in rows(page, "#place-cameras")] == [C1, C2]
    assert page.is_hidden("#place-vehicles")  # counts first: no plate yet
    assert PLATE not in page.inner_text("#panel-place")
    assert sorted(map_cameras(page)) == [C1, C2]

    page.click("#place-list")
    wait_rows(page, "#place-vehicles", 2)
    page.click("#place-more")
    wait_rows(page, "#place-vehicles", 3)
    assert page.is_hidden("#place-more")
    listed = rows(page, "#place-vehicles")
    assert [r[0] for r in listed] == [PLATE, FOLLOWER, OTHER]  # first seen first
    assert listed[0][2] == "2" and listed[0][5] == f"{C1}, {C2}"

    # Above the node's cap the list is withheld, and the page says why; the counts stay.
    search = seeded.node.search
    config = search.config
    search.config = config.model_copy(update={"place_time_list_max": 2})
    try:
        page.click("#place-list")
        page.wait_for_selector("#place-withheld", state="visible")
    finally:
        search.config = config
    assert "3 vehicles" in page.inner_text("#place-withheld")
    assert page.is_hidden("#place-vehicles")
    assert page.inner_text("#place-counts").startswith("5 reads of 3 vehicles")
    assert problems == []


def test_a_camera_without_police_purpose_is_named_not_searched(page: Page, seeded: Seeded) -> None:
    problems = ready(page, seeded)
    page.click("#tab-place")
    t = seeded.t
    page.fill("#place-form [name=since]", local(t - 10 * MIN))
    page.fill("#place-form [name=until]", local(t + 30 * MIN))
    page.select_option("#place-form select[name=cameras]", [C1, LEZ_CAM])
    page.click("#place-form button[type=submit]")
    page.wait_for_selector("#place-results", state="visible")
    decision = page.inner_text("#place-decision")
    assert "serve no police purpose" in decision and LEZ_CAM in decision
    assert [r[0].split(" · ")[0] for r in rows(page, "#place-cameras")] == [C1]
    assert page.inner_text("#place-counts").startswith("2 reads of 2 vehicles")
    assert problems == []


def test_the_shell_holds_no_read_and_a_role_without_purposes_cannot_search(
    page: Page, seeded: Seeded
) -> None:
    resp = httpx.get(f"{seeded.base}/investigate")
    assert resp.status_code == 200 and resp.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in resp.headers["content-security-policy"]
    assert PLATE not in resp.text and "1-ABC-123" not in resp.text
    refs = re.findall(r'(?:src|href)="([^"]*)"', resp.text)
    assert refs and all(not re.match(r"[a-z]+:|//", r) for r in refs), refs

    problems = watch_for_problems(page, seeded.base)
    auditor = seeded.node.users.create(
        User(id="aud-a", name="Auditor A", zone_id=A, role=Role.AUDITOR), actor=None
    )
    page.goto("/investigate")
    page.fill("#token-input", auditor)
    page.click("#token-form button[type=submit]")
    page.wait_for_selector("#role-note:has-text('does not search reads')")
    assert page.is_hidden("#why-dialog") and page.is_hidden("#work")
    page.click("#signout")
    page.fill("#token-input", "not-a-token")
    page.click("#token-form button[type=submit]")
    page.wait_for_selector("#signin-error:has-text('refused')")
    assert page.is_visible("#signin")
    assert unexpected(problems) == []


def test_multi_site_convoy_and_journey_render(page: Page, seeded: Seeded) -> None:
    problems = ready(page, seeded)
    t = seeded.t
    # The tabs work from the keyboard.
    page.focus("#tab-plate")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert page.get_attribute("#tab-multi", "aria-selected") == "true"
    assert page.is_visible("#panel-multi") and page.is_hidden("#panel-plate")

    for n, (cam, at, label) in enumerate([(C1, t, "Kasterlee"), (C3, t + 3 * HOUR, "Lille")]):
        site = f"#sites fieldset:nth-child({n + 1})"
        page.fill(f"{site} [name=label]", label)
        page.fill(f"{site} [name=since]", local(at - 30 * MIN))
        page.fill(f"{site} [name=until]", local(at + 30 * MIN))
        page.select_option(f"{site} select[name=cameras]", [cam])
    page.click("#multi-form button[type=submit]")
    wait_rows(page, "#multi-vehicles", 2)
    ranked = rows(page, "#multi-vehicles")
    assert {r[1] for r in ranked} == {PLATE, FOLLOWER} and {r[3] for r in ranked} == {"2"}
    assert "Kasterlee" in ranked[0][5] and "Lille" in ranked[0][5]
    assert [r[1] for r in rows(page, "#multi-sites")] == ["Kasterlee", "Lille"]
    page.click("#site-add")
    assert page.locator("#sites fieldset").count() == 3

    page.click("#tab-convoy")
    page.fill("#convoy-form [name=plate]", "1-ABC-123")
    page.click("#convoy-form button[type=submit]")
    page.wait_for_selector("#convoy-table tr.companion")
    companions = page.eval_on_selector_all(
        "#convoy-table tr.companion", "trs => trs.map(tr => tr.children[1].textContent)"
    )
    assert companions == [FOLLOWER]
    assert page.inner_text("#convoy-table tr.companion td:nth-child(4)") == "7"
    page.click("#convoy-table tr.evidence-row summary")
    evidence = rows(page, "#convoy-table table.evidence")
    assert len(evidence) == 7 and {r[3] for r in evidence} == {"20 s after"}
    assert "7 passages of 1ABC123" in page.inner_text("#convoy-summary")

    page.click("#tab-journey")
    page.fill("#journey-form [name=plate]", "1ABC123")
    page.fill("#journey-form [name=since]", local(t - HOUR))
    page.fill("#journey-form [name=until]", local(seeded.now))
    page.click("#journey-form button[type=submit]")
    page.wait_for_selector("#journey-trips section.trip")
    assert page.locator("#journey-trips section.trip").count() == 2
    legs = rows(page, "#journey-trips section.trip:first-child table")
    assert [(r[0].split(" · ")[0], r[1].split(" · ")[0]) for r in legs] == [(C1, C2), (C2, C3)]
    assert [r[6] for r in legs] == ["60 km/h", "60 km/h"]
    assert [r[5] for r in legs] == ["1.0 km", "1.0 km"]
    fast = page.inner_text("#journey-trips section.trip:nth-child(2) tr.implausible")
    assert "implausible" in fast
    assert "5 reads of 1ABC123 in 2 trips" in page.inner_text("#journey-summary")
    assert map_cameras(page) == [C1, C2, C3, FAR]  # numbered in the order first passed
    assert problems == []
