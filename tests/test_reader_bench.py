"""`kruispunt bench reader --json` keeps its output contract (a few pictures: not a timing
test), on a generated set and on a folder labelled by file names."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import pytest

from kruispunt.bench.reader import load_labels
from kruispunt.reader.render import make_sample
from tests.reader.helpers import require_ocr

pytestmark = pytest.mark.slow
require_ocr()


def _bench(*args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "kruispunt", "bench", "reader", "--json", "--threads", "2", *args],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def test_bench_reader_prints_the_contract_keys() -> None:
    result = _bench("--images", "10")
    assert result["images"] == 10 and result["generated"] is True
    for key in ("accuracy", "baseline_accuracy"):
        assert 0.0 <= result[key] <= 1.0, key
    for key in ("images_per_s", "baseline_images_per_s", "latency_ms_p50", "latency_ms_p95",
                "cpu_ms_per_image"):  # fmt: skip
        assert isinstance(result[key], int | float) and result[key] > 0, key
    assert result["accuracy"] >= 0.8  # rendered plates: the reader must read nearly all
    assert "CPUExecutionProvider" in result["providers"]
    assert set(result["per_country"]) == {"BE", "NL", "FR", "DE", "LU"}


def test_bench_reader_on_a_folder_labelled_by_file_names(tmp_path: Path) -> None:
    rng = random.Random(12)
    for i, country in enumerate(("BE", "FR", "NL")):
        sample = make_sample(rng, country)
        cv2.imwrite(str(tmp_path / f"{sample.display}_{i}.jpg"), sample.image)
    labels = load_labels(tmp_path)
    assert all(item.plate.isalnum() and item.plate.isupper() for item in labels)
    result = _bench("--folder", str(tmp_path), "--no-baseline")
    assert result["images"] == 3 and result["generated"] is False
    assert "baseline_accuracy" not in result and result["accuracy"] >= 2 / 3
