"""`TaskSpec`: the declarative description of one multiple-choice perception task."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["GRANULARITIES", "LEVELS", "TaskSpec"]

LEVELS: tuple[str, ...] = ("low", "mid", "high")
"""Perceptual levels, in the order reports show them (BLINK / the paper's Table 2)."""

GRANULARITIES: tuple[str, ...] = ("pixel", "crop", "image")
"""Spatial granularity of what a task asks about, finest first."""

_MAX_CHOICES = 5  # answers are letters A..E, as in BLINK


@dataclass(frozen=True)
class TaskSpec:
    """One task, as data.

    Attributes:
        name: unique task name; for BLINK the HF config name (e.g. ``"Relative_Depth"``).
        abbreviation: short label for figures (e.g. ``"RD"``).
        level: perceptual level (``low``/``mid``/``high``) or None when uncategorised.
        granularity: ``pixel``/``crop``/``image`` or None when uncategorised.
        choices: number of answer options (2-5).
        images: images per question.
        ceiling: the best achievable accuracy in percent, ``U_j`` in the PGF formula.
        suite: the suite the task belongs to (e.g. ``"blink"``).
        default: whether the task is part of its suite's default selection (BLINK's IQ_Test is not:
            it has no training source).
        extra: free-form metadata kept for user tasks; `data build` reads `extra.prompt` (a prompt template).
        sizes: the published size of each split (``{"val": 124}``), where known: what ``run --dry-run``
            sizes a study by before its data is downloaded. The data on disk always wins.
    """

    name: str
    abbreviation: str
    level: str | None = None
    granularity: str | None = None
    choices: int = 4
    images: int = 1
    ceiling: float = 100.0
    suite: str = "custom"
    default: bool = True
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    sizes: dict[str, int] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem:
            raise ValueError(f"task {self.name!r}: {problem}")

    def _problem(self) -> str | None:
        """The first thing wrong with this spec, or None. Types are checked before values, lazily,
        because specs come from user files where ``name: 123`` or ``choices: 4.5`` happen."""
        checks = (
            (
                lambda: isinstance(self.name, str) and bool(self.name) and self.name.strip() == self.name,
                "name must be a non-empty string without surrounding spaces",
            ),
            (
                lambda: isinstance(self.abbreviation, str) and bool(self.abbreviation.strip()),
                "abbreviation must be a non-empty string",
            ),
            (lambda: self.level is None or self.level in LEVELS, f"level must be one of {LEVELS}"),
            (
                lambda: self.granularity is None or self.granularity in GRANULARITIES,
                f"granularity must be one of {GRANULARITIES}",
            ),
            (
                lambda: _is_int(self.choices) and 2 <= self.choices <= _MAX_CHOICES,
                f"choices must be a whole number from 2 to {_MAX_CHOICES}",
            ),
            (lambda: _is_int(self.images) and self.images >= 1, "images must be a whole number >= 1"),
            (
                lambda: _is_number(self.ceiling) and 0 < self.ceiling <= 100,
                "ceiling must be a number in (0, 100]",
            ),
            (lambda: isinstance(self.suite, str) and bool(self.suite), "suite must be a non-empty string"),
            (lambda: isinstance(self.default, bool), "default must be true or false"),
            (lambda: isinstance(self.extra, dict), "extra must be a mapping"),
            (
                lambda: (
                    isinstance(self.sizes, dict)
                    and all(isinstance(k, str) and _is_int(n) and n >= 0 for k, n in self.sizes.items())
                ),
                "sizes must map split names to whole numbers >= 0",
            ),
        )
        return next((message for ok, message in checks if not ok()), None)

    def category(self, dimension: str) -> str | None:
        """The task's category along ``dimension`` (``"level"`` or ``"granularity"``)."""
        if dimension not in ("level", "granularity"):
            raise ValueError(f"unknown category dimension {dimension!r}")
        return getattr(self, dimension)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
