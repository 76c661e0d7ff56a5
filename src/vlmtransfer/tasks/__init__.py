"""Task specs and the registry of known tasks (BLINK built in; users add their own as data)."""

from vlmtransfer.tasks.registry import (
    BUILTIN_SUITES,
    TaskRegistry,
    default_registry,
    load_task_file,
)
from vlmtransfer.tasks.spec import GRANULARITIES, LEVELS, TaskSpec

__all__ = [
    "BUILTIN_SUITES",
    "GRANULARITIES",
    "LEVELS",
    "TaskRegistry",
    "TaskSpec",
    "default_registry",
    "load_task_file",
]
