"""``vlmtransfer run`` and ``vlmtransfer status``: a whole transfer study from one YAML file."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vlmtransfer.cli.errors import reports_input_errors
from vlmtransfer.errors import InputError

if TYPE_CHECKING:
    from vlmtransfer.store import RunRecord
    from vlmtransfer.study.config import StudyConfig
    from vlmtransfer.study.runner import StudyPlan

__all__ = ["RUN_EXAMPLES", "STATUS_EXAMPLES", "run", "status"]

RUN_EXAMPLES = """[bold]Examples[/bold]

  vlmtransfer run configs/demo.yaml --dry-run     [dim]# the plan and its size[/dim]

  vlmtransfer run configs/demo.yaml               [dim]# run (or resume) to completion[/dim]

  vlmtransfer run configs/paper.yaml --reset-changed   [dim]# redo runs made with other settings[/dim]
"""

STATUS_EXAMPLES = """[bold]Examples[/bold]

  vlmtransfer status demo-out/study

  vlmtransfer status configs/demo.yaml
"""


@reports_input_errors
def run(
    config_path: Annotated[Path, typer.Argument(help="Study config (YAML).", metavar="STUDY.yaml")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan and its size; run nothing.")
    ] = False,
    reset_changed: Annotated[
        bool, typer.Option("--reset-changed", help="Redo stored runs made with different settings.")
    ] = False,
) -> None:
    """Run a transfer study: baselines, then per (source, seed) a LoRA finetune evaluated on all targets."""
    from vlmtransfer.study.config import load_study_config  # noqa: PLC0415
    from vlmtransfer.study.plan import missing_data_dirs  # noqa: PLC0415
    from vlmtransfer.study.runner import check_not_running, make_plan  # noqa: PLC0415

    config = load_study_config(config_path)
    if not dry_run:
        check_not_running(config.output)  # before the plan is printed
    plan = _preview_plan(config, config_path) if dry_run and missing_data_dirs(config) else None
    plan = plan or make_plan(config, config_path)
    _print_plan(config, plan)
    if dry_run:
        from vlmtransfer.cli.power import print_study_noise_floor  # noqa: PLC0415

        print_study_noise_floor(config, plan.tasks.targets, Console())
        if not missing_data_dirs(config):
            from vlmtransfer.cli.cache_estimate import print_vision_cache_estimate  # noqa: PLC0415

            print_vision_cache_estimate(config, plan.tasks.targets, Console())
        return
    execute_study(config, config_path, reset_changed=reset_changed)


def _preview_plan(config: StudyConfig, config_path: Path) -> StudyPlan:
    """The plan of a study whose data is not there yet (``configs/paper.yaml`` before BLINK is
    downloaded): the tasks the config lists, every job to run, questions from the task registry's
    published split sizes. Said on stderr, so nobody takes it for the real plan."""
    from vlmtransfer.study.plan import missing_data_dirs, plan_jobs, preview_tasks  # noqa: PLC0415
    from vlmtransfer.study.runner import StudyPlan  # noqa: PLC0415

    tasks = preview_tasks(config, config_path)
    missing = ", ".join(str(d) for d in missing_data_dirs(config))
    typer.echo(
        f"note: preview without the data ({missing} not found): the config's tasks, sources = targets"
        " unless data.sources lists them, questions from the task registry's published split sizes",
        err=True,
    )
    jobs = plan_jobs(config, tasks)
    return StudyPlan(tasks, jobs, done=[], todo=list(jobs))


def execute_study(config: StudyConfig, config_path: Path, *, reset_changed: bool = False) -> None:
    """Run a loaded study config with a progress bar (shared with ``demo``)."""
    from vlmtransfer.cli.progress import step_progress  # noqa: PLC0415
    from vlmtransfer.study.runner import (  # noqa: PLC0415
        check_not_running,
        check_stale,
        make_plan,
        prepare_models,
        run_study,
    )

    check_not_running(config.output)  # before a progress bar is drawn
    plan = make_plan(config, config_path)
    check_stale(plan, config_path, reset_changed=reset_changed)
    for note in prepare_models(config, config_path):
        typer.echo(f"note: {note}", err=True)
    console = Console(stderr=True)
    started = time.perf_counter()
    with step_progress(console) as progress:
        bar = progress.add_task("study", total=len(plan.jobs), completed=len(plan.done), status="")

        def on_result(run: RunRecord, finished: int, total: int) -> None:
            progress.update(bar, completed=finished, status=_describe(run))
            if not console.is_terminal:  # no live bar in CI logs or through a pipe: one plain line a job
                elapsed = time.perf_counter() - started
                line = f"[{finished}/{total}] {_describe(run)} ({elapsed:.0f} s)"
                console.print(line, markup=False, highlight=False)

        run_study(config, config_path, reset_changed=reset_changed, on_result=on_result)
    console.print(f"study complete: {escape(str(config.output))}")


def _describe(run: RunRecord) -> str:
    seed = "" if run.seed is None else f" seed {run.seed}"
    mean = sum(a for a, _ in run.accuracies.values()) / max(1, len(run.accuracies))
    return f"{run.model} {run.source}{seed}: mean accuracy {mean:.1f}%"


@reports_input_errors
def status(
    target: Annotated[Path, typer.Argument(help="A study directory or its config (YAML).")],
) -> None:
    """How far a study is: finished, missing and stale runs per model."""
    from vlmtransfer.study.config import load_study_config  # noqa: PLC0415
    from vlmtransfer.study.runner import make_plan, read_config_copy  # noqa: PLC0415

    if target.is_dir():
        recorded = read_config_copy(target)
        config = recorded.model_copy(update={"output": target.resolve()})  # this directory's store
        if recorded.output != config.output:
            typer.echo(
                f"warning: {target} records output {recorded.output} (copied or moved?); "
                f"showing the store in {target}",
                err=True,
            )
    elif target.is_file():
        config = load_study_config(target)
    else:
        raise InputError("no such study directory or config", source=target)
    _print_plan(config, make_plan(config, target))


def _print_plan(config: StudyConfig, plan: StudyPlan) -> None:
    tasks = plan.tasks
    console = Console()
    console.print(
        f"[bold]{escape(config.name)}[/bold] -> {escape(str(config.output))}: "
        f"{len(tasks.targets)} targets, {len(tasks.sources)} sources, seeds "
        f"{', '.join(map(str, config.seeds))}, executor {config.executor.kind}"
    )
    table = Table()
    for column in ("model", "baseline", "finetunes done", "to run", "stale"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for model in config.models:
        jobs = [j for j in plan.jobs if j.model == model.key]
        done = {j.key for j in plan.done if j.model == model.key}
        todo = [j for j in plan.todo if j.model == model.key]
        stale = [j for j in plan.stale if j.model == model.key]
        finetunes = [j for j in jobs if not j.is_baseline]
        baseline = "done" if any(j.is_baseline and j.key in done for j in jobs) else "to run"
        table.add_row(
            escape(model.key),
            baseline,
            f"{sum(j.key in done for j in finetunes)}/{len(finetunes)}",
            str(len(todo)),
            str(len(stale)),
        )
    console.print(table)
    console.print(
        f"{len(plan.jobs)} jobs: {len(plan.done)} done, {len(plan.todo)} to run "
        f"({sum(not j.is_baseline for j in plan.todo)} finetunes)"
    )
    console.print(_size_line(config, plan))


def _size_line(config: StudyConfig, plan: StudyPlan) -> str:
    """How much evaluation the jobs to run mean: questions per job, answers in all."""
    from vlmtransfer.cli.power import eval_questions  # noqa: PLC0415

    counts = [eval_questions(config, target) for target in plan.tasks.targets]
    unknown = f" ({counts.count(0)} target(s) of unknown size)" if 0 in counts else ""
    per_job = sum(counts)
    return (
        f"each job evaluates {per_job:,} questions{unknown}: {per_job * len(plan.todo):,} answers to compute"
    )
