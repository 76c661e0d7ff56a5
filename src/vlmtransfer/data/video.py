"""Videos in questions: reading a container's metadata, sampling frames, decoding only those frames.

A record's ``videos`` entry names, relative to its JSONL file, either a video file (mp4, or anything
FFmpeg reads; decoded with PyAV) or a folder of frames (``.png``/``.jpg``/``.jpeg``/``.webp`` files,
played in file-name order, so name them with zero-padded numbers; a folder has no frame rate of its
own: it plays at :attr:`FrameSampling.folder_fps`).

- :func:`probe_video` reads what validation needs without decoding the video: frame count, frame rate,
  size, duration (and decodes the first frame, so a file whose codec data is broken is caught early).
  It refuses unreadable, empty or absurd videos (see the limits below) with one line saying why.
- :class:`VideoClip` is a video as a question holds it: a path, its metadata and the sampling. Nothing
  is decoded until :meth:`VideoClip.frames` is called (when a batch's pixels are made), and only the
  sampled frames are kept: a 3-minute 30-fps video is decoded frame by frame and 32 frames stay.
- :class:`FrameSampling` says which frames: ``frames`` spread uniformly over the whole video (default 32,
  VSI-Bench's setting for Qwen2.5-VL: ``np.linspace(0, n - 1, frames)`` floored, as its official code),
  or ``fps`` frames per second of video (at most ``max_frames``). It is
  :class:`vlmtransfer.settings.VideoSettings` (its one definition; a study's ``video:`` section).

Why the metadata travels with the frames: Qwen2.5-VL places each temporal patch at a time position
derived from the sampled frame rate (``second_per_grid_ts``). A processor handed bare frames assumes
24 fps, so a 32-frame sample of a 2-minute video would be placed as if it lasted 1.3 s.
:meth:`VideoClip.metadata` is what the processor's ``video_metadata`` takes: the video's real fps and
frame count with the sampled indices, from which transformers computes the sampled fps
(``len(indices) / total * fps``).
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlmtransfer.settings import MAX_FPS, VideoSettings

__all__ = [
    "FRAME_SUFFIXES",
    "MAX_VIDEO_FRAMES",
    "MAX_VIDEO_SECONDS",
    "FrameSampling",
    "VideoClip",
    "VideoError",
    "VideoInfo",
    "probe_video",
    "sample_indices",
]

FRAME_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})
"""Files a folder of frames may hold (other files, such as a README, are ignored)."""

MAX_VIDEO_FRAMES = 1_000_000
"""More frames than this is not a benchmark clip (9 hours at 30 fps): refused as absurd."""

MAX_VIDEO_SECONDS = 4 * 3600.0
"""Longer than this is refused as absurd (VSI-Bench's longest scan is a few minutes)."""

MAX_FRAME_PIXELS = 50_000_000
"""Largest frame (width x height) accepted, as for images (``records.MAX_IMAGE_PIXELS``)."""


class VideoError(ValueError):
    """A video that cannot be used; the message completes "<path> ..." (e.g. "has no frames")."""


FrameSampling = VideoSettings
"""Which frames of a video the model sees: :class:`vlmtransfer.settings.VideoSettings` (its one
definition, a study's ``video:`` section), under the name this module's code gives it."""


@dataclass(frozen=True)
class VideoInfo:
    """A video's metadata: ``frames`` in total at ``fps``, each ``width`` x ``height``."""

    frames: int
    fps: float
    width: int
    height: int
    is_folder: bool = False

    @property
    def duration(self) -> float:
        return self.frames / self.fps


def probe_video(path: str | Path, *, folder_fps: float = 1.0) -> VideoInfo:
    """The metadata of a video file or a folder of frames (see the module docstring).

    Raises:
        VideoError: missing, unreadable, without frames, or absurd (limits above).
    """
    path = Path(path)
    if not path.exists():
        raise VideoError("does not exist")
    info = _probe_folder(path, folder_fps) if path.is_dir() else _probe_file(path)
    _check_sane(info)
    return info


def _pyav() -> Any:
    """PyAV, or a one-line refusal saying how to get it (it comes with the ``ml`` extra)."""
    try:
        import av  # noqa: PLC0415 - PyAV only where videos are read
    except ImportError:
        raise VideoError("cannot be read: PyAV is not installed (pip install 'vlmtransfer[ml]')") from None
    return av


def _probe_file(path: Path) -> VideoInfo:
    av = _pyav()

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.video:
                raise VideoError("has no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0)
            frames = int(stream.frames or 0)
            if frames == 0:  # containers without a frame count in their header: count the packets
                frames = sum(1 for packet in container.demux(stream) if packet.size)
                container.seek(0)
            first = next(container.decode(stream), None)
            if first is None:
                raise VideoError("has no frames")
            width, height = first.width, first.height
    except VideoError:
        raise
    except (av.FFmpegError, OSError, ValueError, StopIteration) as exc:
        raise VideoError(f"is not a readable video ({type(exc).__name__}: {_first_line(exc)})") from None
    return VideoInfo(frames, fps, width, height)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "strerror", None) or exc).strip()
    return text.splitlines()[0] if text else "no detail"


def _frame_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in FRAME_SUFFIXES and p.is_file())


def _probe_folder(folder: Path, fps: float) -> VideoInfo:
    from PIL import Image  # noqa: PLC0415

    files = _frame_files(folder)
    if not files:
        raise VideoError(f"is a folder without frames ({', '.join(sorted(FRAME_SUFFIXES))} files)")
    sizes = set()
    for file in files:
        try:
            with Image.open(file) as handle:
                sizes.add(handle.size)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise VideoError(f"holds an unreadable frame {file.name} ({type(exc).__name__})") from None
        if len(sizes) > 1:
            raise VideoError(f"holds frames of different sizes ({file.name} is {sizes})")
    width, height = sizes.pop()
    return VideoInfo(len(files), fps, width, height, is_folder=True)


def _check_sane(info: VideoInfo) -> None:
    if info.frames < 1:
        raise VideoError("has no frames")
    if not (math.isfinite(info.fps) and 0 < info.fps <= MAX_FPS):
        raise VideoError(f"has an absurd frame rate ({info.fps:g} fps)")
    if info.frames > MAX_VIDEO_FRAMES or info.duration > MAX_VIDEO_SECONDS:
        raise VideoError(f"is absurdly long ({info.frames:,} frames, {info.duration:,.0f} s)")
    if info.width < 1 or info.height < 1 or info.width * info.height > MAX_FRAME_PIXELS:
        raise VideoError(f"has an absurd frame size ({info.width} x {info.height})")


def sample_indices(info: VideoInfo, sampling: FrameSampling) -> tuple[int, ...]:
    """The frame indices ``sampling`` takes from a video described by ``info``, ascending, distinct."""
    if sampling.frames is not None:
        count = min(sampling.frames, info.frames)
    else:
        assert sampling.fps is not None
        count = min(max(1, round(info.duration * sampling.fps)), sampling.max_frames, info.frames)
    if count == 1:
        return (0,)
    step = (info.frames - 1) / (count - 1)
    return tuple(int(k * step) for k in range(count))  # np.linspace(0, n - 1, count, dtype=int)


@dataclass(frozen=True, eq=False)
class VideoClip:
    """A question's video: where it is, what it is, and which frames the model sees; decoded on demand."""

    path: Path
    info: VideoInfo
    sampling: FrameSampling = field(default_factory=FrameSampling)

    @classmethod
    def open(cls, path: str | Path, sampling: FrameSampling | None = None) -> VideoClip:
        """Probe ``path`` (see :func:`probe_video`) and hold it, decoding nothing yet."""
        sampling = sampling or FrameSampling()
        return cls(Path(path), probe_video(path, folder_fps=sampling.folder_fps), sampling)

    @functools.cached_property
    def indices(self) -> tuple[int, ...]:
        return sample_indices(self.info, self.sampling)

    @property
    def sampled_fps(self) -> float:
        """Frames per second of the sample (what the processor derives from :meth:`metadata`)."""
        return len(self.indices) / self.info.frames * self.info.fps

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(sampled frames, height, width)``: what the number of video tokens depends on."""
        return len(self.indices), self.info.height, self.info.width

    def metadata(self) -> dict[str, Any]:
        """The processor's ``video_metadata`` for :meth:`frames` (transformers' ``VideoMetadata`` fields)."""
        return {
            "total_num_frames": self.info.frames,
            "fps": self.info.fps,
            "width": self.info.width,
            "height": self.info.height,
            "duration": self.info.duration,
            "video_backend": "pyav",
            "frames_indices": list(self.indices),
        }

    def frames(self) -> Any:
        """The sampled frames as one ``(frames, height, width, 3)`` uint8 array (decoded now).

        A file's frames are decoded in order and all but the sampled ones dropped at once. When the
        container held fewer frames than its header said, the missing tail repeats the last frame.

        Raises:
            VideoError: the file cannot be decoded (it changed or broke since it was probed).
        """
        import numpy as np  # noqa: PLC0415

        wanted = self.indices
        read = _folder_frames if self.info.is_folder else _file_frames
        frames = read(self.path, wanted)
        if not frames:
            raise VideoError(f"{self.path}: decoded no frames")
        frames += [frames[-1]] * (len(wanted) - len(frames))
        return np.stack(frames)

    @functools.cached_property
    def fingerprint(self) -> str:
        """A content hash of the video's bytes and the sampled indices: a vision-cache key part."""
        digest = hashlib.sha256(repr((self.indices, self.info.fps)).encode())
        files = _frame_files(self.path) if self.info.is_folder else [self.path]
        for file in files:
            with file.open("rb") as handle:
                for block in iter(lambda handle=handle: handle.read(1 << 20), b""):
                    digest.update(block)
        return digest.hexdigest()


def _file_frames(path: Path, wanted: Sequence[int]) -> list[Any]:
    av = _pyav()

    frames: list[Any] = []
    targets = iter(wanted)
    target = next(targets, None)
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for number, frame in enumerate(container.decode(stream)):
                while target is not None and number == target:
                    frames.append(frame.to_ndarray(format="rgb24"))
                    target = next(targets, None)
                if target is None:
                    break
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(f"{path}: cannot be decoded ({type(exc).__name__}: {_first_line(exc)})") from None
    return frames


def _folder_frames(folder: Path, wanted: Sequence[int]) -> list[Any]:
    import numpy as np  # noqa: PLC0415
    from PIL import Image  # noqa: PLC0415

    files = _frame_files(folder)
    frames = []
    for index in wanted:
        if index >= len(files):
            break
        with Image.open(files[index]) as handle:
            frames.append(np.asarray(handle.convert("RGB")))
    return frames
