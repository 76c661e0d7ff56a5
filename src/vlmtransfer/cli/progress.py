"""Progress bars and quiet ML libraries for the long-running verbs."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

if TYPE_CHECKING:
    from vlmtransfer.finetune.trainer import LossPoint

__all__ = ["quiet_ml_libraries", "step_progress", "training_callback"]


def quiet_ml_libraries() -> None:
    """Silence transformers' own progress bars and advisory logging; our bars say what is happening."""
    from transformers.utils import logging  # noqa: PLC0415 - heavy import

    logging.set_verbosity_error()
    logging.disable_progress_bar()


def step_progress(console: Console | None = None) -> Progress:
    """A bar with counts, elapsed and remaining time, and a free-text status (loss, throughput)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console or Console(stderr=True),
        transient=False,
    )


def training_callback(progress: Progress, description: str) -> Callable[[LossPoint, int], None]:
    """An ``on_step`` callback for the trainer that shows loss and examples per second."""
    task_id = progress.add_task(description, total=None, status="")

    def on_step(point: LossPoint, total: int) -> None:
        rate = point.examples / point.seconds if point.seconds else 0.0
        status = f"loss {point.loss:.4f}  {rate:.1f} ex/s"
        progress.update(task_id, total=total, completed=point.step, status=status)

    return on_step
