"""Atomic file output: a reader never sees a half-written file, and a failed run leaves nothing.

Files are written to a temporary sibling and moved into place with ``os.replace`` (atomic on
POSIX within one filesystem).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

__all__ = ["atomic_write_bytes", "publish_files"]


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (parents created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def publish_files(files: Mapping[str, bytes], out_dir: str | Path) -> None:
    """Write a set of files (relative path -> content) into ``out_dir``.

    All files are first written to a hidden staging directory beside ``out_dir``. A new ``out_dir``
    appears in one rename, complete; into an existing one, each file is replaced atomically and
    other files there are left alone.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"{out_dir} exists and is not a directory")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".staging", dir=out_dir.parent))
    try:
        for relative, data in files.items():
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if out_dir.exists():
            _move_each(staging, out_dir, files)
        else:
            os.replace(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _move_each(staging: Path, out_dir: Path, files: Mapping[str, bytes]) -> None:
    for relative in files:
        destination = out_dir / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / relative, destination)
