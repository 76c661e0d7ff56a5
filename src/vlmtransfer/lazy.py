"""Names a package exports but imports only on first use (PEP 562), so that importing the package, or a
light module beside it, never pulls in what its heavy modules import (torch)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, where: Mapping[str, str], namespace: MutableMapping[str, Any], exported: Sequence[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The package's ``__getattr__`` and ``__dir__``: a name in ``where`` (name -> module) is imported
    from its module when first asked for and then kept in ``namespace`` (the package's ``globals()``),
    so later lookups are plain attribute reads."""

    def __getattr__(name: str) -> Any:  # noqa: N807 - the module-level hook's name
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where[name]), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:  # noqa: N807
        return sorted({*namespace, *exported})

    return __getattr__, __dir__
