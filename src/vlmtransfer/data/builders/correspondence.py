"""What the three correspondence tasks share: a REF point on the first image, four lettered candidates
on the second (the true match at the answer's letter), BLINK's options ``Point A`` .. ``Point D``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from vlmtransfer.data.builders.base import SkipItem
from vlmtransfer.data.builders.geometry import spread_points
from vlmtransfer.data.builders.markers import MarkerStyle, draw_points
from vlmtransfer.data.records import LETTERS

__all__ = ["POINT_CHOICES", "mark_correspondence", "pick_distractors"]

POINT_CHOICES = ("Point A", "Point B", "Point C", "Point D")


def pick_distractors(
    rng: np.random.Generator,
    target: Image.Image,
    truth: Sequence[float],
    candidates: np.ndarray,
    *,
    uniform: bool,
) -> list[tuple[float, float]]:
    """Three wrong candidates on ``target``, far enough from the truth and each other to be marked
    apart: from ``candidates`` first (other keypoints, corner points), then, if ``uniform``, anywhere.

    Raises:
        SkipItem: not enough room.
    """
    style = MarkerStyle.for_image(target)
    points = spread_points(
        rng,
        candidates,
        [truth],
        3,
        separation=style.separation,
        size=target.size,
        margin=style.radius,
        uniform=uniform,
    )
    if points is None:
        raise SkipItem("too few distinct candidate points")
    return points


def mark_correspondence(
    reference: Image.Image,
    ref_point: Sequence[float],
    target: Image.Image,
    truth: Sequence[float],
    *,
    distractors: Sequence[Sequence[float]],
    answer: str,
) -> dict[str, object]:
    """Draw REF on ``reference`` and ``A``..``D`` on ``target`` (the truth at ``answer``), in place.

    Returns:
        ``meta`` entries: the REF marker and the four option markers, in letter order.
    """
    index = LETTERS.index(answer)
    others = iter(distractors)
    options = [truth if k == index else next(others) for k in range(len(POINT_CHOICES))]
    ref = draw_points(reference, [(ref_point[0], ref_point[1], "REF")])[0]
    marked = draw_points(target, [(x, y, LETTERS[k]) for k, (x, y) in enumerate(options)])
    return {"ref": ref, "options": marked}
