"""What the reader tests share: one reader per test session (the models load once), and the
OCR package's check (rapidocr-onnxruntime exists for Python < 3.13 only)."""

from __future__ import annotations

import functools
import importlib.util
import os

import pytest

from kruispunt.reader import PlateReader
from kruispunt.reader.ocr import MISSING_OCR


def require_ocr() -> None:
    """Skip the calling module without the OCR package (a failure under CI=true)."""
    if importlib.util.find_spec("rapidocr_onnxruntime") is not None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(MISSING_OCR)
    pytest.skip(MISSING_OCR, allow_module_level=True)


@functools.cache
def reader() -> PlateReader:
    # Two threads: the test machine's cores are shared with the rest of the suite.
    return PlateReader(threads=2)
