"""Syn_Visual_Correspondence (mirrors Visual_Correspondence): which marked point of a second view (moved,
rescaled, possibly mirrored, relit) is the point marked in the first."""

from __future__ import annotations

from functools import partial

import numpy as np
from PIL import Image

from vlmtransfer.data.records import LETTERS
from vlmtransfer.data.synthetic.render import SHAPES, draw_markers, unit
from vlmtransfer.data.synthetic.scenes import flat_scene
from vlmtransfer.data.synthetic.tasks.base import (
    COLORS,
    Example,
    RetryError,
    TaskDef,
    draw_glyph_offset,
    grey,
    order_images,
    pick,
    place,
    retrying,
    rf,
    ri,
    sample,
    shape_dict,
)

__all__ = ["TASK", "gen_visual_correspondence"]


def gen_visual_correspondence(
    rng: np.random.Generator, answer: int, size: int, *, off_grid_labels: bool = True
) -> Example:
    glyph_offset = draw_glyph_offset(rng, off_grid_labels)
    u = unit(size)
    c = (size - 1) / 2
    # Whether the candidate nearest to REF's pixel position is the answer: drawn once, outside the
    # retries, with the chance rate 1/4, so "the marker where REF was" is right 1 time in 4.
    nearest_is_answer = bool(rng.random() < 0.25)

    def make() -> Example:
        n = 4 + ri(rng, 0, 1)
        colors, shapes = sample(rng, COLORS, n), [pick(rng, SHAPES) for _ in range(n)]
        radii = [round(ri(rng, 11, 14) * u) for _ in range(n)]
        scale = rf(rng, 0.75, 1.3)
        mirror = -1 if rng.random() < 0.5 else 1  # the shapes are left-right symmetric
        tx, ty = ri(rng, -24 * u, 24 * u), ri(rng, -24 * u, 24 * u)

        def inverse(lo: float, hi: float, t: int, m: int) -> tuple[float, float]:
            # the first image's coordinates that land in [lo, hi] in the second image
            a, b = c + (lo - t - c) / (m * scale), c + (hi - t - c) / (m * scale)
            return min(a, b) + 0.5, max(a, b) - 0.5

        bounds = []
        for r in radii:
            r2 = round(r * scale)
            lo, hi = r2 + 3, size - 4 - r2
            bounds.append((*inverse(lo, hi, tx, mirror), *inverse(lo, hi, ty, 1)))
        centres = place(rng, size, radii, gap=3 * u, margin=3 * u, bounds=bounds)
        moved = []
        for (x, y), r in zip(centres, radii, strict=True):
            x2 = round(c + mirror * scale * (x - c) + tx)
            y2, r2 = round(c + scale * (y - c) + ty), round(r * scale)
            if not (r2 + 3 <= x2 <= size - 4 - r2 and r2 + 3 <= y2 <= size - 4 - r2):
                raise RetryError
            moved.append((x2, y2, r2))

        def nearest(k: int) -> int:
            x, y = centres[k]
            return min(range(4), key=lambda j: (moved[j][0] - x) ** 2 + (moved[j][1] - y) ** 2)

        # objects 0-3 carry the candidate points; object 4 (if any) is a distractor
        eligible = [k for k in range(4) if (nearest(k) == k) == nearest_is_answer]
        if not eligible:
            raise RetryError
        ref = pick(rng, eligible)
        background = grey(rng, 60, 100)
        first = [
            shape_dict(s, col, x, y, r)
            for s, col, (x, y), r in zip(shapes, colors, centres, radii, strict=True)
        ]
        second = [
            shape_dict(s, col, x, y, r) for s, col, (x, y, r) in zip(shapes, colors, moved, strict=True)
        ]
        gain = rf(rng, 0.85, 1.12)
        one = flat_scene(size, background, first)
        two_px = np.asarray(flat_scene(size, background, second), dtype=np.float64) * gain
        two = Image.fromarray(np.clip(np.rint(two_px), 0, 255).astype(np.uint8), "RGB")
        wrong = [k for k in range(4) if k != ref]
        lettered = order_images(rng, answer, ref, wrong)
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

    return retrying(make)


TASK = TaskDef(
    "Syn_Visual_Correspondence",
    "Visual_Correspondence",
    4,
    2,
    gen_visual_correspondence,
    pretraining=partial(gen_visual_correspondence, off_grid_labels=False),
)
