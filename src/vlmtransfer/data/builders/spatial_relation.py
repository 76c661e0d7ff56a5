"""Spatial_Relation from Visual Spatial Reasoning (VSR): the caption, asked as a yes/no question."""

from __future__ import annotations

import json
import re
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
from vlmtransfer.errors import InputError

__all__ = ["VSRSpatialRelation", "caption_to_question"]

CHOICES = ("yes", "no")
_IMAGE_DIRS = ("images", "trainval2017", "train2017", "val2017")
_BE = re.compile(r"^The (?P<subject>.+?) (?P<verb>is|are) (?P<rest>.+?)\.?$")
_VERB = re.compile(r"^The (?P<subject>.+?) (?P<verb>[a-z]+s) (?P<rest>.+?)\.?$")
_IRREGULAR = {"has": "have", "does": "do"}


def caption_to_question(caption: str) -> str | None:
    """``"The cat is under the table."`` -> ``"Is the cat under the table?"``; ``"The bowl contains
    the apple."`` -> ``"Does the bowl contain the apple?"``; None for any other sentence form."""
    caption = " ".join(caption.split())
    match = _BE.match(caption)
    if match:
        return f"{match['verb'].capitalize()} the {match['subject']} {match['rest']}?"
    match = _VERB.match(caption)
    if match:
        verb = match["verb"]
        base = _IRREGULAR.get(verb) or (verb[:-2] if re.search(r"(ch|sh|ss|x|z)es$", verb) else verb[:-1])
        return f"Does the {match['subject']} {base} {match['rest']}?"
    return None


@dataclass(frozen=True)
class _Caption:
    image: str
    link: str | None
    caption: str
    question: str
    relation: str
    true: bool


class VSRSpatialRelation:
    """VSR (Liu et al., TACL 2023): ``splits/random/train.jsonl``, one ``{image, image_link, caption,
    label, relation, ...}`` per line (label 1: the caption is true); images are COCO 2017 photos named
    by ``image``. The question is the caption turned into a question (``The car is beneath the cat.``
    -> ``Is the car beneath the cat?``, BLINK's form); answer ``yes`` iff the label is 1. Yes and no
    are fixed options, so balancing them keeps only as many true captions as false ones.
    """

    task: str = "Spatial_Relation"
    max_per_group: int | None = 2
    source = SourceInfo(
        dataset="Visual Spatial Reasoning (VSR)",
        files=(
            "splits/random/train.jsonl  (data/splits of github.com/cambridgeltl/visual-spatial-reasoning)",
            "images/<image>  (or trainval2017/, train2017/, val2017/: the COCO 2017 photos)",
        ),
        download="https://github.com/cambridgeltl/visual-spatial-reasoning (data/README.md)",
        license="Apache-2.0 (VSR); COCO images under their own terms",
        split="the random split's train.jsonl; dev and test (BLINK's source) are never read",
    )

    def scan(self, root: Path) -> SourceIndex:
        path = find_file(
            root,
            ("splits/random/train.jsonl", "data/splits/random/train.jsonl", "train.jsonl"),
            "VSR's train captions",
            self.source,
        )
        index = SourceIndex(root=root, items=[])
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            caption = _caption(line, path, n)
            if caption is None:
                index.excluded["caption is not a simple statement"] += 1
                continue
            letter = "A" if caption.true else "B"
            index.items.append(
                Item(key=f"{n}:{caption.image}", payload=caption, letters=letter, group=caption.image)
            )
        return index

    def render(self, index: SourceIndex, item: Item, answer: str, ctx: RenderContext) -> Example:
        caption: _Caption = item.payload
        photo = ctx.photo(_image_path(index.root, caption))
        return Example(
            images=[photo.image],
            choices=CHOICES,
            answer=answer,
            slots={"question": caption.question},
            sources=(relative_to(photo.path, index.root),),
            raw=[photo.image],
            meta={"caption": caption.caption, "relation": caption.relation, "label": int(caption.true)},
        )


def _caption(line: str, path: Path, n: int) -> _Caption | None:
    try:
        row = json.loads(line)
        image, text, label = str(row["image"]), str(row["caption"]), int(row["label"])
    except (ValueError, KeyError, TypeError):
        raise InputError(
            "expected a JSON object with image, caption and label", source=path, where=f"line {n}"
        ) from None
    question = caption_to_question(text)
    if question is None or label not in (0, 1):
        return None
    return _Caption(image, row.get("image_link"), text, question, str(row.get("relation", "")), label == 1)


def _image_path(root: Path, caption: _Caption) -> Path:
    candidates = [root / folder / caption.image for folder in _IMAGE_DIRS]
    if caption.link:  # .../train2017/000000050403.jpg
        candidates.append(root / "/".join(caption.link.rsplit("/", 2)[-2:]))
    for path in candidates:
        if path.is_file():
            return path
    raise SkipItem("image file missing", candidates[0])
