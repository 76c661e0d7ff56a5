"""The leakage guard: drop training questions whose images are near-duplicates of BLINK's.

BLINK built its questions from the *test* splits of its source datasets, and builders read only the
train splits; but sources overlap in ways splits do not capture (COCO photos recur across datasets,
one photo can sit in two datasets' different splits). With ``--blink DIR`` every image of every task
in a local BLINK copy, val and test, is hashed, and a training question is dropped when any of its
images — the source photos and the rendered question images — is within ``max_distance`` bits of a
BLINK image.

The hash is the DCT perceptual hash (pHash): grey, 32 x 32, 2-D DCT-II, the 8 x 8 lowest frequencies
compared with their median. It survives resizing, recompression and small overlays such as BLINK's
markers (a few bits), not crops or mirrors: a BLINK crop (Jigsaw's patches) of a training photo is not
caught. Random natural images differ in about 32 of the 64 bits; the default threshold of 10 keeps
false matches rare while tolerating markers. All BLINK tasks are hashed, not only the one being built,
because the study evaluates every finetuned model on every task.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from vlmtransfer.errors import InputError

__all__ = ["DEFAULT_MAX_DISTANCE", "LeakageGuard", "blink_parquet_files", "phash"]

DEFAULT_MAX_DISTANCE = 10
_SIDE = 32  # the grey image the DCT runs on
_LOW = 8  # the low-frequency block kept: 8 x 8 = 64 bits
_IMAGE_COLUMNS = ("image_1", "image_2", "image_3", "image_4")

Progress = Callable[[str, int, int | None], None]


@lru_cache(maxsize=1)
def _dct_matrix() -> np.ndarray:
    """The orthonormal DCT-II matrix of size 32 (``C @ x`` transforms a column)."""
    n = np.arange(_SIDE)
    matrix = np.sqrt(2.0 / _SIDE) * np.cos(np.pi * (2 * n[None, :] + 1) * n[:, None] / (2 * _SIDE))
    matrix[0] /= np.sqrt(2.0)
    return matrix


def phash(image: Image.Image) -> int:
    """The 64-bit perceptual hash of ``image`` (bit ``i`` set where DCT coefficient ``i`` of the 8 x 8
    low-frequency block, row-major, exceeds the block's median; the DC term takes part like any other)."""
    grey = image.convert("L").resize((_SIDE, _SIDE), Image.Resampling.LANCZOS, reducing_gap=2.0)
    pixels = np.asarray(grey, dtype=np.float64)
    matrix = _dct_matrix()
    low = (matrix @ pixels @ matrix.T)[:_LOW, :_LOW].ravel()
    bits = low > np.median(low)
    return int(np.packbits(bits).view(">u8")[0])


def _phash_bytes(data: bytes) -> int:
    with Image.open(io.BytesIO(data)) as handle:
        if handle.format == "JPEG":
            handle.draft("L", (4 * _SIDE, 4 * _SIDE))  # decode at reduced scale: much faster
        return phash(handle)


@dataclass(frozen=True)
class LeakageGuard:
    """Perceptual hashes of BLINK's images and the distance that counts as a near-duplicate.

    Attributes:
        hashes: one 64-bit pHash per BLINK image.
        max_distance: largest Hamming distance (in bits) treated as the same image.
        unreadable: BLINK images that could not be decoded (not hashed).
        source: where the hashes came from, for provenance.
    """

    hashes: np.ndarray
    max_distance: int = DEFAULT_MAX_DISTANCE
    unreadable: int = 0
    source: str = ""

    def distance(self, value: int) -> int:
        """Bits between ``value`` and the nearest BLINK hash (64 when there are none)."""
        if self.hashes.size == 0:
            return 64
        return int(np.bitwise_count(self.hashes ^ np.uint64(value)).min())

    def matches(self, images: Iterable[Image.Image]) -> bool:
        """Whether any of ``images`` is a near-duplicate of a BLINK image."""
        return any(self.distance(phash(image)) <= self.max_distance for image in images)

    @classmethod
    def from_blink(
        cls, blink_dir: Path, *, max_distance: int = DEFAULT_MAX_DISTANCE, progress: Progress | None = None
    ) -> LeakageGuard:
        """Hash every image of a local BLINK copy (``<dir>/<Task>/{val,test}-*.parquet``).

        Raises:
            InputError: the directory holds no BLINK parquet files, or one cannot be read.
        """
        files = blink_parquet_files(blink_dir)
        hashes: list[int] = []
        unreadable = 0
        total = sum(_row_count(f) for f in files)
        for done, payload in enumerate(_image_payloads(files), start=1):
            if payload is not None:
                try:
                    hashes.append(_phash_bytes(payload))
                except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
                    unreadable += 1
            if progress is not None and done % 16 == 0:
                progress("Hashing BLINK images", done, total)
        if progress is not None:
            progress("Hashing BLINK images", total, total)
        array = np.array(hashes, dtype=np.uint64)
        return cls(array, max_distance, unreadable, str(blink_dir))


def blink_parquet_files(blink_dir: Path) -> list[Path]:
    """The val and test parquet files of every task in a local BLINK copy, sorted.

    Raises:
        InputError: none found.
    """
    files = sorted(blink_dir.glob("*/val-*.parquet")) + sorted(blink_dir.glob("*/test-*.parquet"))
    if not files:
        raise InputError(
            "holds no BLINK parquet files (expected <dir>/<Task>/val-00000-of-00001.parquet, a local copy"
            " of the hub dataset BLINK-Benchmark/BLINK)",
            source=blink_dir,
        )
    return files


def _row_count(path: Path) -> int:
    import pyarrow.parquet as pq  # noqa: PLC0415 - heavy import, only with --blink

    try:
        metadata = pq.ParquetFile(path).metadata
    except Exception as exc:  # arrow raises its own error types for damaged files
        raise InputError(f"cannot read parquet: {type(exc).__name__}", source=path) from None
    columns = set(metadata.schema.names)
    return metadata.num_rows * sum(1 for c in _IMAGE_COLUMNS if c in columns)


def _image_payloads(files: list[Path]) -> Iterator[bytes | None]:
    """The encoded bytes of every image cell (None for empty cells), file by file, row by row."""
    import pyarrow.parquet as pq  # noqa: PLC0415

    for path in files:
        handle = pq.ParquetFile(path)
        columns = [c for c in _IMAGE_COLUMNS if c in handle.schema_arrow.names]
        for batch in handle.iter_batches(columns=columns, batch_size=64):
            for column in batch.columns:
                for cell in column.to_pylist():
                    yield cell.get("bytes") if isinstance(cell, dict) else None
