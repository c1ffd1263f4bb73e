"""Read the plates in one picture: detect text, pick plate candidates, recognise, validate."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from kruispunt.reader import locate
from kruispunt.reader.errors import ImageError
from kruispunt.reader.ocr import DEFAULT_DET_SIDE, OcrEngine, TextRead
from kruispunt.reader.text import interpret

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".jp2"}
)
RETRY_SCALE = 2.0
OVERLAP_IOU = 0.3
"""Two reads whose plate boxes overlap more are one plate: the better one is kept."""


@dataclass(frozen=True, slots=True)
class PlateRead:
    plate: str
    """Normalised text (A-Z0-9), what the node matches on."""
    country: str | None
    display: str
    confidence: float
    """0-1: the OCR's confidence x the strength of the format x the plate look."""
    box: locate.Box
    """x, y, w, h in the picture's pixels."""
    crop: np.ndarray = field(repr=False, compare=False)
    """BGR pixels of the plate."""
    format: str | None = None
    raw: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "plate": self.plate,
            "country": self.country,
            "display": self.display,
            "confidence": round(self.confidence, 4),
            "box": list(self.box),
        }


def decode_image(data: bytes) -> np.ndarray:
    """BGR pixels of an encoded picture (JPEG, PNG, ...); ImageError when it is not one."""
    if not data:
        raise ImageError("empty file")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise ImageError("not a readable image (corrupt or unsupported format)")
    return image


def load_image(path: Path) -> np.ndarray:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot open: {exc.strerror or exc}") from None
    return decode_image(data)


def as_bgr(image: np.ndarray) -> np.ndarray:
    """A 3-channel BGR uint8 picture; ImageError for an empty frame."""
    if image is None or image.size == 0 or image.ndim not in (2, 3) or min(image.shape[:2]) < 8:
        raise ImageError("empty frame")
    if image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.shape[2] != 3:
        raise ImageError(f"unsupported picture with {image.shape[2]} channels")
    return image


def iou(a: locate.Box, b: locate.Box) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


def best_reads(reads: list[PlateRead]) -> list[PlateRead]:
    """Best first, one read per plate text and per place in the picture."""
    kept: list[PlateRead] = []
    for r in sorted(reads, key=lambda r: -r.confidence):
        if all(r.plate != k.plate and iou(r.box, k.box) < OVERLAP_IOU for k in kept):
            kept.append(r)
    return kept


class PlateReader:
    """Finds and reads the plates in pictures. One per process is enough (the models load
    once); calls are serialised on the engine."""

    def __init__(
        self,
        *,
        threads: int | None = None,
        det_side: int = DEFAULT_DET_SIDE,
        country: str | None = None,
        require_format: bool = True,
        engine: OcrEngine | None = None,
    ) -> None:
        self.engine = engine or OcrEngine(threads=threads, det_side=det_side)
        self.country = country
        self.require_format = require_format

    @property
    def providers(self) -> list[str]:
        return self.engine.providers

    def read(self, image: np.ndarray, *, retry: bool = True) -> list[PlateRead]:
        """The plates in a BGR (or grey) picture, best first.

        When nothing is found, the detector looks again at a finer scale (``retry``): at a
        coarse one it sometimes takes a whole car front for one block of text."""
        image = as_bgr(image)
        reads = self._read_at(image, self.engine.det_side)
        finer = round(self.engine.det_side * RETRY_SCALE)
        if not reads and retry and max(image.shape[:2]) > self.engine.det_side:
            reads = self._read_at(image, finer)
        return reads

    def _read_at(self, image: np.ndarray, side: int) -> list[PlateRead]:
        cands = locate.candidates(image, self.engine.detect(image, side))
        # One text line per crop: a square plate's rows are read apart, then joined.
        lines = [(i, q) for i, c in enumerate(cands) for q in (c.rows or (c.quad,))]
        crops = [locate.text_crop(image, q) for _, q in lines]
        texts = self.engine.recognise(crops)
        per_cand: list[list[TextRead]] = [[] for _ in cands]
        for (i, _), text_crop, text in zip(lines, crops, texts, strict=True):
            per_cand[i].append(text.after(locate.band_end(text_crop)))
        reads: list[PlateRead] = []
        for cand, rows in zip(cands, per_cand, strict=True):
            plate_text = TextRead.join(rows) if len(rows) > 1 else rows[0]
            found = interpret(plate_text, country=self.country, require_format=self.require_format)
            if found is None:
                continue
            # How much the place looks like a plate counts a little; the text counts most.
            confidence = found.confidence * (0.8 + 0.2 * cand.plateness)
            reads.append(
                PlateRead(
                    plate=found.plate,
                    country=found.country,
                    display=found.display,
                    confidence=confidence,
                    box=cand.box,
                    crop=locate.crop(image, cand.box),
                    format=found.format,
                    raw=found.raw,
                )
            )
        return best_reads(reads)

    def read_file(self, path: Path) -> list[PlateRead]:
        return self.read(load_image(path))

    def read_bytes(self, data: bytes) -> list[PlateRead]:
        return self.read(decode_image(data))
