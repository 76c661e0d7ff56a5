"""Jigsaw from any photos: the lower-right corner blacked out; the true corner or one from another photo."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

from vlmtransfer.data.builders.base import (
    Example,
    Item,
    RenderContext,
    SkipItem,
    SourceIndex,
    SourceInfo,
    relative_to,
)
from vlmtransfer.data.builders.images import list_images
from vlmtransfer.errors import InputError

__all__ = ["PhotoJigsaw"]

CHOICES = ("the second image", "the third image")
MIN_SIDE = 64


class PhotoJigsaw:
    """Any folder of photos (BLINK used TARA; COCO train2017 works). The first image is the photo with
    its lower-right quadrant black; the candidates are that quadrant and the same-sized region of
    another photo (at a random position, the photo upscaled if it is smaller)."""

    task: str = "Jigsaw"
    max_per_group: int | None = None
    source = SourceInfo(
        dataset="photos (e.g. COCO train2017)",
        files=("any image files below --source (recursively)",),
        download="e.g. http://images.cocodataset.org/zips/train2017.zip",
        license="that of the photos used (COCO: the photos' Flickr terms)",
        split="whatever folder is given; use a train split (BLINK used TARA)",
    )

    def scan(self, root: Path) -> SourceIndex:
        photos = [relative_to(p, root) for p in list_images(root)]
        if len(photos) < 2:
            raise InputError(f"needs at least two image files (found {len(photos)})", source=root)
        items = [Item(key=p, payload=p) for p in photos]
        return SourceIndex(root=root, items=items, pools={"photos": photos})

    def render(self, index: SourceIndex, item: Item, answer: str, ctx: RenderContext) -> Example:
        photo = ctx.photo(item.payload, upright=True)
        w, h = photo.image.size
        if min(w, h) < MIN_SIDE:
            raise SkipItem(f"photo smaller than {MIN_SIDE} px")
        region = (w // 2, h // 2, w, h)
        truth = photo.image.crop(region)
        other = ctx.photo(_another(ctx, index.pools["photos"], item.payload), upright=True)
        decoy = _random_region(ctx, other.image, truth.size)
        masked = photo.image.copy()
        ImageDraw.Draw(masked).rectangle((region[0], region[1], w - 1, h - 1), fill=(0, 0, 0))
        candidates = [truth, decoy] if answer == "A" else [decoy, truth]
        return Example(
            images=[masked, *candidates],
            choices=CHOICES,
            answer=answer,
            sources=(relative_to(photo.path, index.root), relative_to(other.path, index.root)),
            raw=[photo.image, other.image],
            meta={"missing": list(region), "decoy_from": relative_to(other.path, index.root)},
        )


def _another(ctx: RenderContext, photos: list[str], this: str) -> str:
    while True:  # at least two photos exist (scan checks)
        other = photos[int(ctx.rng.integers(len(photos)))]
        if other != this:
            return other


def _random_region(ctx: RenderContext, image: Image.Image, size: tuple[int, int]) -> Image.Image:
    w, h = size
    factor = max(1.0, w / image.width, h / image.height)
    if factor > 1.0:
        image = image.resize((max(w, round(image.width * factor)), max(h, round(image.height * factor))))
    x = int(ctx.rng.integers(0, image.width - w + 1))
    y = int(ctx.rng.integers(0, image.height - h + 1))
    return image.crop((x, y, x + w, y + h))
