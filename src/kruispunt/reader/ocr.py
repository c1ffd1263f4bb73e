"""The OCR engine: RapidOCR's PP-OCRv4 ONNX models, shipped inside the ``rapidocr-onnxruntime``
wheel (nothing is downloaded at run time), run by onnxruntime.

Only two of its parts are used: the text detector (DB) and the text recogniser (CRNN/CTC).
The recogniser's own decoding is replaced by one restricted to the characters a plate can
carry (A-Z, 0-9 and separators): the model knows thousands of Chinese characters, and a plate
read must never turn into one. Each position keeps its best alternative, so the format-guided
correction (``text``) can swap an OCR-confusable character for the one the format wants.

Providers: CUDA when onnxruntime lists ``CUDAExecutionProvider`` (the ``onnxruntime-gpu``
wheel on a machine with a GPU), the CPU otherwise.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from kruispunt.reader.errors import ReaderError

MISSING_OCR = (
    "the plate reader needs the rapidocr-onnxruntime package, which exists for Python "
    "3.8-3.12 only (pip install 'rapidocr-onnxruntime>=1.4,<1.5')"
)

CUDA = "CUDAExecutionProvider"
ALLOWED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789- ")
REC_HEIGHT = 48
DEFAULT_DET_SIDE = 480
"""Pixels on the longer side the text detector sees (speed against the smallest plate)."""


@dataclass(frozen=True, slots=True)
class CharRead:
    char: str
    prob: float
    alt: str
    """The next likeliest plate character at this position ("" when none)."""
    alt_prob: float
    x: float = 0.0
    """Where along the crop the character lies (0: left edge, 1: right edge)."""


@dataclass(frozen=True, slots=True)
class TextRead:
    text: str
    confidence: float
    """Mean probability of the kept characters (0 for an empty read)."""
    chars: tuple[CharRead, ...]

    @staticmethod
    def join(rows: list[TextRead]) -> TextRead:
        """The rows of a square plate read as one line, top row first."""
        gap = CharRead(" ", 1.0, "", 0.0, 1.0)
        chars = tuple(c for i, row in enumerate(rows) for c in (*((gap,) if i else ()), *row.chars))
        kept = [c.prob for c in chars if c.char not in "- "]
        confidence = sum(kept) / len(kept) if kept else 0.0
        return TextRead(" ".join(r.text for r in rows), confidence, chars)

    def after(self, x: float) -> TextRead:
        """The read without the characters left of ``x`` (a share of the crop's width)."""
        if x <= 0:
            return self
        chars = tuple(c for c in self.chars if c.x >= x)
        kept = [c.prob for c in chars if c.char not in "- "]
        confidence = sum(kept) / len(kept) if kept else 0.0
        return TextRead("".join(c.char for c in chars), confidence, chars)


def providers() -> list[str]:
    """onnxruntime's execution providers this engine uses, best first."""
    import onnxruntime

    available = onnxruntime.get_available_providers()
    return [CUDA, "CPUExecutionProvider"] if CUDA in available else ["CPUExecutionProvider"]


class OcrEngine:
    """Text detection and plate-character recognition. Thread-safe (one call at a time)."""

    def __init__(self, *, threads: int | None = None, det_side: int = DEFAULT_DET_SIDE) -> None:
        try:
            from rapidocr_onnxruntime import RapidOCR  # heavy: only when a reader is made
        except ImportError:
            raise ReaderError(MISSING_OCR) from None

        self.providers = providers()
        use_cuda = self.providers[0] == CUDA
        self.threads = threads or min(4, os.cpu_count() or 1)
        self._engine: Any = RapidOCR(
            det_use_cuda=use_cuda,
            rec_use_cuda=use_cuda,
            cls_use_cuda=use_cuda,
            intra_op_num_threads=self.threads,
            inter_op_num_threads=1,
            # The detector gets an image already scaled to ``det_side`` (see ``detect``);
            # "min" with a tiny limit keeps it from scaling it up again.
            det_limit_side_len=32,
            det_limit_type="min",
        )
        self.det_side = det_side
        self._lock = threading.Lock()
        charset: list[str] = list(self._engine.text_rec.postprocess_op.character)
        self._charset = charset
        # Upper- and lower-case forms of a letter count as one plate character.
        self._chars = sorted(ALLOWED)
        self._index = np.array(
            [i for i, c in enumerate(charset) if i > 0 and c.upper() in ALLOWED], np.int64
        )
        self._fold = np.zeros((len(self._index), len(self._chars)), np.float32)
        for j, i in enumerate(self._index):
            self._fold[j, self._chars.index(charset[i].upper())] = 1.0

    def detect(self, image: np.ndarray, side: int | None = None) -> list[np.ndarray]:
        """Text boxes (4 x 2 float32 corners, clockwise from top left) in ``image``'s pixels.

        The detector sees the image scaled down to ``side`` (default ``det_side``) pixels on
        its longer side: plates are large, bold text, and the cost grows with the area."""
        h, w = image.shape[:2]
        scale = min(1.0, (side or self.det_side) / max(h, w))
        size = (round(w * scale), round(h * scale))
        small = image if scale == 1.0 else cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        with self._lock:
            boxes, _ = self._engine.text_det(small)
        if boxes is None or len(boxes) == 0:
            return []
        return [np.asarray(b, np.float32) / scale for b in boxes]

    def recognise(self, crops: list[np.ndarray]) -> list[TextRead]:
        """Plate characters in each crop (BGR, one text line each), in one batch."""
        if not crops:
            return []
        ratio = max(c.shape[1] / max(1, c.shape[0]) for c in crops)
        width = max(REC_HEIGHT * 4, math.ceil(REC_HEIGHT * ratio))
        normed = [_norm(c, width) for c in crops]
        batch = np.stack([n for n, _ in normed])
        with self._lock:
            preds = self._engine.text_rec.session(batch)[0]
        # One output step per `stride` input columns; a character's place along its crop.
        stride = width / preds.shape[1]
        return [self._decode(p, stride / w) for p, (_, w) in zip(preds, normed, strict=True)]

    def _decode(self, pred: np.ndarray, step: float) -> TextRead:
        """Greedy CTC decoding over blank + the plate characters only."""
        sub = pred[:, self._index] @ self._fold
        blank = pred[:, 0]
        order = np.argsort(-sub, axis=1)
        best, second = order[:, 0], order[:, 1]
        rows = np.arange(len(sub))
        best_p = sub[rows, best]
        chars: list[CharRead] = []
        prev = -1
        for t in rows:
            if blank[t] >= best_p[t]:
                prev = -1
                continue
            if best[t] == prev:
                continue
            prev = int(best[t])
            total = float(best_p[t] + blank[t] + sub[t, second[t]]) or 1.0
            chars.append(
                CharRead(
                    self._chars[prev],
                    float(best_p[t]) / total,
                    self._chars[int(second[t])],
                    float(sub[t, second[t]]) / total,
                    (t + 0.5) * step,
                )
            )
        kept = [c for c in chars if c.char not in "- "]
        confidence = sum(c.prob for c in kept) / len(kept) if kept else 0.0
        return TextRead("".join(c.char for c in chars), confidence, tuple(chars))


def _norm(crop: np.ndarray, width: int) -> tuple[np.ndarray, int]:
    """A crop as the recogniser wants it: height 48, padded to ``width``, CHW in [-1, 1];
    and its width before the padding."""
    h, w = crop.shape[:2]
    new_w = min(width, max(1, math.ceil(REC_HEIGHT * w / max(1, h))))
    resized = cv2.resize(crop, (new_w, REC_HEIGHT)).astype(np.float32)
    out = np.zeros((3, REC_HEIGHT, width), np.float32)
    out[:, :, :new_w] = resized.transpose(2, 0, 1) / 127.5 - 1.0
    return out, new_w
