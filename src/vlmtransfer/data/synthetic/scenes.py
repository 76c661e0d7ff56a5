"""Scenes shared by several tasks, so that the skills they need are shared by construction.

* :func:`depth_view` draws objects standing on a ground plane seen from a camera at eye height:
  an object at depth ``z`` touches the ground ``(size - horizon) / z`` pixels below the horizon and
  is ``1 / z`` as large as at depth 1, nearer objects are painted over farther ones (occlusion). Used
  by Relative_Depth (which point is nearer) and Multi-view_Reasoning (nearer objects move more when
  the camera moves).
* :func:`flat_scene` draws coloured shapes on a plain background (counting, spatial relation,
  correspondence, similarity, jigsaw, localization, forensics).
* :func:`shading` is the smooth illumination gradient of Relative_Reflectance and Forensic_Detection.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from vlmtransfer.data.synthetic.render import PALETTE, draw_shape, grid, new_image, unit

__all__ = ["DEPTH_SHAPES", "depth_object", "depth_view", "flat_scene", "shading"]

DEPTH_SHAPES: tuple[str, ...] = ("block", "ball", "cone")


def depth_object(
    size: int, horizon: int, *, shape: str, color: str, z: float, x: int, width: float, height: float
) -> dict[str, Any]:
    """Pixel geometry of an object at depth ``z`` (>= 1) whose centre is at column ``x``.

    ``width`` and ``height`` are physical sizes (about 0.6-1.0): at depth 1 an object of width 1 is
    40 px wide in a 112-px image.
    """
    u = unit(size)
    base = horizon + round((size - 3 * u - horizon) / z)
    w = max(3, round(width * 40 * u / z))
    h = max(3, round(height * 52 * u / z))
    if shape == "ball":
        h = w
    return {"shape": shape, "color": color, "z": z, "x": int(x), "base": int(base), "w": int(w), "h": int(h)}


def _draw_depth_object(draw: ImageDraw.ImageDraw, obj: Mapping[str, Any], fill: object) -> None:
    x, base, w, h = obj["x"], obj["base"], obj["w"], obj["h"]
    x0, x1 = x - w // 2, x - w // 2 + w - 1
    if obj["shape"] == "block":
        draw.rectangle([x0, base - h + 1, x1, base], fill=fill)
    elif obj["shape"] == "ball":
        draw.ellipse([x0, base - h + 1, x1, base], fill=fill)
    elif obj["shape"] == "cone":
        draw.polygon([(x, base - h + 1), (x1, base), (x0, base)], fill=fill)
    else:
        raise ValueError(f"unknown depth shape {obj['shape']!r}")


def depth_view(
    size: int, scene: Mapping[str, Any], objects: Sequence[Mapping[str, Any]]
) -> tuple[Image.Image, np.ndarray]:
    """Render sky, distant ridge, ground and ``objects`` (far to near); also return an id buffer
    (0 = background, k + 1 = ``objects[k]``) telling which object each pixel shows."""
    horizon = scene["horizon"]
    image = new_image(size, scene["sky"])
    draw = ImageDraw.Draw(image)
    draw.polygon([tuple(p) for p in scene["ridge"]], fill=tuple(scene["ridge_color"]))
    draw.rectangle([0, horizon, size - 1, size - 1], fill=tuple(scene["ground"]))
    ids = Image.new("L", (size, size), 0)
    id_draw = ImageDraw.Draw(ids)
    order = sorted(range(len(objects)), key=lambda k: (-objects[k]["z"], k))
    for k in order:
        obj = objects[k]
        _draw_depth_object(draw, obj, PALETTE[obj["color"]])
        _draw_depth_object(id_draw, obj, k + 1)
    return image, np.asarray(ids)


def flat_scene(size: int, background: Sequence[int], shapes: Sequence[Mapping[str, Any]]) -> Image.Image:
    """Shapes ``{"shape", "color" (palette name), "x", "y", "r"}`` drawn in order on a plain background."""
    image = new_image(size, background)
    for s in shapes:
        draw_shape(image, s["shape"], s["x"], s["y"], s["r"], color=PALETTE[s["color"]])
    return image


def shading(size: int, angle: float, low: float) -> np.ndarray:
    """Illumination in [low, 1]: a linear ramp across the image along direction ``angle`` (radians)."""
    y, x = grid(size)
    c = (size - 1) / 2.0
    t = ((x - c) * np.cos(angle) + (y - c) * np.sin(angle)) / (size * 0.7072) + 0.5
    return low + (1.0 - low) * np.clip(t, 0.0, 1.0)
