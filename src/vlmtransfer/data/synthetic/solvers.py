"""Non-neural solvers: proof that each synthetic question's answer is recoverable.

Each solver recomputes the answer independently of the record's ``answer`` field: from the pixels
wherever that is simple (colours, connected components, centroids, texture statistics, edge
continuity), using the recorded rendering parameters only for what the question itself points at
(where the markers and boxes are, which colour is asked about) or for quantities a picture alone does
not pin down (the depth of the object under a marker, the illumination of a surface).
See ``docs/synthetic-suite.md`` for the method of each task.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image

from vlmtransfer.data.records import LETTERS, MCQRecord
from vlmtransfer.data.synthetic.render import MARKER_RED, PALETTE, box_iou
from vlmtransfer.data.synthetic.scenes import shading
from vlmtransfer.data.synthetic.tasks.jigsaw import border_mismatch
from vlmtransfer.data.synthetic.video_tasks import VIDEO_TASKS, solve_video
from vlmtransfer.errors import InputError

__all__ = ["solve"]

Pixels = np.ndarray
_COLOR_TOLERANCE = 30


def _color_mask(px: Pixels, rgb: Sequence[int], tolerance: int = _COLOR_TOLERANCE) -> np.ndarray:
    return np.abs(px - np.asarray(rgb)).max(axis=2) <= tolerance


def _centre(px: Pixels, x: int, y: int) -> np.ndarray:
    """The median colour of the 3x3 pixels at a marker's centre (inside its hollow circle)."""
    return np.median(px[y - 1 : y + 2, x - 1 : x + 2].reshape(-1, 3), axis=0)


def _nearest_palette(color: np.ndarray) -> str:
    return min(PALETTE, key=lambda name: float(np.abs(np.asarray(PALETTE[name]) - color).max()))


def _components(mask: np.ndarray) -> int:
    """Number of 4-connected components of a boolean mask."""
    seen = np.zeros_like(mask)
    h, w = mask.shape
    count = 0
    for y0, x0 in zip(*np.nonzero(mask), strict=True):
        if seen[y0, x0]:
            continue
        count += 1
        stack = [(int(y0), int(x0))]
        seen[y0, x0] = True
        while stack:
            y, x = stack.pop()
            for ny, nx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    stack.append((ny, nx))
    return count


def _background(px: Pixels) -> np.ndarray:
    """The most frequent colour along the image's border."""
    border = np.concatenate([px[0], px[-1], px[:, 0], px[:, -1]])
    colors, counts = np.unique(border, axis=0, return_counts=True)
    return colors[int(np.argmax(counts))]


def _object_mask(px: Pixels) -> np.ndarray:
    """Pixels that differ from the background and are not marker red, label black or label white."""
    background = _background(px)
    differs = np.abs(px - background).max(axis=2) > _COLOR_TOLERANCE
    red = _color_mask(px, MARKER_RED, 60)
    black = px.max(axis=2) < 25
    white = px.min(axis=2) > 235
    return differs & ~red & ~black & ~white


def _bbox(mask: np.ndarray) -> tuple[float, float, float, float]:
    ys, xs = np.nonzero(mask)
    return float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())


# --- per task -------------------------------------------------------------------------------------------


def _style(px: Pixels) -> np.ndarray:
    """Share of edge pixels that are horizontal-only, vertical-only or both (stripe/check/diagonal)."""
    ex = (np.abs(np.diff(px, axis=1)).max(axis=2) > 40)[:-1, :]
    ey = (np.abs(np.diff(px, axis=0)).max(axis=2) > 40)[:, :-1]
    v = np.array([(ex & ~ey).sum(), (ey & ~ex).sum(), (ex & ey).sum()], dtype=np.float64)
    return v / max(v.sum(), 1.0)


def solve_art_style(images: Sequence[Pixels], meta: Mapping[str, Any], record: MCQRecord) -> int:
    ref = _style(images[0])
    return int(np.argmin([np.abs(_style(c) - ref).sum() for c in images[1:]]))


def solve_counting(images: Sequence[Pixels], meta: Mapping[str, Any], record: MCQRecord) -> int:
    target = meta["render"]["target_color"]
    count = _components(_color_mask(images[0], PALETTE[target]))
    return record.choices.index(str(count))


def _grid_energy(px: Pixels) -> float:
    """Median brightness change between pixels d apart, maximised over d: high for a periodic grid,
    near zero for smooth shading with a few edges."""
    lum = px.mean(axis=2)
    return max(float(np.median(np.abs(lum[:, d:] - lum[:, :-d]))) for d in (1, 2, 3, 4, 5))


def solve_forensic(images: Sequence[Pixels], meta: Mapping[str, Any], record: MCQRecord) -> int:
    return int(np.argmin([_grid_energy(px) for px in images]))


def solve_jigsaw(images: Sequence[Pixels], meta: Mapping[str, Any], record: MCQRecord) -> int:
    return int(np.argmin([border_mismatch(images[0], c) for c in images[1:]]))


def solve_multiview(images: Sequence[Pixels], meta: Mapping[str, Any], record: MCQRecord) -> int:
    """Area-weighted horizontal motion of every palette-coloured object between the two views:
    the scene moves left when the camera moves right."""
    motion = 0.0
    for rgb in PALETTE.values():
        first, second = _color_mask(images[0], rgb), _color_mask(images[1], rgb)
        if first.sum() < 10 or second.sum() < 10:
            continue
        shift = np.nonzero(second)[1].mean() - np.nonzero(first)[1].mean()
        motion += float(shift) * float(first.sum())
    return record.choices.index("right" if motion < 0 else "left")


def solve_localization(images: Sequence[Pixels], meta: Mapping[str, Any], record: MCQRecord) -> int:
    """The box overlapping most with the object's pixel extent (plus the margin the image size
    implies: an accurate box is drawn just outside the object's outermost pixels)."""
    px = images[0]
    mask = np.zeros(px.shape[:2], dtype=bool)
    for rgb in PALETTE.values():
        mask |= _color_mask(px, rgb)
    pad = max(1, round(2 * px.shape[0] / 112))
    x0, y0, x1, y1 = _bbox(mask)
    found = (x0 - pad, y0 - pad, x1 + pad, y1 + pad)
    return int(np.argmax([box_iou(found, box) for box in meta["render"]["boxes"]]))


def solve_relative_depth(images: Sequence[Pixels], meta: Mapping[str, Any], record: MCQRecord) -> int:
    """The colour under each marker names the object there; the object's depth comes from the scene."""
    depth_of = {o["color"]: o["z"] for o in meta["render"]["objects"]}
    depths = {}
    for marker in meta["render"]["markers"]:
        color = _nearest_palette(_centre(images[0], marker["x"], marker["y"]))
        depths[marker["label"]] = depth_of[color]
    closer = min(depths, key=lambda label: depths[label])
    return record.choices.index(f"{closer} is closer")


def solve_reflectance(images: Sequence[Pixels], meta: Mapping[str, Any], record: MCQRecord) -> int:
    """Surface albedo = observed colour / (tint x illumination at that point)."""
    render = meta["render"]
    px = images[0]
    light = shading(px.shape[0], render["angle"], render["low"])
    albedo = {}
    for marker in render["markers"]:
        x, y = marker["x"], marker["y"]
        albedo[marker["label"]] = float(
            (px[y, x] / (255.0 * np.asarray(render["tint"]) * light[y, x])).mean()
        )
    ratio = albedo["A"] / albedo["B"]
    answer = "A is darker" if ratio < 0.75 else "B is darker" if ratio > 1 / 0.75 else "About the same"
    return record.choices.index(answer)


def _direction(px: Pixels, marker: Mapping[str, Any]) -> np.ndarray:
    """Unit vector from the object's centroid (its non-background, non-marker pixels) to a marker."""
    ys, xs = np.nonzero(_object_mask(px))
    v = np.array([marker["x"] - xs.mean(), marker["y"] - ys.mean()])
    return v / max(float(np.hypot(*v)), 1e-9)


def solve_semantic(images: Sequence[Pixels], meta: Mapping[str, Any], record: MCQRecord) -> int:
    """The candidate lying in the same direction from its object's centre as the reference point
    from its own (the parts of a creature sit in four different directions from its body)."""
    first, second = meta["render"]["views"]
    ref = _direction(images[0], first["markers"][0])
    similarity = {m["label"]: float(_direction(images[1], m) @ ref) for m in second["markers"]}
    return LETTERS.index(max(similarity, key=lambda label: similarity[label]))


def solve_spatial(images: Sequence[Pixels], meta: Mapping[str, Any], record: MCQRecord) -> int:
    render = meta["render"]
    centroids = []
    for shape in render["shapes"]:
        ys, xs = np.nonzero(_color_mask(images[0], PALETTE[shape["color"]]))
        centroids.append((xs.mean(), ys.mean()))
    (x1, y1), (x2, y2) = centroids
    if abs(x1 - x2) >= abs(y1 - y2):
        actual = "left" if x1 < x2 else "right"
    else:
        actual = "above" if y1 < y2 else "below"
    asked = render["relation"]
    return record.choices.index("yes" if actual == asked else "no")


def _chromaticity(color: np.ndarray) -> np.ndarray:
    return color / max(float(color.sum()), 1.0)


def solve_visual_correspondence(images: Sequence[Pixels], meta: Mapping[str, Any], record: MCQRecord) -> int:
    """The candidate whose surface has the reference point's colour (brightness-normalised, as the
    lighting may change)."""
    render = meta["render"]
    ref = _chromaticity(_centre(images[0], render["ref_marker"]["x"], render["ref_marker"]["y"]))
    distances = {
        m["label"]: np.abs(_chromaticity(_centre(images[1], m["x"], m["y"])) - ref).sum()
        for m in render["markers"]
    }
    return LETTERS.index(min(distances, key=lambda label: distances[label]))


def _silhouette(px: Pixels) -> tuple[np.ndarray, np.ndarray]:
    mask = _object_mask(px)
    x0, y0, x1, y1 = (int(v) for v in _bbox(mask))
    crop = Image.fromarray((mask[y0 : y1 + 1, x0 : x1 + 1] * 255).astype(np.uint8))
    return np.asarray(crop.resize((32, 32), Image.Resampling.NEAREST)) > 0, px[mask].mean(axis=0)


def solve_similarity(images: Sequence[Pixels], meta: Mapping[str, Any], record: MCQRecord) -> int:
    """Silhouette overlap (scale- and position-normalised) plus colour agreement with the reference."""
    ref_shape, ref_color = _silhouette(images[0])
    scores = []
    for px in images[1:]:
        shape, color = _silhouette(px)
        iou = (shape & ref_shape).sum() / max((shape | ref_shape).sum(), 1)
        scores.append((1.0 - iou) + float(np.abs(color - ref_color).max()) / 255.0)
    return int(np.argmin(scores))


_SOLVERS: dict[str, Callable[[Sequence[Pixels], Mapping[str, Any], MCQRecord], int]] = {
    "Syn_Art_Style": solve_art_style,
    "Syn_Counting": solve_counting,
    "Syn_Forensic_Detection": solve_forensic,
    "Syn_Jigsaw": solve_jigsaw,
    "Syn_Multi-view_Reasoning": solve_multiview,
    "Syn_Object_Localization": solve_localization,
    "Syn_Relative_Depth": solve_relative_depth,
    "Syn_Relative_Reflectance": solve_reflectance,
    "Syn_Semantic_Correspondence": solve_semantic,
    "Syn_Spatial_Relation": solve_spatial,
    "Syn_Visual_Correspondence": solve_visual_correspondence,
    "Syn_Visual_Similarity": solve_similarity,
}


def solve(record: MCQRecord, images: Sequence[Image.Image]) -> str:
    """The answer letter a non-neural solver recovers for a synthetic question (never reading
    ``record.answer``); a video question's ``images`` are its clip's frames, in time order.

    Raises:
        InputError: the record is not from a synthetic task, or comes with the wrong number of images.
    """
    if record.task in VIDEO_TASKS:
        frames = VIDEO_TASKS[record.task].frames
        if len(images) != frames or record.images:
            raise InputError(f"expected one clip of {frames} frames, got {len(images)}", source=record.id)
        return LETTERS[solve_video(record.task, images, record.meta["render"], record.choices)]
    solver = _SOLVERS.get(record.task)
    if solver is None:
        raise InputError(f"no synthetic solver for task {record.task!r}", source=record.id)
    if len(images) != len(record.images):
        raise InputError(f"expected {len(record.images)} images, got {len(images)}", source=record.id)
    pixels = [np.asarray(image.convert("RGB"), dtype=np.int32) for image in images]
    return LETTERS[solver(pixels, record.meta, record)]
