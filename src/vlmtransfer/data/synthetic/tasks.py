"""The synthetic tasks: one generator per BLINK task mirrored.

A generator takes a random generator, the index of the correct choice (chosen by the caller so that
answer letters are balanced) and the image size, and returns the question, the choices, the images
and the rendering parameters (JSON-serialisable; the solvers recompute answers from images and
these). Retries (e.g. a scene in which a marked point is hidden) draw from the same random stream,
so generation stays deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import numpy as np
from PIL import Image, ImageDraw

from vlmtransfer.data.records import LETTERS
from vlmtransfer.data.synthetic.render import (
    PALETTE,
    SHAPES,
    box_iou,
    draw_box,
    draw_label,
    draw_markers,
    label_size,
    marker_radius,
    patch_side,
    plural,
    shape_bbox,
    shape_mask,
    texture,
    unit,
)
from vlmtransfer.data.synthetic.scenes import (
    DEPTH_SHAPES,
    depth_object,
    depth_view,
    flat_scene,
    shading,
)

__all__ = ["TASKS", "Example", "TaskDef"]

T = TypeVar("T")
_MAX_TRIES = 200
_COLORS = tuple(PALETTE)
ORDINALS = ("first", "second", "third", "fourth")
TEXTURES = ("hstripes", "vstripes", "checker", "diagonal")
RELATIONS = {"left": "to the left of", "right": "to the right of", "above": "above", "below": "below"}
OPPOSITE = {"left": "right", "right": "left", "above": "below", "below": "above"}
PARTS = ("head", "left arm", "right arm", "legs")
REFLECTANCE_LEVELS = (0.28, 0.45, 0.72)
_REFLECTANCE_LOW = (0.25, 0.4)  # the illumination falls from 100 % to this across the scene
_REFLECTANCE_CANDIDATES = 8  # candidate points per marked rectangle
_REFLECTANCE_LIGHTS = 5  # candidate illuminations per question
JIGSAW_MIN_MARGIN = 140.0
"""How much worse the wrong piece's edges must match the hole's than the right piece's
(:func:`border_mismatch`), in the ``train`` and ``val`` splits. The shipped model answers 55 % of
questions at the ``pretrain`` split's margin, and 62 % of those with a margin of 120 or more
(docs/synthetic-suite.md, "Jigsaw's margin")."""
JIGSAW_PRETRAIN_MIN_MARGIN = 15.0
LABELS_OFF_GRID_SHARE = 0.5
"""Share of the ``train`` and ``val`` questions of the five marker tasks whose letters are drawn one
pixel off their patch (the ``pretrain`` split keeps them aligned). The model was pretrained on aligned
letters only and reads shifted ones worse, so these questions leave headroom that finetuning recovers,
and recovering it is one skill shared by every marker task (docs/synthetic-suite.md, "Labels off the
grid")."""


@dataclass(frozen=True)
class Example:
    """What a generator returns for one question."""

    question: str
    choices: tuple[str, ...]
    images: list[Image.Image]
    render: dict[str, Any]


@dataclass(frozen=True)
class TaskDef:
    """A synthetic task: its name, the BLINK task it mirrors, its shape and generator."""

    name: str
    blink: str
    choices: int
    images: int
    generate: Callable[[np.random.Generator, int, int], Example]
    pretraining: Callable[[np.random.Generator, int, int], Example] | None = None
    """The generator of the ``pretrain`` split where it differs from ``generate``: an easier rendering,
    as a real VLM's pretraining data is easier than the benchmark it is scored on."""

    def generator(self, split: str) -> Callable[[np.random.Generator, int, int], Example]:
        return self.pretraining if split == "pretrain" and self.pretraining else self.generate


class _RetryError(Exception):
    """A drawn scene does not meet the task's constraints; draw again."""


def _glyph_offset(rng: np.random.Generator, off_grid: bool) -> int:
    """The ``glyph_offset`` of one question's labels: 1 (off the grid) with probability
    :data:`LABELS_OFF_GRID_SHARE` when ``off_grid``, else 0. Draws nothing when ``off_grid`` is False,
    so the ``pretrain`` split's streams, and with them the shipped model's pretraining data, are the
    same as before labels could move."""
    if not off_grid:
        return 0
    return int(rng.random() < LABELS_OFF_GRID_SHARE)


def _retrying(make: Callable[[], T]) -> T:
    for _ in range(_MAX_TRIES):
        try:
            return make()
        except _RetryError:
            continue
    raise RuntimeError("synthetic generator could not satisfy its constraints")  # pragma: no cover


# --- random helpers ------------------------------------------------------------------------------------


def _ri(rng: np.random.Generator, lo: float, hi: float) -> int:
    """A uniform integer in [lo, hi] (bounds rounded)."""
    lo, hi = round(lo), round(hi)
    return int(rng.integers(lo, max(lo, hi) + 1))


def _rf(rng: np.random.Generator, lo: float, hi: float, digits: int = 3) -> float:
    return round(float(rng.uniform(lo, hi)), digits)


def _rlog(rng: np.random.Generator, lo: float, hi: float, digits: int = 4) -> float:
    """Log-uniform in [lo, hi]: as many hard (small) values per octave as easy ones."""
    return round(float(math.exp(rng.uniform(math.log(lo), math.log(hi)))), digits)


def _pick(rng: np.random.Generator, seq: Sequence[T]) -> T:
    return seq[int(rng.integers(len(seq)))]


def _sample(rng: np.random.Generator, seq: Sequence[T], k: int) -> list[T]:
    return [seq[int(i)] for i in rng.permutation(len(seq))[:k]]


def _grey(rng: np.random.Generator, lo: int, hi: int) -> list[int]:
    level = _ri(rng, lo, hi)
    return [min(255, max(0, level + _ri(rng, -6, 6))) for _ in range(3)]


def _place(
    rng: np.random.Generator,
    size: int,
    radii: Sequence[int],
    *,
    gap: float,
    margin: float = 2,
    bounds: Sequence[tuple[float, float, float, float]] | None = None,
) -> list[tuple[int, int]]:
    """Centres for shapes of the given half-sizes, ``margin`` inside the image (and inside ``bounds``
    ``(x_lo, x_hi, y_lo, y_hi)`` when given, one per shape) and ``gap`` apart; else _RetryError.

    Shapes are kept apart as discs of radius 1.25 x their half-size, the extent of a square's corners.
    """
    placed: list[tuple[int, int, float]] = []
    for k, half in enumerate(radii):
        r = 1.25 * half
        x_lo, x_hi = margin + half, size - 1 - margin - half
        y_lo, y_hi = x_lo, x_hi
        if bounds is not None:
            bx0, bx1, by0, by1 = bounds[k]
            x_lo, x_hi, y_lo, y_hi = max(x_lo, bx0), min(x_hi, bx1), max(y_lo, by0), min(y_hi, by1)
        if x_lo > x_hi or y_lo > y_hi:
            raise _RetryError
        for _ in range(100):
            x, y = _ri(rng, math.ceil(x_lo), math.floor(x_hi)), _ri(rng, math.ceil(y_lo), math.floor(y_hi))
            if all((x - px) ** 2 + (y - py) ** 2 >= (r + pr + gap) ** 2 for px, py, pr in placed):
                break
        else:
            raise _RetryError
        placed.append((x, y, r))
    return [(x, y) for x, y, _ in placed]


def _order_images(rng: np.random.Generator, answer: int, correct: T, wrong: Sequence[T]) -> list[T]:
    """``wrong`` in random order with ``correct`` inserted at position ``answer``."""
    others = [wrong[int(i)] for i in rng.permutation(len(wrong))]
    return [*others[:answer], correct, *others[answer:]]


def _erode(mask: np.ndarray, m: int) -> np.ndarray:
    """Pixels whose neighbours ``m`` pixels away in the four axis directions are all in ``mask``."""
    out = mask.copy()
    out[:m, :] = out[-m:, :] = out[:, :m] = out[:, -m:] = False
    out[m:, :] &= mask[:-m, :]
    out[:-m, :] &= mask[m:, :]
    out[:, m:] &= mask[:, :-m]
    out[:, :-m] &= mask[:, m:]
    return out


def _shape_dict(shape: str, color: str, x: int, y: int, r: int) -> dict[str, Any]:
    return {"shape": shape, "color": color, "x": int(x), "y": int(y), "r": int(r)}


# --- Art_Style: texture families -------------------------------------------------------------------


def _styled(rng: np.random.Generator, size: int, family: str, shape: str) -> tuple[Image.Image, dict]:
    u = unit(size)
    colors = _sample(rng, _COLORS, 4)
    half = max(2, round(_ri(rng, 3, 5) * u))
    phases = [_ri(rng, 0, 2 * half - 1), _ri(rng, 0, 2 * half - 1)]
    r = round(_ri(rng, 28, 38) * u)
    cx = size // 2 + _ri(rng, -10 * u, 10 * u)
    cy = size // 2 + _ri(rng, -10 * u, 10 * u)
    back = texture(family, size, half, (PALETTE[colors[0]], PALETTE[colors[1]]), phases[0])
    front = texture(family, size, half, (PALETTE[colors[2]], PALETTE[colors[3]]), phases[1])
    mask = shape_mask(size, shape, cx, cy, r)
    pixels = np.where(mask[..., None], front, back)
    params = {
        "family": family,
        "half_period": half,
        "phases": phases,
        "colors": colors,
        **_shape_dict(shape, colors[2], cx, cy, r),
    }
    return Image.fromarray(pixels, "RGB"), params


def gen_art_style(rng: np.random.Generator, answer: int, size: int) -> Example:
    family, other = _sample(rng, TEXTURES, 2)
    ref_shape, new_shape = _sample(rng, SHAPES, 2)
    # Content must not give the answer away: half the time the same-style candidate has another shape
    # and the other-style one the reference's (content as a distractor, as in BLINK), half the time the
    # other way round, so neither "the shape differs" nor "the shape matches" beats chance.
    style_shape, content_shape = (new_shape, ref_shape) if rng.random() < 0.5 else (ref_shape, new_shape)
    ref = _styled(rng, size, family, ref_shape)
    same_style = _styled(rng, size, family, style_shape)
    other_style = _styled(rng, size, other, content_shape)
    candidates = _order_images(rng, answer, same_style, [other_style])
    question = (
        "Some common pattern styles are horizontal stripes, vertical stripes, checks and diagonal stripes."
        " Given the following images, use the first image as the reference image, and determine which one"
        " of the second or the third image shares the same style as the reference image?"
    )
    return Example(
        question,
        ("the second image", "the third image"),
        [ref[0], *(c[0] for c in candidates)],
        {"images": [ref[1], *(c[1] for c in candidates)]},
    )


# --- Counting ------------------------------------------------------------------------------------------


def gen_counting(rng: np.random.Generator, answer: int, size: int) -> Example:
    u = unit(size)
    count = answer + 1
    shape = _pick(rng, ("circle", "square", "triangle", "diamond"))
    color, *others = _sample(rng, _COLORS, 3)
    n_distract = min(_ri(rng, 0, 2), 5 - count)

    def make() -> Example:
        radii = [round(_ri(rng, 10, 13) * u) for _ in range(count + n_distract)]
        centres = _place(rng, size, radii, gap=6 * u)
        background = _grey(rng, 40, 90)
        shapes = [
            _shape_dict(shape, color, x, y, r)
            for (x, y), r in zip(centres[:count], radii[:count], strict=True)
        ]
        for (x, y), r in zip(centres[count:], radii[count:], strict=True):
            shapes.append(_shape_dict(_pick(rng, SHAPES), _pick(rng, others), x, y, r))
        order = [shapes[int(i)] for i in rng.permutation(len(shapes))]
        image = flat_scene(size, background, order)
        render = {"background": background, "target_color": color, "target_shape": shape, "shapes": order}
        return Example(f"How many {color} {plural(shape)} are there?", ("1", "2", "3", "4"), [image], render)

    return _retrying(make)


# --- Forensic_Detection: a periodic grid artifact ------------------------------------------------------


FORENSIC_AMPLITUDE = (0.02, 0.22)  # a fake's grid strength, log-uniform
FORENSIC_PRETRAIN_AMPLITUDE = (0.14, 0.22)  # the same for the pretrain split, uniform


def _forensic_image(
    rng: np.random.Generator, size: int, artifact: bool, *, weak_artifacts: bool
) -> tuple[Image.Image, dict]:
    u = unit(size)

    def layout() -> tuple[list[int], list[int]]:
        radii = [round(_ri(rng, 10, 22) * u) for _ in range(_ri(rng, 2, 3))]
        return radii, _place(rng, size, radii, gap=4 * u)

    radii, centres = _retrying(layout)
    background = _grey(rng, 100, 160)
    colors = _sample(rng, _COLORS, len(radii))
    shapes = [
        _shape_dict(_pick(rng, SHAPES), c, x, y, r)
        for c, (x, y), r in zip(colors, centres, radii, strict=True)
    ]
    angle, low = _rf(rng, 0, 2 * math.pi, 4), _rf(rng, 0.7, 0.85)
    pixels = np.asarray(flat_scene(size, background, shapes), dtype=np.float64)
    pixels = pixels * shading(size, angle, low)[..., None]
    params: dict[str, Any] = {"background": background, "shapes": shapes, "angle": angle, "low": low}
    if artifact:
        if weak_artifacts:
            amplitude = _rlog(rng, *FORENSIC_AMPLITUDE)
        else:
            amplitude = _rf(rng, *FORENSIC_PRETRAIN_AMPLITUDE)
        half = max(2, round(2 * u))
        grid = texture("checker", size, half, ((0, 0, 0), (1, 1, 1))).astype(np.float64)
        pixels = pixels * (1.0 + amplitude * (2.0 * grid - 1.0))
        params |= {"artifact": "grid", "amplitude": amplitude, "half_period": half}
    else:
        params |= {"artifact": None}
    image = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "RGB")
    return image, params


def gen_forensic(rng: np.random.Generator, answer: int, size: int, *, weak_artifacts: bool = True) -> Example:
    """One real photo among three fakes carrying a periodic grid. With ``weak_artifacts`` (train and
    val) a fake's grid strength is log-uniform in FORENSIC_AMPLITUDE; without (pretrain) it is
    always strong. The tiny model pretrained on strong grids answers 64 % of the mixed questions, while
    one trained on grids of 2-22 % reached 100 % (docs/synthetic-suite.md): finetuning has headroom.
    Both draw the strength with one uniform number, so the pretrain split's questions are those
    rendered before the weak grids existed."""
    real = _forensic_image(rng, size, artifact=False, weak_artifacts=weak_artifacts)
    fakes = [_forensic_image(rng, size, artifact=True, weak_artifacts=weak_artifacts) for _ in range(3)]
    images = _order_images(rng, answer, real, fakes)
    question = (
        "You are a judge in a photography competition, and now you are given the four images. Please"
        " examine the details and tell which one of them is most likely to be a real photograph."
    )
    return Example(
        question,
        tuple(f"the {o} image" for o in ORDINALS),
        [i for i, _ in images],
        {"images": [p for _, p in images]},
    )


# --- Jigsaw ---------------------------------------------------------------------------------------------


def _border_shape(
    rng: np.random.Generator, size: int, color: str, shapes: Sequence[str] = SHAPES
) -> dict[str, Any]:
    """A shape (one of ``shapes``) straddling the top or left edge of the lower-right quadrant."""
    u, h = unit(size), size // 2
    r = round(_ri(rng, 15, 24) * u)
    along, across = _ri(rng, h + r // 3, size - 1 - r // 3), h + _ri(rng, -r // 2, r // 2)
    x, y = (across, along) if rng.random() < 0.5 else (along, across)
    return _shape_dict(_pick(rng, shapes), color, x, y, r)


def _visible_colors(image: Image.Image, box: Sequence[int]) -> list[str]:
    """Palette colours with pixels outside ``box`` (the part of a jigsaw scene left visible)."""
    px = np.asarray(image, dtype=np.uint32)
    packed = (px[..., 0] << 16) | (px[..., 1] << 8) | px[..., 2]  # one compare per colour, not three
    packed[box[1] : box[3], box[0] : box[2]] = 1 << 24  # no colour: the hole is not visible
    return [name for name in _COLORS if np.count_nonzero(packed == _packed(PALETTE[name])) >= 4]


def _packed(color: Sequence[int]) -> int:
    return (int(color[0]) << 16) | (int(color[1]) << 8) | int(color[2])


def border_mismatch(first: np.ndarray, candidate: np.ndarray) -> float:
    """Mean colour difference between the pixels bordering the hole of ``first`` (its lower-right
    quadrant) and the top row / left column of ``candidate`` scaled back to the hole's size."""
    size = first.shape[0]
    h = size // 2
    patch = Image.fromarray(candidate.astype(np.uint8)).resize((size - h, size - h), Image.Resampling.NEAREST)
    patch_px = np.asarray(patch, dtype=np.int32)
    above = np.abs(first[h - 1, h:, :] - patch_px[0, :, :]).max(axis=1)
    left = np.abs(first[h:, h - 1, :] - patch_px[:, 0, :]).max(axis=1)
    return float(np.concatenate([above, left]).mean())


def gen_jigsaw(
    rng: np.random.Generator, answer: int, size: int, *, min_margin: float = JIGSAW_MIN_MARGIN
) -> Example:
    u, h = unit(size), size // 2

    def make() -> Example:
        background = _grey(rng, 45, 95)
        colors = _sample(rng, _COLORS, len(_COLORS))
        n = _ri(rng, 3, 4)
        shapes = [_border_shape(rng, size, colors[0])]
        for color in colors[1:n]:
            r = round(_ri(rng, 12, 22) * u)
            shapes.append(
                _shape_dict(
                    _pick(rng, SHAPES), color, _ri(rng, r // 2, size - 1 - r // 2), _ri(rng, r // 2, h), r
                )
            )
        box = (h, h, size, size)
        full = flat_scene(size, background, shapes)
        # The wrong piece is the same quadrant of a scene in which every shape reaching into it was
        # moved elsewhere along the hole's edge, taking a colour and a kind already seen in the first
        # image: no colour or shape gives the piece away, only continuity across the edge does.
        visible = _visible_colors(full, box)
        kinds = sorted({s["shape"] for s in shapes})
        if not visible:
            raise _RetryError
        alternative = [
            _border_shape(rng, size, _pick(rng, visible), kinds)
            if shape_mask(size, s["shape"], s["x"], s["y"], s["r"])[h:, h:].any()
            else s
            for s in shapes
        ]
        other = flat_scene(size, background, alternative)
        right = full.crop(box).resize((size, size), Image.Resampling.NEAREST)
        wrong = other.crop(box).resize((size, size), Image.Resampling.NEAREST)
        first = full.copy()
        first.paste((0, 0, 0), box)
        first_px = np.asarray(first, dtype=np.int32)
        margin = border_mismatch(first_px, np.asarray(wrong, dtype=np.int32)) - border_mismatch(
            first_px, np.asarray(right, dtype=np.int32)
        )
        if margin < min_margin:
            raise _RetryError
        candidates = _order_images(rng, answer, right, [wrong])
        question = (
            "Given the first image with the lower right corner missing, can you tell which one of the second"
            " image or the third image is the missing part? Imagine which image would be more appropriate to"
            " place in the missing spot. You can also carefully observe and compare the edges of the images."
        )
        render = {
            "background": background,
            "shapes": shapes,
            "alternative_shapes": alternative,
            "candidate_sources": ["scene" if c is right else "alternative" for c in candidates],
        }
        return Example(question, ("the second image", "the third image"), [first, *candidates], render)

    return _retrying(make)


# --- scenes on a ground plane (Relative_Depth, Multi-view_Reasoning) ---------------------------------


def _backdrop(rng: np.random.Generator, size: int) -> dict[str, Any]:
    u = unit(size)
    horizon = _ri(rng, 34 * u, 44 * u)
    peaks = _ri(rng, 3, 5)
    ridge = [[0, horizon]]
    for k in range(peaks):
        ridge.append(
            [
                round((k + 0.5) * (size - 1) / peaks) + _ri(rng, -6 * u, 6 * u),
                horizon - _ri(rng, 4 * u, 14 * u),
            ]
        )
    ridge.append([size - 1, horizon])
    return {
        "horizon": horizon,
        "sky": [_ri(rng, 170, 200), _ri(rng, 195, 215), _ri(rng, 220, 240)],
        "ground": [_ri(rng, 95, 125), _ri(rng, 105, 130), _ri(rng, 70, 95)],
        "ridge_color": [_ri(rng, 120, 140), _ri(rng, 125, 145), _ri(rng, 150, 170)],
        "ridge": ridge,
    }


def gen_relative_depth(
    rng: np.random.Generator, answer: int, size: int, *, off_grid_labels: bool = True
) -> Example:
    glyph_offset = _glyph_offset(rng, off_grid_labels)
    u = unit(size)
    mr = marker_radius(size)

    def make() -> Example:
        scene = _backdrop(rng, size)
        n = _ri(rng, 2, 3)
        colors = _sample(rng, _COLORS, n)
        z_near = _rf(rng, 1.0, 2.0, 2)
        z_far = round(min(4.0, z_near * _rf(rng, 1.45, 2.3, 2)), 2)
        depths = [z_near, z_far, *(_rf(rng, 1.0, 4.0, 2) for _ in range(n - 2))]
        objects = []
        for k, (color, z) in enumerate(zip(colors, depths, strict=True)):
            width, height = _rf(rng, 0.6, 1.0, 2), _rf(rng, 0.6, 1.0, 2)
            if k == 1 and rng.random() < 0.6:  # often partly hidden behind the near object
                near = objects[0]
                x = near["x"] + round((1 if rng.random() < 0.5 else -1) * near["w"] * _rf(rng, 0.35, 0.8))
            else:
                x = _ri(rng, 14 * u, size - 1 - 14 * u)
            obj = depth_object(
                size,
                scene["horizon"],
                shape=_pick(rng, DEPTH_SHAPES),
                color=color,
                z=z,
                x=x,
                width=width,
                height=height,
            )
            objects.append(obj)
        image, ids = depth_view(size, scene, objects)
        points = []
        for k in (0, 1):
            inner = _erode(ids == k + 1, max(2, round(4 * u)))
            inner[: mr + 1, :] = inner[size - mr - 2 :, :] = False
            inner[:, : mr + 1] = inner[:, size - mr - 2 :] = False
            ys, xs = np.nonzero(inner)
            if len(xs) == 0:
                raise _RetryError
            j = int(rng.integers(len(xs)))
            points.append((int(xs[j]), int(ys[j])))
        (xn, yn), (xf, yf) = points
        if (xn - xf) ** 2 + (yn - yf) ** 2 < (3 * mr) ** 2:
            raise _RetryError
        near_label, far_label = ("A", "B") if answer == 0 else ("B", "A")
        marks = sorted([(xn, yn, near_label), (xf, yf, far_label)], key=lambda p: p[2])
        labels = draw_markers(image, marks, glyph_offset=glyph_offset)
        question = (
            "Two points are circled on the image, labeled by A and B beside each circle."
            " Which point is closer to the camera?"
        )
        render = {
            **scene,
            "objects": objects,
            "markers": [m.to_dict() for m in labels],
            "glyph_offset": glyph_offset,
        }
        return Example(question, ("A is closer", "B is closer"), [image], render)

    return _retrying(make)


MULTIVIEW_TRAVEL = (2.0, 30.0)  # px (112-px layout) an object at depth 1 moves, log-uniform
MULTIVIEW_PRETRAIN_TRAVEL = (22.0, 30.0)  # the same for the pretrain split, uniform


def gen_multiview(rng: np.random.Generator, answer: int, size: int, *, small_moves: bool = True) -> Example:
    """Two views of a ground-plane scene. With ``small_moves`` (train and val) the camera's travel is
    log-uniform in MULTIVIEW_TRAVEL, so in half of the questions the nearest object moves less than
    half a 14-px patch; without (pretrain) every move is large. Trained on the mixed moves from the
    start, the tiny model reaches 58-64 %; pretrained on the large ones, it answers 75-83 % of the mixed
    (docs/synthetic-suite.md). Both draw the travel with one uniform number, so the pretrain split's
    questions are those rendered before the small moves existed."""
    u = unit(size)
    camera = -1 if answer == 0 else 1  # "left" / "right"

    def make() -> Example:
        scene = _backdrop(rng, size)
        n = _ri(rng, 3, 4)
        colors = _sample(rng, _COLORS, n)
        if small_moves:  # image shift of an object at depth 1
            travel = _rlog(rng, *MULTIVIEW_TRAVEL, 2) * u
        else:
            travel = _rf(rng, *MULTIVIEW_PRETRAIN_TRAVEL, 2) * u
        depths = [_rf(rng, 1.0, 1.4, 2), *(_rf(rng, 1.2, 3.5, 2) for _ in range(n - 1))]
        first, second = [], []
        for color, z in zip(colors, depths, strict=True):
            shape, width, height = _pick(rng, DEPTH_SHAPES), _rf(rng, 0.6, 1.0, 2), _rf(rng, 0.6, 1.0, 2)
            shift = -camera * travel / z  # the scene moves opposite to the camera, near objects more
            geometry = {"shape": shape, "color": color, "z": z, "width": width, "height": height}
            probe = depth_object(size, scene["horizon"], x=0, **geometry)
            lo = 2 + probe["w"] // 2 + abs(shift) / 2
            hi = size - 3 - probe["w"] // 2 - abs(shift) / 2
            if lo > hi:
                raise _RetryError
            centre = _rf(rng, lo, hi, 2)
            for view, x in ((first, centre - shift / 2), (second, centre + shift / 2)):
                view.append(depth_object(size, scene["horizon"], x=round(x), **geometry))
        (one, ids1), (two, ids2) = depth_view(size, scene, first), depth_view(size, scene, second)
        # every object must stay clearly visible in both views
        for k, obj in enumerate(first):
            area = obj["w"] * obj["h"] * 0.5
            if (ids1 == k + 1).sum() < area or (ids2 == k + 1).sum() < area:
                raise _RetryError
        question = (
            "The images are frames from a video. The video is shooting a static scene. The camera is moving"
            " either left or right. The first image is from the beginning of the video and the second image"
            " is from the end. Is the camera moving left or right when shooting the video?"
        )
        render = {**scene, "travel": round(travel, 3), "views": [first, second]}
        return Example(question, ("left", "right"), [one, two], render)

    return _retrying(make)


# --- Object_Localization ----------------------------------------------------------------------------


def _box_label(size: int, box: Sequence[int], text: str, avoid: Sequence[Sequence[int]]) -> list[int]:
    """Where a box's label goes: on the patch grid, covering one of the box's corners (so the box's
    edges run into it), the top-left if it is free of ``avoid``, else the freest other corner."""
    w, h = label_size(size, text)
    side = patch_side(size)
    x0, y0, x1, y1 = box
    last_x, last_y = (size - w) // side * side, (size - h) // side * side
    best = None
    for k, (cx, cy) in enumerate(((x0, y0), (x1, y0), (x0, y1), (x1, y1))):
        lx, ly = min(cx // side * side, last_x), min(cy // side * side, last_y)
        rect = [lx, ly, lx + w - 1, ly + h - 1]
        overlap = sum(
            max(0, min(rect[2], a[2]) - max(rect[0], a[0]) + 1)
            * max(0, min(rect[3], a[3]) - max(rect[1], a[1]) + 1)
            for a in avoid
        )
        if best is None or (overlap, k) < best[0]:
            best = ((overlap, k), rect)
    assert best is not None
    return best[1]


def gen_localization(
    rng: np.random.Generator, answer: int, size: int, *, off_grid_labels: bool = True
) -> Example:
    glyph_offset = _glyph_offset(rng, off_grid_labels)
    u = unit(size)

    def make() -> Example:
        shape, color = _pick(rng, SHAPES), _pick(rng, _COLORS)
        r = round(_ri(rng, 14, 24) * u)
        margin = r + 6 * u
        x, y = _ri(rng, margin, size - 1 - margin), _ri(rng, margin, size - 1 - margin)
        background = _grey(rng, 40, 100)
        image = flat_scene(size, background, [_shape_dict(shape, color, x, y, r)])
        bx0, by0, bx1, by1 = shape_bbox(size, shape, x, y, r)
        pad = max(1, round(2 * u))
        right = [bx0 - pad, by0 - pad, bx1 + pad, by1 + pad]
        w, h = right[2] - right[0], right[3] - right[1]
        kind = _pick(rng, ("shift", "grow", "shrink"))
        if kind == "shift":
            angle = _pick(rng, range(8)) * math.pi / 4
            f = _rf(rng, 0.5, 0.8)
            dx, dy = round(math.cos(angle) * f * w), round(math.sin(angle) * f * h)
            wrong = [right[0] + dx, right[1] + dy, right[2] + dx, right[3] + dy]
        else:
            f = _rf(rng, 1.7, 2.1) if kind == "grow" else _rf(rng, 0.45, 0.6)
            cx, cy = (right[0] + right[2]) / 2, (right[1] + right[3]) / 2
            wrong = [
                round(cx - f * w / 2),
                round(cy - f * h / 2),
                round(cx + f * w / 2),
                round(cy + f * h / 2),
            ]
        wrong = [min(max(v, 0), size - 1) for v in wrong]
        if min(wrong[2] - wrong[0], wrong[3] - wrong[1]) < 8 * u or box_iou(right, wrong) > 0.5:
            raise _RetryError
        boxes = [right, wrong] if answer == 0 else [wrong, right]
        for box in boxes:
            draw_box(image, box)
        labels: list[list[int]] = []
        for k, box in enumerate(boxes):
            other = boxes[1 - k]
            corners = [[x, y, x, y] for x in (other[0], other[2]) for y in (other[1], other[3])]
            rect = _box_label(size, box, LETTERS[k], [[bx0, by0, bx1, by1], *labels, *corners])
            draw_label(image, rect[0], rect[1], LETTERS[k], glyph_offset=glyph_offset)
            labels.append(rect)
        question = (
            "A bounding box is an annotated rectangle surrounding an object. The edges of bounding boxes"
            " should touch the outermost pixels of the object. In the image provided, there are two bounding"
            f" boxes, labeled A and B. Which bounding box more accurately localizes and encloses the {color}"
            f" {shape}?"
        )
        render = {
            "background": background,
            "object": _shape_dict(shape, color, x, y, r),
            "boxes": boxes,
            "labels": labels,
            "perturbation": kind,
            "glyph_offset": glyph_offset,
        }
        return Example(question, ("Box A", "Box B"), [image], render)

    return _retrying(make)


# --- Relative_Reflectance ---------------------------------------------------------------------------


def _cuts(rng: np.random.Generator, size: int, parts: int) -> list[int]:
    u = unit(size)
    return [0, *(round(size * k / parts) + _ri(rng, -8 * u, 8 * u) for k in range(1, parts)), size]


def gen_reflectance(
    rng: np.random.Generator, answer: int, size: int, *, off_grid_labels: bool = True
) -> Example:
    glyph_offset = _glyph_offset(rng, off_grid_labels)
    u = unit(size)
    mr = marker_radius(size)
    inset = mr + round(5 * u)

    def points_in(cell: Sequence[int]) -> list[tuple[int, int]]:
        x0, y0, x1, y1 = cell
        if x1 - x0 <= 2 * inset or y1 - y0 <= 2 * inset:
            raise _RetryError
        return [
            (_ri(rng, x0 + inset, x1 - 1 - inset), _ri(rng, y0 + inset, y1 - 1 - inset))
            for _ in range(_REFLECTANCE_CANDIDATES)
        ]

    def raw_answer(brightness_a: float, brightness_b: float) -> int:
        # what comparing the observed brightness alone would answer
        ratio = brightness_a / brightness_b
        return 0 if ratio < 0.8 else 1 if ratio > 1.25 else 2

    decoy = _ri(rng, 0, 2)  # the answer raw brightness should suggest (drawn once, outside the retries)

    def make() -> Example:
        xs, ys = _cuts(rng, size, _ri(rng, 2, 3)), _cuts(rng, size, _ri(rng, 1, 2))
        cells = [[xs[i], ys[j], xs[i + 1], ys[j + 1]] for j in range(len(ys) - 1) for i in range(len(xs) - 1)]
        levels = [_pick(rng, range(len(REFLECTANCE_LEVELS))) for _ in cells]
        # two different rectangles for every answer (a same-rectangle pair would mark "About the same")
        if answer == 2:
            pairs = [
                (i, j)
                for i in range(len(cells))
                for j in range(len(cells))
                if i != j and levels[i] == levels[j]
            ]
        else:
            darker = (
                (lambda i, j: levels[i] < levels[j]) if answer == 0 else (lambda i, j: levels[i] > levels[j])
            )
            pairs = [(i, j) for i in range(len(cells)) for j in range(len(cells)) if darker(i, j)]
        if not pairs:
            raise _RetryError
        ia, ib = _pick(rng, pairs)
        points_a, points_b = points_in(cells[ia]), points_in(cells[ib])
        pairs_ab = [
            (a, b)
            for a in points_a
            for b in points_b
            if (a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2 >= (26 * u) ** 2
        ]
        if not pairs_ab:
            raise _RetryError
        # Points and lighting chosen, when possible, so that comparing raw brightness gives the answer
        # drawn as ``decoy`` (uniform over the three, whatever the true answer): the shading then
        # reverses, hides or fakes albedo differences, and albedo must be judged relative to shading.
        options = []
        for _ in range(_REFLECTANCE_LIGHTS):
            angle, low = _rf(rng, 0, 2 * math.pi, 4), _rf(rng, *_REFLECTANCE_LOW)
            light = shading(size, angle, low)
            for a, b in pairs_ab:
                raw = raw_answer(
                    REFLECTANCE_LEVELS[levels[ia]] * light[a[1], a[0]],
                    REFLECTANCE_LEVELS[levels[ib]] * light[b[1], b[0]],
                )
                options.append((raw == decoy, angle, low, a, b))
        decoyed = [o for o in options if o[0]]
        _, angle, low, (xa, ya), (xb, yb) = _pick(rng, decoyed or options)
        light = shading(size, angle, low)
        tint = [_rf(rng, 0.9, 1.0) for _ in range(3)]
        albedo = np.zeros((size, size), dtype=np.float64)
        for (x0, y0, x1, y1), level in zip(cells, levels, strict=True):
            albedo[y0:y1, x0:x1] = REFLECTANCE_LEVELS[level]
        pixels = albedo[..., None] * np.array(tint) * light[..., None] * 255.0
        image = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "RGB")
        labels = draw_markers(image, [(xa, ya, "A"), (xb, yb, "B")], glyph_offset=glyph_offset)
        question = (
            "Two points are circled on the image, labeled by A and B beside each circle."
            " Which point has darker surface color, or the colors are about the same?"
        )
        render = {
            "cells": cells,
            "albedo": [REFLECTANCE_LEVELS[v] for v in levels],
            "angle": angle,
            "low": low,
            "tint": tint,
            "markers": [m.to_dict() for m in labels],
            "glyph_offset": glyph_offset,
        }
        return Example(question, ("A is darker", "B is darker", "About the same"), [image], render)

    return _retrying(make)


# --- Semantic_Correspondence: toy creatures ----------------------------------------------------------


def creature_parts(cx: int, cy: int, radius: int) -> dict[str, tuple[int, int]]:
    """Anchor points of the four parts of a creature with body radius ``radius`` centred at (cx, cy)."""
    arm = round(1.55 * radius)
    return {
        "head": (cx, cy - radius - round(0.3 * radius)),
        "left arm": (cx - arm, cy),
        "right arm": (cx + arm, cy),
        "legs": (cx, cy + round(1.5 * radius)),
    }


def _creature(image: Image.Image, cx: int, cy: int, radius: int, *, body: str, limbs: str) -> None:
    draw = ImageDraw.Draw(image)
    a, leg = max(3, round(0.32 * radius)), max(3, round(0.42 * radius))
    draw.rectangle([cx - 2 * radius, cy - a, cx + 2 * radius, cy + a], fill=PALETTE[limbs])
    draw.rectangle([cx - leg, cy, cx + leg, cy + 2 * radius], fill=PALETTE[limbs])
    draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=PALETTE[body])
    hx, hy = creature_parts(cx, cy, radius)["head"]
    hr = round(0.58 * radius)
    draw.ellipse([hx - hr, hy - hr, hx + hr, hy + hr], fill=PALETTE[limbs])


_OUTWARD = {"head": (0.0, -1.0), "left arm": (-1.0, 0.0), "right arm": (1.0, 0.0), "legs": (0.0, 1.0)}


def gen_semantic(
    rng: np.random.Generator, answer: int, size: int, *, off_grid_labels: bool = True
) -> Example:
    glyph_offset = _glyph_offset(rng, off_grid_labels)
    u = unit(size)
    part = _pick(rng, PARTS)
    others = [p for p in PARTS if p != part]
    order = [others[int(i)] for i in rng.permutation(3)]
    lettered = [*order[:answer], part, *order[answer:]]  # lettered[k] is the part labelled LETTERS[k]
    views = []
    images = []
    for k in range(2):
        radius = round(_ri(rng, 12, 16) * u)
        margin = 2 * radius + 3 * u
        cx, cy = _ri(rng, margin, size - 1 - margin), _ri(rng, margin + 2 * u, size - 1 - margin)
        body, limbs = _sample(rng, _COLORS, 2)
        background = _grey(rng, 60, 110)
        image = Image.new("RGB", (size, size), tuple(background))
        _creature(image, cx, cy, radius, body=body, limbs=limbs)
        anchors = creature_parts(cx, cy, radius)
        if k == 0:
            marks = [(*anchors[part], "REF")]
            prefer = [_OUTWARD[part]]
        else:
            marks = [(*anchors[p], LETTERS[j]) for j, p in enumerate(lettered)]
            prefer = [_OUTWARD[p] for p in lettered]
        labels = draw_markers(image, marks, prefer, glyph_offset=glyph_offset)
        images.append(image)
        views.append(
            {
                "background": background,
                "x": cx,
                "y": cy,
                "radius": radius,
                "body": body,
                "limbs": limbs,
                "markers": [m.to_dict() for m in labels],
            }
        )
    question = (
        "Humans can find corresponding points for different objects in the same category. For instance,"
        " if there are images of two different toy creatures, then the left arm of one creature corresponds"
        " to the left arm of the other. A point is circled on the first image, labeled with REF. You are"
        ' given multiple red-circled points on the second image, choices of "A, B, C, D" are drawn beside'
        " each circle. Which point on the second image corresponds to the point in the first image?"
    )
    return Example(
        question, tuple(f"Point {c}" for c in "ABCD"), images, {"views": views, "glyph_offset": glyph_offset}
    )


# --- Spatial_Relation ---------------------------------------------------------------------------------


def gen_spatial(rng: np.random.Generator, answer: int, size: int) -> Example:
    u = unit(size)
    relation = _pick(rng, tuple(RELATIONS))
    truth = relation if answer == 0 else OPPOSITE[relation]
    (c1, c2), (s1, s2) = _sample(rng, _COLORS, 2), _sample(rng, SHAPES, 2)
    r1, r2 = round(_ri(rng, 11, 16) * u), round(_ri(rng, 11, 16) * u)
    separation, offset = _ri(rng, 34 * u, 66 * u), _ri(rng, -12 * u, 12 * u)
    sign = -1 if truth in ("left", "above") else 1  # object 1 relative to object 2 along the axis
    rmax = max(r1, r2) + 2
    mid_along = _ri(rng, rmax + separation / 2, size - 1 - rmax - separation / 2)
    mid_across = _ri(rng, rmax + abs(offset) / 2, size - 1 - rmax - abs(offset) / 2)
    a1, a2 = round(mid_along + sign * separation / 2), round(mid_along - sign * separation / 2)
    b1, b2 = round(mid_across + offset / 2), round(mid_across - offset / 2)
    if truth in ("left", "right"):
        (x1, y1), (x2, y2) = (a1, b1), (a2, b2)
    else:
        (x1, y1), (x2, y2) = (b1, a1), (b2, a2)
    background = _grey(rng, 40, 100)
    shapes = [_shape_dict(s1, c1, x1, y1, r1), _shape_dict(s2, c2, x2, y2, r2)]
    image = flat_scene(size, background, shapes)
    question = f"Is the {c1} {s1} {RELATIONS[relation]} the {c2} {s2}?"
    render = {"background": background, "relation": relation, "shapes": shapes}
    return Example(question, ("yes", "no"), [image], render)


# --- Visual_Correspondence -----------------------------------------------------------------------------


def gen_visual_correspondence(
    rng: np.random.Generator, answer: int, size: int, *, off_grid_labels: bool = True
) -> Example:
    glyph_offset = _glyph_offset(rng, off_grid_labels)
    u = unit(size)
    c = (size - 1) / 2
    # Whether the candidate nearest to REF's pixel position is the answer: drawn once, outside the
    # retries, with the chance rate 1/4, so "the marker where REF was" is right 1 time in 4.
    nearest_is_answer = bool(rng.random() < 0.25)

    def make() -> Example:
        n = 4 + _ri(rng, 0, 1)
        colors, shapes = _sample(rng, _COLORS, n), [_pick(rng, SHAPES) for _ in range(n)]
        radii = [round(_ri(rng, 11, 14) * u) for _ in range(n)]
        scale = _rf(rng, 0.75, 1.3)
        mirror = -1 if rng.random() < 0.5 else 1  # the shapes are left-right symmetric
        tx, ty = _ri(rng, -24 * u, 24 * u), _ri(rng, -24 * u, 24 * u)

        def inverse(lo: float, hi: float, t: int, m: int) -> tuple[float, float]:
            # the first image's coordinates that land in [lo, hi] in the second image
            a, b = c + (lo - t - c) / (m * scale), c + (hi - t - c) / (m * scale)
            return min(a, b) + 0.5, max(a, b) - 0.5

        bounds = []
        for r in radii:
            r2 = round(r * scale)
            lo, hi = r2 + 3, size - 4 - r2
            bounds.append((*inverse(lo, hi, tx, mirror), *inverse(lo, hi, ty, 1)))
        centres = _place(rng, size, radii, gap=3 * u, margin=3 * u, bounds=bounds)
        moved = []
        for (x, y), r in zip(centres, radii, strict=True):
            x2 = round(c + mirror * scale * (x - c) + tx)
            y2, r2 = round(c + scale * (y - c) + ty), round(r * scale)
            if not (r2 + 3 <= x2 <= size - 4 - r2 and r2 + 3 <= y2 <= size - 4 - r2):
                raise _RetryError
            moved.append((x2, y2, r2))

        def nearest(k: int) -> int:
            x, y = centres[k]
            return min(range(4), key=lambda j: (moved[j][0] - x) ** 2 + (moved[j][1] - y) ** 2)

        # objects 0-3 carry the candidate points; object 4 (if any) is a distractor
        eligible = [k for k in range(4) if (nearest(k) == k) == nearest_is_answer]
        if not eligible:
            raise _RetryError
        ref = _pick(rng, eligible)
        background = _grey(rng, 60, 100)
        first = [
            _shape_dict(s, col, x, y, r)
            for s, col, (x, y), r in zip(shapes, colors, centres, radii, strict=True)
        ]
        second = [
            _shape_dict(s, col, x, y, r) for s, col, (x, y, r) in zip(shapes, colors, moved, strict=True)
        ]
        gain = _rf(rng, 0.85, 1.12)
        one = flat_scene(size, background, first)
        two_px = np.asarray(flat_scene(size, background, second), dtype=np.float64) * gain
        two = Image.fromarray(np.clip(np.rint(two_px), 0, 255).astype(np.uint8), "RGB")
        wrong = [k for k in range(4) if k != ref]
        lettered = _order_images(rng, answer, ref, wrong)
        ref_mark = draw_markers(one, [(first[ref]["x"], first[ref]["y"], "REF")], glyph_offset=glyph_offset)
        marks = draw_markers(
            two,
            [(second[k]["x"], second[k]["y"], LETTERS[j]) for j, k in enumerate(lettered)],
            glyph_offset=glyph_offset,
        )
        question = (
            "A point is circled on the first image, labeled with REF. We change the camera position or"
            " lighting and shoot the second image. You are given multiple red-circled points on the second"
            ' image, choices of "A, B, C, D" are drawn beside each circle. Which point on the second image'
            " corresponds to the point in the first image?"
        )
        render = {
            "background": background,
            "shapes": first,
            "moved_shapes": second,
            "scale": scale,
            "mirror": mirror == -1,
            "shift": [tx, ty],
            "gain": gain,
            "ref_marker": ref_mark[0].to_dict(),
            "markers": [m.to_dict() for m in marks],
            "glyph_offset": glyph_offset,
        }
        return Example(question, tuple(f"Point {c}" for c in "ABCD"), [one, two], render)

    return _retrying(make)


# --- Visual_Similarity --------------------------------------------------------------------------------


def _single(rng: np.random.Generator, size: int, shape: str, color: str, r: int) -> tuple[Image.Image, dict]:
    u = unit(size)
    x = size // 2 + _ri(rng, -14 * u, 14 * u)
    y = size // 2 + _ri(rng, -14 * u, 14 * u)
    background = _grey(rng, 50, 110)
    obj = _shape_dict(shape, color, x, y, r)
    return flat_scene(size, background, [obj]), {"background": background, **obj}


def gen_similarity(
    rng: np.random.Generator, answer: int, size: int, *, shape_changes: bool = True
) -> Example:
    """The odd image differs from the reference in shape or in colour, half the time each.

    ``shape_changes=False`` is the pretrain split's easier rendering: the odd image always changes colour,
    the cue a tiny vision tower picks up first, so the benchmark's shape changes are new to the model. Both
    renderings consume the same random draws: a question differs between them only in the odd image."""
    u = unit(size)
    (shape, other_shape), (color, other_color) = _sample(rng, SHAPES, 2), _sample(rng, _COLORS, 2)
    r = round(_ri(rng, 26, 34) * u)
    ref = _single(rng, size, shape, color, r)
    same = _single(rng, size, shape, color, round(r * _rf(rng, 0.85, 1.15)))
    if rng.random() < 0.5 and shape_changes:
        different = _single(rng, size, other_shape, color, round(r * _rf(rng, 0.85, 1.15)))
    else:
        different = _single(rng, size, shape, other_color, round(r * _rf(rng, 0.85, 1.15)))
    candidates = _order_images(rng, answer, same, [different])
    question = (
        "Given three similar but different images, take the first image as reference. Can you tell which"
        " one of the latter two images is most similar to the first one?"
    )
    return Example(
        question,
        ("The second image", "The third image"),
        [ref[0], *(c[0] for c in candidates)],
        {"images": [ref[1], *(c[1] for c in candidates)]},
    )


TASKS: tuple[TaskDef, ...] = (
    TaskDef("Syn_Art_Style", "Art_Style", 2, 3, gen_art_style),
    TaskDef("Syn_Counting", "Counting", 4, 1, gen_counting),
    TaskDef(
        "Syn_Forensic_Detection",
        "Forensic_Detection",
        4,
        4,
        gen_forensic,
        pretraining=partial(gen_forensic, weak_artifacts=False),
    ),
    TaskDef(
        "Syn_Jigsaw",
        "Jigsaw",
        2,
        3,
        gen_jigsaw,
        pretraining=partial(gen_jigsaw, min_margin=JIGSAW_PRETRAIN_MIN_MARGIN),
    ),
    TaskDef(
        "Syn_Multi-view_Reasoning",
        "Multi-view_Reasoning",
        2,
        2,
        gen_multiview,
        pretraining=partial(gen_multiview, small_moves=False),
    ),
    TaskDef(
        "Syn_Object_Localization",
        "Object_Localization",
        2,
        1,
        gen_localization,
        pretraining=partial(gen_localization, off_grid_labels=False),
    ),
    TaskDef(
        "Syn_Relative_Depth",
        "Relative_Depth",
        2,
        1,
        gen_relative_depth,
        pretraining=partial(gen_relative_depth, off_grid_labels=False),
    ),
    TaskDef(
        "Syn_Relative_Reflectance",
        "Relative_Reflectance",
        3,
        1,
        gen_reflectance,
        pretraining=partial(gen_reflectance, off_grid_labels=False),
    ),
    TaskDef(
        "Syn_Semantic_Correspondence",
        "Semantic_Correspondence",
        4,
        2,
        gen_semantic,
        pretraining=partial(gen_semantic, off_grid_labels=False),
    ),
    TaskDef("Syn_Spatial_Relation", "Spatial_Relation", 2, 1, gen_spatial),
    TaskDef(
        "Syn_Visual_Correspondence",
        "Visual_Correspondence",
        4,
        2,
        gen_visual_correspondence,
        pretraining=partial(gen_visual_correspondence, off_grid_labels=False),
    ),
    TaskDef(
        "Syn_Visual_Similarity",
        "Visual_Similarity",
        2,
        3,
        gen_similarity,
        pretraining=partial(gen_similarity, shape_changes=False),
    ),
)
