"""Object_Localization from LVIS (or COCO) boxes: the annotated box against a shifted, rescaled one."""

from __future__ import annotations

import json
from collections import Counter
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
from vlmtransfer.data.builders.geometry import box_iou, jittered_box
from vlmtransfer.data.builders.markers import draw_boxes
from vlmtransfer.errors import InputError

__all__ = ["LVISLocalization", "object_name"]

CHOICES = ("Box A", "Box B")
MIN_AREA = 0.02  # of the image: smaller objects make boxes too small to compare by eye
IOU_RANGE = (0.3, 0.6)  # the wrong box's IoU with the annotated one
_ANNOTATIONS = (
    "lvis_v1_train.json",
    "annotations/lvis_v1_train.json",
    "annotations/instances_train2017.json",
    "instances_train2017.json",
)


def object_name(category: str) -> str:
    """LVIS's ``"tank_top_(clothing)"`` -> ``"tank top (clothing)"``, the form BLINK's questions use."""
    return " ".join(category.replace("_", " ").split())


@dataclass(frozen=True)
class _Object:
    image: str
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in source pixels
    name: str


class LVISLocalization:
    """LVIS v1 (Gupta et al., CVPR 2019) or COCO instances: ``images`` (``id``, ``coco_url`` or
    ``file_name``), ``annotations`` (``image_id``, ``category_id``, ``bbox`` as x, y, w, h,
    ``iscrowd``), ``categories`` (``id``, ``name``). An object qualifies when it is its category's only
    instance in the photo (else the wrong box could fit another instance), covers at least 2 % of the
    photo, is not a crowd, and (LVIS) its category is exhaustively annotated there. The wrong box is the
    true one shifted and rescaled to an IoU between 0.3 and 0.6."""

    task: str = "Object_Localization"
    max_per_group: int | None = 2
    source = SourceInfo(
        dataset="LVIS v1 (or COCO 2017 instances)",
        files=(
            "lvis_v1_train.json  (or annotations/instances_train2017.json)",
            "train2017/<image>.jpg  (COCO 2017 train photos)",
        ),
        download="https://www.lvisdataset.org/dataset; photos from http://images.cocodataset.org/zips/train2017.zip",
        license="LVIS and COCO annotations CC BY 4.0; photos under their Flickr terms",
        split="the train annotations only; LVIS val (BLINK's likely source) is never read",
    )

    def scan(self, root: Path) -> SourceIndex:
        path = find_file(root, _ANNOTATIONS, "LVIS or COCO train annotations", self.source)
        document = _load(path)
        images = {image["id"]: image for image in document["images"]}
        names = {c["id"]: object_name(c["name"]) for c in document["categories"]}
        annotations = document["annotations"]
        per_category = Counter((a["image_id"], a["category_id"]) for a in annotations)
        index = SourceIndex(root=root, items=[])
        for a in annotations:
            reason = _unusable(a, images.get(a["image_id"]), per_category)
            if reason:
                index.excluded[reason] += 1
                continue
            image = images[a["image_id"]]
            x, y, w, h = a["bbox"]
            obj = _Object(_file(image), (x, y, x + w, y + h), names.get(a["category_id"], "object"))
            index.items.append(Item(key=f"ann{a.get('id', len(index.items))}", payload=obj, group=obj.image))
        return index

    def render(self, index: SourceIndex, item: Item, answer: str, ctx: RenderContext) -> Example:
        obj: _Object = item.payload
        photo = ctx.photo(obj.image)
        sx, sy = photo.scale
        truth = (obj.box[0] * sx, obj.box[1] * sy, obj.box[2] * sx, obj.box[3] * sy)
        wrong = jittered_box(ctx.rng, truth, photo.image.size, IOU_RANGE)
        if wrong is None:
            raise SkipItem("no plausible wrong box")
        image = photo.image.copy()
        boxes = [(truth, "A"), (wrong, "B")] if answer == "A" else [(wrong, "A"), (truth, "B")]
        drawn = draw_boxes(image, boxes)
        return Example(
            images=[image],
            choices=CHOICES,
            answer=answer,
            slots={"object": obj.name},
            sources=(relative_to(photo.path, index.root),),
            raw=[photo.image],
            meta={"boxes": drawn, "object": obj.name, "iou": round(box_iou(truth, wrong), 3)},
        )


def _load(path: Path) -> dict:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        for key in ("images", "annotations", "categories"):
            document[key]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"not an LVIS/COCO annotation file ({type(exc).__name__})", source=path) from None
    return document


def _unusable(annotation: dict, image: dict | None, per_category: Counter) -> str | None:
    if image is None:
        return "annotation of an unknown image"
    if annotation.get("iscrowd"):
        return "crowd annotation"
    if per_category[(annotation["image_id"], annotation["category_id"])] > 1:
        return "category appears more than once in the photo"
    if annotation["category_id"] in image.get("not_exhaustive_category_ids", ()):
        return "category not exhaustively annotated in the photo"
    w, h = annotation["bbox"][2:]
    if w * h < MIN_AREA * image["width"] * image["height"]:
        return f"object smaller than {MIN_AREA:.0%} of the photo"
    return None


def _file(image: dict) -> str:
    """COCO gives ``file_name`` (in train2017/); LVIS gives ``coco_url`` ending in ``train2017/<file>``."""
    if image.get("coco_url"):
        return "/".join(image["coco_url"].rsplit("/", 2)[-2:])
    return f"train2017/{image['file_name']}"
