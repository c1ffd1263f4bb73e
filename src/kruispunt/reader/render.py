"""Synthetic plate photographs with known text, for the tests and the benchmark.

A plate of each supported country (EU band with the country letters, the country's colours;
one row, sometimes in a dealer's frame, or square with two rows) is rendered in one of the
system's TrueType fonts, warped by a small rotation and perspective,
pasted on a car-like front in a street-like scene with distractor text (a dealer's name, a
sign), then blurred, noised and JPEG-compressed. Texts come from the simulator's generators
and are kept only when the plate module infers the intended country from them, so the label
(plate, country) is exact.
"""

from __future__ import annotations

import csv
import functools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from kruispunt.plates import normalise, recognise
from kruispunt.sim.plates_gen import GENERATORS

FONT_DIRS = (Path("/usr/share/fonts/truetype"), Path("/usr/share/fonts"))
FONT_NAMES = (
    "DejaVuSans-Bold.ttf",
    "DejaVuSansCondensed-Bold.ttf",
    "DejaVuSansMono-Bold.ttf",
    "LiberationSans-Bold.ttf",
    "LiberationSansNarrow-Bold.ttf",
    "LiberationMono-Bold.ttf",
    "DejaVuSans.ttf",
)

Rgb = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class PlateStyle:
    band: str
    """The country letters in the EU band."""
    background: Rgb
    ink: Rgb


STYLES: dict[str, PlateStyle] = {
    "BE": PlateStyle("B", (250, 250, 250), (140, 20, 30)),
    "NL": PlateStyle("NL", (250, 200, 20), (15, 15, 15)),
    "FR": PlateStyle("F", (250, 250, 250), (15, 15, 15)),
    "DE": PlateStyle("D", (250, 250, 250), (15, 15, 15)),
    "LU": PlateStyle("L", (250, 205, 30), (15, 15, 15)),
}
EU_BLUE: Rgb = (0, 51, 153)
DEALER_FRAME_SHARE = 0.3
"""Share of one-row plates shown in a dealer's frame (dark text on white under the plate)."""
SQUARE_SHARE = 0.1
"""Share of square (two-row) plates in a labelled set."""


@dataclass(frozen=True, slots=True)
class Sample:
    image: np.ndarray
    """BGR, uint8 (what OpenCV decodes)."""
    plate: str
    """Normalised text (A-Z0-9)."""
    country: str
    display: str
    box: tuple[int, int, int, int]
    """Where the plate lies in the image: x, y, w, h."""


@functools.cache
def font_paths() -> tuple[Path, ...]:
    """The bold sans/mono fonts found on this machine (may be empty)."""
    found: list[Path] = []
    for name in FONT_NAMES:
        for root in FONT_DIRS:
            hits = sorted(root.rglob(name)) if root.is_dir() else []
            if hits:
                found.append(hits[0])
                break
    return tuple(found)


def _font(path: Path | None, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if path is None:
        return ImageFont.load_default(size)
    return ImageFont.truetype(str(path), size)


def random_plate(country: str, rng: random.Random) -> str:
    """A display-form plate of ``country`` whose text the plate module infers as ``country``."""
    for _ in range(200):
        text = GENERATORS[country](rng)
        if recognise(normalise(text)).country == country:
            return text
    raise ValueError(f"no plate of {country} found")  # pragma: no cover - generators are fine


def _blank_plate(
    style: PlateStyle, width: int, height: int, *, border: int, radius: int, band: float
) -> tuple[Image.Image, ImageDraw.ImageDraw, int, int]:
    """A plate's ground, rounded border and EU band (``band`` x height wide): the picture,
    its pen, the border's width and the band's right edge."""
    img = Image.new("RGB", (width, height), style.background)
    draw = ImageDraw.Draw(img)
    border = max(2, border)
    draw.rounded_rectangle(
        (0, 0, width - 1, height - 1), radius=radius, outline=(20, 20, 20), width=border
    )
    band_w = int(height * band)
    draw.rectangle((border, border, band_w, height - border - 1), fill=EU_BLUE)
    return img, draw, border, band_w


def render_plate(
    display: str, country: str, *, font: Path | None, height: int = 110
) -> Image.Image:
    """A flat EU plate (520 x 110 mm proportions) with the band and a border."""
    style = STYLES[country]
    width = int(height * 520 / 110)
    img, draw, border, band_w = _blank_plate(style, width, height, border=height // 30,
                                             radius=height // 10, band=0.36)  # fmt: skip
    cx, cy, r = band_w // 2 + border // 2, int(height * 0.3), height * 0.14
    for k in range(12):  # the circle of stars, as dots
        a = k * np.pi / 6
        x, y = cx + r * np.cos(a), cy + r * np.sin(a)
        draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=(255, 204, 0))
    band_font = _font(font, int(height * 0.28))
    draw.text((cx, int(height * 0.75)), style.band, font=band_font, fill="white", anchor="mm")
    text_font = _font(font, int(height * 0.72))
    area = (band_w + border, width - border)
    tw = draw.textlength(display, font=text_font)
    max_w = (area[1] - area[0]) * 0.94
    if tw > max_w:  # narrow the text rather than cut it
        text_font = _font(font, max(8, int(height * 0.72 * max_w / tw)))
    draw.text(
        ((area[0] + area[1]) // 2, height // 2),
        display,
        font=text_font,
        fill=style.ink,
        anchor="mm",
    )
    return img


def square_rows(display: str) -> tuple[str, str]:
    """A display form on a square plate's two rows, cut at the middle separator
    ("1-ABC-123" -> "1-ABC" over "123"; "AB 1234" -> "AB" over "1234")."""
    cuts = [i for i, ch in enumerate(display) if ch in "- "]
    if not cuts:
        raise ValueError(f"{display!r} has no group to put on a second row")
    cut = cuts[len(cuts) // 2]
    return display[:cut], display[cut + 1 :]


def render_square_plate(
    display: str, country: str, *, font: Path | None, height: int = 200
) -> Image.Image:
    """A square EU plate (280 x 200 mm proportions): the band on the left, two rows."""
    style = STYLES[country]
    width = int(height * 280 / 200)
    img, draw, border, band_w = _blank_plate(style, width, height, border=height // 40,
                                             radius=height // 14, band=0.2)  # fmt: skip
    band_font = _font(font, int(height * 0.14))
    draw.text(
        (band_w // 2 + border // 2, int(height * 0.8)), style.band, font=band_font,
        fill="white", anchor="mm",
    )  # fmt: skip
    area = (band_w + border, width - border)
    max_w = (area[1] - area[0]) * 0.9
    for row, centre in zip(square_rows(display), (0.29, 0.71), strict=True):
        text_font = _font(font, int(height * 0.36))
        tw = draw.textlength(row, font=text_font)
        if tw > max_w:
            text_font = _font(font, max(8, int(height * 0.36 * max_w / tw)))
        draw.text(
            ((area[0] + area[1]) // 2, int(height * centre)), row, font=text_font,
            fill=style.ink, anchor="mm",
        )  # fmt: skip
    return img


def _scene(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    """A street with a car's front: sky, road, body, grille, headlights."""
    w, h = size
    img = Image.new("RGB", size, (rng.randint(120, 200), rng.randint(150, 210), 230))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, int(h * 0.55), w, h), fill=(rng.randint(60, 110),) * 3)
    for _ in range(6):  # buildings and trees behind
        x = rng.randint(0, w)
        draw.rectangle(
            (x, rng.randint(0, h // 3), x + rng.randint(40, 160), int(h * 0.55)),
            fill=tuple(rng.randint(40, 200) for _ in range(3)),
        )
    body = tuple(rng.randint(10, 230) for _ in range(3))
    x0, x1 = int(w * rng.uniform(0.12, 0.22)), int(w * rng.uniform(0.78, 0.88))
    y0, y1 = int(h * rng.uniform(0.25, 0.35)), int(h * rng.uniform(0.85, 0.95))
    draw.rounded_rectangle((x0, y0, x1, y1), radius=40, fill=body)
    draw.rectangle((x0 + 30, y0 + 15, x1 - 30, y0 + (y1 - y0) // 3), fill=(40, 50, 60))
    gy = y0 + (y1 - y0) // 2
    draw.rectangle((int(w * 0.38), gy - 25, int(w * 0.62), gy + 5), fill=(25, 25, 25))
    for cx in (x0 + 50, x1 - 50):
        draw.ellipse((cx - 30, gy - 25, cx + 30, gy + 5), fill=(235, 235, 220))
    return img


def _distractors(img: Image.Image, rng: random.Random, font: Path | None) -> None:
    draw = ImageDraw.Draw(img)
    w, h = img.size
    words = ("GARAGE JANSSENS", "AUTO 2000", "TAXI", "PARKING P3", "BAKKERIJ", "ZONE 30")
    for _ in range(2):
        draw.text(
            (rng.randint(0, w * 2 // 3), rng.randint(0, h // 4)),
            rng.choice(words),
            font=_font(font, rng.randint(14, 28)),
            fill=(rng.randint(200, 255),) * 3,
        )


def _dealer_frame(plate: Image.Image, rng: random.Random, font: Path | None) -> Image.Image:
    """The plate in a dealer's frame: a white strip under it with small dark text."""
    w, h = plate.size
    framed = Image.new("RGB", (w, int(h * 1.35)), (245, 245, 245))
    framed.paste(plate, (0, 0))
    draw = ImageDraw.Draw(framed)
    name = rng.choice(("GARAGE JANSSENS", "AUTO PEETERS GEEL", "VW CENTER 014/123456"))
    draw.text((w // 2, int(h * 1.17)), name, font=_font(font, max(8, int(h * 0.22))),
              fill=(30, 30, 30), anchor="mm")  # fmt: skip
    return framed


def _warp(plate: np.ndarray, angle: float, skew: float) -> tuple[np.ndarray, np.ndarray]:
    """The plate under a small rotation and perspective, on a transparent canvas, and its
    corners (clockwise from top left) in the canvas."""
    ph, pw = plate.shape[:2]
    pad = int(max(ph, pw) * 0.2)
    src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float32)
    skewed = src + pad
    skewed[1, 1] += skew * ph
    skewed[2, 1] -= skew * ph
    centre = (pw / 2 + pad, ph / 2 + pad)
    rot = cv2.getRotationMatrix2D(centre, angle, 1.0)
    dst = (np.hstack([skewed, np.ones((4, 1), np.float32)]) @ rot.T).astype(np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    size = (pw + 2 * pad, ph + 2 * pad)
    rgba = np.dstack([plate, np.full((ph, pw), 255, np.uint8)])
    out = cv2.warpPerspective(rgba, m, size, flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0, 0))
    return out, dst


def make_sample(
    rng: random.Random,
    country: str | None = None,
    *,
    fonts: Sequence[Path | None] | None = None,
    size: tuple[int, int] = (960, 600),
    plate_height: tuple[int, int] = (38, 70),
    max_angle: float = 6.0,
    max_blur: float = 1.2,
    max_noise: float = 8.0,
    distractors: bool = True,
    square: bool = False,
) -> Sample:
    """One labelled photograph of a plate on a car (BGR)."""
    country = country or rng.choice(tuple(STYLES))
    fonts = fonts if fonts is not None else (font_paths() or (None,))
    font = rng.choice(list(fonts))
    display = random_plate(country, rng)
    height = rng.randint(*plate_height)
    if square:  # a square plate's rows are about as tall as a one-row plate's text
        flat = render_square_plate(display, country, font=font, height=int(height * 2.2))
    else:
        flat = render_plate(display, country, font=font, height=height)
    if distractors and not square and rng.random() < DEALER_FRAME_SHARE:
        flat = _dealer_frame(flat, rng, font)
    plate = np.asarray(flat)
    warped, corners = _warp(plate, rng.uniform(-max_angle, max_angle), rng.uniform(-0.08, 0.08))
    scene = _scene(rng, size)
    if distractors:
        _distractors(scene, rng, font)
    canvas = np.asarray(scene).copy()
    wh, ww = warped.shape[:2]
    x = int(size[0] / 2 - ww / 2 + rng.uniform(-0.15, 0.15) * size[0])
    y = int(size[1] * rng.uniform(0.6, 0.72) - wh / 2)
    x, y = max(0, min(size[0] - ww, x)), max(0, min(size[1] - wh, y))
    alpha = warped[:, :, 3:4].astype(np.float32) / 255
    region = canvas[y : y + wh, x : x + ww].astype(np.float32)
    canvas[y : y + wh, x : x + ww] = (warped[:, :, :3] * alpha + region * (1 - alpha)).astype(
        np.uint8
    )
    bgr = cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR)
    sigma = rng.uniform(0, max_blur)
    if sigma > 0.3:
        bgr = cv2.GaussianBlur(bgr, (0, 0), sigma)
    noise_rng = np.random.default_rng(rng.getrandbits(32))
    noise = noise_rng.normal(0, rng.uniform(0, max_noise), bgr.shape)
    bgr = np.clip(bgr.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(60, 95)])
    decoded = cv2.imdecode(jpeg, cv2.IMREAD_COLOR) if ok else None
    bgr = bgr if decoded is None else decoded
    xs, ys = corners[:, 0] + x, corners[:, 1] + y
    box = (int(xs.min()), int(ys.min()), int(xs.max() - xs.min()), int(ys.max() - ys.min()))
    return Sample(bgr, normalise(display), country, display, box)


def write_labelled_set(folder: Path, count: int, *, seed: int = 9) -> Path:
    """``count`` JPEG photographs, countries in turn (one in ten on a square plate), and
    ``labels.csv`` (file, plate, country)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    countries = tuple(STYLES)
    labels = folder / "labels.csv"
    with labels.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["file", "plate", "country"])
        for i in range(count):
            square = rng.random() < SQUARE_SHARE
            sample = make_sample(rng, countries[i % len(countries)], square=square)
            name = f"{i:05d}.jpg"
            cv2.imwrite(str(folder / name), sample.image)
            out.writerow([name, sample.plate, sample.country])
    return labels


def passage_frames(sample: Sample, count: int, *, step: int = 12) -> list[np.ndarray]:
    """The sample's car driving towards the camera: shifted and growing a little per frame."""
    h, w = sample.image.shape[:2]
    out = []
    for k in range(count):
        scale = 1.0 + 0.015 * k
        m = cv2.getRotationMatrix2D((w / 2, h / 2), 0.0, scale)
        m[0, 2] += (k - count // 2) * step
        m[1, 2] += k * step // 3
        out.append(cv2.warpAffine(sample.image, m, (w, h), borderMode=cv2.BORDER_REPLICATE))
    return out


def write_video(
    path: Path,
    countries: Sequence[str],
    *,
    frames_per_passage: int = 8,
    gap_frames: int = 6,
    fps: float = 10.0,
    seed: int = 9,
    size: tuple[int, int] = (640, 400),
    distractors: bool = True,
) -> list[str]:
    """An MJPEG ``.avi`` with one car passage per country, empty road in between; the plates."""
    rng = random.Random(seed)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, size)
    empty = np.full((size[1], size[0], 3), 90, np.uint8)
    plates = []
    try:
        for country in countries:
            sample = make_sample(rng, country, size=size, plate_height=(34, 44), max_blur=0.6,
                                 distractors=distractors)  # fmt: skip
            plates.append(sample.plate)
            for frame in passage_frames(sample, frames_per_passage):
                writer.write(frame)
            for _ in range(gap_frames):
                writer.write(empty)
    finally:
        writer.release()
    return plates
