"""Why an input could not be read. Every error is per input: the others are still read.

ReaderError
 ├── ImageError   corrupt, empty or unsupported picture; an empty frame
 └── VideoError   a video file that cannot be opened; an unreachable or silent stream
"""

from __future__ import annotations


class ReaderError(Exception):
    """An input the reader cannot read; the message says why, for the operator."""


class ImageError(ReaderError):
    pass


class VideoError(ReaderError):
    pass
