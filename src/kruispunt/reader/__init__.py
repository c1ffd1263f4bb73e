"""A software plate reader: camera pictures and video in, plate reads out.

For cameras without built-in ANPR. Offline by construction: the OCR models (RapidOCR's
PP-OCRv4 detector and recogniser, ONNX) are inside the ``rapidocr-onnxruntime`` wheel and run
on onnxruntime (CUDA when onnxruntime offers it, the CPU otherwise).

Pipeline, one module each:

- ``ocr``: text detection on a downscaled picture, recognition restricted to plate
  characters;
- ``locate``: plate candidates among the text lines (shape, a plate's light background, the
  EU band), the plate's box and crop;
- ``text``: correction and validation against the plate formats (``kruispunt.plates``);
- ``image``: the reader of one picture; ``video`` and ``track``: frames, one read per
  passage; ``post``: reads to a node as a camera; ``runner``: what ``kruispunt read`` does
  per input; ``render``: synthetic labelled plates (tests and ``kruispunt bench reader``).

>>> reader = PlateReader()
>>> [r.plate for r in read_image("car.jpg", reader=reader)]  # doctest: +SKIP
['1ABC123']
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from kruispunt.reader.errors import ImageError, ReaderError, VideoError
from kruispunt.reader.image import PlateRead, PlateReader, as_bgr, decode_image, load_image
from kruispunt.reader.track import Passage
from kruispunt.reader.video import DEFAULT_SAMPLE_FPS
from kruispunt.reader.video import read_video as _read_video

__all__ = [
    "ImageError",
    "Passage",
    "PlateRead",
    "PlateReader",
    "ReaderError",
    "VideoError",
    "default_reader",
    "read_image",
    "read_video",
]


@functools.cache
def default_reader() -> PlateReader:
    """One reader per process (the models load once)."""
    return PlateReader()


def read_image(
    source: str | Path | bytes | np.ndarray, *, reader: PlateReader | None = None
) -> list[PlateRead]:
    """The plates in a picture (a path, encoded bytes or BGR pixels), best first.

    Raises ImageError for a corrupt, empty or unreadable picture."""
    reader = reader or default_reader()
    if isinstance(source, np.ndarray):
        return reader.read(as_bgr(source))
    if isinstance(source, bytes):
        return reader.read(decode_image(source))
    return reader.read(load_image(Path(source)))


def read_video(
    source: str | Path,
    *,
    reader: PlateReader | None = None,
    sample_fps: float = DEFAULT_SAMPLE_FPS,
) -> list[Passage]:
    """One read per vehicle passage in a video file or stream (RTSP/HTTP URL).

    Raises VideoError for a file that cannot be opened or a stream that cannot be reached."""
    return _read_video(source, reader or default_reader(), sample_fps=sample_fps)
