"""What one ``kruispunt read`` run shares across its inputs: read each (a picture, a video,
a stream), post its reads, print its line. Kept out of ``cli_read`` so that the command line
starts without loading OpenCV."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
from rich.console import Console
from rich.progress import Progress

from kruispunt.reader.errors import ReaderError
from kruispunt.reader.image import IMAGE_SUFFIXES, PlateRead, PlateReader
from kruispunt.reader.post import NodeClient, Outgoing, PostError
from kruispunt.reader.track import Passage
from kruispunt.reader.video import VIDEO_SUFFIXES, is_stream, is_video, probe, read_video


def _mtime_ns(path: str) -> int:
    try:
        return Path(path).stat().st_mtime_ns
    except OSError:
        return 0


def expand(inputs: list[str]) -> Iterator[str]:
    """The inputs, a folder standing for the pictures and videos in it (sorted)."""
    for item in inputs:
        path = Path(item)
        if not is_stream(item) and path.is_dir():
            for child in sorted(path.iterdir()):
                if child.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
                    yield str(child)
        else:
            yield item


class Run:
    """What one ``read`` invocation shares across its inputs."""

    def __init__(
        self,
        reader: PlateReader,
        *,
        as_json: bool,
        client: NodeClient | None,
        crops: Path | None,
        sample_fps: float,
        max_seconds: float | None,
        progress: Progress | None,
        out: Console,
        err: Console,
    ) -> None:
        self.reader, self.as_json, self.client = reader, as_json, client
        self.crops, self.sample_fps, self.progress = crops, sample_fps, progress
        self.max_seconds = max_seconds
        self.out, self.err = out, err
        self.failed = 0

    def one(self, source: str) -> None:
        doc: dict[str, Any] = {"file": source}
        try:
            if is_video(source):
                # Best first, as for a picture; each passage says when it was (time_s).
                passages, posted = self._video(source)
                passages.sort(key=lambda p: -p.read.confidence)
                doc["reads"] = [self._json(p.read, p.to_json(), source) for p in passages]
                if posted is not None:
                    doc["posted"] = posted
            else:
                reads = self.reader.read_file(Path(source))
                doc["reads"] = [self._json(r, r.to_json(), source) for r in reads]
                if self.client is not None:
                    now = dt.datetime.now(dt.UTC)
                    # The same path can be a new picture (a camera overwriting its file).
                    key = f"{source}@{_mtime_ns(source)}"
                    doc["posted"] = self._post([Outgoing(r, now, key) for r in reads])
        except ReaderError as exc:
            self.failed += 1
            doc = {"file": source, "error": str(exc)}
        self._print(doc)

    def _video(self, source: str) -> tuple[list[Passage], dict[str, Any] | None]:
        """The passages, each posted as soon as it ends; and the posts' summary."""
        started = dt.datetime.now(dt.UTC)
        meta = probe(source)
        # A file's first frame: as long before now as the video lasts; a stream: now.
        origin = (
            started
            if meta.frames is None
            else started - dt.timedelta(seconds=meta.frames / meta.fps)
        )
        # Frame numbers restart with each reading of a stream: the start names the capture.
        capture = f"{source}@{started.isoformat()}" if meta.frames is None else source
        posted: dict[str, Any] | None = None
        if self.client is not None:
            posted = {"stored": 0, "duplicates": 0, "rejected": 0}

        def on_passage(p: Passage) -> None:
            if posted is None:
                return
            at = origin + dt.timedelta(seconds=p.time_s)
            out = Outgoing(p.read, at, capture, p.frame)
            for key, value in self._post([out]).items():
                if isinstance(value, int):
                    posted[key] = posted.get(key, 0) + value
                elif key == "error":
                    posted["error"] = value
                else:
                    posted.setdefault(key, []).extend(value)

        task = None
        if self.progress is not None and meta.frames:
            task = self.progress.add_task(Path(source).name, total=meta.frames)

        def on_progress(done: int, total: int | None) -> None:
            if self.progress is not None and task is not None:
                self.progress.update(task, completed=done)

        try:
            passages = read_video(
                source, self.reader, sample_fps=self.sample_fps, max_seconds=self.max_seconds,
                on_passage=on_passage, on_progress=on_progress,
            )  # fmt: skip
            return passages, posted
        finally:
            if self.progress is not None and task is not None:
                self.progress.remove_task(task)

    def _post(self, reads: list[Outgoing]) -> dict[str, Any]:
        assert self.client is not None
        if not reads:
            return {"stored": 0, "duplicates": 0, "rejected": 0}
        try:
            result = self.client.post(reads)
        except PostError as exc:
            self.failed += 1
            return {"error": str(exc)}
        doc: dict[str, Any] = {"stored": result.stored, "duplicates": result.duplicates,
                               "rejected": result.rejected}  # fmt: skip
        if result.reasons:
            doc["reasons"] = list(result.reasons)
        return doc

    def _json(self, read: PlateRead, doc: dict[str, Any], source: str) -> dict[str, Any]:
        if self.crops is not None:
            self.crops.mkdir(parents=True, exist_ok=True)
            stem = Path(source).stem if not is_stream(source) else "stream"
            name = self.crops / f"{stem}-{doc.get('frame', 0)}-{read.plate}.jpg"
            if read.crop.size and cv2.imwrite(str(name), read.crop):
                doc["crop"] = str(name)
        return doc

    def _print(self, doc: dict[str, Any]) -> None:
        if self.as_json:
            sys.stdout.write(json.dumps(doc) + "\n")
            sys.stdout.flush()
            return
        if "error" in doc:
            self.err.print(f"[red]{doc['file']}: {doc['error']}[/red]")
            return
        if not doc["reads"]:
            self.out.print(f"{doc['file']}: no plate")
        for r in doc["reads"]:
            where = f" at {r['time_s']:.1f} s" if "time_s" in r else ""
            self.out.print(
                f"{doc['file']}: {r['display']} ({r['country'] or '?'}) "
                f"confidence {r['confidence']:.2f} box {r['box']}{where}"
            )
        posted = doc.get("posted")
        if posted:
            self.err.print(f"{doc['file']}: posted {posted}")
