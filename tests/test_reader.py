"""The software plate reader on pictures the project renders: every supported country, the
machine's fonts, several sizes, angles, blur and noise, with the expected text. Also the pure
parts (text correction, tracking), video files and streams, bad input, and posting to a real
node."""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import random
import threading
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from kruispunt.node import Node
from kruispunt.plates import COUNTRIES
from kruispunt.reader import ImageError, VideoError, read_image, read_video
from kruispunt.reader.image import PlateRead, iou
from kruispunt.reader.ocr import CharRead, TextRead
from kruispunt.reader.post import NodeClient, Outgoing, PostError
from kruispunt.reader.render import STYLES, font_paths, make_sample, write_video
from kruispunt.reader.text import interpret
from kruispunt.reader.track import Passage, Tracker, distance
from tests.browser import serving
from tests.reader.helpers import reader, require_ocr

require_ocr()

FONTS: list[Path | None] = list(font_paths()) or [None]


def test_every_supported_country_has_a_plate_style() -> None:
    assert set(STYLES) == set(COUNTRIES)


@pytest.mark.parametrize("country", COUNTRIES)
@pytest.mark.parametrize("font", FONTS, ids=lambda f: f.stem if f else "default")
def test_reads_a_rendered_plate_of_each_country_in_each_font(
    country: str, font: Path | None
) -> None:
    rng = random.Random(f"{country}-{font}")
    sample = make_sample(rng, country, fonts=[font])
    reads = read_image(sample.image, reader=reader())
    assert reads, f"no plate found for {sample.display}"
    best = reads[0]
    assert (best.plate, best.country) == (sample.plate, country)
    assert iou(best.box, sample.box) > 0.4
    assert best.crop.size > 0 and 0.5 < best.confidence <= 1.0


@pytest.mark.parametrize("country", COUNTRIES)
def test_reads_a_square_two_row_plate(country: str) -> None:
    rng = random.Random(f"square-{country}")
    sample = make_sample(rng, country, square=True)
    reads = read_image(sample.image, reader=reader())
    assert [(r.plate, r.country) for r in reads][:1] == [(sample.plate, country)]


def test_reads_small_tilted_blurred_noisy_plates() -> None:
    rng = random.Random(7)
    samples = [
        make_sample(rng, plate_height=(30, 40), max_angle=10, max_blur=1.8, max_noise=14)
        for _ in range(20)
    ]
    exact = sum(
        bool(reads) and reads[0].plate == s.plate
        for s in samples
        for reads in [read_image(s.image, reader=reader())]
    )
    assert exact >= 17, f"{exact}/20 exact"


def test_reads_plates_tilted_25_to_30_degrees() -> None:
    # The upright box around a tilted plate takes in what is around it: its surroundings
    # are measured in the text line's own frame, and its box is still the picture's axes.
    exact = 0
    for country in COUNTRIES:
        for angle in (25, -28, 30):
            rng = random.Random(f"tilt-{country}-{angle}")
            sample = make_sample(rng, country, max_angle=0, plate_height=(50, 60))
            x, y, w, h = sample.box
            m = cv2.getRotationMatrix2D((x + w / 2, y + h / 2), angle, 1.0)
            size = sample.image.shape[1::-1]
            image = cv2.warpAffine(sample.image, m, size, borderMode=cv2.BORDER_REPLICATE)
            corners = np.array([[[x, y], [x + w, y], [x + w, y + h], [x, y + h]]], np.float32)
            rotated = cv2.boundingRect(cv2.transform(corners, m)[0])
            reads = read_image(image, reader=reader())
            if reads and reads[0].plate == sample.plate:
                exact += 1
                assert iou(reads[0].box, rotated) > 0.4, (reads[0].box, rotated)
    assert exact >= 3 * len(COUNTRIES) - 2, f"{exact}/{3 * len(COUNTRIES)} exact"


def test_reads_from_a_path_bytes_and_grey_pixels(tmp_path: Path) -> None:
    sample = make_sample(random.Random(3), "BE")
    path = tmp_path / "car.png"
    cv2.imwrite(str(path), sample.image)
    grey = cv2.cvtColor(sample.image, cv2.COLOR_BGR2GRAY)
    for source in (path, str(path), path.read_bytes(), grey):
        assert [r.plate for r in read_image(source, reader=reader())][:1] == [sample.plate]


def test_a_picture_without_plate_has_no_read() -> None:
    street = np.full((400, 600, 3), 120, np.uint8)
    cv2.putText(street, "ZONE 30", (50, 100), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 4)
    assert read_image(street, reader=reader()) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"", "empty file"), (b"\xff\xd8\xff\xe0 not really a jpeg", "not a readable image")],
)
def test_corrupt_or_empty_pictures_are_clear_errors(data: bytes, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        read_image(data, reader=reader())


@pytest.mark.parametrize(
    "frame", [np.zeros((0, 0, 3), np.uint8), np.zeros((4, 4, 3), np.uint8)], ids=["0x0", "4x4"]
)
def test_an_empty_frame_is_a_clear_error(frame: np.ndarray) -> None:
    with pytest.raises(ImageError, match="empty frame"):
        read_image(frame, reader=reader())


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="cannot open"):
        read_image(tmp_path / "nope.jpg", reader=reader())


# ---- text: correction and validation (pure) -------------------------------------------------


def _read(
    text: str,
    prob: float = 0.95,
    alts: str = "",
    unsure: dict[int, tuple[float, str, float]] | None = None,
) -> TextRead:
    """A read of ``text``, every character at ``prob``; ``unsure`` gives some positions'
    (probability, second choice, its probability)."""

    def char(i: int, c: str) -> CharRead:
        p, alt, alt_p = (unsure or {}).get(i, (prob, alts[i] if i < len(alts) else "", 0.03))
        return CharRead(c, p, alt, alt_p, (i + 0.5) / len(text))

    return TextRead(text, prob, tuple(char(i, c) for i, c in enumerate(text)))


UNSURE = (0.6, "", 0.3)


@pytest.mark.parametrize(
    ("ocr", "unsure", "plate", "country"),
    [
        ("1-ABC-123", {}, "1ABC123", "BE"),
        ("1-K0H-695", {3: UNSURE}, "1KOH695", "BE"),  # an unsure zero where a letter goes
        ("1-K0H-695", {3: (0.9, "O", 0.08)}, "1KOH695", "BE"),  # the OCR's own second choice
        ("AB-I23-CD", {3: UNSURE}, "AB123CD", "FR"),  # an unsure I where it wants a digit
        ("NL 12-GBH-3", {}, "12GBH3", "NL"),  # the EU band's letters read with the plate
        ("GB-12-HN", {}, "GB12HN", "NL"),
        ("AB 1234", {}, "AB1234", "LU"),
        ("KLE-R 7899", {}, "KLER7899", "DE"),
    ],
)
def test_interpret_corrects_and_validates(
    ocr: str, unsure: dict[int, tuple[float, str, float]], plate: str, country: str
) -> None:
    found = interpret(_read(ocr, unsure=unsure))
    assert found is not None
    assert (found.plate, found.country) == (plate, country)


def test_a_swap_costs_confidence() -> None:
    clean = interpret(_read("1-KOH-695"))
    swapped = interpret(_read("1-K0H-695", unsure={3: UNSURE}))
    assert clean is not None and swapped is not None
    assert swapped.confidence < clean.confidence


def test_a_confident_character_is_not_swapped_to_fit_a_format() -> None:
    # A Czech plate read right: the second 5 must not become the S of a Belgian format.
    found = interpret(_read("5AU5341"))
    assert found is not None
    assert (found.plate, found.country, found.format) == ("5AU5341", None, None)
    assert found.confidence < 0.95 * 0.7  # an unvalidated read ranks below a validated one
    # The same read, unsure of that 5 (its second choice an S): the format wins.
    unsure = interpret(_read("5AU5341", unsure={3: (0.55, "S", 0.4)}))
    assert unsure is not None and (unsure.plate, unsure.country) == ("5AUS341", "BE")
    # Two confident swaps into a French format, a confident character dropped: neither.
    for ocr, plate in (("8B93583", "8B93583"), ("4S50233", "4S50233")):
        read = interpret(_read(ocr))
        assert read is not None and (read.plate, read.country) == (plate, None)


@pytest.mark.parametrize("word", ["POLICE", "PASSAT CC", "PASSATCC"])
def test_words_read_with_confidence_are_not_plates(word: str) -> None:
    assert interpret(_read(word)) is None


def test_text_no_format_matches_is_dropped_unless_asked() -> None:
    assert interpret(_read("PARKINGXYZ")) is None
    loose = interpret(_read("PARKINGXYZ"), require_format=False)
    assert loose is not None and loose.format is None and loose.confidence < 0.5


def test_a_given_country_restricts_the_formats() -> None:
    found = interpret(_read("AB1234"), country="NL")  # LU by inference; no NL format matches
    assert found is None or found.country == "NL"


# ---- tracking (pure) ------------------------------------------------------------------------


def _plate_read(plate: str, box: tuple[int, int, int, int], confidence: float) -> PlateRead:
    return PlateRead(plate, "BE", plate, confidence, box, np.zeros((1, 1, 3), np.uint8))


def test_one_read_per_passage_with_the_voted_text() -> None:
    tracker = Tracker(max_gap_s=1.0)
    frames = [
        ("1ABC123", (100, 200, 100, 20), 0.9),
        ("1ABC128", (110, 205, 100, 20), 0.95),  # one slip, a little more confident
        ("1ABC123", (120, 210, 100, 20), 0.9),
        ("1ABC123", (130, 215, 100, 20), 0.9),
    ]
    done: list[Passage] = []
    for i, (plate, box, conf) in enumerate(frames):
        done += tracker.update(i * 0.2, i, [_plate_read(plate, box, conf)])
    assert done == []
    done += tracker.update(3.0, 15, [])
    assert [(p.read.plate, p.frames, p.first_s, round(p.last_s, 3)) for p in done] == [
        ("1ABC123", 4, 0.0, 0.6)
    ]


def test_the_next_car_in_the_same_place_is_another_passage() -> None:
    tracker = Tracker(max_gap_s=2.0)
    tracker.update(0.0, 0, [_plate_read("1ABC123", (100, 200, 100, 20), 0.9)])
    tracker.update(0.4, 2, [_plate_read("2XYZ987", (100, 200, 100, 20), 0.9)])
    assert sorted(p.read.plate for p in tracker.finish()) == ["1ABC123", "2XYZ987"]


def test_distance_counts_confusables_as_equal() -> None:
    assert distance("1ABC123", "1ABC123") == 0
    assert distance("1AB0123", "1ABO123") == 0
    assert distance("1ABC123", "1ABC12") == 1


# ---- video --------------------------------------------------------------------------------


def test_a_video_gives_one_read_per_passage(tmp_path: Path) -> None:
    path = tmp_path / "lane.avi"
    plates = write_video(path, ["BE", "NL", "FR"], seed=4)
    passages = read_video(path, reader=reader())
    assert [p.read.plate for p in passages] == plates
    assert all(p.frames >= 2 for p in passages)
    assert passages[0].first_s < passages[1].first_s < passages[2].first_s


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_video_over_http_is_read_as_a_stream(tmp_path: Path) -> None:
    plates = write_video(tmp_path / "cam.avi", ["LU", "DE"], seed=6, distractors=False)
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/cam.avi"
        try:
            passages = read_video(url, reader=reader())
        finally:
            server.shutdown()
    # A stream's times come from the clock, not the frame rate; every plate is there.
    assert {p.read.plate for p in passages} >= set(plates)


def test_a_missing_video_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="no such video file"):
        read_video(tmp_path / "nope.mp4", reader=reader())


def test_a_corrupt_video_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
    with pytest.raises(VideoError):
        read_video(path, reader=reader())


def test_an_unreachable_stream_is_a_clear_error() -> None:
    with pytest.raises(VideoError, match="stream unreachable"):
        read_video("rtsp://127.0.0.1:9/cam1", reader=reader())


# ---- posting to a node ----------------------------------------------------------------------


def _outgoing(plate: str = "1ABC123", display: str = "1-ABC-123") -> Outgoing:
    read = PlateRead(plate, "BE", display, 0.93, (1, 2, 3, 4), np.zeros((1, 1, 3), np.uint8))
    return Outgoing(read, dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2), "car.jpg")


def test_reads_are_posted_to_a_real_node_as_a_camera(node: Node, tokens: dict[str, str]) -> None:
    with serving(node) as url, NodeClient(url, "pz5364-c001", tokens["pz5364-c001"]) as client:
        first = client.post([_outgoing(), _outgoing("2XYZ987", "2-XYZ-987")])
        again = client.post([_outgoing()])
    assert (first.stored, first.duplicates, first.rejected) == (2, 0, 0)
    assert (again.stored, again.duplicates) == (0, 1)  # deterministic read ids: idempotent
    stored = node.store.reads_after(0, 10)
    assert {(r.plate, r.country) for r in stored} == {("1ABC123", "BE"), ("2XYZ987", "BE")}


def test_a_wrong_token_is_a_clear_error(node: Node) -> None:
    with (
        serving(node) as url,
        NodeClient(url, "pz5364-c001", "wrong") as client,
        pytest.raises(PostError, match="401"),
    ):
        client.post([_outgoing()])


def test_a_saturated_node_is_retried_after_its_retry_after() -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "2"}), None])
    waits: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        answer = next(answers)
        if answer is not None:
            return answer
        body = {"version": 1, "camera_id": "c1", "stored": 1, "duplicates": 0, "rejected": 0,
                "results": [{"read_id": "x", "status": "stored", "seq": 1}]}  # fmt: skip
        return httpx.Response(200, json=body)

    http = httpx.Client(transport=httpx.MockTransport(handler), base_url="http://node")
    result = NodeClient("http://node", "c1", "t", client=http, sleep=waits.append).post(
        [_outgoing()]
    )
    assert result.stored == 1 and waits == [2.0]
