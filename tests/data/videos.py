"""Small test videos made with PyAV: a few frames of flat colours, so decoding is checkable."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_mp4(
    path: Path, *, frames: int = 8, width: int = 64, height: int = 56, fps: int = 4, seed: int = 0
) -> Path:
    """An H.264 mp4 of ``frames`` frames; frame k is a flat grey of level 20 + 20 k (plus a seeded bar)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "0", "preset": "ultrafast"}
        for k in range(frames):
            image = np.full((height, width, 3), (20 + 20 * k) % 256, dtype=np.uint8)
            image[:, : width // 4] = rng.integers(0, 256, 3, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_frames(folder: Path, *, frames: int = 6, width: int = 64, height: int = 56) -> Path:
    """A folder of PNG frames ``000.png`` ... with the same grey levels as :func:`write_mp4`."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for k in range(frames):
        image = np.full((height, width, 3), (20 + 20 * k) % 256, dtype=np.uint8)
        Image.fromarray(image).save(folder / f"{k:03d}.png")
    return folder
