"""Named things in registration order, and one way to say that a name is unknown.

The training-set builders (``data.builders``), the synthetic tasks (``data.synthetic.tasks``), the model
presets (``models.presets``), the scorers (``evaluate.registry``), the executors (``study.executors``)
and the task specs (``tasks.registry``) are each a :class:`Registry`. A name none of them knows is an
:class:`~vlmtransfer.errors.InputError` (one line and exit code 2 in the CLI) in one style::

    unknown scorer 'dumy' (did you mean 'dummy'?); known: hf, dummy

Lookups that are not registries (a record's fields, a table's columns) word their own errors and take
the hint alone from :func:`did_you_mean`. Standard library only, so ``--help`` and the analysis can load it.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

from vlmtransfer.errors import InputError

__all__ = ["KNOWN_SHOWN", "Registry", "did_you_mean", "known_names", "near_matches"]

T = TypeVar("T")

KNOWN_SHOWN = 20
"""At most this many known names in an error; the rest are counted (a task registry holds dozens)."""


def near_matches(name: str, known: Iterable[str], *, n: int = 3, cutoff: float = 0.6) -> list[str]:
    """Up to ``n`` names of ``known`` close to ``name`` (difflib's ratio >= ``cutoff``), closest first."""
    return difflib.get_close_matches(name, list(known), n=n, cutoff=cutoff)


def did_you_mean(name: str, known: Iterable[str], *, n: int = 3, cutoff: float = 0.6) -> str:
    """``" (did you mean 'a', 'b'?)"`` for the near matches of ``name``, or ``""`` when there are none."""
    close = near_matches(name, known, n=n, cutoff=cutoff)
    return f" (did you mean {', '.join(map(repr, close))}?)" if close else ""


def known_names(names: Iterable[str], *, shown: int = KNOWN_SHOWN) -> str:
    """``"a, b, c"``; beyond ``shown`` names, the first ``shown`` and ``"and N more"``."""
    names = list(names)
    if len(names) <= shown:
        return ", ".join(names)
    return f"{', '.join(names[:shown])} and {len(names) - shown} more"


class Registry(Generic[T]):
    """Items by name, in registration order; iterating gives the names (as a dict's keys do), and
    ``registry[name]`` is :meth:`get` (an unknown name is the InputError, not a KeyError).

    Args:
        kind: what a name names, for errors (``"scorer"``: ``unknown scorer 'x'``).
        entries: ``(name, item)`` pairs registered in this order.
        source, where, field: what an unknown name's :class:`InputError` says is at fault (see there).
        suggest: at most this many near matches are suggested.
        cutoff: how close a name must be to be suggested (difflib's ratio).
        normalize: applied to a name before it is looked up or matched (``str.lower``: case-insensitive
            names, registered in normal form); errors quote the name as given.
    """

    def __init__(
        self,
        kind: str,
        entries: Iterable[tuple[str, T]] = (),
        *,
        source: str | None = None,
        where: str | None = None,
        field: str | None = None,
        suggest: int = 3,
        cutoff: float = 0.6,
        normalize: Callable[[str], str] | None = None,
    ) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._context = {"source": source, "where": where, "field": field}
        self._suggest = suggest
        self._cutoff = cutoff
        self._normalize = normalize or (lambda name: name)
        for name, item in entries:
            self.register(name, item)

    def register(self, name: str, item: T, *, replace: bool = False) -> T:
        """Add ``item`` as ``name`` (after any already there) and return it.

        Raises:
            InputError: ``name`` is registered already and ``replace`` is false.
        """
        if name in self._items and not replace:
            raise InputError(f"{self.kind} {name!r} is already registered")
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        """The item registered as ``name``.

        Raises:
            InputError: an unknown name, with its near matches and the known names (:meth:`unknown`).
        """
        item = self.find(name)
        if item is None:
            raise self.unknown(name)
        return item

    def find(self, name: str) -> T | None:
        """The item registered as ``name``, or None."""
        return self._items.get(self._normalize(name))

    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order."""
        return tuple(self._items)

    def values(self) -> tuple[T, ...]:
        """The registered items, in registration order."""
        return tuple(self._items.values())

    def items(self) -> tuple[tuple[str, T], ...]:
        """``(name, item)`` pairs, in registration order."""
        return tuple(self._items.items())

    def near_matches(self, name: str) -> list[str]:
        """Registered names close to ``name``, closest first."""
        return near_matches(self._normalize(name), self._items, n=self._suggest, cutoff=self._cutoff)

    def unknown(self, name: str) -> InputError:
        """The error for a name this registry does not know:
        ``unknown <kind> 'x' (did you mean 'y'?); known: a, b, c``."""
        hint = did_you_mean(self._normalize(name), self._items, n=self._suggest, cutoff=self._cutoff)
        return InputError(
            f"unknown {self.kind} {name!r}{hint}; known: {known_names(self._items)}", **self._context
        )

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._normalize(name) in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={list(self._items)!r})"
