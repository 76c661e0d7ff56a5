"""Forensic_Detection from real photos and generated images: four images, which is the real photograph."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageOps

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
from vlmtransfer.data.builders.images import list_images
from vlmtransfer.data.records import LETTERS
from vlmtransfer.errors import InputError

__all__ = ["RealVsGeneratedForensics"]

CHOICES = ("the first image", "the second image", "the third image", "the fourth image")
_REAL = ("real", "0_real")
_FAKE = ("fake", "generated", "1_fake")
SIDE = 512  # every image becomes a centred square of this side (or the smallest image's side)


class RealVsGeneratedForensics:
    """A folder of real photos and a folder of generated images (``real/`` and ``fake/``; also
    ``0_real/`` and ``1_fake/`` as in CNNDetection-style releases). When both hold subfolders of the
    same names (a class, a caption), the three generated images come from the real photo's subfolder.

    Generated images often differ from photos in size, aspect and file format, which a model would learn
    instead of forensics; so all four images are centre-cropped to squares of one side and re-encoded
    alike."""

    task: str = "Forensic_Detection"
    max_per_group: int | None = None
    source = SourceInfo(
        dataset="real photos + generated images",
        files=("real/**/<image>  (or 0_real/)", "fake/**/<image>  (or generated/, 1_fake/)"),
        download="your own, e.g. COCO train2017 photos and images generated from their captions",
        license="that of the images used",
        split="whatever folders are given; use photos outside BLINK's sources' test splits",
    )

    def scan(self, root: Path) -> SourceIndex:
        real_dir = find_file(root, _REAL, "the real photographs", self.source)
        fake_dir = find_file(root, _FAKE, "the generated images", self.source)
        real, fake = list_images(real_dir), list_images(fake_dir)
        if len(fake) < 3:
            raise InputError(f"needs at least three generated images (found {len(fake)})", source=fake_dir)
        by_group: dict[str, list[str]] = {}
        for path in fake:
            by_group.setdefault(_group(path, fake_dir), []).append(relative_to(path, root))
        items = []
        for path in real:
            group = _group(path, real_dir)
            pool = group if len(by_group.get(group, ())) >= 3 else ""
            items.append(Item(key=relative_to(path, root), payload=(relative_to(path, root), pool)))
        if not items:
            raise InputError("holds no images", source=real_dir)
        by_group[""] = [relative_to(p, root) for p in fake]
        return SourceIndex(root=root, items=items, pools={"fake": by_group})

    def render(self, index: SourceIndex, item: Item, answer: str, ctx: RenderContext) -> Example:
        real, group = item.payload
        pool = index.pools["fake"][group]
        picks = [pool[int(i)] for i in ctx.rng.choice(len(pool), size=3, replace=False)]
        position = LETTERS.index(answer)
        paths = [*picks[:position], real, *picks[position:]]
        photos = [ctx.photo(p, upright=True) for p in paths]
        side = min(SIDE, *(min(p.image.size) for p in photos))
        if side < 32:
            raise SkipItem("image smaller than 32 px")
        images = [ImageOps.fit(p.image, (side, side), Image.Resampling.LANCZOS) for p in photos]
        return Example(
            images=images,
            choices=CHOICES,
            answer=answer,
            sources=tuple(relative_to(p.path, index.root) for p in photos),
            raw=[p.image for p in photos],  # uncropped: BLINK may hold the whole photo
            meta={"real": relative_to(photos[position].path, index.root), "group": group or None},
        )


def _group(path: Path, folder: Path) -> str:
    parts = path.relative_to(folder).parts
    return parts[0] if len(parts) > 1 else ""
