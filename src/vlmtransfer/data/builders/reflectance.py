"""Relative_Reflectance from Intrinsic Images in the Wild (IIW): which point has the darker surface."""

from __future__ import annotations

import json
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

__all__ = ["IIWReflectance"]

CHOICES = ("A is darker", "B is darker", "About the same")
MIN_CONFIDENCE = 0.7  # IIW's darker_score: the aggregated confidence of the human judgement
TEST_EVERY = 5  # every fifth photo, ids sorted as strings, is IIW's conventional test set


@dataclass(frozen=True)
class _Comparison:
    photo: str
    p1: tuple[float, float]  # normalised (x, y) in [0, 1]
    p2: tuple[float, float]
    darker: str  # "1", "2" or "E"
    score: float


class IIWReflectance:
    """IIW (Bell et al., SIGGRAPH 2014): per photo ``<id>.png`` and ``<id>.json`` holding
    ``intrinsic_points`` (``id``, normalised ``x``/``y``, ``opaque``) and ``intrinsic_comparisons``
    (``point1``, ``point2``, ``darker`` in ``1``/``2``/``E``, ``darker_score``).

    IIW has no official split; photos are sorted by id as strings and every fifth, starting with the
    first, is held out as test: the split of Narihira et al. (CVPR 2015) that later IIW work follows, as
    its public implementations compute it. Only the other four fifths are read.
    Comparisons need both points opaque and a confidence of at least 0.7; ``E`` (about the same) is
    answer C, and either point of an unequal pair can be labelled A, so all three letters balance.
    """

    task: str = "Relative_Reflectance"
    max_per_group: int | None = 4
    source = SourceInfo(
        dataset="Intrinsic Images in the Wild (IIW)",
        files=("data/<id>.png, data/<id>.json  (iiw-dataset/data from iiw-dataset-release-0.zip)",),
        download="http://opensurfaces.cs.cornell.edu/intrinsic/ (iiw-dataset-release-0.zip)",
        license="research use; photos from Flickr under Creative Commons terms (see the project page)",
        split="no official split: every fifth photo (ids sorted as strings) held out, Narihira et al. 2015",
    )

    def scan(self, root: Path) -> SourceIndex:
        data = _data_dir(root, self.source)
        photos = sorted(data.glob("*.json"), key=_photo_order)
        index = SourceIndex(root=root, items=[])
        for position, path in enumerate(photos):
            if position % TEST_EVERY == 0:
                index.excluded["IIW test photo (every fifth)"] += 1
                continue
            for comparison in _comparisons(path, index):
                index.items.append(
                    Item(
                        key=f"{comparison.photo}:{comparison.p1}:{comparison.p2}",
                        payload=comparison,
                        letters="C" if comparison.darker == "E" else "AB",
                        group=comparison.photo,
                    )
                )
        return index

    def render(self, index: SourceIndex, item: Item, answer: str, ctx: RenderContext) -> Example:
        comparison: _Comparison = item.payload
        photo = ctx.photo(_data_dir(index.root, self.source) / f"{comparison.photo}.png")
        w, h = photo.image.size
        p1 = (comparison.p1[0] * w, comparison.p1[1] * h)
        p2 = (comparison.p2[0] * w, comparison.p2[1] * h)
        image = photo.image.copy()
        if distance(p1, p2) < MarkerStyle.for_image(image).separation:
            raise SkipItem("points too close to mark apart")
        if comparison.darker == "E":
            a, b = (p1, p2) if ctx.rng.integers(2) == 0 else (p2, p1)
        else:
            darker, lighter = (p1, p2) if comparison.darker == "1" else (p2, p1)
            a, b = (darker, lighter) if answer == "A" else (lighter, darker)
        markers = draw_points(image, [(a[0], a[1], "A"), (b[0], b[1], "B")])
        return Example(
            images=[image],
            choices=CHOICES,
            answer=answer,
            sources=(relative_to(photo.path, index.root),),
            raw=[photo.image],
            meta={"markers": markers, "darker": comparison.darker, "confidence": comparison.score},
        )


def _data_dir(root: Path, source: SourceInfo) -> Path:
    for candidate in (root / "data", root / "iiw-dataset" / "data", root):
        if candidate.is_dir() and any(candidate.glob("*.json")):
            return candidate
    find_file(root, ("data/<id>.json",), "IIW's per-photo judgement files", source)
    raise AssertionError  # pragma: no cover - find_file raised


def _photo_order(path: Path) -> str:
    """Photo ids as *strings* ("113958" before "24929"), as the public code of this split sorts them."""
    return path.stem


def _comparisons(path: Path, index: SourceIndex) -> list[_Comparison]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        points = {p["id"]: p for p in document["intrinsic_points"]}
        comparisons = document["intrinsic_comparisons"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"not an IIW judgement file ({type(exc).__name__}: {exc})", source=path) from None
    kept = []
    for c in comparisons:
        darker, score = c.get("darker"), c.get("darker_score")
        first, second = points.get(c.get("point1")), points.get(c.get("point2"))
        if darker not in ("1", "2", "E") or first is None or second is None:
            index.excluded["no usable judgement"] += 1
        elif score is None or score < MIN_CONFIDENCE:
            index.excluded[f"judgement confidence below {MIN_CONFIDENCE}"] += 1
        elif not (first.get("opaque") and second.get("opaque")):
            index.excluded["point on a transparent surface"] += 1
        else:
            kept.append(
                _Comparison(path.stem, (first["x"], first["y"]), (second["x"], second["y"]), darker, score)
            )
    return kept
