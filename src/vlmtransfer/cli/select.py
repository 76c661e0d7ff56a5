"""``vlmtransfer select``: PGF-guided training mixtures for a target, and (``--run``) testing them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vlmtransfer.cli.errors import reports_input_errors
from vlmtransfer.cli.lists import one_task
from vlmtransfer.errors import InputError

if TYPE_CHECKING:
    from vlmtransfer.select.experiment import Arm, ArmResult
    from vlmtransfer.select.recipe import Candidate, Recipe, SelectionRule
    from vlmtransfer.study.plan import Job

__all__ = ["EXAMPLES", "select"]

EXAMPLES = """[bold]Examples[/bold]

  [dim]# which BLINK tasks' data to train the 7B model on to improve Counting[/dim]

  vlmtransfer select --analysis out/paper --model 7B --target Counting --top-k 3 --budget 1000

  [dim]# test the recipe: PGF mixture vs 3 random mixtures vs direct finetuning, every seed of the study[/dim]

  vlmtransfer select --analysis demo-out/study/analysis --model tiny --target Syn_Counting \\
      --threshold 0 --run configs/demo.yaml
"""


@reports_input_errors
def select(
    analysis: Annotated[Path, typer.Option("--analysis", help="An analysis directory (from analyze).")],
    model: Annotated[str, typer.Option("--model", help="Model label in the analysis.")],
    target: Annotated[
        str,
        typer.Option("--target", help="The task to improve (its own data is not used).", callback=one_task),
    ],
    threshold: Annotated[
        float | None, typer.Option("--threshold", help="Use every source with seed-mean PGF above this.")
    ] = None,
    top_k: Annotated[
        int | None, typer.Option("--top-k", help="Use the k sources with the highest PGF.")
    ] = None,
    weighting: Annotated[
        str, typer.Option("--weighting", help="uniform, or pgf (proportional).")
    ] = "uniform",
    budget: Annotated[
        int | None,
        typer.Option("--budget", help="Total training examples (default with --run: the target's)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    run: Annotated[
        Path | None, typer.Option("--run", help="Study config: run the experiment with its model and data.")
    ] = None,
    draws: Annotated[
        int, typer.Option("--draws", help="Random mixtures to compare against (with --run).")
    ] = 3,
    reset_changed: Annotated[
        bool, typer.Option("--reset-changed", help="With --run: redo stored runs made with other settings.")
    ] = False,
) -> None:
    """Rank sources by PGF on the target, pick a mixture and split the budget; optionally test it."""
    from vlmtransfer.select.recipe import SelectionRule, choose_recipe, load_candidates  # noqa: PLC0415

    if threshold is None and top_k is None:
        threshold = 0.0
    rule = SelectionRule(threshold=threshold, top_k=top_k, weighting=weighting)  # type: ignore[arg-type]
    if budget is not None and budget < 1:
        raise InputError("must be >= 1", source="--budget")
    if draws < 1:
        raise InputError("must be >= 1", source="--draws")
    ranking = load_candidates(analysis, model, target)
    if run is None:
        recipe = choose_recipe(model, target, ranking, rule, budget)
        _print_recipe(recipe, as_json)
        return
    _run_experiment(run, analysis, model, target, ranking, rule, budget, draws, as_json, reset_changed)


def _run_experiment(
    config_path: Path,
    analysis: Path,
    model: str,
    target: str,
    ranking: list[Candidate],
    rule: SelectionRule,
    budget: int | None,
    draws: int,
    as_json: bool,
    reset_changed: bool,
) -> None:
    from vlmtransfer.select.experiment import run_selection  # noqa: PLC0415
    from vlmtransfer.study.config import load_study_config  # noqa: PLC0415
    from vlmtransfer.study.runner import prepare_models  # noqa: PLC0415

    console = Console(stderr=True)

    def started(arms: list[Arm], jobs: list[Job]) -> None:  # the experiment is checked: about to run
        for note in prepare_models(load_study_config(config_path), config_path):
            typer.echo(f"note: {note}", err=True)
        console.log(
            f"data selection for {target}: {len(arms)} arms, {len(jobs)} runs (finished ones are reused)"
        )

    selection = run_selection(
        config_path,
        analysis,
        model,
        target,
        ranking=ranking,
        rule=rule,
        budget=budget,
        draws=draws,
        reset_changed=reset_changed,
        on_start=started,
        on_result=lambda r, k, n: console.log(f"{k}/{n} {r.source} seed {r.seed}"),
    )
    if as_json:
        typer.echo(json.dumps(selection.document, indent=2))
        return
    _print_recipe(selection.recipe, False)
    _print_arms(selection.arms, target)


def _print_recipe(recipe: Recipe, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(recipe.to_dict(), indent=2))
        return
    table = Table(
        title=f"Training mixture for {escape(recipe.target)} ({escape(recipe.model)})", title_justify="left"
    )
    for column in ("source", "PGF -> target", "seed std", "weight", "examples"):
        table.add_column(column, justify="left" if column == "source" else "right")
    evidence = {c.task: c for c in recipe.ranking}
    for k, (task, weight) in enumerate(zip(recipe.sources, recipe.weights, strict=True)):
        std = evidence[task].pgf_std
        table.add_row(
            escape(task),
            f"{evidence[task].pgf:+.4f}",
            "-" if std is None else f"{std:.4f}",
            f"{weight:.3f}",
            "-" if recipe.examples is None else str(recipe.examples[k]),
        )
    Console().print(table)
    left_out = [c for c in recipe.ranking if c.task not in recipe.sources]
    if left_out:
        Console().print("not chosen: " + ", ".join(f"{escape(c.task)} ({c.pgf:+.4f})" for c in left_out))


def _print_arms(results: list[ArmResult], target: str) -> None:
    table = Table(
        title=f"Accuracy on {escape(target)}: where each arm lands (base = 0, direct = 1)",
        title_justify="left",
    )
    for column in ("arm", "sources", "accuracy %", "seed std", "position"):
        table.add_column(column, justify="left" if column in {"arm", "sources"} else "right")
    for r in results:
        table.add_row(
            escape(r.name),
            escape(", ".join(r.sources)),
            f"{r.accuracy:.1f}",
            "-" if r.accuracy_std is None else f"{r.accuracy_std:.1f}",
            "-" if r.position is None else f"{r.position:+.2f}",
        )
    Console().print(table)
