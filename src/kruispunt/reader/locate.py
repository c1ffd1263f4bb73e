"""Plate localisation: from the OCR's text boxes to a few plate candidates.

The text detector finds every line of text in the picture (a dealer's name, a shop sign, a
plate's groups). A candidate is one text box, or a run of boxes on one line (a plate's groups
are sometimes found apart), whose size and shape are those of a plate's text line, and whose
text is dark on a light ground (every current EU plate). It is ranked by how much it looks
like a plate: a white or yellow ground right around the text, inside a light region that
ends (the plate, which also gives the plate's box) rather than running on (a wall, the sky).
The blue EU band is found in the text crop so that its letters are not read as the plate's.
Pure functions on numpy arrays; the OCR is called elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MIN_TEXT_HEIGHT = 9
MIN_TEXT_WIDTH = 40
"""Pixels (full resolution); smaller text is not read reliably (characters < 6 px wide)."""
MIN_ASPECT, MAX_ASPECT = 1.3, 14.0
"""Width/height of a plate's text line: one group (square plates' rows) to a long DE plate."""
MIN_SQUARE_ASPECT, MAX_SQUARE_ASPECT = 0.8, 4.0
"""Width/height of a square plate's two text rows together."""
MAX_CANDIDATES = 3
MIN_PLATENESS = 0.3
"""Below it a candidate is read only when it is the likeliest of its picture."""
UNBOUNDED_FACTOR = 0.6
"""Plateness kept when no bounded light region (a plate) holds the text."""
MIN_LIGHT_SHARE = 0.5
"""Share of the text box's middle lighter than its Otsu level below which the text is light
on dark: a sign or a sticker, not an EU plate (rendered plates measure 0.58-0.81). Old
light-on-dark plates (French black FNI plates, Dutch blue ones) are given up for this."""
MAX_UPRIGHT_ANGLE = 5.0
"""Degrees of tilt up to which a text line's surroundings are measured as they are; a more
tilted one is warped upright first."""
BAND_MIN_VALUE = 80
"""Brightness (HSV value) from which blue is the EU band's: dark blue is characters on a
bluish picture, not the band."""
MIN_THIN_LIGHT_SHARE = 0.4
"""From this share up to ``MIN_LIGHT_SHARE`` the text is dark on light when its dark pixels
are the thinner class (strokes), as with bold characters filling a tilted plate."""
CROP_PAD = 0.12
"""Padding around the text for the recogniser, as a share of the text height."""

Box = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class Candidate:
    quad: np.ndarray
    """4 x 2 float32: the text's rotated rectangle, clockwise from top left."""
    box: Box
    """The plate's box (x, y, w, h): the bright plate region around the text when found,
    else the text box widened by a margin."""
    plateness: float
    """0-1: how much the surroundings look like a plate's background."""
    rows: tuple[np.ndarray, ...] = ()
    """A two-row (square) plate's text lines, top first, read one by one; () for one line."""


def _rect(quad: np.ndarray) -> Box:
    x, y, w, h = cv2.boundingRect(quad.astype(np.int32))
    return int(x), int(y), int(w), int(h)


def _height(quad: np.ndarray) -> float:
    return float(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2])))


def _width(quad: np.ndarray) -> float:
    return float(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[3] - quad[2])))


def order_quad(points: np.ndarray) -> np.ndarray:
    """The minimum-area rectangle around ``points``, clockwise from top left."""
    rect = cv2.boxPoints(cv2.minAreaRect(points.reshape(-1, 2).astype(np.float32)))
    s, d = rect.sum(axis=1), np.diff(rect, axis=1).ravel()
    tl, br = rect[np.argmin(s)], rect[np.argmax(s)]
    tr, bl = rect[np.argmin(d)], rect[np.argmax(d)]
    return np.array([tl, tr, br, bl], np.float32)


def _same_line(a: np.ndarray, b: np.ndarray) -> bool:
    """``b`` continues ``a`` to the right: same height, overlapping rows, a small gap."""
    ax, ay, aw, ah = _rect(a)
    bx, by, _, bh = _rect(b)
    if not 0.65 <= bh / max(1, ah) <= 1.55:
        return False
    overlap = min(ay + ah, by + bh) - max(ay, by)
    gap = bx - (ax + aw)
    return overlap > 0.6 * min(ah, bh) and -ah < gap < 1.2 * ah


def _stacked(a: np.ndarray, b: np.ndarray) -> bool:
    """``b`` is the second row under ``a`` on a square plate: same height, overlapping
    columns, a small gap."""
    ax, ay, aw, ah = _rect(a)
    bx, by, bw, bh = _rect(b)
    if not 0.6 <= bh / max(1, ah) <= 1.6:
        return False
    overlap = min(ax + aw, bx + bw) - max(ax, bx)
    gap = by - (ay + ah)
    # The detector's boxes are wider than the characters: a square plate's rows overlap.
    return overlap > 0.5 * min(aw, bw) and -0.6 * ah < gap < 0.8 * ah


Group = tuple[np.ndarray, frozenset[int], tuple[np.ndarray, ...]]


def _groups(quads: list[np.ndarray]) -> list[Group]:
    """Each box alone, each run of two or three boxes on one line, merged, and each pair of
    boxes one above the other (a square plate's rows); with the indices of the boxes each
    holds, and the rows of a square plate."""
    order = sorted(range(len(quads)), key=lambda i: float(quads[i][:, 0].min()))
    out: list[Group] = [(order_quad(quads[i]), frozenset({i}), ()) for i in order]
    for i in order:
        for j in order:
            if i != j and _stacked(quads[i], quads[j]):
                rows = (order_quad(quads[i]), order_quad(quads[j]))
                out.append((order_quad(np.concatenate(rows)), frozenset({i, j}), rows))
    for k, first in enumerate(order):
        run = [first]
        for other in order[k + 1 :]:
            if len(run) == 3:
                break
            if _same_line(quads[run[-1]], quads[other]):
                run.append(other)
                merged = np.concatenate([quads[i] for i in run])
                out.append((order_quad(merged), frozenset(run), ()))
    return out


def _plate_mask(region: np.ndarray, text: tuple[int, int, int, int]) -> tuple[np.ndarray, float]:
    """Pixels of a plate's background in ``region`` (light, and grey-white or yellow), and
    the polarity of the text box: 1 for dark characters on a light ground (every current EU
    plate), 0 for light text on a dark ground (signs, stickers)."""
    grey = cv2.cvtColor(region, cv2.COLOR_BGR2GRAY)
    tx, ty, tw, th = text
    inner = grey[ty : ty + th, tx : tx + tw]
    if inner.size == 0:
        return np.zeros(grey.shape, np.uint8), 0.0
    level, _ = cv2.threshold(inner, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    light = grey > level
    # Polarity from the box's middle alone, characters against their own ground: the box's
    # edges may show what is around the plate (a car body lighter than the characters).
    core = grey[ty + th // 4 : ty + th - th // 4, tx + tw // 6 : tx + tw - tw // 6]
    light_share = 0.0
    if core.size:
        core_level, _ = cv2.threshold(core, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        light_share = float((core > core_level).mean())
    polarity = 1.0 if light_share >= MIN_LIGHT_SHARE else 0.0
    if MIN_LIGHT_SHARE > light_share >= MIN_THIN_LIGHT_SHARE and _dark_strokes(core, core_level):
        polarity = 1.0
    hsv = cv2.cvtColor(region, cv2.COLOR_BGR2HSV)
    h, s = hsv[..., 0], hsv[..., 1]
    coloured = (s < 70) | ((h >= 15) & (h <= 35) & (s >= 80))
    return (light & coloured).astype(np.uint8), polarity


def _angle(quad: np.ndarray) -> float:
    """The text line's slope in degrees (its top edge)."""
    dx, dy = (quad[1] - quad[0]).tolist()
    return float(np.degrees(np.arctan2(dy, dx)))


def _dark_strokes(core: np.ndarray, level: float) -> bool:
    """The dark pixels are the thinner class (characters' strokes) and the light ones their
    ground: bold dark characters on a tight plate, when the shares alone do not tell."""
    light = (core > level).astype(np.uint8)
    if light.all() or not light.any():
        return False
    to_dark = cv2.distanceTransform(light, cv2.DIST_L2, 3)
    to_light = cv2.distanceTransform(1 - light, cv2.DIST_L2, 3)
    return float(to_light[light == 0].mean()) < float(to_dark[light > 0].mean())


def _plate_box(image: np.ndarray, quad: np.ndarray) -> tuple[Box, float]:
    """The light region holding the text (the plate), and the plateness (0-1): the share of
    plate background in the text box, 0 for light-on-dark text, lowered for a light region
    that does not end (a wall, the sky).

    A tilted text line is measured in its own frame: the region around it is warped upright
    first (the upright box around a tilted plate takes in the bumper), and the plate's box
    found there is mapped back to the picture's axes."""
    if abs(_angle(quad)) <= MAX_UPRIGHT_ANGLE:
        return _upright_plate_box(image, quad)
    w, h = _width(quad), _height(quad)
    mx, my = 0.9 * h + 0.15 * w, h
    u = (quad[1] - quad[0]) / max(1e-6, float(np.linalg.norm(quad[1] - quad[0])))
    v = (quad[3] - quad[0]) / max(1e-6, float(np.linalg.norm(quad[3] - quad[0])))
    src = np.array(
        [quad[0] - mx * u - my * v, quad[1] + mx * u - my * v,
         quad[2] + mx * u + my * v, quad[3] - mx * u + my * v],
        np.float32,
    )  # fmt: skip
    size = (max(4, round(w + 2 * mx)), max(4, round(h + 2 * my)))
    dst = np.array([[0, 0], [size[0], 0], [size[0], size[1]], [0, size[1]]], np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    region = cv2.warpPerspective(image, m, size, flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
    text = np.array([[mx, my], [mx + w, my], [mx + w, my + h], [mx, my + h]], np.float32)
    (bx, by, bw, bh), plateness = _upright_plate_box(region, text)
    corners = np.array([[[bx, by], [bx + bw, by], [bx + bw, by + bh], [bx, by + bh]]], np.float32)
    back = cv2.perspectiveTransform(corners, np.linalg.inv(m))[0]
    ih, iw = image.shape[:2]
    x0, y0 = np.clip(back.min(axis=0), 0, [iw, ih]).astype(int).tolist()
    x1, y1 = np.clip(back.max(axis=0), 0, [iw, ih]).astype(int).tolist()
    return (x0, y0, max(1, x1 - x0), max(1, y1 - y0)), plateness


def _upright_plate_box(image: np.ndarray, quad: np.ndarray) -> tuple[Box, float]:
    """``_plate_box`` for a level text line."""
    ih, iw = image.shape[:2]
    x, y, w, h = _rect(quad)
    mx, my = int(0.9 * h + 0.15 * w), h
    x0, y0 = max(0, x - mx), max(0, y - my)
    x1, y1 = min(iw, x + w + mx), min(ih, y + h + my)
    fallback: Box = (max(0, x - h // 2), max(0, y - h // 4), w + h, h + h // 2)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return fallback, 0.0
    text = (x - x0, y - y0, w, h)
    mask, polarity = _plate_mask(image[y0:y1, x0:x1], text)
    inner = mask[y - y0 : y - y0 + h, x - x0 : x - x0 + w]
    plateness = (float(inner.mean()) if inner.size else 0.0) * polarity
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
    if n <= 1:
        return fallback, plateness * UNBOUNDED_FACTOR
    # The component covering most of the text box is the plate.
    counts = np.bincount(labels[y - y0 : y - y0 + h, x - x0 : x - x0 + w].ravel(), minlength=n)
    counts[0] = 0
    best = int(np.argmax(counts))
    bx, by, bw, bh = (int(v) for v in stats[best, :4])
    rh, rw = mask.shape
    # A plate ends: light around text that runs out of the search region is a wall or sky.
    bounded = bx > 0 and by > 0 and bx + bw < rw and by + bh < rh
    if not bounded or bw < w * 0.6 or bh < h * 0.6 or bh > 3 * h:
        return fallback, plateness * UNBOUNDED_FACTOR
    return (x0 + bx, y0 + by, bw, bh), plateness


def candidates(
    image: np.ndarray, text_quads: list[np.ndarray], limit: int = MAX_CANDIDATES
) -> list[Candidate]:
    """Plate candidates among the detector's text boxes, likeliest first."""
    found: list[tuple[Candidate, frozenset[int]]] = []
    for quad, members, rows in _groups(text_quads):
        height, width = _height(quad), _width(quad)
        if height < MIN_TEXT_HEIGHT or width < MIN_TEXT_WIDTH:
            continue
        low, high = (MIN_SQUARE_ASPECT, MAX_SQUARE_ASPECT) if rows else (MIN_ASPECT, MAX_ASPECT)
        if not low <= width / height <= high:
            continue
        box, plateness = _plate_box(image, quad)
        if plateness <= 0.0:
            continue
        found.append((Candidate(quad, box, plateness, rows), members))
    # A plate found as one run of boxes is read once, not again in its parts. The rows of a
    # stack are kept: a plate's line with a dealer's name under it stacks too.
    runs = [m for c, m in found if len(m) > 1 and not c.rows and c.plateness >= MIN_PLATENESS]
    kept = [c for c, m in found if not any(m < run for run in runs)]
    kept.sort(key=lambda c: -c.plateness)
    return [c for i, c in enumerate(kept[:limit]) if i == 0 or c.plateness >= MIN_PLATENESS]


def text_crop(image: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """The text line, straightened and padded, for the recogniser."""
    height, width = _height(quad), _width(quad)
    pad_x = pad_y = CROP_PAD * height
    centre = quad.mean(axis=0)
    grown = centre + (quad - centre) * np.array(
        [(width + 2 * pad_x) / max(width, 1), (height + 2 * pad_y) / max(height, 1)], np.float32
    )
    w, h = max(1, round(width + 2 * pad_x)), max(1, round(height + 2 * pad_y))
    dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    m = cv2.getPerspectiveTransform(grown.astype(np.float32), dst)
    return cv2.warpPerspective(image, m, (w, h), flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_REPLICATE)  # fmt: skip


def band_end(text: np.ndarray) -> float:
    """Where the EU band (blue, on the plate's left) ends in a text crop, as a share of its
    width; 0 when the crop holds none. The band's letters and stars are not the plate's."""
    h, w = text.shape[:2]
    if w < 8:
        return 0.0
    hsv = cv2.cvtColor(text, cv2.COLOR_BGR2HSV)
    blue = (
        (hsv[..., 0] >= 95)
        & (hsv[..., 0] <= 130)
        & (hsv[..., 1] >= 90)
        & (hsv[..., 2] >= BAND_MIN_VALUE)
    )
    # The band fills the text's rows; a blue car body shows above or below them only.
    middle = blue[h // 4 : h - h // 4, : int(w * 0.35)]
    columns = np.nonzero(middle.mean(axis=0) > 0.35)[0]
    if len(columns) == 0 or columns[0] > 0.15 * w:
        return 0.0
    return float(columns[-1] + 1) / float(w)


def crop(image: np.ndarray, box: Box) -> np.ndarray:
    x, y, w, h = box
    return image[max(0, y) : y + h, max(0, x) : x + w].copy()
