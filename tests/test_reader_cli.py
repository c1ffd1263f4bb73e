"""``kruispunt read``: the --json contract line by line, bad inputs next to good ones, folders,
and posting the reads to a real node as a camera."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import cv2
from typer.testing import CliRunner

from kruispunt.cli import app
from kruispunt.node import Node
from kruispunt.reader.render import make_sample, write_video
from tests.browser import serving
from tests.reader.helpers import require_ocr

require_ocr()


def _picture(folder: Path, name: str, country: str, seed: int) -> str:
    sample = make_sample(random.Random(seed), country)
    cv2.imwrite(str(folder / name), sample.image)
    return sample.plate


def _lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_json_gives_one_object_per_input_and_errors_do_not_stop_the_rest(tmp_path: Path) -> None:
    plate = _picture(tmp_path, "car.jpg", "FR", 1)
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (tmp_path / "empty.png").write_bytes(b"")
    # No scene text here: this is the output contract (the reader's tests have distractors).
    video_plates = write_video(tmp_path / "lane.avi", ["NL", "BE"], seed=2, distractors=False)
    inputs = [
        str(tmp_path / "car.jpg"), str(tmp_path / "corrupt.jpg"), str(tmp_path / "empty.png"),
        str(tmp_path / "missing.jpg"), "rtsp://127.0.0.1:9/cam", str(tmp_path / "lane.avi"),
    ]  # fmt: skip
    result = CliRunner().invoke(app, ["read", "--json", *inputs])
    assert result.exit_code == 1, result.output  # some inputs failed
    docs = _lines(result.stdout)
    assert [d["file"] for d in docs] == inputs
    car, corrupt, empty, missing, stream, video = docs
    assert [r["plate"] for r in car["reads"]][:1] == [plate]
    first = car["reads"][0]
    assert first["country"] == "FR" and 0 < first["confidence"] <= 1
    assert len(first["box"]) == 4 and all(isinstance(v, int) for v in first["box"])
    confidences = [r["confidence"] for r in car["reads"]]
    assert confidences == sorted(confidences, reverse=True)  # best first
    assert "not a readable image" in corrupt["error"]
    assert empty["error"] == "empty file"
    assert "cannot open" in missing["error"]
    assert "stream unreachable" in stream["error"]
    by_time = sorted(video["reads"], key=lambda r: r["time_s"])
    assert [r["plate"] for r in by_time] == video_plates
    confidences = [r["confidence"] for r in video["reads"]]
    assert confidences == sorted(confidences, reverse=True)


def test_a_folder_is_its_pictures_and_crops_can_be_saved(tmp_path: Path) -> None:
    pictures = tmp_path / "in"
    pictures.mkdir()
    plates = {_picture(pictures, f"{i}.png", c, i) for i, c in enumerate(("BE", "LU"))}
    (pictures / "notes.txt").write_text("not a picture")
    crops = tmp_path / "crops"
    result = CliRunner().invoke(app, ["read", "--json", "--crops", str(crops), str(pictures)])
    assert result.exit_code == 0, result.output
    docs = _lines(result.stdout)
    assert len(docs) == 2
    assert {d["reads"][0]["plate"] for d in docs} == plates
    assert all(Path(d["reads"][0]["crop"]).is_file() for d in docs)


def test_human_output_names_the_plate(tmp_path: Path) -> None:
    _picture(tmp_path, "car.jpg", "BE", 5)
    result = CliRunner().invoke(app, ["read", str(tmp_path / "car.jpg")])
    assert result.exit_code == 0, result.output
    assert "(BE) confidence" in result.stdout


def test_reads_are_posted_to_a_node_as_a_camera(
    tmp_path: Path, node: Node, tokens: dict[str, str]
) -> None:
    plate = _picture(tmp_path, "car.jpg", "NL", 8)
    token_file = tmp_path / "token"
    token_file.write_text(tokens["pz5364-c001"] + "\n")
    with serving(node) as url:
        args = ["read", "--json", "--post", url, "--camera", "pz5364-c001",
                "--token-file", str(token_file), str(tmp_path / "car.jpg")]  # fmt: skip
        first = CliRunner().invoke(app, args)
        again = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert _lines(first.stdout)[0]["posted"] == {"stored": 1, "duplicates": 0, "rejected": 0}
    assert _lines(again.stdout)[0]["posted"]["duplicates"] == 1
    stored = node.store.reads_after(0, 10)
    assert [(r.plate, r.country, r.camera_id) for r in stored] == [(plate, "NL", "pz5364-c001")]


def test_post_needs_a_camera_and_a_token(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["read", "--post", "http://127.0.0.1:9", str(tmp_path)], env={}
    )
    assert result.exit_code == 2
    assert "--camera" in result.output
