"""``kruispunt bench reader``: exact-plate accuracy and speed of the software plate reader.

On a folder of labelled pictures (``labels.csv`` with ``file,plate[,country]``, or the plate
as the file name's stem: ``1ABC123.jpg``, ``1ABC123_2.jpg``), or, without one, on a generated
set of rendered plates in street scenes (``kruispunt.reader.render``: every supported country,
several fonts, sizes, angles, blur, noise and JPEG quality; distractor text in the scene).

In the same run, on the same pictures, a baseline: plain RapidOCR on the whole picture (its
stock pipeline: detection, direction, recognition), the most confident text taken as the
plate, with no plate localisation and no format validation. A read counts as exact when its
normalised text equals the label's. Speed is pictures per second, one at a time, decoding
included, after one warm-up picture; latencies are per picture. ``cpu_ms_per_image`` is the
process's CPU time (all its threads) per picture: on a busy machine, where the wall clock
also counts other programs' turns, it says what the reader itself costs.
"""

from __future__ import annotations

import csv
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from kruispunt.plates import normalise
from kruispunt.reader.errors import ReaderError
from kruispunt.reader.image import IMAGE_SUFFIXES, PlateReader, load_image
from kruispunt.reader.ocr import providers
from kruispunt.reader.render import write_labelled_set


@dataclass(frozen=True, slots=True)
class Labelled:
    path: Path
    plate: str
    country: str | None


def load_labels(folder: Path, labels: Path | None = None) -> list[Labelled]:
    """The labelled pictures of ``folder``: from the CSV, else from the file names."""
    csv_path = labels or (folder / "labels.csv")
    if csv_path.is_file():
        with csv_path.open(newline="") as f:
            return [
                Labelled(folder / row["file"], normalise(row["plate"]), row.get("country") or None)
                for row in csv.DictReader(f)
            ]
    return [
        Labelled(p, normalise(p.stem.split("_")[0]), None)
        for p in sorted(folder.iterdir())
        if p.suffix.lower() in IMAGE_SUFFIXES
    ]


@dataclass(frozen=True, slots=True)
class _Run:
    correct: list[bool]
    latencies_s: list[float]
    wall_s: float
    cpu_s: float
    """CPU time of the process (all threads): a measure that other load on the machine
    disturbs less than the wall clock."""


def _measure(
    items: list[Labelled], read: Callable[[Path], str | None], tick: Callable[[], None]
) -> _Run:
    read(items[0].path)  # warm-up: first-call allocations are not the steady state
    correct: list[bool] = []
    latencies: list[float] = []
    start, cpu_start = time.perf_counter(), time.process_time()
    for item in items:
        t0 = time.perf_counter()
        try:
            got = read(item.path)
        except ReaderError:
            got = None
        latencies.append(time.perf_counter() - t0)
        correct.append(got == item.plate)
        tick()
    return _Run(correct, latencies, time.perf_counter() - start, time.process_time() - cpu_start)


def _baseline(threads: int) -> Callable[[Path], str | None]:
    """Plain OCR: RapidOCR's stock pipeline on the whole picture, the most confident text."""
    from rapidocr_onnxruntime import RapidOCR

    use_cuda = providers()[0] == "CUDAExecutionProvider"
    engine = RapidOCR(
        intra_op_num_threads=threads, inter_op_num_threads=1,
        det_use_cuda=use_cuda, rec_use_cuda=use_cuda, cls_use_cuda=use_cuda,
    )  # fmt: skip

    def read(path: Path) -> str | None:
        result, _ = engine(load_image(path))
        if not result:
            return None
        text = max(result, key=lambda r: float(r[2]))[1]
        return normalise(str(text))

    return read


def _summary(run: _Run, n: int) -> dict[str, Any]:
    lat = sorted(run.latencies_s)
    return {
        "accuracy": round(sum(run.correct) / n, 4),
        "images_per_s": round(n / run.wall_s, 2),
        "latency_ms_p50": round(statistics.median(lat) * 1000, 1),
        "latency_ms_p95": round(lat[min(n - 1, int(0.95 * n))] * 1000, 1),
        "cpu_ms_per_image": round(run.cpu_s / n * 1000, 1),
    }


@contextmanager
def _progress(enabled: bool) -> Iterator[Progress | None]:
    if not enabled:
        yield None
        return
    bar = Progress(
        "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=Console(stderr=True), transient=True,
    )  # fmt: skip
    with bar:
        yield bar


def _ticker(progress: Progress | None, label: str, total: int) -> Callable[[], None]:
    if progress is None:
        return lambda: None
    task = progress.add_task(label, total=total)
    return lambda: progress.advance(task)


def run_reader_bench(
    *,
    folder: Path | None = None,
    labels: Path | None = None,
    count: int = 200,
    seed: int = 9,
    det_side: int = 480,
    threads: int | None = None,
    baseline: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    threads = threads or min(4, os.cpu_count() or 1)
    with tempfile.TemporaryDirectory(prefix="kp-bench-reader-") as tmp:
        generated = folder is None
        if folder is None:
            folder = Path(tmp)
            write_labelled_set(folder, count, seed=seed)
        items = load_labels(folder, labels)
        if not items:
            raise ValueError(f"no labelled pictures in {folder}")
        reader = PlateReader(threads=threads, det_side=det_side)

        def ours(path: Path) -> str | None:
            reads = reader.read_file(path)
            return reads[0].plate if reads else None

        with _progress(progress) as bar:
            run = _measure(items, ours, _ticker(bar, "reader", len(items)))
            base = _measure(items, _baseline(threads), _ticker(bar, "baseline", len(items))) \
                if baseline else None  # fmt: skip

    n = len(items)
    result: dict[str, Any] = {
        "images": n,
        "generated": generated,
        **_summary(run, n),
        "providers": reader.providers,
        "threads": threads,
        "cpu_count": os.cpu_count(),
        "det_side": det_side,
    }
    if base is not None:
        b = _summary(base, n)
        result |= {
            "baseline_accuracy": b["accuracy"],
            "baseline_images_per_s": b["images_per_s"],
            "baseline_latency_ms_p50": b["latency_ms_p50"],
            "baseline_cpu_ms_per_image": b["cpu_ms_per_image"],
        }
    by_country: dict[str, list[bool]] = {}
    for item, ok in zip(items, run.correct, strict=True):
        by_country.setdefault(item.country or "?", []).append(ok)
    result["per_country"] = {
        c: {"images": len(v), "accuracy": round(sum(v) / len(v), 4)}
        for c, v in sorted(by_country.items())
    }
    return result
