"""Tracking a vehicle's plate across video frames: one read per passage.

Pure: the tracker is fed the reads of each frame with the frame's time and hands back the
passages that ended. A read continues a track when the track was seen within ``max_gap_s``
and its text is the track's text up to one OCR slip (a character changed, lost or added;
confusable characters count as equal), or two where its box overlaps the track's last one
(the vehicle moved a little). The next car in the same lane overlaps too, but its text
differs in more places. The
passage's plate is the text with the most confidence summed over its frames (a vote), shown
with that text's best single read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kruispunt.plates import confusable_key
from kruispunt.reader.image import PlateRead, iou

MAX_GAP_S = 1.5
MIN_IOU = 0.2


@dataclass(frozen=True, slots=True)
class Passage:
    read: PlateRead
    """The best read of the winning text (its box and crop)."""
    frame: int
    """Frame index of that read."""
    time_s: float
    first_s: float
    last_s: float
    frames: int
    """Frames in which the plate was read."""

    def to_json(self) -> dict[str, object]:
        return {
            **self.read.to_json(),
            "frame": self.frame,
            "time_s": round(self.time_s, 3),
            "first_s": round(self.first_s, 3),
            "last_s": round(self.last_s, 3),
            "frames": self.frames,
        }


def distance(a: str, b: str) -> int:
    """Edit distance (Levenshtein), with confusable characters counted as equal."""
    a, b = confusable_key(a), confusable_key(b)
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def continues(read: PlateRead, box: tuple[int, int, int, int], plate: str) -> bool:
    """Whether ``read`` can be the same plate as a track's (last box, leading text): the
    same text up to one OCR slip anywhere in view, or up to two where the box overlaps."""
    slips = distance(read.plate, plate)
    return slips <= 1 or (slips <= 2 and iou(read.box, box) >= MIN_IOU)


@dataclass(slots=True)
class _Track:
    last_box: tuple[int, int, int, int]
    last_s: float
    first_s: float
    frames: int = 0
    votes: dict[str, float] = field(default_factory=dict)
    best: dict[str, tuple[PlateRead, int, float]] = field(default_factory=dict)

    def add(self, read: PlateRead, frame: int, t: float) -> None:
        self.last_box, self.last_s = read.box, t
        self.frames += 1
        self.votes[read.plate] = self.votes.get(read.plate, 0.0) + read.confidence
        known = self.best.get(read.plate)
        if known is None or read.confidence > known[0].confidence:
            self.best[read.plate] = (read, frame, t)

    def leader(self) -> str:
        return max(self.votes, key=lambda p: self.votes[p])

    def passage(self) -> Passage:
        read, frame, t = self.best[self.leader()]
        return Passage(read, frame, t, self.first_s, self.last_s, self.frames)


class Tracker:
    def __init__(self, *, max_gap_s: float = MAX_GAP_S) -> None:
        self.max_gap_s = max_gap_s
        self._tracks: list[_Track] = []

    def _match(self, read: PlateRead, t: float, taken: set[int]) -> _Track | None:
        best: tuple[float, _Track] | None = None
        for i, track in enumerate(self._tracks):
            if i in taken or t - track.last_s > self.max_gap_s:
                continue
            if not continues(read, track.last_box, track.leader()):
                continue
            score = iou(read.box, track.last_box) + (1.0 if read.plate in track.votes else 0.0)
            if best is None or score > best[0]:
                best = (score, track)
        return best[1] if best else None

    def update(self, t: float, frame: int, reads: list[PlateRead]) -> list[Passage]:
        """Feed one frame's reads (time ``t`` in seconds); the passages that ended."""
        taken: set[int] = set()
        for read in reads:
            track = self._match(read, t, taken)
            if track is None:
                track = _Track(read.box, t, t)
                self._tracks.append(track)
            taken.add(self._tracks.index(track))
            track.add(read, frame, t)
        ended = [tr for tr in self._tracks if t - tr.last_s > self.max_gap_s]
        self._tracks = [tr for tr in self._tracks if t - tr.last_s <= self.max_gap_s]
        return [tr.passage() for tr in ended]

    def finish(self) -> list[Passage]:
        """The passages still open (end of the video or stream)."""
        done = [tr.passage() for tr in self._tracks]
        self._tracks = []
        return done
