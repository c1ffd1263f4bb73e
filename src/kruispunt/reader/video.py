"""Read a video file or a live stream (RTSP, HTTP): sample frames, read them, track passages.

OpenCV's FFmpeg back-end opens both. A stream gets open and read time-outs, so an
unreachable camera is a clear error rather than a hang. Frames are sampled at ``sample_fps``
(a vehicle is in view for a second or more; reading every frame of 25 fps buys nothing).
On a live stream the rate must stay below what the reader manages (``kruispunt bench
reader``), or the reading falls behind the stream.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from kruispunt.reader.errors import ImageError, VideoError
from kruispunt.reader.image import PlateReader
from kruispunt.reader.track import Passage, Tracker

STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")
VIDEO_SUFFIXES = frozenset(
    {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".wmv", ".flv"}
)
DEFAULT_SAMPLE_FPS = 5.0
STREAM_TIMEOUT_S = 8.0
MAX_BAD_FRAMES = 25
"""Consecutive unreadable frames after which a stream counts as lost."""


def is_stream(source: str) -> bool:
    return source.lower().startswith(STREAM_SCHEMES)


def is_video(source: str) -> bool:
    return is_stream(source) or Path(source).suffix.lower() in VIDEO_SUFFIXES


@dataclass(frozen=True, slots=True)
class Frame:
    index: int
    time_s: float
    image: np.ndarray


@dataclass(frozen=True, slots=True)
class VideoInfo:
    frames: int | None
    """Frame count of a file (None for a stream, or when the container does not say)."""
    fps: float


def open_capture(source: str, *, timeout_s: float = STREAM_TIMEOUT_S) -> cv2.VideoCapture:
    if not is_stream(source) and not Path(source).is_file():
        raise VideoError("no such video file")
    ms = int(timeout_s * 1000)
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
    cap = cv2.VideoCapture(source, cv2.CAP_FFMPEG, params)
    if not cap.isOpened():
        cap.release()
        if is_stream(source):
            raise VideoError("stream unreachable or not a video stream")
        raise VideoError("cannot open video (corrupt or unsupported format)")
    return cap


def info(cap: cv2.VideoCapture, source: str) -> VideoInfo:
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    return VideoInfo(None if is_stream(source) or count <= 0 else count, fps if fps > 0 else 25.0)


def probe(source: str) -> VideoInfo:
    """Frame count and rate of a video file; (None, rate) for a stream, which is not opened
    here (``read_video`` opens it, with its time-outs)."""
    if is_stream(source):
        return VideoInfo(None, 25.0)
    cap = open_capture(source)
    try:
        return info(cap, source)
    finally:
        cap.release()


def frames(
    cap: cv2.VideoCapture, source: str, *, sample_fps: float = DEFAULT_SAMPLE_FPS
) -> Iterator[Frame]:
    """The sampled frames; a file's times come from its frame rate, a stream's from the clock."""
    meta = info(cap, source)
    every = max(1, round(meta.fps / sample_fps)) if sample_fps > 0 else 1
    stream, start = is_stream(source), time.monotonic()
    index, bad, read_any = -1, 0, False
    while True:
        ok = cap.grab()
        index += 1
        if not ok:
            if stream and bad < MAX_BAD_FRAMES and read_any:
                bad += 1
                continue
            break
        if index % every:
            continue
        ok, image = cap.retrieve()
        if not ok or image is None or image.size == 0:
            bad += 1
            if bad > MAX_BAD_FRAMES:
                break
            continue
        bad, read_any = 0, True
        t = time.monotonic() - start if stream else index / meta.fps
        yield Frame(index, t, image)
    if not read_any:
        raise VideoError("no frames could be read" + (" from the stream" if stream else ""))


def read_video(
    source: str | Path,
    reader: PlateReader,
    *,
    sample_fps: float = DEFAULT_SAMPLE_FPS,
    tracker: Tracker | None = None,
    on_progress: Callable[[int, int | None], None] | None = None,
    on_passage: Callable[[Passage], None] | None = None,
    max_frames: int | None = None,
    max_seconds: float | None = None,
) -> list[Passage]:
    """The passages in a video file or stream, in the order they ended.

    ``on_progress(frame_index, frame_count)`` follows the reading (count None for a stream);
    ``on_passage`` sees each passage as soon as it ends (to post it while a stream runs).
    A stream is read until it ends, for ``max_seconds``, or until Ctrl-C; the passages still
    open are then closed and handed on like the others.
    """
    src = str(source)
    tracker = tracker or Tracker()
    cap = open_capture(src)
    total = info(cap, src).frames
    passages: list[Passage] = []

    def emit(done: list[Passage]) -> None:
        for p in done:
            passages.append(p)
            if on_passage is not None:
                on_passage(p)

    try:
        for n, frame in enumerate(frames(cap, src, sample_fps=sample_fps)):
            try:
                # No second look at a finer scale: the next frame is that second look.
                reads = reader.read(frame.image, retry=False)
            except ImageError:
                reads = []  # an empty frame inside a video: skip it, keep the passage open
            emit(tracker.update(frame.time_s, frame.index, reads))
            if on_progress is not None:
                on_progress(frame.index + 1, total)
            if max_frames is not None and n + 1 >= max_frames:
                break
            if max_seconds is not None and frame.time_s >= max_seconds:
                break
    except KeyboardInterrupt:
        if not is_stream(src):
            raise
    finally:
        cap.release()
    emit(tracker.finish())
    return passages
