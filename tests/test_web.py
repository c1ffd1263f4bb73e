"""Server-rendered pages against the real app on a real node (no browser: see test_web_ui)."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET

import httpx
import pytest

from kruispunt.api.status import node_status
from kruispunt.domain.zones import network_zones
from kruispunt.node import Node
from kruispunt.web import svgmap
from kruispunt.web.overview import map_base, zone_colours
from tests.conftest import batch_json, make_camera, read_json

CAMERAS = {"pz5364-c001", "pz5352-c001"}
EXTERNAL = re.compile(r"https?://|(?:src|href|action)=\"//", re.IGNORECASE)


def map_svg(html: str) -> ET.Element:
    """The inline map, parsed as XML: it must be well-formed for any browser."""
    match = re.search(r'<svg class="map".*?</svg>(?=\s*<p class="hint">)', html, re.DOTALL)
    assert match, "no map on the page"
    return ET.fromstring(match.group(0))


def dots(svg: ET.Element) -> dict[str, ET.Element]:
    return {c.attrib["data-camera"]: c for c in svg.iter("circle")}


async def send_reads(client: httpx.AsyncClient, camera_id: str, token: str, n: int) -> None:
    reads = [read_json(f"{camera_id}-r{i}", plate=f"1-XYZ-{i:03d}") for i in range(n)]
    resp = await client.post(
        "/api/v1/reads",
        content=batch_json(camera_id, reads),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert resp.status_code == 200, resp.text


def wait_counted(node: Node, camera_id: str, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(c.camera_id == camera_id and c.reads_last_hour for c in node_status(node).cameras):
            return
        time.sleep(0.02)
    pytest.fail(f"traffic counts never showed reads of {camera_id}")


async def test_overview_draws_one_dot_per_camera_and_the_zone_legend(
    client: httpx.AsyncClient,
) -> None:
    resp = await client.get("/")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    svg = map_svg(resp.text)
    assert set(dots(svg)) == CAMERAS
    assert len(list(svg.iter("circle"))) == len(CAMERAS)
    layers = [g.attrib["class"] for g in svg.findall("g")]
    assert layers == ["map-municipalities", "map-zones", "map-lez", "map-cameras"]
    assert len(svg.findall("g[@class='map-municipalities']/path")) == 67
    zones_on_map = {p.attrib["data-key"] for p in svg.findall("g[@class='map-zones']/path")}
    assert zones_on_map == {z.id for z in network_zones() if z.pic_zone_id}
    colours = zone_colours(network_zones())
    for zone in network_zones():
        assert f'data-zone="{zone.id}"' in resp.text
        assert zone.name in resp.text
        assert f'fill="{colours[zone.id]}"' in resp.text
    assert dots(svg)["pz5352-c001"].attrib["fill"] == colours["pz5352"]


async def test_dot_tooltip_describes_the_camera_and_is_escaped(
    client: httpx.AsyncClient, node: Node
) -> None:
    node.save_camera(
        make_camera(
            "pz5355-c009", zone="pz5355", name="<b>Kruis & Punt</b>", road="E34", vendor="Acme"
        )
    )
    html = (await client.get("/")).text
    assert "<b>Kruis" not in html
    title = dots(map_svg(html))["pz5355-c009"].findtext("title") or ""
    for expected in (
        "pz5355-c009",
        "<b>Kruis & Punt</b>",
        "PZ Regio Turnhout",
        "E34",
        "police, statistics",
        "Acme",
    ):
        assert expected in title


async def test_dots_show_which_cameras_read_in_the_last_hour(
    client: httpx.AsyncClient, node: Node, tokens: dict[str, str]
) -> None:
    svg = map_svg((await client.get("/")).text)
    assert all("cam-silent" in d.attrib["class"] for d in dots(svg).values())
    await send_reads(client, "pz5364-c001", tokens["pz5364-c001"], 5)
    wait_counted(node, "pz5364-c001")
    html = (await client.get("/")).text
    classes = {k: v.attrib["class"].split() for k, v in dots(map_svg(html)).items()}
    assert "cam-active" in classes["pz5364-c001"] and "cam-silent" not in classes["pz5364-c001"]
    assert "cam-silent" in classes["pz5352-c001"]
    silent = re.search(r'<ul id="silent-cameras".*?</ul>', html, re.DOTALL)
    assert silent and "pz5352-c001" in silent.group(0) and "pz5364-c001" not in silent.group(0)
    assert re.search(r'data-stat="reads_total">5<', html)
    # Counts only: the page never shows a plate, in any spelling.
    assert "XYZ" not in html


async def test_camera_table_lists_every_camera(client: httpx.AsyncClient, node: Node) -> None:
    node.issue_token("pz5352-c001")
    resp = await client.get("/cameras")
    assert resp.status_code == 200
    rows = dict(re.findall(r'<tr data-camera="([^"]+)"[^>]*>(.*?)</tr>', resp.text, re.DOTALL))
    assert set(rows) == CAMERAS
    cells = [
        re.sub(r"<[^>]+>", "", c).strip()
        for c in re.findall(r"<td.*?</td>", rows["pz5352-c001"], re.DOTALL)
    ]
    assert cells == [
        "pz5352-c001",
        "Test camera pz5352-c001",
        "PZ Brasschaat",
        "Turnhout",
        "N12",
        "police, statistics",
        "Hikvision",
        "fixed",
        "yes",
        "0",
    ]
    assert ">no</td>" in rows["pz5364-c001"]
    assert 'class="sortable' in resp.text and "static/table-sort.js" in resp.text


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/static/overview.js", "text/javascript"),
        ("/static/table-sort.js", "text/javascript"),
        ("/static/kruispunt.css", "text/css"),
    ],
)
async def test_static_files_are_served_by_the_node(
    client: httpx.AsyncClient, path: str, media_type: str
) -> None:
    resp = await client.get(path)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith(media_type)
    assert resp.content
    assert not EXTERNAL.search(resp.text)


async def test_static_refuses_what_is_not_there(client: httpx.AsyncClient) -> None:
    assert (await client.get("/static/nope.js")).status_code == 404
    assert (await client.get("/static/../api/web.py")).status_code == 404


@pytest.mark.parametrize("path", ["/", "/cameras"])
async def test_pages_need_nothing_from_outside_the_node(
    client: httpx.AsyncClient, path: str
) -> None:
    resp = await client.get(path)
    assert not EXTERNAL.search(resp.text), EXTERNAL.search(resp.text)
    refs = re.findall(r'(?:src|href)="([^"]*)"', resp.text)
    assert refs and all(not re.match(r"[a-z]+:|//", r) for r in refs), refs
    csp = resp.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    for link in ("docs", "metrics"):
        assert f'href="{link}"' in resp.text


async def test_map_stays_small() -> None:
    _, base = map_base(network_zones())
    assert len(base.encode()) < 300_000
    assert not re.search(r"\d\.\d\d", base), "coordinates are rounded to 0.1"


def test_projection_keeps_the_province_inside_the_view_box() -> None:
    bounds = (4.1, 51.0, 5.2, 51.5)
    proj = svgmap.Projection.fit(bounds, width=1000, margin=10)
    x0, y0 = proj(4.1, 51.5)
    x1, y1 = proj(5.2, 51.0)
    assert (round(x0), round(y0)) == (10, 10)
    assert round(x1) == 990 and abs(y1 - (proj.height - 10)) < 1
    # One km east–west is as long on screen as one km north–south (cos(latitude) scaling).
    dx = proj(4.6 + 0.01, 51.25)[0] - proj(4.6, 51.25)[0]
    dy = proj(4.6, 51.25)[1] - proj(4.6, 51.25 + 0.01)[1]
    assert dx / dy == pytest.approx(0.626, abs=0.01)


def test_path_data_simplifies_and_closes_rings() -> None:
    proj = svgmap.Projection.fit((0.0, 0.0, 1.0, 1.0), width=100, margin=0)
    square = {
        "type": "Polygon",
        "coordinates": [[[0, 0], [0.5, 0.0000001], [1, 0], [1, 1], [0, 1], [0, 0]]],
    }
    d = svgmap.path_data(square, proj)
    assert d.startswith("M") and d.endswith("Z")
    assert d.count("L") == 4  # the nearly straight midpoint is gone
    with pytest.raises(ValueError, match="not a polygon"):
        svgmap.path_data({"type": "Point", "coordinates": [0, 0]}, proj)
