"""The builder contract: what every BLINK task's training-set builder provides, and the types it trades in.

A builder turns one source dataset (the *train* split of the dataset BLINK built the task from) into
questions in BLINK's form. It does two things, and the pipeline (:mod:`.pipeline`) does the rest —
shuffling, answer balancing, the ``--n`` cap, the leakage guard, prompts, writing:

- ``scan(root)`` reads the annotations only (no pixels), checks that the files it needs exist (an
  :class:`~vlmtransfer.errors.InputError` names the missing one) and returns a :class:`SourceIndex` of
  lightweight :class:`Item` s, one per question it could ask.
- ``render(index, item, answer, ctx)`` loads the item's images, draws BLINK's markers and returns an
  :class:`Example` whose correct answer is the letter ``answer`` the pipeline chose. A problem with
  this one item (an unreadable image, points too close to mark) raises :class:`SkipItem`; the pipeline
  counts it by reason and moves on.

Builders are plain objects satisfying :class:`Builder` (no base class): each documents, in its
:class:`SourceInfo`, the files it expects, where to download them and their license.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from vlmtransfer.data.builders.images import Photo, open_photo
from vlmtransfer.errors import InputError

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "Builder",
    "Example",
    "Item",
    "RenderContext",
    "SkipItem",
    "SourceIndex",
    "SourceInfo",
    "find_file",
    "item_rng",
    "relative_to",
]


@dataclass(frozen=True)
class SourceInfo:
    """Where a builder's data comes from, for its help text, docs and error messages.

    Attributes:
        dataset: the source dataset's name, recorded in every record's ``meta``.
        files: the layout under ``--source`` the builder reads, one line per file or folder.
        download: where to get it.
        license: the dataset's terms, as far as vlmtransfer knows them (check the source's own terms).
        split: which split is read, and how the test split BLINK drew from is kept out.
    """

    dataset: str
    files: tuple[str, ...]
    download: str
    license: str
    split: str


@dataclass(frozen=True)
class Item:
    """One question a builder can ask, before any pixel is read.

    Attributes:
        key: unique and stable within the source (e.g. the annotation's id); it seeds the item's own
            random stream, so an item renders the same way whatever else is built.
        payload: the builder's annotation for this question.
        letters: the answer letters this item can take, or None for any of the task's letters (most
            builders can put the correct option at any position; Spatial_Relation's ``yes`` cannot move).
        group: items sharing a group (e.g. the same photo) count against the builder's ``max_per_group``.
    """

    key: str
    payload: Any
    letters: str | None = None
    group: str | None = None


@dataclass
class SourceIndex:
    """What ``scan`` found: the items, shared pools (e.g. distractor images), and what it left out."""

    root: Path
    items: list[Item]
    pools: dict[str, Any] = field(default_factory=dict)
    excluded: Counter[str] = field(default_factory=Counter)


@dataclass
class Example:
    """A rendered question, before the pipeline turns it into an MCQ record.

    Attributes:
        images: the question's images in BLINK's order, markers drawn.
        choices: the option texts (BLINK's for the task).
        answer: the correct letter (the one the pipeline asked for).
        slots: values of the prompt template's placeholders (``question``, ``object``, ``action``).
        sources: the source files used, relative to the source root (provenance).
        raw: the unmarked source images, for the leakage guard (the marked ones are checked too).
        meta: what the question was built from, in output pixel coordinates (markers, boxes, labels).
    """

    images: list[Image.Image]
    choices: tuple[str, ...]
    answer: str
    slots: dict[str, str] = field(default_factory=dict)
    sources: tuple[str, ...] = ()
    raw: list[Image.Image] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


class SkipItem(Exception):  # noqa: N818 - a control-flow signal, not an error
    """This item cannot become a question; the pipeline counts ``reason`` and takes the next item."""

    def __init__(self, reason: str, path: str | Path | None = None):
        super().__init__(reason)
        self.reason = reason
        self.path = None if path is None else str(path)


@dataclass(frozen=True)
class RenderContext:
    """What ``render`` may use besides the index: the item's random stream and the image options."""

    root: Path
    rng: np.random.Generator
    max_side: int | None = None

    def photo(self, path: str | Path, *, upright: bool = False) -> Photo:
        """Load a source image (relative to the source root unless absolute), capped at ``max_side``.

        Raises:
            SkipItem: the file is missing or not a readable image.
        """
        path = Path(path)
        full = path if path.is_absolute() else self.root / path
        try:
            return open_photo(full, self.max_side, upright=upright)
        except FileNotFoundError:
            raise SkipItem("image file missing", full) from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise SkipItem(f"unreadable image ({type(exc).__name__})", full) from None

    def choice(self, options: Sequence[Any]) -> Any:
        """One element of ``options``, from the item's stream."""
        return options[int(self.rng.integers(len(options)))]


class Builder(Protocol):
    """A task's training-set builder (see the module docstring for the contract)."""

    task: str
    source: SourceInfo
    max_per_group: int | None

    def scan(self, root: Path) -> SourceIndex: ...

    def render(self, index: SourceIndex, item: Item, answer: str, ctx: RenderContext) -> Example: ...


def item_rng(seed: int, key: str) -> np.random.Generator:
    """The random stream of one item: a function of the seed and the item's key only."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return np.random.default_rng(np.random.SeedSequence([seed, int.from_bytes(digest[:8], "little")]))


def find_file(root: Path, candidates: Iterable[str], what: str, source: SourceInfo) -> Path:
    """The first of ``candidates`` (paths relative to ``root``) that exists.

    Raises:
        InputError: none exists; the message names the expected file and where to download it.
    """
    candidates = list(candidates)
    for relative in candidates:
        path = root / relative
        if path.exists():
            return path
    alternatives = f" (or {', '.join(candidates[1:])})" if len(candidates) > 1 else ""
    raise InputError(
        f"missing {candidates[0]}{alternatives}: {what}; download {source.dataset} from {source.download}",
        source=root,
    )


def relative_to(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when inside it, for provenance; else as given."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
