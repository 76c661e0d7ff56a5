"""Helpers for the builder tests: textured photos, a build with lossless output, marker pixel checks.

Every fixture is written by the test in its source's real file format, tiny (photos of about 200 px),
and built with PNG output at the source size so marker pixels can be checked exactly.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vlmtransfer.data import read_records, validate_dataset
from vlmtransfer.data.builders import BuildOptions, BuildReport, build_training_set
from vlmtransfer.data.builders.markers import MARKER_RED
from vlmtransfer.data.records import LETTERS, MCQRecord


def textured(width: int, height: int, seed: int) -> Image.Image:
    """A photo-like test image: blocks of random blue-green colours (red channel kept below 120, so
    no pixel is the marker red), fine enough to have plenty of corners."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(math.ceil(height / 8), math.ceil(width / 8), 3))
    blocks[..., 0] //= 3
    pixels = np.kron(blocks, np.ones((8, 8, 1)))[:height, :width].astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


def save(image: Image.Image, path: Path, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format=fmt or ("JPEG" if path.suffix.lower() in (".jpg", ".jpeg", ".thumb") else None))
    return path


def build(task: str, source: Path, out: Path, **options) -> tuple[BuildReport, list[MCQRecord]]:
    """Build with lossless output at the source size; return the report and the validated records."""
    options = {"image_format": "png", "max_side": None, **options}
    report = build_training_set(task, source, out, BuildOptions(**options))
    validate_dataset(out)  # what `vlmtransfer data validate` checks
    return report, read_records(out / task / "train.jsonl", check_images=True)


def image_of(out: Path, record: MCQRecord, k: int) -> Image.Image:
    """Image ``k`` (0-based) of a record, as RGB."""
    with Image.open(out / record.task / record.images[k]) as handle:
        return handle.convert("RGB")


def ring_is_red(image: Image.Image, marker: dict) -> bool:
    """Whether the circle of a point marker is drawn where ``marker`` says: the pixels on its ring, at
    the four compass points, are exactly the marker red."""
    x, y, r, w = marker["x"], marker["y"], marker["radius"], marker["width"]
    inset = r - w // 2
    ring = [(x + inset, y), (x - inset, y), (x, y + inset), (x, y - inset)]
    return all(
        image.getpixel(p) == MARKER_RED for p in ring if 0 <= p[0] < image.width and 0 <= p[1] < image.height
    )


def near(p, q, tolerance: float = 1.5) -> bool:
    return math.hypot(p[0] - q[0], p[1] - q[1]) <= tolerance


def assert_balanced(records: list[MCQRecord], letters: str) -> None:
    counts = Counter(r.answer for r in records)
    values = [counts.get(letter, 0) for letter in letters]
    assert max(values) - min(values) <= 1, counts


def marker(markers: list[dict], label: str) -> dict:
    (found,) = [m for m in markers if m["label"] == label]
    return found


def option(record: MCQRecord, letter: str | None = None) -> dict:
    """The option marker of ``letter`` (default: the answer) of a correspondence record."""
    return record.meta["options"][LETTERS.index(letter or record.answer)]


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "out"
