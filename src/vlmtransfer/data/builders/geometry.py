"""Geometry shared by the builders: corner-like points, homographies, distractor points, boxes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image
from scipy import ndimage

__all__ = [
    "apply_homography",
    "box_iou",
    "corner_points",
    "inside",
    "jittered_box",
    "spread_points",
]

_CORNER_SIDE = 256  # corner responses are computed on a copy at most this large


def corner_points(image: Image.Image, *, limit: int = 200, margin: float = 0.0) -> np.ndarray:
    """Distinctive points of ``image`` (x, y in its pixels), strongest first: local maxima of the
    Shi-Tomasi corner response (the smaller eigenvalue of the smoothed structure tensor) on a grey copy
    at most 256 px wide, at least ``margin`` px from the border. Points a person could match between
    views, unlike points on flat sky or wall."""
    factor = min(1.0, _CORNER_SIDE / max(image.size))
    small = image.convert("L")
    if factor < 1.0:
        small = small.resize((max(1, round(image.width * factor)), max(1, round(image.height * factor))))
    grey = np.asarray(small, dtype=np.float64)
    gy, gx = np.gradient(grey)
    sxx, syy, sxy = (ndimage.uniform_filter(a, size=5) for a in (gx * gx, gy * gy, gx * gy))
    response = (sxx + syy) / 2 - np.sqrt(((sxx - syy) / 2) ** 2 + sxy**2)
    peaks = (response == ndimage.maximum_filter(response, size=7)) & (response > 1e-6)
    ys, xs = np.nonzero(peaks)
    order = np.argsort(-response[ys, xs], kind="stable")
    points = np.stack([xs[order], ys[order]], axis=1).astype(np.float64) / factor
    keep = inside(points, image.size, margin)
    return points[keep][:limit]


def inside(points: np.ndarray, size: tuple[int, int], margin: float) -> np.ndarray:
    """Mask of the points at least ``margin`` px inside an image of ``size`` (width, height)."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    w, h = size
    return (
        (points[:, 0] >= margin)
        & (points[:, 0] <= w - 1 - margin)
        & (points[:, 1] >= margin)
        & (points[:, 1] <= h - 1 - margin)
    )


def apply_homography(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map points (N x 2) through a 3 x 3 homography (column convention: ``x' ~ H @ [x, y, 1]``)."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    homogeneous = np.hstack([points, np.ones((len(points), 1))]) @ np.asarray(matrix, dtype=np.float64).T
    return homogeneous[:, :2] / homogeneous[:, 2:3]


def spread_points(
    rng: np.random.Generator,
    candidates: np.ndarray,
    taken: Sequence[Sequence[float]],
    count: int,
    *,
    separation: float,
    size: tuple[int, int],
    margin: float,
    uniform: bool = True,
) -> list[tuple[float, float]] | None:
    """``count`` points at least ``separation`` from each other and from ``taken``: first from
    ``candidates`` (in random order), then, if ``uniform``, uniformly at random inside the margins.
    None if there is no room for them."""
    chosen: list[tuple[float, float]] = []
    pool = np.asarray(candidates, dtype=np.float64).reshape(-1, 2)
    pool = pool[rng.permutation(len(pool))] if len(pool) else pool
    room = size[0] - 1 > 2 * margin and size[1] - 1 > 2 * margin
    extra = (
        np.column_stack(
            [rng.uniform(margin, size[0] - 1 - margin, 400), rng.uniform(margin, size[1] - 1 - margin, 400)]
        )
        if uniform and room
        else np.empty((0, 2))
    )
    for x, y in np.vstack([pool, extra]):
        if all(np.hypot(x - p[0], y - p[1]) >= separation for p in (*taken, *chosen)):
            chosen.append((float(x), float(y)))
            if len(chosen) == count:
                return chosen
    return None


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two continuous boxes ``(x0, y0, x1, y1)``."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def jittered_box(
    rng: np.random.Generator,
    box: Sequence[float],
    size: tuple[int, int],
    iou_range: tuple[float, float] = (0.3, 0.6),
    tries: int = 100,
) -> tuple[float, float, float, float] | None:
    """A box inside the image whose IoU with ``box`` lies in ``iou_range``: the wrong option of an
    Object_Localization question (shifted and rescaled, so it cuts off part of the object or takes in
    background). None if no such box was found in ``tries`` draws."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    for _ in range(tries):
        nw = w * float(np.exp(rng.uniform(-0.6, 0.6)))
        nh = h * float(np.exp(rng.uniform(-0.6, 0.6)))
        ncx = cx + w * float(rng.uniform(-0.45, 0.45))
        ncy = cy + h * float(rng.uniform(-0.45, 0.45))
        candidate = (
            max(0.0, ncx - nw / 2),
            max(0.0, ncy - nh / 2),
            min(size[0] - 1.0, ncx + nw / 2),
            min(size[1] - 1.0, ncy + nh / 2),
        )
        if candidate[2] - candidate[0] < 4 or candidate[3] - candidate[1] < 4:
            continue
        if iou_range[0] <= box_iou(candidate, box) <= iou_range[1]:
            return candidate
    return None
