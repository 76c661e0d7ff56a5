"""Multi-view_Reasoning from CO3D: two frames of an object-centric video; did the camera move left or right?

CO3D stores PyTorch3D cameras: a world point ``X`` maps to view coordinates ``X @ R + T`` (row
vectors), with +X pointing *left*, +Y up and +Z into the scene. The camera centre is ``-T @ R^T`` and
its forward axis in world coordinates is ``R[:, 2]``. Between frames i and j the camera moved left
(as seen from frame i) when ``(C_j - C_i) @ R_i`` has a positive x component. A pair is kept when the
viewing directions differ by 15-60 degrees (a clip of the orbit, not the full turn, whose first and
last frames coincide), the sideways part dominates the motion, and the reverse clip reads as the
opposite direction; so every pair answers either way: "left" forwards, "right" reversed.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vlmtransfer.data.builders.base import (
    Example,
    Item,
    RenderContext,
    SourceIndex,
    SourceInfo,
    find_file,
    relative_to,
)
from vlmtransfer.errors import InputError

__all__ = ["CO3DMultiView", "moved_left"]

CHOICES = ("left", "right")
ANGLE_RANGE = (15.0, 60.0)  # degrees between the two viewing directions
LATERAL = 0.5  # the sideways share of the camera's displacement must be at least this
PAIRS_PER_SEQUENCE = 6


def moved_left(r_from: np.ndarray, c_from: np.ndarray, c_to: np.ndarray) -> tuple[bool, float]:
    """Whether a PyTorch3D camera with rotation ``r_from`` at ``c_from`` moved to its left reaching
    ``c_to``, and the sideways share of the displacement (|x| / length, in the first camera's view)."""
    displacement = (np.asarray(c_to) - np.asarray(c_from)) @ np.asarray(r_from)
    length = float(np.linalg.norm(displacement))
    if length == 0.0:
        return False, 0.0
    return bool(displacement[0] > 0), abs(float(displacement[0])) / length


@dataclass(frozen=True, eq=False)
class _Frame:
    image: str
    rotation: np.ndarray
    centre: np.ndarray

    @property
    def forward(self) -> np.ndarray:
        return self.rotation[:, 2]


class CO3DMultiView:
    """CO3D v2 (Reizenstein et al., ICCV 2021): per category ``frame_annotations.jgz`` (gzipped JSON
    list: ``sequence_name``, ``frame_number``, ``image.path``, ``viewpoint.R``, ``viewpoint.T``) and
    ``set_lists/set_lists_fewview_train.json`` (``{"train": [[sequence, frame, path], ...], ...}``);
    photos at ``<image.path>`` relative to the dataset root. Only sequences in a ``train`` list and in
    no ``val``/``test`` list of any few-view set list are read. Wild6D is not supported: only its test
    videos have poses (see docs/blink-training-sets.md)."""

    task: str = "Multi-view_Reasoning"
    max_per_group: int | None = 2
    source = SourceInfo(
        dataset="Common Objects in 3D (CO3D v2)",
        files=(
            "<category>/frame_annotations.jgz",
            "<category>/set_lists/set_lists_fewview_train.json",
            "<category>/<sequence>/images/frame<number>.jpg",
        ),
        download="https://github.com/facebookresearch/co3d (download_dataset.py)",
        license="CC BY-NC 4.0",
        split="the train sequences of the few-view set lists; val and test sequences are never read",
    )

    def scan(self, root: Path) -> SourceIndex:
        categories = sorted(p.parent for p in root.glob("*/frame_annotations.jgz"))
        if not categories:
            find_file(root, ("<category>/frame_annotations.jgz",), "CO3D's camera poses", self.source)
        index = SourceIndex(root=root, items=[])
        for folder in categories:
            train = _train_sequences(folder, self.source)
            frames = _frames(folder / "frame_annotations.jgz", train)
            for sequence in sorted(frames):
                pairs = _pairs(frames[sequence])
                if not pairs:
                    index.excluded["no clip with a clear sideways move"] += 1
                for first, second, left in pairs:
                    key = f"{folder.name}/{sequence}/{first.image}|{second.image}"
                    payload = (first.image, second.image, left)
                    index.items.append(Item(key=key, payload=payload, group=f"{folder.name}/{sequence}"))
        return index

    def render(self, index: SourceIndex, item: Item, answer: str, ctx: RenderContext) -> Example:
        first, second, left = item.payload
        # "left" (A) forwards if the camera moved left from first to second; else show the clip reversed.
        forwards = (answer == "A") == left
        start, end = (first, second) if forwards else (second, first)
        photos = [ctx.photo(start, upright=False), ctx.photo(end, upright=False)]
        return Example(
            images=[p.image for p in photos],
            choices=CHOICES,
            answer=answer,
            sources=tuple(relative_to(p.path, index.root) for p in photos),
            meta={"reversed": not forwards, "frames": [start, end]},
        )


def _train_sequences(folder: Path, source: SourceInfo) -> set[str]:
    lists = sorted((folder / "set_lists").glob("set_lists_fewview_*.json"))
    if not lists:
        find_file(folder, ("set_lists/set_lists_fewview_train.json",), "CO3D's split of sequences", source)
    train, held_out = set(), set()
    for path in lists:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            for subset, entries in document.items():
                (train if subset == "train" else held_out).update(str(e[0]) for e in entries)
        except (OSError, ValueError, AttributeError, TypeError, IndexError) as exc:
            raise InputError(f"not a CO3D set list ({type(exc).__name__})", source=path) from None
    return train - held_out


def _frames(path: Path, sequences: set[str]) -> dict[str, list[_Frame]]:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            annotations = json.load(handle)
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"not gzipped JSON ({type(exc).__name__})", source=path) from None
    frames: dict[str, list[tuple[int, _Frame]]] = {}
    for n, a in enumerate(annotations):
        if a.get("sequence_name") not in sequences:
            continue
        try:
            rotation = np.asarray(a["viewpoint"]["R"], dtype=np.float64).reshape(3, 3)
            translation = np.asarray(a["viewpoint"]["T"], dtype=np.float64).reshape(3)
            frame = _Frame(a["image"]["path"], rotation, -translation @ rotation.T)
            frames.setdefault(a["sequence_name"], []).append((int(a["frame_number"]), frame))
        except (KeyError, TypeError, ValueError):
            raise InputError(
                "expected image.path, viewpoint.R and viewpoint.T", source=path, where=f"frame {n}"
            ) from None
    return {s: [f for _, f in sorted(fs, key=lambda t: t[0])] for s, fs in frames.items()}


def _pairs(frames: list[_Frame]) -> list[tuple[_Frame, _Frame, bool]]:
    """Up to PAIRS_PER_SEQUENCE clips (start frames spread over the video), each ending at the first
    later frame whose view has turned enough, if the move is clearly sideways both ways."""
    pairs = []
    starts = np.linspace(0, len(frames) - 1, num=min(len(frames), 3 * PAIRS_PER_SEQUENCE), dtype=int)
    for i in dict.fromkeys(int(s) for s in starts):
        j = _clip_end(frames, i)
        if j is None:
            continue
        a, b = frames[i], frames[j]
        left, share = moved_left(a.rotation, a.centre, b.centre)
        back, share_back = moved_left(b.rotation, b.centre, a.centre)
        if share >= LATERAL and share_back >= LATERAL and left != back:
            pairs.append((a, b, left))
        if len(pairs) == PAIRS_PER_SEQUENCE:
            break
    return pairs


def _clip_end(frames: list[_Frame], i: int) -> int | None:
    low, high = (np.cos(np.radians(a)) for a in ANGLE_RANGE)
    for j in range(i + 1, len(frames)):
        cosine = float(frames[i].forward @ frames[j].forward)
        if cosine <= low:
            return j if cosine >= high else None
    return None
