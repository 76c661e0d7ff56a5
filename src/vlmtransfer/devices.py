"""Which torch devices this machine has, and checking a ``device`` setting against them.

A device that does not exist (``foo``) or is not present (``cuda`` without a GPU or driver, ``cuda:3``
on a two-GPU machine) is bad input, not a bug: checked before any data or model is loaded, it becomes
one line naming the devices that would work, instead of torch's traceback from deep inside loading.
Imports torch lazily, so importing this module costs nothing.
"""

from __future__ import annotations

from vlmtransfer.errors import InputError

__all__ = ["available_devices", "check_device"]


def available_devices() -> list[str]:
    """``auto``, ``cpu`` and every accelerator torch can use here (``cuda``, ``cuda:0`` ..., ``mps``,
    ``xpu``), in that order."""
    import torch  # noqa: PLC0415

    names = ["auto", "cpu"]
    for kind in ("cuda", "xpu"):
        backend = getattr(torch, kind, None)
        if backend is not None and backend.is_available():
            names += [kind, *(f"{kind}:{index}" for index in range(backend.device_count()))]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    return names


def check_device(device: str, field: str = "device") -> str:
    """``device`` unchanged when torch can use it on this machine.

    Raises:
        InputError: naming ``field`` (the CLI shows its flag), the device and what is available, for a
            device string torch does not know and for a known kind (or index) this machine lacks.
    """
    import torch  # noqa: PLC0415

    available = available_devices()
    if device in available:
        return device
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise InputError(
            f"unknown device {device!r}; available here: {', '.join(available)}", field=field
        ) from None
    wanted = parsed.type if parsed.index is None else f"{parsed.type}:{parsed.index}"
    if wanted not in available:
        raise InputError(
            f"device {device!r} is not available on this machine; available here: {', '.join(available)}",
            field=field,
        )
    return device
