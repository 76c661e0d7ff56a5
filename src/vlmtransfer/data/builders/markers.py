"""BLINK's visual prompts on real photos: red hollow circles with a white label on a black box beside
them (``A``..``D``, ``REF``), and labelled red boxes.

Sizes follow the image (a circle's radius is about 2 % of the shorter side), circles are drawn without
anti-aliasing (a pixel on the ring is exactly :data:`MARKER_RED` in a lossless output), and each label
goes beside its circle on the side that overlaps other circles and labels least, inside the image.
Every function returns the geometry it drew, which builders record in the record's ``meta`` (tests
check the pixels at those positions).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from vlmtransfer.data.synthetic.render import BLACK, MARKER_RED, WHITE

__all__ = ["MARKER_RED", "MarkerStyle", "distance", "draw_boxes", "draw_points"]

Box = tuple[int, int, int, int]  # x0, y0, x1, y1, inclusive


@dataclass(frozen=True)
class MarkerStyle:
    """Marker dimensions for one image: circle radius and line width, label font size and padding."""

    radius: int
    width: int
    font_size: int
    pad: int

    @classmethod
    def for_image(cls, image: Image.Image) -> MarkerStyle:
        side = min(image.size)
        radius = max(5, round(0.02 * side))
        return cls(
            radius=radius,
            width=max(2, round(radius / 4)),
            font_size=max(10, round(1.5 * radius)),
            pad=max(2, round(0.3 * radius)),
        )

    @property
    def separation(self) -> float:
        """The least distance between two marked points that keeps circles and labels readable."""
        return 3.0 * self.radius


def draw_points(
    image: Image.Image, points: Sequence[tuple[float, float, str]], *, avoid: Sequence[Box] = ()
) -> list[dict[str, object]]:
    """Mark each ``(x, y, label)``: a red hollow circle centred there and ``label`` in white on black.

    Circles are drawn first, then labels, each placed to avoid every circle, every earlier label and
    ``avoid``. Returns, per point, its centre (rounded to the pixel drawn), radius, line width and
    label box.
    """
    style = MarkerStyle.for_image(image)
    draw = ImageDraw.Draw(image)
    centres = [(round(x), round(y), label) for x, y, label in points]
    r = style.radius
    circles = [(x - r - 1, y - r - 1, x + r + 1, y + r + 1) for x, y, _ in centres]
    for x, y, _ in centres:
        draw.ellipse([x - r, y - r, x + r, y + r], outline=MARKER_RED, width=style.width)
    placed: list[Box] = []
    drawn = []
    for x, y, label in centres:
        box = _place_label(
            image.size, (x - r, y - r, x + r, y + r), label, style, [*circles, *placed, *avoid]
        )
        _draw_label(draw, box, label, style)
        placed.append(box)
        drawn.append({"label": label, "x": x, "y": y, "radius": r, "width": style.width, "label_box": box})
    return drawn


def draw_boxes(image: Image.Image, boxes: Sequence[tuple[Sequence[float], str]]) -> list[dict[str, object]]:
    """Draw each ``(box, label)`` (``x0, y0, x1, y1``) as a red outline with its label at a corner.

    Returns, per box, the rounded box drawn, its line width and label box.
    """
    style = MarkerStyle.for_image(image)
    draw = ImageDraw.Draw(image)
    rounded = [tuple(round(v) for v in box) for box, _ in boxes]
    for box in rounded:
        draw.rectangle(box, outline=MARKER_RED, width=style.width)
    placed: list[Box] = []
    drawn = []
    for box, (_, label) in zip(rounded, boxes, strict=True):
        corner = (box[0], box[1], box[0], box[1])
        label_box = _place_label(image.size, corner, label, style, placed, corner_first=True)
        _draw_label(draw, label_box, label, style)
        placed.append(label_box)
        drawn.append({"label": label, "box": list(box), "width": style.width, "label_box": label_box})
    return drawn


@lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's built-in font at ``size`` (FreeType), or its bitmap font where FreeType is missing."""
    try:
        return ImageFont.load_default(size=size)
    except (ImportError, OSError, TypeError):  # pragma: no cover - Pillow built without FreeType
        return ImageFont.load_default()


def _label_size(label: str, style: MarkerStyle) -> tuple[int, int]:
    left, top, right, bottom = _font(style.font_size).getbbox(label)
    return right - left + 2 * style.pad, bottom - top + 2 * style.pad


def _draw_label(draw: ImageDraw.ImageDraw, box: Box, label: str, style: MarkerStyle) -> None:
    font = _font(style.font_size)
    left, top, _, _ = font.getbbox(label)
    draw.rectangle(box, fill=BLACK)
    draw.text((box[0] + style.pad - left, box[1] + style.pad - top), label, fill=WHITE, font=font)


def _place_label(
    size: tuple[int, int],
    anchor: Box,
    label: str,
    style: MarkerStyle,
    avoid: Sequence[Box],
    *,
    corner_first: bool = False,
) -> Box:
    """The label box beside ``anchor`` (a circle's box, or a box corner) overlapping ``avoid`` least.

    Sides are tried in a fixed preference order (right, left, above, below, then the diagonals; for
    box corners: above-left-aligned first, then inside), clamped into the image; ties keep the order.
    """
    w, h = _label_size(label, style)
    gap = style.width
    x0, y0, x1, y1 = anchor
    cy, cx = (y0 + y1) // 2, (x0 + x1) // 2
    options = [
        (x1 + gap, cy - h // 2),  # right
        (x0 - gap - w, cy - h // 2),  # left
        (cx - w // 2, y0 - gap - h),  # above
        (cx - w // 2, y1 + gap),  # below
        (x1 + gap, y0 - gap - h),  # above right
        (x0 - gap - w, y0 - gap - h),  # above left
        (x1 + gap, y1 + gap),  # below right
        (x0 - gap - w, y1 + gap),  # below left
    ]
    if corner_first:  # a box's label: just above its top-left corner, else just inside it
        options = [(x0, y0 - h), (x0 + gap, y0 + gap), *options]
    best: tuple[float, int, Box] | None = None
    for rank, (left, top) in enumerate(options):
        lx = min(max(left, 0), max(0, size[0] - w))
        ly = min(max(top, 0), max(0, size[1] - h))
        box = (lx, ly, lx + w - 1, ly + h - 1)
        cost = sum(_overlap(box, other) for other in avoid)
        if best is None or (cost, rank) < best[:2]:
            best = (cost, rank, box)
    assert best is not None
    return best[2]


def _overlap(a: Box, b: Sequence[int]) -> int:
    w = min(a[2], b[2]) - max(a[0], b[0]) + 1
    h = min(a[3], b[3]) - max(a[1], b[1]) + 1
    return max(0, w) * max(0, h)


def distance(p: Sequence[float], q: Sequence[float]) -> float:
    """Euclidean distance between two points."""
    return math.hypot(p[0] - q[0], p[1] - q[1])
