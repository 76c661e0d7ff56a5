"""Drawing primitives shared by the synthetic tasks: palette, shapes, textures, markers, boxes, scenes.

Everything is drawn with PIL without anti-aliasing (so a colour sampled inside a shape is exactly the
shape's colour) or computed with numpy, and every coordinate is an integer decided by the caller's
random generator, so the same parameters give the same pixels. Sizes are given for a 112-px image and
scaled by :func:`unit` for other image sizes, except labels, which follow the vision patch grid
(:func:`patch_side`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

__all__ = [
    "BLACK",
    "MARKER_RED",
    "PALETTE",
    "SHAPES",
    "WHITE",
    "Label",
    "draw_box",
    "draw_label",
    "draw_markers",
    "draw_shape",
    "glyph_scale",
    "grid",
    "label_size",
    "marker_radius",
    "new_image",
    "patch_side",
    "place_label",
    "plural",
    "shape_bbox",
    "shape_mask",
    "texture",
    "unit",
]

Color = tuple[int, int, int]

PALETTE: dict[str, Color] = {
    "blue": (30, 80, 230),
    "green": (30, 170, 60),
    "yellow": (245, 215, 30),
    "purple": (140, 50, 200),
    "cyan": (30, 200, 220),
    "orange": (250, 130, 20),
    "pink": (250, 120, 200),
}
"""Object colours: saturated, pairwise far apart, none close to the marker red, black or white."""

MARKER_RED: Color = (235, 20, 20)
BLACK: Color = (0, 0, 0)
WHITE: Color = (255, 255, 255)

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "cross", "diamond")

_PLURALS = {"cross": "crosses"}

_GLYPHS = {
    "A": (".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "B": ("####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."),
    "C": (".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."),
    "D": ("####.", "#...#", "#...#", "#...#", "#...#", "#...#", "####."),
    "E": ("#####", "#....", "#....", "####.", "#....", "#....", "#####"),
    "F": ("#####", "#....", "#....", "####.", "#....", "#....", "#...."),
    "R": ("####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"),
}
_GLYPH_W, _GLYPH_H = 5, 7


def unit(size: int) -> float:
    """Pixels per unit of the 112-px reference layout."""
    return size / 112.0


def plural(shape: str) -> str:
    """``"circle"`` -> ``"circles"``, ``"cross"`` -> ``"crosses"``."""
    return _PLURALS.get(shape, shape + "s")


def new_image(size: int, color: Sequence[int]) -> Image.Image:
    """A square RGB image filled with ``color``."""
    return Image.new("RGB", (size, size), tuple(int(c) for c in color))


def _shape_draw(draw: ImageDraw.ImageDraw, shape: str, cx: int, cy: int, r: int, *, fill: object) -> None:
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif shape == "square":
        s = round(r * 0.88)
        draw.rectangle([cx - s, cy - s, cx + s, cy + s], fill=fill)
    elif shape == "triangle":
        h = round(r * 0.85)
        draw.polygon([(cx, cy - r), (cx + r, cy + h), (cx - r, cy + h)], fill=fill)
    elif shape == "cross":
        a = max(2, round(r / 3))
        draw.rectangle([cx - r, cy - a, cx + r, cy + a], fill=fill)
        draw.rectangle([cx - a, cy - r, cx + a, cy + r], fill=fill)
    elif shape == "diamond":
        draw.polygon([(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)], fill=fill)
    else:
        raise ValueError(f"unknown shape {shape!r}")


def draw_shape(image: Image.Image, shape: str, cx: int, cy: int, r: int, *, color: Sequence[int]) -> None:
    """Draw a filled ``shape`` of half-size ``r`` centred at (cx, cy)."""
    _shape_draw(ImageDraw.Draw(image), shape, cx, cy, r, fill=tuple(int(c) for c in color))


def shape_mask(size: int, shape: str, cx: int, cy: int, r: int) -> np.ndarray:
    """Boolean mask of the pixels :func:`draw_shape` would paint."""
    mask = Image.new("L", (size, size), 0)
    _shape_draw(ImageDraw.Draw(mask), shape, cx, cy, r, fill=255)
    return np.asarray(mask) > 0


def shape_bbox(size: int, shape: str, cx: int, cy: int, r: int) -> tuple[int, int, int, int]:
    """Inclusive pixel bounding box ``(x0, y0, x1, y1)`` of a drawn shape."""
    mask = shape_mask(size, shape, cx, cy, r)
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


@lru_cache(maxsize=8)
def grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column index arrays of a size x size image (read-only, cached)."""
    y, x = np.mgrid[0:size, 0:size]
    y.setflags(write=False)
    x.setflags(write=False)
    return y, x


def texture(
    family: str, size: int, half: int, colors: tuple[Sequence[int], Sequence[int]], phase: int = 0
) -> np.ndarray:
    """A two-colour periodic texture (uint8, size x size x 3); ``half`` is half the period in pixels.

    Families: ``hstripes``, ``vstripes``, ``checker``, ``diagonal``.
    """
    y, x = grid(size)
    if family == "hstripes":
        bit = ((y + phase) // half) % 2
    elif family == "vstripes":
        bit = ((x + phase) // half) % 2
    elif family == "checker":
        bit = (((x + phase) // half) + ((y + phase) // half)) % 2
    elif family == "diagonal":
        bit = ((x + y + phase) // half) % 2
    else:
        raise ValueError(f"unknown texture family {family!r}")
    palette = np.array([colors[0], colors[1]], dtype=np.uint8)
    return palette[bit]


# --- markers and labels -----------------------------------------------------------------------------


def marker_radius(size: int) -> int:
    """Radius of the red hollow circle marking a point."""
    return max(4, round(6 * unit(size)))


def _marker_width(size: int) -> int:
    return max(1, round(2 * unit(size)))


def patch_side(size: int) -> int:
    """Image pixels per vision patch: labels are drawn on this grid so that a glyph fills whole patches.

    Qwen2.5-VL resizes an image to a multiple of 28 px and cuts it into 14-px patches, so at 84, 112 or
    224 px a patch is 14 image pixels. Why it matters: the tiny model read a letter that filled one patch
    after 750 steps, and one drawn at any of a patch's 196 offsets not in 2,500 (docs/synthetic-suite.md,
    Learnability).
    """
    return max(_GLYPH_H, round(size / (2 * max(1, round(size / 28)))))


def glyph_scale(size: int, text: str) -> int:
    """Pixel scale of the 5x7 glyphs: a single letter is as tall as a patch allows, longer text half that."""
    base = max(1, patch_side(size) // _GLYPH_H)
    return base if len(text) == 1 else max(1, base // 2)


def _glyphs_size(size: int, text: str) -> tuple[int, int]:
    s = glyph_scale(size, text)
    return len(text) * (_GLYPH_W + 1) * s - s, _GLYPH_H * s


def label_size(size: int, text: str) -> tuple[int, int]:
    """Width and height of a label box (white glyphs on a black box): a whole number of patches wide,
    one patch tall."""
    side = patch_side(size)
    w, _ = _glyphs_size(size, text)
    return -(-w // side) * side, side


def draw_label(image: Image.Image, x0: int, y0: int, text: str, *, glyph_offset: int = 0) -> None:
    """Draw ``text`` in white, centred on a black box whose top-left corner is (x0, y0).

    ``glyph_offset`` moves the glyphs that many pixels right and down inside (and, at the bottom edge,
    just out of) their box, which stays on the patch grid: the same letter, no longer aligned with the
    patch it fills, which a model pretrained on aligned letters reads less reliably
    (docs/synthetic-suite.md, "Labels off the grid").
    """
    size = image.size[0]
    w, h = label_size(size, text)
    gw, gh = _glyphs_size(size, text)
    s = glyph_scale(size, text)
    draw = ImageDraw.Draw(image)
    draw.rectangle([x0, y0, x0 + w - 1, y0 + h - 1], fill=BLACK)
    left = x0 + (w - gw) // 2 + glyph_offset
    top = y0 + (h - gh) // 2 + glyph_offset
    for k, char in enumerate(text):
        gx = left + k * (_GLYPH_W + 1) * s
        for row, bits in enumerate(_GLYPHS[char]):
            for col, bit in enumerate(bits):
                if bit == "#":
                    px, py = gx + col * s, top + row * s
                    draw.rectangle([px, py, px + s - 1, py + s - 1], fill=WHITE)


def _snap_to_patches(size: int, x0: float, y0: float, w: int, h: int) -> list[tuple[int, int]]:
    """The patch-grid corners nearest (x0, y0), rounding each axis down and up, that keep a w x h box
    inside the image."""
    side = patch_side(size)

    def near(v: float, extent: int) -> list[int]:
        last = (size - extent) // side * side
        return sorted({min(max(0, k * side), last) for k in (math.floor(v / side), math.ceil(v / side))})

    return [(x, y) for y in near(y0, h) for x in near(x0, w)]


@dataclass(frozen=True)
class Label:
    """A point marker: its centre and text, and where its label box went."""

    x: int
    y: int
    text: str
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 inclusive

    def to_dict(self) -> dict[str, object]:
        return {"x": self.x, "y": self.y, "label": self.text, "box": list(self.box)}


def _overlap(a: Sequence[int], b: Sequence[int]) -> int:
    w = min(a[2], b[2]) - max(a[0], b[0]) + 1
    h = min(a[3], b[3]) - max(a[1], b[1]) + 1
    return max(0, w) * max(0, h)


def place_label(
    size: int,
    x: int,
    y: int,
    text: str,
    avoid: Sequence[Sequence[int]],
    *,
    prefer: tuple[float, float] = (1.0, -0.2),
    others: Sequence[tuple[int, int]] = (),
) -> tuple[int, int, int, int]:
    """Where to put the label of the point (x, y): on the patch grid beside it, inside the image,
    overlapping ``avoid`` (boxes ``x0, y0, x1, y1``) as little as possible, nearer (x, y) than any of
    the ``others`` points where it can be, in the direction closest to ``prefer``."""
    w, h = label_size(size, text)
    r = marker_radius(size) + 2
    options = []
    for dx, dy in ((1, 0), (-1, 0), (0, -1), (0, 1), (1, -1), (-1, -1), (1, 1), (-1, 1)):
        cx = x + dx * (r + w // 2 + 1) if dx else x
        cy = y + dy * (r + h // 2 + 1) if dy else y
        if dx and dy:
            cx, cy = x + dx * (r + w // 2 - 2), y + dy * (r + h // 2 - 2)
        norm = (dx * dx + dy * dy) ** 0.5
        score = -(dx * prefer[0] + dy * prefer[1]) / norm
        for x0, y0 in _snap_to_patches(size, cx - w / 2, cy - h / 2, w, h):
            box = (x0, y0, x0 + w - 1, y0 + h - 1)
            overlap = sum(_overlap(box, a) for a in avoid)
            mx, my = x0 + (w - 1) / 2, y0 + (h - 1) / 2
            own = (mx - x) ** 2 + (my - y) ** 2
            misleading = any((mx - ox) ** 2 + (my - oy) ** 2 <= own for ox, oy in others)
            options.append((overlap, misleading, score, own, box))
    options.sort(key=lambda o: o[:4])
    return options[0][4]


def draw_markers(
    image: Image.Image,
    points: Sequence[tuple[int, int, str]],
    prefer: Sequence[tuple[float, float]] | None = None,
    avoid: Sequence[Sequence[int]] = (),
    *,
    glyph_offset: int = 0,
) -> list[Label]:
    """Mark each point (x, y, text) BLINK-style: a red hollow circle and its text in white on black.

    Labels sit on the patch grid (:func:`patch_side`) and avoid every circle, every earlier label and
    ``avoid``; the circle centres stay visible. ``glyph_offset``: see :func:`draw_label`.
    """
    size = image.size[0]
    r = marker_radius(size)
    circles = [(x - r - 1, y - r - 1, x + r + 1, y + r + 1) for x, y, _ in points]
    draw = ImageDraw.Draw(image)
    for x, y, _ in points:
        draw.ellipse([x - r, y - r, x + r, y + r], outline=MARKER_RED, width=_marker_width(size))
    placed: list[Label] = []
    for k, (x, y, text) in enumerate(points):
        keep_out = [*circles, *(p.box for p in placed), *avoid]
        others = [(ox, oy) for j, (ox, oy, _) in enumerate(points) if j != k]
        box = place_label(
            size, x, y, text, keep_out, prefer=prefer[k] if prefer else (1.0, -0.2), others=others
        )
        draw_label(image, box[0], box[1], text, glyph_offset=glyph_offset)
        placed.append(Label(x, y, text, box))
    return placed


def draw_box(image: Image.Image, box: Sequence[int], color: Sequence[int] = MARKER_RED) -> None:
    """Draw the outline of the inclusive box ``x0, y0, x1, y1``."""
    width = max(1, round(2 * unit(image.size[0])))
    ImageDraw.Draw(image).rectangle(list(box), outline=tuple(color), width=width)


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two inclusive pixel boxes ``(x0, y0, x1, y1)``."""
    w = min(a[2], b[2]) - max(a[0], b[0]) + 1
    h = min(a[3], b[3]) - max(a[1], b[1]) + 1
    inter = max(0.0, w) * max(0.0, h)
    area = (a[2] - a[0] + 1) * (a[3] - a[1] + 1) + (b[2] - b[0] + 1) * (b[3] - b[1] + 1) - inter
    return inter / area
