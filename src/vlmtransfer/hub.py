"""Failing fast when the Hugging Face hub cannot be reached.

Without ``HF_HUB_OFFLINE=1``, loading a hub model or dataset asks the hub for its files first, and
``huggingface_hub`` retries a failed connection five times with back-off: on a machine without network
that is ~50 s of "Retrying in 8s" before the error. Commands that are about to look something up on the
hub call :func:`prepare_hub_access` first, which tries one TCP connection (3 s) and then:

- the hub answers: nothing happens;
- it does not, and the files are in the local cache: the process switches to offline mode (what
  ``HF_HUB_OFFLINE=1`` would have done) and says so, so the cached copy is used at once;
- it does not, and nothing is cached: one line naming the repository, the endpoint and the reason.

A configured proxy (``HTTPS_PROXY``, ``ALL_PROXY``) is trusted: the probe would test the wrong route.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit

from vlmtransfer.errors import SystemRefusalError

__all__ = ["hub_unreachable", "prepare_hub_access", "prepare_model_access"]

PROBE_SECONDS = 3.0
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


def prepare_hub_access(
    repo_id: str, *, repo_type: str = "model", revision: str | None = None, source: str | None = None
) -> str | None:
    """Make the next hub lookup of ``repo_id`` either work or fail now, in one line.

    Args:
        repo_id: a hub repository (``Qwen/Qwen2.5-VL-7B-Instruct``); a local path is left alone.
        repo_type: ``model`` or ``dataset``.
        revision: the revision whose cached copy counts (default: ``main``).
        source: what the error names as its origin (the CLI passes its flag, e.g. ``--model``).

    Returns:
        A note to show the user when the hub is unreachable and the cached copy will be used; else None.

    Raises:
        SystemRefusalError: the hub is unreachable and ``repo_id`` is not in the local cache.
    """
    if _offline() or not _is_repo_id(repo_id) or any(os.environ.get(name) for name in _PROXY_VARIABLES):
        return None
    reason = hub_unreachable()
    if reason is None:
        return None
    if _cached(repo_id, repo_type, revision):
        _go_offline()
        return (
            f"{_endpoint()} is unreachable ({reason}); using the cached copy of {repo_id} (HF_HUB_OFFLINE=1)"
        )
    raise SystemRefusalError(
        f"cannot reach {_endpoint()} to fetch {repo_id!r} ({reason}), and it is not in the local cache;"
        " connect to the network, or pass a local copy's path",
        source=source,
    )


def prepare_model_access(name: str, source: str | None = None) -> str | None:
    """:func:`prepare_hub_access` for a model named as a ``model`` setting takes it: a preset (its hub id and
    revision; the embedded tiny model is local), a hub id or a local path."""
    from vlmtransfer.models.presets import find_preset  # noqa: PLC0415 - no torch

    preset = find_preset(name)
    repo_id, revision = (preset.hub_id, preset.revision) if preset else (name, None)
    return prepare_hub_access(repo_id, revision=revision, source=source)


def hub_unreachable(timeout: float = PROBE_SECONDS) -> str | None:
    """Why one TCP connection to the hub's endpoint (``HF_ENDPOINT``) fails within ``timeout`` seconds
    (name resolution included, which ignores socket timeouts: it runs in a thread); None when it works."""
    parts = urlsplit(_endpoint())
    host, port = parts.hostname or "huggingface.co", parts.port or (80 if parts.scheme == "http" else 443)
    outcome: list[str | None] = []

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome.append(None)
        except OSError as exc:
            outcome.append(exc.strerror or str(exc) or type(exc).__name__)

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return outcome[0] if outcome else f"no answer within {timeout:g} s"


def _is_repo_id(name: str) -> bool:
    """Whether ``name`` would be looked up on the hub: a valid repository id that is not a local path
    (a missing path is reported as such by the loader, not as an unreachable hub)."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id  # noqa: PLC0415

    if Path(name).exists() or name.startswith((".", "/", "~")):
        return False
    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def _endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def _offline() -> bool:
    """Offline as ``huggingface_hub`` sees it, or as the environment now says (read at each call, since
    the constant was read when ``huggingface_hub`` was imported)."""
    from huggingface_hub import constants  # noqa: PLC0415

    flag = os.environ.get("HF_HUB_OFFLINE", "").strip().upper()
    return bool(constants.HF_HUB_OFFLINE) or flag in {"1", "ON", "YES", "TRUE"}


def _go_offline() -> None:
    """Offline mode for the rest of the process: ``huggingface_hub`` reads the constant at each call
    (``is_offline_mode()``), transformers asks it; the environment variable covers child processes."""
    from huggingface_hub import constants  # noqa: PLC0415

    constants.HF_HUB_OFFLINE = True
    os.environ["HF_HUB_OFFLINE"] = "1"


def _cached(repo_id: str, repo_type: str, revision: str | None) -> bool:
    """Whether the local hub cache holds a snapshot of ``repo_id`` at ``revision``."""
    from huggingface_hub import scan_cache_dir, try_to_load_from_cache  # noqa: PLC0415
    from huggingface_hub.errors import CacheNotFound  # noqa: PLC0415

    if repo_type == "model":
        found = try_to_load_from_cache(repo_id, "config.json", revision=revision, repo_type=repo_type)
        return isinstance(found, str)
    try:
        repos = scan_cache_dir().repos
    except (CacheNotFound, OSError, ValueError):  # no cache directory yet
        return False
    return any(repo.repo_id == repo_id and repo.repo_type == repo_type for repo in repos)
