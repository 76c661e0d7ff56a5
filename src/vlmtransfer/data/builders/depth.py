"""Relative_Depth from Depth in the Wild (DIW): two circled points, which is closer to the camera."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from vlmtransfer.data.builders.base import (
    Example,
    Item,
    RenderContext,
    SkipItem,
    SourceIndex,
    SourceInfo,
    find_file,
    relative_to,
)
from vlmtransfer.data.builders.markers import MarkerStyle, distance, draw_points
from vlmtransfer.errors import InputError

__all__ = ["DIWDepth"]

CHOICES = ("A is closer", "B is closer")

# DIW_Annotations_splitted holds DIW_train.csv / DIW_val.csv / DIW_test.csv; DIW_Annotations holds
# DIW_train_val.csv and DIW_test.csv. Train (and val) only: BLINK drew from DIW's test set.
_ANNOTATIONS = (
    "DIW_Annotations/DIW_train_val.csv",
    "DIW_Annotations_splitted/DIW_train.csv",
    "DIW_train_val.csv",
    "DIW_train.csv",
    "DIW_Annotations/DIW_train.csv",
)


@dataclass(frozen=True)
class _Pair:
    image: str
    a: tuple[float, float]  # (x, y), 1-based, in the original image's pixels
    b: tuple[float, float]
    a_closer: bool
    size: tuple[int, int]  # the original image's width and height


class DIWDepth:
    """DIW (Chen et al., NIPS 2016): one point pair per photo with a human depth-order judgement.

    Annotation file: pairs of lines, an image path (``./DIW_train_val/<hash>.thumb``), then
    ``yA,xA,yB,xB,rel,width,height`` with 1-based coordinates in the original image and ``rel`` in
    ``<`` (A is closer: depth_A < depth_B), ``>`` (B is closer), ``=`` (left out: BLINK has no "same").
    """

    task: str = "Relative_Depth"
    max_per_group: int | None = None
    source = SourceInfo(
        dataset="Depth in the Wild (DIW)",
        files=(
            "DIW_train_val/<hash>.thumb  (photos, from DIW_train_val.tar.gz)",
            "DIW_Annotations/DIW_train_val.csv  (or DIW_Annotations_splitted/DIW_train.csv)",
        ),
        download="http://www-personal.umich.edu/~wfchen/depth-in-the-wild/",
        license="research use; photos from Flickr under their own terms (see the project page)",
        split="DIW_train_val.csv or DIW_train.csv; DIW_test.csv (BLINK's source) is never read",
    )

    def scan(self, root: Path) -> SourceIndex:
        path = find_file(root, _ANNOTATIONS, "DIW's train annotations", self.source)
        index = SourceIndex(root=root, items=[])
        lines = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines()]
        numbered = [(n, line) for n, line in enumerate(lines, start=1) if line]
        if len(numbered) % 2:
            raise InputError("odd number of lines: expected image path / annotation pairs", source=path)
        for (n, image), (m, values) in zip(numbered[::2], numbered[1::2], strict=True):
            pair = _parse_pair(image, values, path, m)
            if pair is None:
                index.excluded["equal depth (no such option in BLINK)"] += 1
                continue
            index.items.append(Item(key=f"{n}:{image}", payload=pair, group=image))
        return index

    def render(self, index: SourceIndex, item: Item, answer: str, ctx: RenderContext) -> Example:
        pair: _Pair = item.payload
        photo = ctx.photo(_resolve(index.root, pair.image))
        w, h = pair.size
        sx, sy = photo.image.width / w, photo.image.height / h
        a = ((pair.a[0] - 1) * sx, (pair.a[1] - 1) * sy)
        b = ((pair.b[0] - 1) * sx, (pair.b[1] - 1) * sy)
        closer, farther = (a, b) if pair.a_closer else (b, a)
        image = photo.image.copy()
        if distance(closer, farther) < MarkerStyle.for_image(image).separation:
            raise SkipItem("points too close to mark apart")
        labelled = [(closer, "A"), (farther, "B")] if answer == "A" else [(farther, "A"), (closer, "B")]
        markers = draw_points(image, [(p[0], p[1], label) for p, label in labelled])
        return Example(
            images=[image],
            choices=CHOICES,
            answer=answer,
            sources=(relative_to(photo.path, index.root),),
            raw=[photo.image],
            meta={"markers": markers, "closer": answer},
        )


def _parse_pair(image: str, values: str, path: Path, line: int) -> _Pair | None:
    fields = next(csv.reader([values]))
    if len(fields) != 7:
        raise InputError(
            f"expected yA,xA,yB,xB,rel,width,height, got {values!r}", source=path, where=f"line {line}"
        )
    try:
        ya, xa, yb, xb = (float(v) for v in fields[:4])
        width, height = int(float(fields[5])), int(float(fields[6]))
    except ValueError:
        raise InputError(
            f"non-numeric coordinates in {values!r}", source=path, where=f"line {line}"
        ) from None
    relation = fields[4].strip()
    if relation not in ("<", ">", "="):
        raise InputError(f"relation {relation!r} is not <, > or =", source=path, where=f"line {line}")
    if relation == "=":
        return None
    return _Pair(image, (xa, ya), (xb, yb), relation == "<", (width, height))


def _resolve(root: Path, image: str) -> Path:
    """DIW's paths are relative to the dataset root (``./DIW_train_val/x.thumb``) or absolute."""
    path = Path(image)
    if path.is_absolute() and path.exists():
        return path
    candidate = root / path
    return candidate if candidate.exists() else root / "DIW_train_val" / path.name
