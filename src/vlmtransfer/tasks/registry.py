"""The task registry: every task vlmtransfer knows, built-in suites and user files alike.

A registry is an ordinary object (no module-level mutable state): :func:`default_registry` builds
a fresh one holding the built-in suites, and users extend it with :meth:`TaskRegistry.add_file`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from vlmtransfer.errors import InputError
from vlmtransfer.registry import Registry
from vlmtransfer.tasks.spec import TaskSpec

__all__ = ["BUILTIN_SUITES", "TaskRegistry", "default_registry", "load_task_file"]

BUILTIN_SUITES: tuple[str, ...] = ("blink", "synthetic", "synthetic_video", "vsibench")
_SPEC_FIELDS = set(TaskSpec.__dataclass_fields__)


class TaskRegistry:
    """An ordered, name-keyed collection of :class:`TaskSpec`."""

    def __init__(self, specs: Iterable[TaskSpec] = ()) -> None:
        self._specs: Registry[TaskSpec] = Registry("task")
        for spec in specs:
            self.register(spec)

    def register(self, spec: TaskSpec, *, replace: bool = False) -> None:
        """Add ``spec``; a second task of the same name is an error unless ``replace``."""
        self._specs.register(spec.name, spec, replace=replace)

    def add_file(self, path: str | Path, *, replace: bool = False) -> list[TaskSpec]:
        """Register every task of a YAML/JSON task file (see :func:`load_task_file`)."""
        specs = load_task_file(path)
        for spec in specs:
            self.register(spec, replace=replace)
        return specs

    def get(self, name: str) -> TaskSpec:
        """The spec called ``name``; the error lists near matches and the known tasks."""
        return self._specs.get(name)

    def find(self, name: str) -> TaskSpec | None:
        """The spec called ``name``, or None for tasks the registry does not know."""
        return self._specs.find(name)

    def suite(self, suite: str, *, include_non_default: bool = False) -> list[TaskSpec]:
        """Tasks of ``suite`` in registry order (its default selection unless asked otherwise)."""
        return [s for s in self._specs.values() if s.suite == suite and (s.default or include_non_default)]

    def categories(self, dimension: str) -> dict[str, str]:
        """``{task name: category}`` along ``dimension`` for every categorised task."""
        return {
            name: spec.category(dimension)
            for name, spec in self._specs.items()
            if spec.category(dimension) is not None
        }

    def ceilings(self) -> dict[str, float]:
        """``{task name: ceiling}`` for every task: the default ``U_j`` of PGF."""
        return {name: spec.ceiling for name, spec in self._specs.items()}

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[TaskSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)


def load_task_file(path: str | Path) -> list[TaskSpec]:
    """Read tasks from YAML or JSON (JSON is YAML): ``{suite: name, tasks: [{name: ..., ...}]}``.

    A bare list of task mappings is accepted too. The file's ``suite`` applies to tasks that do
    not name their own. Unknown or invalid fields are errors naming the file and the task.
    """
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InputError(f"cannot read task file: {' '.join(str(exc).split())}", source=path) from None
    except (ValueError, RecursionError) as exc:  # e.g. integers beyond Python's digit limit, deep nesting
        raise InputError(f"cannot read task file: {type(exc).__name__}", source=path) from None
    return _specs_from_document(document, source=path)


def _specs_from_document(document: Any, *, source: str | Path) -> list[TaskSpec]:
    if isinstance(document, list):
        document = {"tasks": document}
    if not isinstance(document, dict) or not isinstance(document.get("tasks"), list):
        raise InputError("expected a mapping with a 'tasks' list", source=source)
    suite = document.get("suite", "custom")
    specs = [_spec_from_entry(entry, suite, source, i) for i, entry in enumerate(document["tasks"])]
    seen: set[str] = set()
    for i, spec in enumerate(specs):
        if spec.name in seen:
            raise InputError(f"task {spec.name!r} is defined twice", source=source, where=f"tasks[{i}]")
        seen.add(spec.name)
    return specs


def _spec_from_entry(entry: Any, suite: str, source: str | Path, index: int) -> TaskSpec:
    where = f"tasks[{index}]"
    if not isinstance(entry, dict):
        raise InputError("each task must be a mapping", source=source, where=where)
    unknown = sorted(set(entry) - _SPEC_FIELDS)
    if unknown:
        raise InputError(f"unknown field(s) {unknown}", source=source, where=where)
    try:
        return TaskSpec(**{"suite": suite, **entry})
    except (TypeError, ValueError) as exc:
        raise InputError(str(exc), source=source, where=where) from None


def default_registry() -> TaskRegistry:
    """A fresh registry holding the built-in suites (BLINK, the synthetic suite and VSI-Bench)."""
    registry = TaskRegistry()
    for suite in BUILTIN_SUITES:
        text = resources.files("vlmtransfer.tasks").joinpath(f"{suite}.yaml").read_text("utf-8")
        for spec in _specs_from_document(yaml.safe_load(text), source=f"<builtin {suite}>"):
            registry.register(spec)
    return registry
