"""Images in questions, decoded when a batch's pixels are made (as videos are, see ``data.video``).

A study's targets hold thousands of full-resolution images (BLINK: ~3,500 of ~1000 x 700 px, 2 MB each
as RGB); decoding them all when the questions are loaded would hold gigabytes for the whole run.
:class:`ImageFile` is what :func:`vlmtransfer.data.dataset.load_questions` gives instead: the file, and
the size and mode its header declares (what encoding a question needs: how many image tokens it takes).
:meth:`ImageFile.load` decodes it, as RGB, when a batch's pixels are made; the decoded image is dropped
with the batch. Code that takes images takes either (see :func:`decoded`).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ImageFile", "decoded"]


@dataclass(frozen=True, eq=False)
class ImageFile:
    """An image file as a question holds it: its path and size; decoded (as RGB) on demand."""

    path: Path
    size: tuple[int, int]
    """``(width, height)``, as PIL gives it."""
    mode: str = "RGB"
    """The decoded image's mode (always RGB: :meth:`load` converts)."""

    @classmethod
    def open(cls, path: str | Path) -> ImageFile:
        """Read ``path``'s header (its size), decoding no pixels."""
        from PIL import Image  # noqa: PLC0415 - keeps `import vlmtransfer.data` light

        with Image.open(path) as handle:
            return cls(Path(path), tuple(handle.size))  # type: ignore[arg-type]

    def load(self) -> Any:
        """The image, decoded now as an RGB ``PIL.Image`` (the caller holds the only reference)."""
        from PIL import Image  # noqa: PLC0415

        with Image.open(self.path) as handle:
            image = handle.convert("RGB")
        if image.size != self.size:
            raise ValueError(f"{self.path}: changed since it was loaded ({image.size} is not {self.size})")
        return image

    @functools.cached_property
    def fingerprint(self) -> str:
        """A content hash of the file's bytes (a vision-cache key part; reading it decodes nothing)."""
        digest = hashlib.sha256()
        with self.path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()


def decoded(images: Iterable[Any]) -> list[Any]:
    """``images`` with each :class:`ImageFile` decoded (other images, already in memory, as they are)."""
    return [image.load() if isinstance(image, ImageFile) else image for image in images]
