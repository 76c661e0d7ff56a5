"""Source photos in, question images out: loading with a size cap, and deterministic encoding.

Annotation coordinates refer to the stored pixel grid of the source file, so photos whose questions
carry coordinates are *not* rotated by their EXIF orientation (``upright=False``); builders without
coordinates (jigsaw, style, similarity, forensics) ask for upright photos. A :class:`Photo` records
the scale from source pixels to output pixels, which builders apply to every annotated point.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from vlmtransfer.data.dataset import image_bytes

__all__ = ["IMAGE_FORMATS", "IMAGE_SUFFIXES", "Photo", "encode_image", "list_images", "open_photo"]

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".webp", ".thumb", ".tif", ".tiff"})
"""File suffixes taken for images when a builder lists a folder (DIW's JPEGs end in ``.thumb``)."""

IMAGE_FORMATS: dict[str, str] = {"jpeg": "jpg", "png": "png"}
"""Output formats and their file extensions."""

JPEG_QUALITY = 95


@dataclass(frozen=True)
class Photo:
    """A loaded source image.

    Attributes:
        image: RGB, at most ``max_side`` pixels on its longer side.
        path: the file it came from.
        source_size: width and height of the stored image before resizing.
    """

    image: Image.Image
    path: Path
    source_size: tuple[int, int]

    @property
    def scale(self) -> tuple[float, float]:
        """Output pixels per source pixel, along x and y."""
        return self.image.width / self.source_size[0], self.image.height / self.source_size[1]

    def to_output(self, x: float, y: float) -> tuple[float, float]:
        """A point in source pixel coordinates, in output pixel coordinates."""
        sx, sy = self.scale
        return x * sx, y * sy


def open_photo(path: Path, max_side: int | None, *, upright: bool = False) -> Photo:
    """Load ``path`` as RGB, downscaled (Lanczos) so that its longer side is at most ``max_side``.

    JPEGs are decoded at a reduced scale first when the reduction is at least twofold (libjpeg's DCT
    scaling: much faster, and the final resize fixes the exact size).

    Raises:
        FileNotFoundError, OSError, ValueError: as PIL raises them for missing or unreadable files.
    """
    with Image.open(path) as handle:
        opened = ImageOps.exif_transpose(handle) if upright else handle
        source_size = opened.size
        target = _target_size(source_size, max_side)
        if target != source_size and opened.format == "JPEG":
            opened.draft("RGB", (target[0] * 2, target[1] * 2))
        image = opened.convert("RGB")
    if image.size != target:
        image = image.resize(target, Image.Resampling.LANCZOS)
    return Photo(image=image, path=path, source_size=source_size)


def _target_size(size: tuple[int, int], max_side: int | None) -> tuple[int, int]:
    w, h = size
    if not max_side or max(w, h) <= max_side:
        return w, h
    factor = max_side / max(w, h)
    return max(1, round(w * factor)), max(1, round(h * factor))


def encode_image(image: Image.Image, fmt: str) -> bytes:
    """Bytes of ``image`` in ``fmt`` (``jpeg``: quality 95, no chroma subsampling; ``png``: lossless).
    Both are deterministic for identical pixels with the same Pillow build (no timestamps, no EXIF)."""
    if fmt == "png":
        return image_bytes(image)
    if fmt != "jpeg":
        raise ValueError(f"unknown image format {fmt!r}")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY, subsampling=0, optimize=False)
    return buffer.getvalue()


def list_images(folder: Path) -> list[Path]:
    """Every image file below ``folder`` (recursively, hidden entries skipped), in sorted order."""
    return sorted(
        path
        for path in folder.rglob("*")
        if path.suffix.lower() in IMAGE_SUFFIXES
        and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )
