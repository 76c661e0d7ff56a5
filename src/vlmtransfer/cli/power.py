"""``vlmtransfer power``: how many questions or seeds a study needs to see a PGF of a given size."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vlmtransfer.analysis.power import (
    DEFAULT_POWER,
    detectable_pgf,
    pgf_power,
    questions_needed,
    seeds_needed,
)
from vlmtransfer.cli.errors import reports_input_errors
from vlmtransfer.errors import InputError

if TYPE_CHECKING:
    from vlmtransfer.study.config import StudyConfig

__all__ = ["EXAMPLES", "eval_questions", "power", "print_study_noise_floor"]

EXAMPLES = """[bold]Examples[/bold]

  [dim]# the smallest PGF a BLINK-sized target (150 questions, base 50 %) shows with 4 seeds[/dim]

  vlmtransfer power --questions 150 --base-accuracy 50 --seeds 4

  [dim]# how many questions or seeds to detect PGF 0.1, if finetuning changes 15 % of the answers[/dim]

  vlmtransfer power --questions 150 --base-accuracy 50 --seeds 4 --pgf 0.1 --flip-rate 0.15
"""


@reports_input_errors
def power(
    questions: Annotated[int, typer.Option("--questions", "-n", help="Questions per target.")],
    base_accuracy: Annotated[
        float, typer.Option("--base-accuracy", "-a", help="Base model's accuracy on the target, percent.")
    ],
    seeds: Annotated[int, typer.Option("--seeds", "-s", help="Finetuning seeds per source.")] = 1,
    pgf: Annotated[
        float | None,
        typer.Option("--pgf", help="A PGF to detect: its power, and the questions or seeds needed."),
    ] = None,
    ceiling: Annotated[float, typer.Option("--ceiling", help="The target's ceiling U, percent.")] = 100.0,
    alpha: Annotated[float, typer.Option("--alpha", help="Two-sided level of the per-cell test.")] = 0.05,
    target_power: Annotated[
        float, typer.Option("--power", help="Wanted probability of detection.")
    ] = DEFAULT_POWER,
    flip_rate: Annotated[
        float | None,
        typer.Option(
            "--flip-rate",
            help="Share of answers a finetuned run changes (analyze measures it; default: answers"
            " independent of the base run's, the pessimistic case).",
        ),
    ] = None,
) -> None:
    """Power of the per-cell test: the smallest detectable PGF, or what it takes to detect --pgf."""
    _check(questions, base_accuracy, seeds, ceiling, alpha, target_power, flip_rate, pgf)
    settings = {"ceiling": ceiling, "alpha": alpha, "flip_rate": flip_rate}
    console = Console()
    pairing = (
        "independent of the base run's" if flip_rate is None else f"{flip_rate:.0%} of them changed per run"
    )
    console.print(
        f"{questions} questions, base accuracy {base_accuracy:g} % (ceiling {ceiling:g} %), {seeds} seed(s),"
        f" answers {pairing}; two-sided alpha {alpha:g}"
    )
    console.print(f"one question's worth of PGF: {(100 / questions) / (ceiling - base_accuracy):.3f}")
    floor = detectable_pgf(questions, base_accuracy, seeds, power=target_power, **settings)
    console.print(f"smallest PGF detected with {target_power:.0%} power: " + _value(floor))
    if pgf is None:
        return
    found = pgf_power(pgf, questions, base_accuracy, seeds, **settings)
    console.print(f"power to detect PGF {pgf:g}: {found:.0%}")
    needed = questions_needed(pgf, base_accuracy, seeds, power=target_power, **settings)
    console.print(f"questions per target for {target_power:.0%} power with {seeds} seed(s): {needed}")
    more = seeds_needed(pgf, questions, base_accuracy, power=target_power, **settings)
    console.print(
        f"seeds for {target_power:.0%} power with {questions} questions: "
        + (str(more) if more is not None else "none suffice (the base run's noise stays): add questions")
    )


def _value(value: float) -> str:
    return "not reachable (even PGF 1 is missed): add questions" if math.isnan(value) else f"{value:.3f}"


def _check(
    questions: int,
    base_accuracy: float,
    seeds: int,
    ceiling: float,
    alpha: float,
    target_power: float,
    flip_rate: float | None,
    pgf: float | None,
) -> None:
    if questions < 1:
        raise InputError(f"must be at least 1, got {questions}", source="--questions")
    if seeds < 1:
        raise InputError(f"must be at least 1, got {seeds}", source="--seeds")
    if not 0 < ceiling <= 100:
        raise InputError(f"must be in (0, 100], got {ceiling:g}", source="--ceiling")
    if not 0 <= base_accuracy < ceiling:
        raise InputError(
            f"must be in [0, ceiling {ceiling:g}), got {base_accuracy:g}", source="--base-accuracy"
        )
    if not 0 < alpha < 1:
        raise InputError(f"must be in (0, 1), got {alpha:g}", source="--alpha")
    if not alpha < target_power < 1:
        raise InputError(f"must be in (alpha, 1), got {target_power:g}", source="--power")
    if flip_rate is not None and not 0 <= flip_rate <= 1:
        raise InputError(f"must be in [0, 1], got {flip_rate:g}", source="--flip-rate")
    if pgf is not None and not (pgf != 0 and -1 <= pgf <= 1):
        raise InputError(f"must be non-zero and in [-1, 1], got {pgf:g}", source="--pgf")


def print_study_noise_floor(config: StudyConfig, targets: list[str], console: Console) -> None:
    """Per target of a planned study: questions, base accuracy (measured if the baseline is stored, else
    assumed halfway between chance and the ceiling), and the smallest PGF found with 80 % power."""
    from vlmtransfer.tasks import default_registry  # noqa: PLC0415

    registry, measured = default_registry(), _stored_baselines(config)
    table = Table(
        title=f"Noise floor: smallest PGF found with 80 % power ({len(config.seeds)} seed(s), alpha 0.05,"
        " answers taken as independent of the base run's)",
        title_justify="left",
    )
    for column in ("target", "questions", "base acc.", "1 question", "detectable PGF"):
        table.add_column(column, justify="left" if column == "target" else "right")
    for target in targets:
        spec = registry.find(target)
        ceiling = spec.ceiling if spec and spec.ceiling else 100.0
        n = eval_questions(config, target)
        chance = 100.0 / spec.choices if spec and spec.choices else 50.0
        accuracy = measured.get(target)
        shown = f"{accuracy:.1f}" if accuracy is not None else f"~{(chance + ceiling) / 2:.0f} (assumed)"
        accuracy = (chance + ceiling) / 2 if accuracy is None else min(accuracy, ceiling - 1e-6)
        floor = detectable_pgf(n, accuracy, len(config.seeds), ceiling=ceiling) if n else math.nan
        step = (100 / n) / (ceiling - accuracy) if n else math.nan
        table.add_row(escape(target), str(n or "?"), shown, _fixed(step), _fixed(floor))
    console.print(table)


def _fixed(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:.3f}"


def eval_questions(config: StudyConfig, task: str) -> int:
    """Questions of ``task``'s evaluation split (non-empty JSONL lines, capped by ``eval_limit``); before
    the data exists, the split's published size from the task registry; 0 when neither is known."""
    from vlmtransfer.tasks import default_registry  # noqa: PLC0415

    split = config.data.eval_split
    count = _split_lines(config.data.eval_dirs, task, split)
    if count is None:
        spec = default_registry().find(task)
        count = spec.sizes.get(split, 0) if spec else 0
    return min(count, config.data.eval_limit or count)


def _split_lines(dirs: list[Path], task: str, split: str) -> int | None:
    for directory in dirs:
        path = Path(directory) / task / f"{split}.jsonl"
        if path.is_file():
            with path.open(encoding="utf-8") as lines:
                return sum(1 for line in lines if line.strip())
    return None


def _stored_baselines(config: StudyConfig) -> dict[str, float]:
    """Base accuracy per target of the study's first model, where its store already holds the baseline."""
    from vlmtransfer.store import STORE_FILE, StudyStore  # noqa: PLC0415

    if not (Path(config.output) / STORE_FILE).is_file():
        return {}
    with StudyStore(config.output) as store:
        table = store.accuracy_table()
    base = table[(table["source"] == "base") & (table["model"] == config.models[0].key)]
    return {str(t): float(a) for t, a in zip(base["target"], base["accuracy"], strict=True)}
