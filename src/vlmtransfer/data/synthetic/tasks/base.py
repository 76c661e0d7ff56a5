"""What every synthetic task is made of: the :class:`TaskDef` contract, the :class:`Example` a generator
returns, and the helpers generators share (random draws, placement, retries, label offsets).

A generator takes a random generator, the index of the correct choice (chosen by the caller so that
answer letters are balanced) and the image size, and returns the question, the choices, the images
and the rendering parameters (JSON-serialisable; the solvers recompute answers from images and
these). Retries (e.g. a scene in which a marked point is hidden) draw from the same random stream
(:func:`retrying`), so generation stays deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from PIL import Image

from vlmtransfer.data.synthetic.render import PALETTE

__all__ = [
    "COLORS",
    "LABELS_OFF_GRID_SHARE",
    "MAX_TRIES",
    "Example",
    "RetryError",
    "TaskDef",
    "draw_glyph_offset",
    "grey",
    "order_images",
    "pick",
    "place",
    "retrying",
    "rf",
    "ri",
    "rlog",
    "sample",
    "shape_dict",
]

T = TypeVar("T")
MAX_TRIES = 200
"""Draws of a scene before a generator gives up (:func:`retrying`)."""
COLORS = tuple(PALETTE)
"""The palette's colour names, in palette order."""
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


class RetryError(Exception):
    """A drawn scene does not meet the task's constraints; draw again."""


def draw_glyph_offset(rng: np.random.Generator, off_grid: bool) -> int:
    """The ``glyph_offset`` of one question's labels: 1 (off the grid) with probability
    :data:`LABELS_OFF_GRID_SHARE` when ``off_grid``, else 0. Draws nothing when ``off_grid`` is False,
    so the ``pretrain`` split's streams, and with them the shipped model's pretraining data, are the
    same as before labels could move."""
    if not off_grid:
        return 0
    return int(rng.random() < LABELS_OFF_GRID_SHARE)


def retrying(make: Callable[[], T]) -> T:
    """``make()``, drawn again (from the same random stream) for as long as it raises RetryError."""
    for _ in range(MAX_TRIES):
        try:
            return make()
        except RetryError:
            continue
    raise RuntimeError("synthetic generator could not satisfy its constraints")  # pragma: no cover


# --- random helpers ------------------------------------------------------------------------------------


def ri(rng: np.random.Generator, lo: float, hi: float) -> int:
    """A uniform integer in [lo, hi] (bounds rounded)."""
    lo, hi = round(lo), round(hi)
    return int(rng.integers(lo, max(lo, hi) + 1))


def rf(rng: np.random.Generator, lo: float, hi: float, digits: int = 3) -> float:
    return round(float(rng.uniform(lo, hi)), digits)


def rlog(rng: np.random.Generator, lo: float, hi: float, digits: int = 4) -> float:
    """Log-uniform in [lo, hi]: as many hard (small) values per octave as easy ones."""
    return round(float(math.exp(rng.uniform(math.log(lo), math.log(hi)))), digits)


def pick(rng: np.random.Generator, seq: Sequence[T]) -> T:
    return seq[int(rng.integers(len(seq)))]


def sample(rng: np.random.Generator, seq: Sequence[T], k: int) -> list[T]:
    return [seq[int(i)] for i in rng.permutation(len(seq))[:k]]


def grey(rng: np.random.Generator, lo: int, hi: int) -> list[int]:
    level = ri(rng, lo, hi)
    return [min(255, max(0, level + ri(rng, -6, 6))) for _ in range(3)]


def place(
    rng: np.random.Generator,
    size: int,
    radii: Sequence[int],
    *,
    gap: float,
    margin: float = 2,
    bounds: Sequence[tuple[float, float, float, float]] | None = None,
) -> list[tuple[int, int]]:
    """Centres for shapes of the given half-sizes, ``margin`` inside the image (and inside ``bounds``
    ``(x_lo, x_hi, y_lo, y_hi)`` when given, one per shape) and ``gap`` apart; else RetryError.

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
            raise RetryError
        for _ in range(100):
            x, y = ri(rng, math.ceil(x_lo), math.floor(x_hi)), ri(rng, math.ceil(y_lo), math.floor(y_hi))
            if all((x - px) ** 2 + (y - py) ** 2 >= (r + pr + gap) ** 2 for px, py, pr in placed):
                break
        else:
            raise RetryError
        placed.append((x, y, r))
    return [(x, y) for x, y, _ in placed]


def order_images(rng: np.random.Generator, answer: int, correct: T, wrong: Sequence[T]) -> list[T]:
    """``wrong`` in random order with ``correct`` inserted at position ``answer``."""
    others = [wrong[int(i)] for i in rng.permutation(len(wrong))]
    return [*others[:answer], correct, *others[answer:]]


def shape_dict(shape: str, color: str, x: int, y: int, r: int) -> dict[str, Any]:
    return {"shape": shape, "color": color, "x": int(x), "y": int(y), "r": int(r)}
