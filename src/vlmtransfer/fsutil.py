"""Atomic file output: a reader never sees a half-written file, and a failed run leaves nothing.

Files are written to a temporary sibling and moved into place with ``os.replace``/``os.rename``
(atomic on POSIX within one filesystem).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

__all__ = [
    "OutputDirectoryError",
    "atomic_write_bytes",
    "check_replaceable",
    "path_part",
    "publish_directory",
    "remove_abandoned_staging",
    "safe_name",
    "staged_directory",
    "staged_file",
    "staging_file",
    "unique_names",
]


class OutputDirectoryError(OSError):
    """The output directory cannot be (re)written: it is a file, or holds files vlmtransfer did not write."""


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (parents created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with staging_file(path, data) as tmp:
        os.replace(tmp, path)


@contextlib.contextmanager
def staging_file(path: Path, data: bytes) -> Iterator[str]:
    """``data`` in a fsynced temporary sibling of ``path`` (see :func:`staged_file`), marked in use for
    the duration (an advisory lock), so that a later writer of ``path`` removes only the temporaries of
    killed processes; the caller moves it into place or it is unlinked on leaving."""
    _remove_stale(path.parent, _temporaries(path))
    tmp = staged_file(path, data)
    try:
        with _held(tmp):
            yield tmp
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def staged_file(path: Path, data: bytes) -> str:
    """``data`` in a fsynced temporary sibling of ``path``, readable as the umask allows (``mkstemp``
    makes 0600; outputs are meant to be shared); the caller moves it into place or unlinks it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        _name_file(exc, path)
        raise
    return tmp


def _name_file(exc: BaseException, path: Path) -> None:
    """A failed ``write`` (a full disk) raises an ``OSError`` without a file name: give it ``path``."""
    if isinstance(exc, OSError) and exc.filename is None:
        exc.filename = str(path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def publish_directory(files: Mapping[str, bytes], out_dir: str | Path, marker: str) -> None:
    """Make ``out_dir`` hold exactly ``files`` (relative path -> content), all or nothing.

    ``marker`` (e.g. ``analysis.json``) must be one of ``files``; see :func:`staged_directory`.
    """
    with staged_directory(out_dir, marker) as staging:
        for relative, data in files.items():
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                target.write_bytes(data)
            except OSError as exc:
                _name_file(exc, Path(out_dir) / relative)
                raise


@contextlib.contextmanager
def staged_directory(out_dir: str | Path, marker: str) -> Iterator[Path]:
    """Yield an empty staging directory; on success it becomes ``out_dir``, on error it vanishes.

    The directory is owned by the command that writes it: an existing ``out_dir`` is only replaced
    if it is empty or holds ``marker`` from an earlier run (the caller must write ``marker`` into
    the staging directory), so a rerun leaves no stale files and a mistyped ``--out`` never
    clobbers someone's folder. The old directory is swapped out only once the new one is complete.

    Raises:
        OutputDirectoryError: ``out_dir`` is a file, or a non-empty directory without ``marker``.
        OSError: the filesystem refused (permissions, disk full); nothing is left behind.
    """
    out_dir = Path(out_dir)
    check_replaceable(out_dir, marker)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(out_dir.parent, _siblings(out_dir))
    staging = _sibling(out_dir, "staging")
    staging.mkdir()  # honours the umask, unlike tempfile.mkdtemp's 0700
    try:
        with _held(staging):
            yield staging
            if not (staging / marker).is_file():
                raise RuntimeError(f"staged output for {out_dir} lacks its marker {marker}")
            _swap_into_place(staging, out_dir)
    except OSError as exc:
        _name_file(exc, out_dir)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def check_replaceable(out_dir: str | Path, marker: str) -> None:
    """Refuse early what :func:`staged_directory` would refuse, before any expensive work.

    Raises:
        OutputDirectoryError: see :func:`staged_directory`.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputDirectoryError(f"{out_dir} exists and is not a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / marker).is_file():
        raise OutputDirectoryError(
            f"{out_dir} already holds other files (no {marker} from an earlier run); choose a new directory"
        )
    for parent in out_dir.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputDirectoryError(f"{parent} is not a directory")
            break


def _swap_into_place(staging: Path, out_dir: Path) -> None:
    if not out_dir.exists():
        os.rename(staging, out_dir)
        return
    retired = _sibling(out_dir, "old")
    with _held(out_dir):  # the lock moves with the directory: a retired one in use is not stale
        os.rename(out_dir, retired)
        try:
            os.rename(staging, out_dir)
        except OSError:
            os.rename(retired, out_dir)
            raise
        shutil.rmtree(retired, ignore_errors=True)


def _sibling(path: Path, role: str) -> Path:
    return path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.{role}"


_ABANDONED = re.compile(r"^\..+\.[0-9a-f]{12}\.(staging|old)$")
STALE_AFTER_SECONDS = 10
"""A staging file or directory untouched this long and not locked by a live writer is abandoned (the
grace covers the instant between creating one and locking it)."""


def _siblings(out_dir: Path) -> re.Pattern[str]:
    """Names :func:`staged_directory` gives its staging and retired directories for ``out_dir``."""
    return re.compile(rf"^\.{re.escape(out_dir.name)}\.[0-9a-f]{{12}}\.(staging|old)$")


def _temporaries(path: Path) -> re.Pattern[str]:
    """Names :func:`staged_file` (``mkstemp``) gives temporaries of ``path``."""
    return re.compile(rf"^\.{re.escape(path.name)}\.[A-Za-z0-9_]{{8}}\.tmp$")


def _remove_stale(folder: Path, names: re.Pattern[str]) -> int:
    """Delete what killed writers left in ``folder`` under ``names``: entries no live process holds
    (see :func:`_held`) and older than :data:`STALE_AFTER_SECONDS`. Returns how many."""
    import time  # noqa: PLC0415

    removed = 0
    try:
        entries = [entry for entry in folder.iterdir() if names.match(entry.name)]
    except OSError:
        return 0
    for entry in entries:
        try:
            if time.time() - entry.lstat().st_mtime < STALE_AFTER_SECONDS or _in_use(entry):
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed += 1
        except OSError:
            continue  # gone meanwhile, or not ours to remove: leave it
    return removed


@contextlib.contextmanager
def _held(path: str | Path) -> Iterator[None]:
    """Hold an advisory lock on ``path`` (a file or a directory) while writing it; the OS drops it when
    the process dies, which is how a later run tells abandoned staging from a live writer's."""
    import fcntl  # noqa: PLC0415 - POSIX only, like the rest of the file handling

    fd = os.open(path, os.O_RDONLY)
    with contextlib.suppress(OSError):  # a file system without locks: staging is then never stale
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        yield
    finally:
        os.close(fd)


def _in_use(path: Path) -> bool:
    import fcntl  # noqa: PLC0415

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return True  # cannot tell: leave it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # also releases the lock just taken
    return False


def remove_abandoned_staging(root: str | Path) -> int:
    """Delete staging/retired directories that a killed process left under ``root``; return how many.

    Only names made by :func:`staged_directory` (``.<name>.<12 hex>.staging`` / ``.old``) are touched.
    Call it only when no other process is writing under ``root``.
    """
    root = Path(root)
    if not root.is_dir():
        return 0
    abandoned = [p for p in root.rglob(".*") if p.is_dir() and _ABANDONED.match(p.name)]
    for path in abandoned:
        shutil.rmtree(path, ignore_errors=True)
    return len(abandoned)


def unique_names(labels: Iterable[str], fallback: str = "model") -> dict[str, str]:
    """Filesystem-safe, unique file-name parts for labels (``Qwen/2.5 7B`` -> ``Qwen_2.5_7B``; a clash
    gets ``-2``, ``-3``, ...)."""
    names: dict[str, str] = {}
    for label in labels:
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("._") or fallback
        name, n = base, 2
        while name in names.values():
            name, n = f"{base}-{n}", n + 1
        names[label] = name
    return names


def safe_name(name: str) -> str:
    """``name`` as one path component: letters, digits, ``-_.`` kept, anything else ``_``, no leading dot."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name).lstrip(".") or "_"


def path_part(name: str) -> str:
    """``name`` as one path component that no other name maps to (unlike :func:`safe_name`, which
    makes ``Cnt A`` and ``Cnt_A`` both ``Cnt_A``): a safe name is kept as it is; any other gets its
    safe form plus a short hash of the original (``Cnt A`` -> ``Cnt_A-<8 hex>``)."""
    safe = safe_name(name)
    if safe == name:
        return name
    return f"{safe}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
