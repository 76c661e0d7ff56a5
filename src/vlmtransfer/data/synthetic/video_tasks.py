"""Synthetic video tasks: a camera panning along a strip of coloured shapes, asked VSI-Bench's questions.

Each question is a short clip (``VIDEO_FRAMES`` frames of ``size`` x ``size`` px) cut from a *world*, a
strip wider than one frame: the camera starts at one end and pans to the other (left to right or right
to left, drawn per question) in ``VIEWS`` equal steps, holding each view for ``HOLD`` frames. Holding
views for two frames matches Qwen2.5-VL's temporal patch of two frames, so each temporal patch of the
clip is one still view, encoded as the model encodes an image; a clip is then ``VIEWS`` views in time
order. The four tasks mirror four of VSI-Bench's five question types (route planning, which needs a
walkable layout, is left out), in the multiple-choice form of the rest of the suite (VSI-Bench's object
counting is numeric; here it has the image counting task's four choices, since the tiny model never
learnt to write numbers):

- ``Syn_Video_Object_Counting`` (VSI Object Counting): how many shapes of one colour and kind the strip
  holds. The pan is short, so most shapes stay in view throughout; counting them in one view is the
  image counting task, and a shape near an end is seen in only part of the clip.
- ``Syn_Video_Appearance_Order`` (VSI Object Appearance Order): which of three shapes appears first.
  Only one is in the first view; the others enter in later views, in an order set by the pan's
  direction.
- ``Syn_Video_Relative_Direction`` (VSI Object Relative Direction): whether one shape lies left or right
  of another on the strip (at least ``DIRECTION_MIN_GAP`` px apart; often never in one view together).
- ``Syn_Video_Relative_Distance`` (VSI Object Relative Distance): which of three shapes is closest to a
  fourth on the strip (the nearest beats the second by at least ``DISTANCE_MIN_MARGIN`` px).

Answers are recoverable from the frames alone given the camera's recorded offsets (the pose a real
scan records; :func:`solve_video` stitches the strip back from the frames and measures it). Sizes are
for 112-px frames, scaled by :func:`~vlmtransfer.data.synthetic.render.unit` for others.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from vlmtransfer.data.synthetic.render import PALETTE, SHAPES, draw_shape, plural, unit
from vlmtransfer.data.synthetic.tasks.base import COLORS, RetryError, retrying
from vlmtransfer.registry import Registry

__all__ = [
    "HOLD",
    "VIDEO_FRAMES",
    "VIDEO_QUESTION_PREFIX",
    "VIDEO_TASKS",
    "VIEWS",
    "VideoExample",
    "VideoTaskDef",
    "solve_video",
]

VIEWS = 4
"""Camera positions per clip, evenly spaced from one end of the strip to the other."""
HOLD = 2
"""Frames each view is held for: Qwen2.5-VL's temporal patch size, so a temporal patch is one view."""
VIDEO_FRAMES = VIEWS * HOLD
VIDEO_QUESTION_PREFIX = "These are frames of a video."
"""First line of every video question, as VSI-Bench's prompts begin."""

COUNTING_PAN = 24
"""px (112-px frames) the camera travels in a counting clip: short, so most shapes stay in view."""
STRIP_PAN = 96
"""px the camera travels in the other tasks' clips: the strip is almost two frames wide."""
DIRECTION_MIN_GAP = 30
DISTANCE_MIN_MARGIN = 20
_RADIUS = (10, 13)
_BACKGROUND = (40, 90)


@dataclass(frozen=True)
class VideoExample:
    """What a video generator returns for one question: its frames in time order, and how they were
    drawn (``render``: the strip's shapes, the camera's offsets per frame and the pan's direction)."""

    question: str
    choices: tuple[str, ...]
    frames: list[Image.Image]
    render: dict[str, Any]


@dataclass(frozen=True)
class VideoTaskDef:
    """A synthetic video task: its name, the VSI-Bench task it mirrors, its number of choices and its
    generator ``(rng, answer index, frame size) -> VideoExample``."""

    name: str
    mirrors: str
    choices: int
    generate: Callable[[np.random.Generator, int, int], VideoExample]
    frames: int = VIDEO_FRAMES


def _shape(rng: np.random.Generator, size: int, shape: str, color: str) -> dict[str, Any]:
    return {
        "shape": shape,
        "color": color,
        "r": round(int(rng.integers(_RADIUS[0], _RADIUS[1] + 1)) * unit(size)),
    }


def _place(
    rng: np.random.Generator, size: int, width: int, shapes: list[dict[str, Any]], *, gap: float
) -> None:
    """Give each shape a centre ``x, y`` on a ``width`` x ``size`` strip, inside it and ``gap`` apart
    (shapes kept apart as discs of 1.25 x their half-size); shapes with ``x`` already set keep it."""
    placed: list[tuple[int, int, float]] = []
    for s in shapes:
        r = s["r"]
        for _ in range(100):
            x = s.get("x", int(rng.integers(r + 2, width - r - 2)))
            y = int(rng.integers(r + 2, size - r - 2))
            if all((x - px) ** 2 + (y - py) ** 2 >= (1.25 * (r + pr) + gap) ** 2 for px, py, pr in placed):
                break
        else:
            raise RetryError
        s["x"], s["y"] = int(x), y
        placed.append((x, y, r))


def _clip(
    rng: np.random.Generator, size: int, pan: int, shapes: Sequence[Mapping[str, Any]], *, reverse: bool
) -> tuple[list[Image.Image], dict[str, Any]]:
    """The clip of a pan over ``shapes`` on a strip ``size + pan`` wide, and its render record."""
    level = int(rng.integers(_BACKGROUND[0], _BACKGROUND[1] + 1))
    background = tuple(min(255, max(0, level + int(rng.integers(-6, 7)))) for _ in range(3))
    strip = Image.new("RGB", (size + pan, size), background)
    for s in shapes:
        draw_shape(strip, s["shape"], s["x"], s["y"], s["r"], color=PALETTE[s["color"]])
    views = [round(pan * k / (VIEWS - 1)) for k in range(VIEWS)]
    if reverse:
        views.reverse()
    offsets = [x for x in views for _ in range(HOLD)]
    frames = [strip.crop((x, 0, x + size, size)) for x in offsets]
    render = {
        "background": list(background),
        "width": size + pan,
        "offsets": offsets,
        "direction": "left" if reverse else "right",
        "shapes": [dict(s) for s in shapes],
    }
    return frames, render


def _name(s: Mapping[str, Any]) -> str:
    return f"{s['color']} {s['shape']}"


def _distinct(rng: np.random.Generator, n: int) -> list[tuple[str, str]]:
    """``n`` (shape, colour) pairs, no shape or colour used twice."""
    shapes = rng.permutation(len(SHAPES))[:n]
    colors = rng.permutation(len(COLORS))[:n]
    return [(SHAPES[int(s)], COLORS[int(c)]) for s, c in zip(shapes, colors, strict=True)]


def _four_on_a_strip(rng: np.random.Generator, size: int, pan: int) -> list[dict[str, Any]]:
    """Four shapes of distinct kinds and colours, placed apart on a strip ``size + pan`` wide."""
    shapes = [_shape(rng, size, shape, color) for shape, color in _distinct(rng, 4)]
    _place(rng, size, size + pan, shapes, gap=6 * unit(size))
    return shapes


def _choices(rng: np.random.Generator, answer: int, correct: str, wrong: Sequence[str]) -> tuple[str, ...]:
    order = [wrong[int(k)] for k in rng.permutation(len(wrong))]
    order.insert(answer, correct)
    return tuple(order)


def gen_video_counting(rng: np.random.Generator, answer: int, size: int) -> VideoExample:
    count = answer + 1
    pan = round(COUNTING_PAN * unit(size))
    shape = SHAPES[int(rng.integers(4))]
    color, *others = (COLORS[int(k)] for k in rng.permutation(len(COLORS))[:3])
    reverse = bool(rng.integers(2))

    def make() -> VideoExample:
        targets = [_shape(rng, size, shape, color) for _ in range(count)]
        distractors = [
            _shape(rng, size, SHAPES[int(rng.integers(len(SHAPES)))], others[int(rng.integers(2))])
            for _ in range(int(rng.integers(1, 4)))
        ]
        shapes = targets + distractors
        _place(rng, size, size + pan, shapes, gap=6 * unit(size))
        shapes = [shapes[int(k)] for k in rng.permutation(len(shapes))]
        frames, render = _clip(rng, size, pan, shapes, reverse=reverse)
        render |= {"target_color": color, "target_shape": shape}
        question = f"How many {color} {plural(shape)} are in the video?"
        return VideoExample(question, ("1", "2", "3", "4"), frames, render)

    return retrying(make)


def gen_video_appearance_order(rng: np.random.Generator, answer: int, size: int) -> VideoExample:
    u = unit(size)
    pan = round(STRIP_PAN * u)
    reverse = bool(rng.integers(2))
    step = pan / (VIEWS - 1)

    def make() -> VideoExample:
        kinds = _distinct(rng, 3)
        shapes = [_shape(rng, size, shape, color) for shape, color in kinds]
        # the first lies wholly in the first view only; the others enter in views 1..3, a view apart
        first, second, third = shapes
        extent = math.ceil(1.25 * first["r"])
        first["x"] = int(rng.integers(extent + 2, round(size - step) - extent))
        enter = sorted(rng.choice(np.arange(1, VIEWS), size=2, replace=False).tolist())
        for s, view in zip((second, third), enter, strict=True):
            extent = math.ceil(1.25 * s["r"])  # a square's corners
            lo = round(size + (view - 1) * step) + extent + 2
            hi = min(round(size + view * step) - extent - 2, size + pan - extent - 3)
            if lo > hi:
                raise RetryError
            s["x"] = int(rng.integers(lo, hi + 1))
        if reverse:
            for s in shapes:
                s["x"] = size + pan - 1 - s["x"]
        _place(rng, size, size + pan, shapes, gap=4 * u)
        frames, render = _clip(rng, size, pan, shapes, reverse=reverse)
        choices = _choices(rng, answer, _name(first), [_name(second), _name(third)])
        return VideoExample("Which of these objects appears first in the video?", choices, frames, render)

    return retrying(make)


def gen_video_relative_direction(rng: np.random.Generator, answer: int, size: int) -> VideoExample:
    u = unit(size)
    pan = round(STRIP_PAN * u)
    reverse = bool(rng.integers(2))

    def make() -> VideoExample:
        shapes = _four_on_a_strip(rng, size, pan)
        if abs(shapes[0]["x"] - shapes[1]["x"]) < DIRECTION_MIN_GAP * u:
            raise RetryError
        if (shapes[0]["x"] < shapes[1]["x"]) != (answer == 0):  # the question asks about the other one
            shapes[0], shapes[1] = shapes[1], shapes[0]
        one, other = shapes[0], shapes[1]
        frames, render = _clip(rng, size, pan, shapes, reverse=reverse)
        render |= {"asked": [0, 1]}
        question = f"In the scene, is the {_name(one)} to the left or to the right of the {_name(other)}?"
        return VideoExample(question, ("left", "right"), frames, render)

    return retrying(make)


def gen_video_relative_distance(rng: np.random.Generator, answer: int, size: int) -> VideoExample:
    u = unit(size)
    pan = round(STRIP_PAN * u)
    reverse = bool(rng.integers(2))

    def make() -> VideoExample:
        shapes = _four_on_a_strip(rng, size, pan)
        reference, *candidates = shapes
        distances = [math.dist((c["x"], c["y"]), (reference["x"], reference["y"])) for c in candidates]
        ranked = sorted(range(3), key=distances.__getitem__)
        if distances[ranked[1]] - distances[ranked[0]] < DISTANCE_MIN_MARGIN * u:
            raise RetryError
        frames, render = _clip(rng, size, pan, shapes, reverse=reverse)
        wrong = [_name(candidates[k]) for k in ranked[1:]]
        choices = _choices(rng, answer, _name(candidates[ranked[0]]), wrong)
        question = f"Which of these objects is closest to the {_name(reference)}?"
        return VideoExample(question, choices, frames, render)

    return retrying(make)


VIDEO_TASKS: Registry[VideoTaskDef] = Registry(
    "synthetic video task",
    (
        (task.name, task)
        for task in (
            VideoTaskDef("Syn_Video_Object_Counting", "VSI_Object_Counting", 4, gen_video_counting),
            VideoTaskDef(
                "Syn_Video_Appearance_Order", "VSI_Object_Appearance_Order", 3, gen_video_appearance_order
            ),
            VideoTaskDef(
                "Syn_Video_Relative_Direction",
                "VSI_Object_Relative_Direction",
                2,
                gen_video_relative_direction,
            ),
            VideoTaskDef(
                "Syn_Video_Relative_Distance", "VSI_Object_Relative_Distance", 3, gen_video_relative_distance
            ),
        )
    ),
    cutoff=0.5,
)
"""The synthetic video tasks, in the order of ``tasks/synthetic_video.yaml`` (suite ``synthetic_video``).
They are a registry of their own, not in the image suite's :data:`~.tasks.TASKS`: the ``pretrain`` split
and the tiny model's tokenizer corpus are drawn over that, and the shipped model stays as built."""


# --- solvers ---------------------------------------------------------------------------------------------

_TOLERANCE = 30


def _strip(frames: Sequence[np.ndarray], render: Mapping[str, Any]) -> np.ndarray:
    """The strip stitched back from the frames at the camera's offsets (later frames over earlier)."""
    size = frames[0].shape[0]
    strip = np.zeros((size, int(render["width"]), 3), dtype=np.int32)
    for px, x in zip(frames, render["offsets"], strict=True):
        strip[:, x : x + size] = px
    return strip


def _mask(px: np.ndarray, color: str) -> np.ndarray:
    return np.abs(px - np.asarray(PALETTE[color])).max(axis=-1) <= _TOLERANCE


def _components(mask: np.ndarray) -> int:
    """Number of 4-connected components of a boolean mask."""
    from scipy import ndimage  # noqa: PLC0415 - only the solvers need it

    return int(ndimage.label(mask)[1])


def _centroid(px: np.ndarray, color: str) -> tuple[float, float]:
    ys, xs = np.nonzero(_mask(px, color))
    return float(xs.mean()), float(ys.mean())


def _named(choice: str) -> str:
    """The colour of a choice ``"<colour> <shape>"`` (colours are distinct within a question)."""
    return choice.split(" ", 1)[0]


def _solve_counting(frames: Sequence[np.ndarray], render: Mapping[str, Any], choices: Sequence[str]) -> int:
    count = _components(_mask(_strip(frames, render), render["target_color"]))
    return choices.index(str(count))


def _solve_order(frames: Sequence[np.ndarray], render: Mapping[str, Any], choices: Sequence[str]) -> int:
    colors = [_named(c) for c in choices]
    for px in frames:
        seen = [k for k, color in enumerate(colors) if _mask(px, color).any()]
        if seen:
            if len(seen) > 1:
                raise AssertionError("two choices appear in the same first frame")  # pragma: no cover
            return seen[0]
    raise AssertionError("no choice appears in the clip")  # pragma: no cover


def _solve_direction(frames: Sequence[np.ndarray], render: Mapping[str, Any], choices: Sequence[str]) -> int:
    strip = _strip(frames, render)
    one, other = (render["shapes"][k]["color"] for k in render["asked"])
    return 0 if _centroid(strip, one)[0] < _centroid(strip, other)[0] else 1


def _solve_distance(frames: Sequence[np.ndarray], render: Mapping[str, Any], choices: Sequence[str]) -> int:
    strip = _strip(frames, render)
    reference = np.asarray(_centroid(strip, render["shapes"][0]["color"]))
    distances = [float(np.linalg.norm(np.asarray(_centroid(strip, _named(c))) - reference)) for c in choices]
    return int(np.argmin(distances))


_VIDEO_SOLVERS: dict[str, Callable[[Sequence[np.ndarray], Mapping[str, Any], Sequence[str]], int]] = {
    "Syn_Video_Object_Counting": _solve_counting,
    "Syn_Video_Appearance_Order": _solve_order,
    "Syn_Video_Relative_Direction": _solve_direction,
    "Syn_Video_Relative_Distance": _solve_distance,
}


def solve_video(
    task: str, frames: Sequence[Image.Image | np.ndarray], render: Mapping[str, Any], choices: Sequence[str]
) -> int:
    """The index of the correct choice, recovered from the frames (PIL images or RGB arrays, as
    :meth:`~vlmtransfer.data.video.VideoClip.frames` gives them) and the camera's offsets (never from
    the answer). Object identities asked about come from the question's choices and ``render``'s
    ``shapes`` (what the question points at), positions from the pixels."""
    pixels = [
        np.asarray(f.convert("RGB") if isinstance(f, Image.Image) else f, dtype=np.int32) for f in frames
    ]
    return _VIDEO_SOLVERS[task](pixels, render, choices)
