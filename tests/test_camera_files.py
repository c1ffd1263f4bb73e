"""Camera registry files: round trips, and corrupt files refused whole with every problem."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from kruispunt.camera_files import (
    CameraFileError,
    dump_cameras_csv,
    dump_cameras_geojson,
    load_cameras,
)
from kruispunt.domain.cameras import Camera, CameraIngest, Mounting, Purpose
from kruispunt.ingest.formats import describe_formats
from kruispunt.sim.layout import build_province_cameras

CAMERAS = [
    Camera(
        id="pz5364-c001",
        name="N12 Antwerpseweg, Beerse",
        owner="PZ Regio Turnhout",
        manager="PZ Regio Turnhout",
        zone_id="pz5364",
        municipality_nis="13004",
        lon=4.797891,
        lat=51.305999,
        bearing_deg=250.0,
        road="N12",
        direction="in",
        lanes=2,
        purposes=(Purpose.POLICE, Purpose.SECTION_CONTROL),
        vendor="Vigilant",
    ),
    Camera(
        id="pz5345-c002",
        name='LEZ "Turnhoutsebaan", Antwerpen',  # quotes and commas survive CSV
        owner="Stad Antwerpen",
        manager="Stad Antwerpen",
        zone_id="pz5345",
        lon=4.446087,
        lat=51.211632,
        purposes=(Purpose.LEZ, Purpose.POLICE),
        mounting=Mounting.MOBILE,
        active=False,
    ),
]


def _feature(**props: Any) -> dict[str, Any]:
    lon = props.pop("lon", 4.9)
    lat = props.pop("lat", 51.3)
    base = {"id": "pz5364-c001", "name": "x", "owner": "o", "manager": "m", "zone_id": "pz5364"}
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": {**base, **props},
    }


def _write_geojson(path: Path, features: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), "utf-8")
    return path


def _problems(path: Path) -> list[str]:
    with pytest.raises(CameraFileError) as info:
        load_cameras(path)
    assert info.value.path == path
    for problem in info.value.problems:
        assert problem in str(info.value)
    return info.value.problems


@pytest.mark.parametrize("suffix", [".geojson", ".json"])
def test_geojson_round_trip(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"cameras{suffix}"
    path.write_text(dump_cameras_geojson(CAMERAS), "utf-8")
    assert load_cameras(path) == CAMERAS
    doc = json.loads(path.read_text("utf-8"))
    assert doc["features"][0]["geometry"]["coordinates"] == [4.797891, 51.305999]
    assert "lon" not in doc["features"][0]["properties"]


def test_csv_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "cameras.csv"
    path.write_text(dump_cameras_csv(CAMERAS), "utf-8")
    assert load_cameras(path) == CAMERAS
    assert "police;section_control" in path.read_text("utf-8")


def test_simulated_network_round_trips(tmp_path: Path) -> None:
    cameras = build_province_cameras()
    (tmp_path / "a.geojson").write_text(dump_cameras_geojson(cameras), "utf-8")
    (tmp_path / "a.csv").write_text(dump_cameras_csv(cameras), "utf-8")
    assert load_cameras(tmp_path / "a.geojson") == cameras
    assert load_cameras(tmp_path / "a.csv") == cameras


def test_purposes_as_separated_string(tmp_path: Path) -> None:
    path = _write_geojson(
        tmp_path / "c.geojson",
        [
            _feature(id="a1", purposes="police, statistics"),
            _feature(id="a2", purposes="lez;police"),
        ],
    )
    loaded = load_cameras(path)
    assert loaded[0].purposes == (Purpose.POLICE, Purpose.STATISTICS)
    assert loaded[1].purposes == (Purpose.LEZ, Purpose.POLICE)


def test_bad_json_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "c.geojson"
    path.write_text('{"type": "FeatureCollection",\n "features": [,]}', "utf-8")
    (problem,) = _problems(path)
    assert problem.startswith("line 2 column") and "invalid JSON" in problem


def test_geojson_lists_every_problem_with_its_feature(tmp_path: Path) -> None:
    path = _write_geojson(
        tmp_path / "c.geojson",
        [
            _feature(id="ok-1"),
            _feature(id="bad-zone", zone_id="pz9999"),
            _feature(id="far", lon=200.0),
            _feature(id="ok-1"),
            _feature(id="typo", lanse=2),
            _feature(id="pos", lat=51.0, **{"lon": 4.0}) | {"geometry": None},
            _feature(id="lanes", lanes="two"),
        ],
    )
    problems = _problems(path)
    joined = "\n".join(problems)
    assert "feature 1 (id 'bad-zone'): zone_id: unknown zone 'pz9999'" in joined
    assert "feature 2 (id 'far'): position: lon/lat out of range" in joined
    assert "feature 3 (id 'ok-1'): duplicate id, first at feature 0" in joined
    assert "feature 4 (id 'typo'): properties.lanse: unknown field" in joined
    assert "feature 5 (id 'pos'): geometry: expected a Point" in joined
    assert "feature 6 (id 'lanes'):" in joined and "$.lanes" in joined
    assert len(problems) == 6


def test_position_in_properties_is_refused(tmp_path: Path) -> None:
    feature = _feature(id="p1")
    feature["properties"]["lon"] = 4.9
    problems = _problems(_write_geojson(tmp_path / "c.geojson", [feature]))
    assert problems == ["feature 0 (id 'p1'): properties.lon: the position comes from the geometry"]


def test_not_a_feature_collection(tmp_path: Path) -> None:
    path = tmp_path / "c.geojson"
    path.write_text("[1, 2]", "utf-8")
    assert _problems(path) == ["top level: expected a GeoJSON FeatureCollection"]


CSV_HEADER = "id,name,owner,manager,zone_id,lon,lat,purposes\n"


def test_csv_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("id,name,owner,manager,zone_id,lon,colour\nx,n,o,m,pz5364,4.9,red\n", "utf-8")
    assert _problems(path) == ["line 1: missing column 'lat'", "line 1: unknown column 'colour'"]


def test_csv_lists_every_problem_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(
        CSV_HEADER
        + "a,Cam A,o,m,pz5364,4.9,51.3,police\n"
        + "b,Cam B,o,m,pz9999,4.9,51.3,police\n"
        + "c,Cam C,o,m,pz5364,abc,51.3,police\n"
        + "a,Cam A again,o,m,pz5364,4.9,51.3,police\n"
        + "d,Cam D,o,m,pz5364,4.9,95.0,police;speeding\n"
        + "e,,o,m,pz5364,4.9,51.3,police\n"
        + "f,Cam F,o,m\n",
        "utf-8",
    )
    problems = _problems(path)
    joined = "\n".join(problems)
    assert "line 3 (id 'b'): zone_id: unknown zone 'pz9999'" in joined
    assert "line 4 (id 'c'): lon: not a number: 'abc'" in joined
    assert "line 5 (id 'a'): duplicate id, first at line 2" in joined
    assert "line 6 (id 'd'):" in joined and "speeding" in joined
    assert "line 7 (id 'e'): name: required" in joined
    assert "line 8: 4 cells, expected 8" in joined
    assert len(problems) == 6


def test_csv_line_numbers_count_quoted_newlines(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(
        CSV_HEADER + 'a,"Cam\nA",o,m,pz5364,4.9,51.3,police\n' + "b,B,o,m,pz0,4.9,51.3,police\n",
        "utf-8",
    )
    assert _problems(path) == ["line 4 (id 'b'): zone_id: unknown zone 'pz0'"]


def test_unsupported_suffix_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "c.xlsx"
    path.write_text("", "utf-8")
    assert "unsupported file type" in _problems(path)[0]
    assert "cannot read file" in _problems(tmp_path / "missing.csv")[0]


def test_custom_zone_ids(tmp_path: Path) -> None:
    path = _write_geojson(tmp_path / "c.geojson", [_feature(id="x", zone_id="pz9999")])
    assert load_cameras(path, zone_ids={"pz9999"})[0].zone_id == "pz9999"


WITH_INGEST = [
    msgspec.structs.replace(CAMERAS[0], ingest=CameraIngest(format="hikvision-isapi")),
    msgspec.structs.replace(
        CAMERAS[1],
        ingest=CameraIngest(
            format="axis-lpv",
            settings={"local_timezone": "Europe/Brussels", "emit_on": ["new", "lost"]},
        ),
    ),
]


@pytest.mark.parametrize("suffix", [".geojson", ".csv"])
def test_the_ingest_setting_round_trips(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"cameras{suffix}"
    dump = dump_cameras_csv if suffix == ".csv" else dump_cameras_geojson
    path.write_text(dump(WITH_INGEST), "utf-8")
    assert load_cameras(path) == WITH_INGEST
    text = path.read_text("utf-8")
    if suffix == ".csv":  # a bare format name when there are no settings, else JSON
        assert ",hikvision-isapi\n" in text and '"{""format"":""axis-lpv""' in text


def test_an_ingest_format_name_is_enough_and_bad_settings_are_located(tmp_path: Path) -> None:
    geojson = _write_geojson(
        tmp_path / "c.geojson",
        [
            _feature(id="a1", ingest="frigate"),
            _feature(id="a2", ingest={"format": "frigate", "settings": {"emit_on": ["x"]}}),
            _feature(id="a3", ingest="{not json"),
            _feature(id="a4", ingest={"format": "nope"}),
        ],
    )
    problems = _problems(geojson)
    assert not any("a1" in p for p in problems), problems
    joined = "\n".join(problems)
    assert "feature 1 (id 'a2'): ingest.settings.emit_on.0:" in joined
    assert "feature 2 (id 'a3'): properties.ingest: invalid JSON" in joined
    assert "feature 3 (id 'a4'): ingest.format: unknown format 'nope'" in joined
    csv_file = tmp_path / "c.csv"
    csv_file.write_text(
        CSV_HEADER.replace("\n", ",ingest\n")
        + "b1,B,o,m,pz5364,4.9,51.3,police,frigate\n"
        + 'b2,B,o,m,pz5364,4.9,51.3,police,"{""format"": ""replay"", ""settings"": '
        + '{""max_rows"": 0}}"\n',
        "utf-8",
    )
    (problem,) = _problems(csv_file)
    assert problem.startswith("line 3 (id 'b2'): ingest.settings.max_rows:")
    csv_file.write_text(
        CSV_HEADER.replace("\n", ",ingest\n") + "b1,B,o,m,pz5364,4.9,51.3,police,frigate\n"
    )
    (cam,) = load_cameras(csv_file)
    assert cam.ingest == CameraIngest(format="frigate")


def test_the_formats_and_their_settings_are_listed_for_operators() -> None:
    text = describe_formats()
    assert text.startswith("native\n") and "\nhikvision-isapi\n" in text
    assert "    emit_on = ('end',)" in text and "camera_id" not in text
