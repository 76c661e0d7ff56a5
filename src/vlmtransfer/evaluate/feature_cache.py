"""Vision features of an evaluation's batches, kept within a RAM budget and spilled to disk.

A full-resolution BLINK grid's features do not fit in memory beside a large model (3,500 images x ~900
merged tokens x hidden size x 2 bytes: ~12 GB for 3B, ~22 GB for 7B). Batches' features live in an LRU
bounded by ``budget_bytes``; a batch pushed out (or too big for the budget) is written to ``directory``
(one file per batch, written to a temporary name and renamed, so a killed process never leaves a partial
shard) and read back when needed, or recomputed when there is no directory. What fits in RAM is never
written. A shard that cannot be read (truncated, corrupt) is deleted and recomputed. Keys are content
hashes (the model, the processor's resolution, every image's pixels or file bytes, every video's bytes
and sampled frames), so a resumed study, or another worker of the study on the same node, reuses the
shards.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vlmtransfer.models.encoding import EncodedQuestion, ImageFeatures

    Features = list[ImageFeatures | None]

__all__ = ["FeatureCache", "batch_key", "default_budget_bytes"]

DEFAULT_RAM_SHARE = 0.25
"""Share of the machine's physical memory the cache may hold by default."""


def default_budget_bytes(share: float = DEFAULT_RAM_SHARE) -> int | None:
    """``share`` of physical memory, or None (unbounded) where the platform does not say."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * share)
    except (ValueError, OSError, AttributeError):
        return None


def batch_key(model_identity: str, questions: Sequence[EncodedQuestion]) -> str:
    """What determines a batch's features: the model and processor settings (``model_identity``),
    every image's size, mode and pixels (an image file's bytes: hashing them decodes nothing), and every
    video's content and sampled frames, in order."""
    digest = hashlib.sha256(model_identity.encode())
    for question in questions:
        digest.update(b"|question|")
        for image in question.images:
            digest.update(f"{image.mode}:{image.size}".encode())
            file_hash = getattr(image, "fingerprint", None)  # data.image_file.ImageFile
            digest.update(f"|file|{file_hash}".encode() if file_hash is not None else image.tobytes())
        for video in question.videos:
            digest.update(f"|video|{video.fingerprint}".encode())
    return digest.hexdigest()


class FeatureCache:
    """Features by batch key, at most ``budget_bytes`` in RAM (None: unbounded), spilling to
    ``directory`` (None: evicted batches are recomputed)."""

    def __init__(self, budget_bytes: int | None = None, directory: str | Path | None = None) -> None:
        if budget_bytes is not None and budget_bytes < 0:
            raise ValueError(f"budget_bytes: must be >= 0, got {budget_bytes}")
        self.budget_bytes = budget_bytes
        self.directory = Path(directory) if directory is not None else None
        self._resident: OrderedDict[str, tuple[Features, int]] = OrderedDict()
        self.resident_bytes = 0
        self.peak_bytes = 0
        self.disk_reads = 0

    def get(self, key: str) -> Features | None:
        """The batch's features, from RAM or disk; None when they must be computed."""
        if key in self._resident:
            self._resident.move_to_end(key)
            return self._resident[key][0]
        features = self._read(key)
        if features is not None:
            self.disk_reads += 1
            self._keep(key, features, on_disk=True)
        return features

    def put(self, key: str, features: Features) -> None:
        """Keep freshly computed features (evicting the least recently used batches past the budget)."""
        self._keep(key, features, on_disk=False)

    def clear(self) -> None:
        """Forget what is in RAM (shards on disk stay for the next run)."""
        self._resident.clear()
        self.resident_bytes = 0

    def _keep(self, key: str, features: Features, *, on_disk: bool) -> None:
        size = sum(f.nbytes for f in features if f is not None)
        if self.budget_bytes is not None and size > self.budget_bytes:
            if not on_disk:
                self._write(key, features)  # too big to hold: straight to disk
            return
        self._resident[key] = (features, size)
        self.resident_bytes += size
        while self.budget_bytes is not None and self.resident_bytes > self.budget_bytes:
            evicted_key, (evicted, evicted_size) = self._resident.popitem(last=False)
            self.resident_bytes -= evicted_size
            self._write(evicted_key, evicted)  # spilled: what RAM cannot hold goes to disk (once)
        self.peak_bytes = max(self.peak_bytes, self.resident_bytes)

    def _path(self, key: str) -> Path:
        assert self.directory is not None
        return self.directory / f"{key}.pt"

    def _write(self, key: str, features: Features) -> None:
        if self.directory is None or self._path(key).is_file():
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        payload = [None if f is None else _entry(f) for f in features]
        temporary = self._path(key).with_suffix(f".tmp-{os.getpid()}")
        import torch  # noqa: PLC0415 - only where shards are written: the module stays light

        torch.save(payload, temporary)
        os.replace(temporary, self._path(key))

    def _read(self, key: str) -> Features | None:
        if self.directory is None or not self._path(key).is_file():
            return None
        import torch  # noqa: PLC0415

        try:
            payload: Any = torch.load(self._path(key), weights_only=True)
            return [None if entry is None else _features(entry) for entry in payload]
        except Exception:
            self._path(key).unlink(missing_ok=True)
            return None


def _entry(features: ImageFeatures) -> dict[str, Any]:
    """A shard's entry for one question (video fields only when it has videos: older shards stay valid)."""
    entry: dict[str, Any] = {"tokens": list(features.tokens), "grid": features.grid}
    if features.video_tokens:
        entry["video_tokens"] = list(features.video_tokens)
        entry["video_grid"] = features.video_grid
        entry["second_per_grid_ts"] = features.second_per_grid_ts
    return entry


def _features(entry: dict[str, Any]) -> ImageFeatures:
    from vlmtransfer.models.encoding import ImageFeatures  # noqa: PLC0415

    return ImageFeatures(
        tuple(entry["tokens"]),
        entry["grid"],
        tuple(entry.get("video_tokens", ())),
        entry.get("video_grid"),
        entry.get("second_per_grid_ts"),
    )
