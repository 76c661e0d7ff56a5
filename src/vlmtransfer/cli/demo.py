"""``vlmtransfer demo``: the whole system on the embedded default, end to end, in minutes on a CPU."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vlmtransfer.cli.errors import reports_input_errors
from vlmtransfer.cli.labels import short_task

__all__ = ["EXAMPLES", "demo"]

EXAMPLES = """[bold]Examples[/bold]

  vlmtransfer demo                       [dim]# writes demo-out/ (data, study, analysis, report)[/dim]

  vlmtransfer demo --out /tmp/demo       [dim]# run again: finished work is reused[/dim]
"""


@reports_input_errors
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")] = Path("demo-out"),
) -> None:
    """The whole system on the tiny Qwen2.5-VL and the synthetic suite, from data to report."""
    from vlmtransfer.cli.analyze import analyze  # noqa: PLC0415
    from vlmtransfer.cli.predict import predict  # noqa: PLC0415
    from vlmtransfer.cli.report import report  # noqa: PLC0415
    from vlmtransfer.cli.study import execute_study  # noqa: PLC0415
    from vlmtransfer.store import StudyStore  # noqa: PLC0415
    from vlmtransfer.study.demo import demo_config, prepare_demo_data  # noqa: PLC0415

    started = time.perf_counter()
    progress = Console(stderr=True)
    out = out.resolve()
    generated = prepare_demo_data(out)
    folders = f"{escape(str(out / 'data'))}, {escape(str(out / 'video'))}"
    progress.print(f"synthetic data: {'generated' if generated else 'reused'} ({folders})")
    config = demo_config(out)
    execute_study(config, Path("demo"), reset_changed=True)
    # The study's own analysis folder, the one `analyze STUDY_DIR`, `report STUDY_DIR` and `select` use.
    analysis_dir = config.output / "analysis"
    result = analyze([config.output], out=str(analysis_dir), quiet=True)
    predict(config.output, quiet=True)  # gradient alignment, scored on the study: a figure of the report
    report(analysis_dir)
    with StudyStore(config.output) as store:
        table = store.accuracy_table()
    summary = DemoSummary(config, table, result, analysis_dir, out, prior=prior_cells(analysis_dir))
    summary.print(Console(), seconds=time.perf_counter() - started)


class DemoSummary:
    """What `make demo` prints when it is done, top to bottom: what ran, the baselines, the PGF matrix
    with its significant cells, each task's own-task effect, what to look at, and next steps."""

    def __init__(
        self,
        config: Any,
        table: Any,
        analysis: Any,
        analysis_dir: Path,
        out: Path,
        *,
        prior: dict[tuple[str, str], tuple[float, bool]] | None = None,
    ) -> None:
        self.config, self.table, self.analysis_dir, self.out = config, table, analysis_dir, out
        self.prior = prior or {}
        self.label, self.model = next(iter(analysis.models.items()))
        self.alpha = analysis.options.alpha
        cube = self.model.data.pgf
        self.sources, self.targets = list(cube.sources), list(cube.targets)
        self.mean = cube.values.mean(axis=0)

    def print(self, console: Console, *, seconds: float) -> None:
        from vlmtransfer.cli.summary import pgf_matrix, significance_line  # noqa: PLC0415

        console.rule("[bold]vlmtransfer demo[/bold]")
        console.print(self._what_ran())
        console.print(self._baselines())
        console.print(significance_line(self.model, self.alpha))
        width = 8 + 6 * len(self.targets)
        console.print(pgf_matrix(self.model, self.alpha), width=max(console.width, width), crop=False)
        console.print("[dim]diagonal: finetuned and evaluated on the same task (self-transfer)[/dim]")
        console.print(self._own_task_effects())
        console.print(self._own_task_line())
        console.rule("What to look at")
        for line in self._what_to_look_at():
            console.print(line)
        console.rule("Next steps")
        for line in self._next_steps():
            console.print(line)
        console.print(f"demo finished in {seconds:.0f} s")

    def _what_ran(self) -> str:
        tuned = self.table[self.table["source"] != "base"]
        runs = tuned.groupby(["source", "seed"]).ngroups
        questions = int(self.table[self.table["source"] == "base"]["n"].sum())
        train = self.config.train
        return (
            f"{escape(self.label)}: a baseline and {len(self.sources)} sources"
            f" x {len(self.config.seeds)} seeds"
            f" = {runs} LoRA finetunes (rank {self.config.lora.rank}, {train.max_steps} steps), each model"
            f" evaluated on {questions:,} questions of {len(self.targets)} tasks"
        )

    def _baselines(self) -> Table:
        from vlmtransfer.tasks import default_registry  # noqa: PLC0415

        registry = default_registry()
        base = self.table[self.table["source"] == "base"].set_index("target")["accuracy"]
        table = Table(title="Baseline accuracy of the tiny model", title_justify="left")
        for column in ("abbr.", "task", "chance %", "baseline %"):
            table.add_column(column, justify="left" if column in {"abbr.", "task"} else "right")
        for target in self.targets:
            spec = registry.find(target)
            chance = f"{100 / spec.choices:.1f}" if spec and spec.choices else "-"
            table.add_row(
                escape(spec.abbreviation if spec else target), escape(target), chance, f"{base[target]:.1f}"
            )
        return table

    def _own_task_effects(self) -> Table:
        cells = self.model.cells
        table = Table(
            title="Finetuned on a task, evaluated on that task (seed-mean PGF, 95 % interval, q;"
            " w/o prior: once each run's answer-letter prior is removed)"
            if self.prior
            else "Finetuned on a task, evaluated on that task (seed-mean PGF, 95 % interval, q)",
            title_justify="left",
        )
        columns = ["task", "PGF", "interval", "q", ""] + (["w/o prior"] if self.prior else [])
        for column in columns:
            table.add_column(column, justify="left" if column == "task" else "right")
        for i, j in self._diagonal():
            row = [
                escape(short_task(self.targets[j])),
                _signed(self.mean[i, j]),
                f"[{cells.ci_low[i, j]:+.2f}, {cells.ci_high[i, j]:+.2f}]",
                f"{cells.q[i, j]:.3f}",
                "*" if cells.significant[i, j] else "",
            ]
            if self.prior:
                corrected, significant = self.prior.get((self.sources[i], self.targets[j]), (math.nan, False))
                row.append(f"{corrected:+.2f}{'*' if significant else ' '}")
            table.add_row(*row)
        return table

    def _diagonal(self) -> list[tuple[int, int]]:
        return [(self.sources.index(t), j) for j, t in enumerate(self.targets) if t in self.sources]

    def _own_task_line(self) -> str:
        pairs = self._diagonal()
        if not pairs:
            return ""
        mean = sum(self.mean[i, j] for i, j in pairs) / len(pairs)
        rises = sum(1 for i, j in pairs if self.model.cells.significant[i, j] and self.mean[i, j] > 0)
        return (
            f"mean own-task PGF {mean:+.2f}; {rises} of {len(pairs)} tasks significantly improved by"
            f" finetuning on themselves (q < {self.alpha:g})"
        )

    def _what_to_look_at(self) -> list[str]:
        cells = self.model.cells
        off = [
            (i, j)
            for i in range(len(self.sources))
            for j in range(len(self.targets))
            if self.sources[i] != self.targets[j]
        ]
        flagged = sorted(
            ((i, j) for i, j in off if cells.significant[i, j]), key=lambda c: -abs(self.mean[c])
        )
        lines = []
        if flagged:
            lines.append(f"{len(flagged)} significant transfers (finetuned on -> evaluated on):")
            lines += [f"  {self._cell_text(i, j)}" for i, j in flagged[:8]]
        elif off:
            i, j = min(off, key=lambda c: cells.p[c])
            lines.append(
                f"none of the {len(off)} off-diagonal cells is significant: the transfers in the matrix are"
                f" within noise at these sizes (the smallest p: {self._cell_text(i, j)})."
            )
        lines += self._prior_lines()
        lines += self._target_only_lines()
        floor = [float(v) for v in self.model.detectable if math.isfinite(v)]
        if floor:
            lines.append(
                f"the smallest PGF these sizes detect with 80 % power: {min(floor):.2f}-{max(floor):.2f} per"
                " target (the noise floor table of `vlmtransfer analyze`; `vlmtransfer power` plans more)."
            )
        return lines

    def _target_only_lines(self) -> list[str]:
        """Transfer to the targets that are never finetuned on (the demo's video targets), in one line."""
        only = [j for j, target in enumerate(self.targets) if target not in self.sources]
        if not only:
            return []
        cells = self.model.cells
        block = [(i, j) for i in range(len(self.sources)) for j in only]
        flagged = [c for c in block if cells.significant[c]]
        names = ", ".join(escape(short_task(self.targets[j])) for j in only)
        if not flagged:
            return [f"targets never finetuned on ({names}): none of the {len(block)} cells is significant."]
        up = sum(1 for c in flagged if self.mean[c] > 0)
        top = max(flagged, key=lambda c: abs(self.mean[c]))
        return [
            f"targets never finetuned on ({names}): {len(flagged)} of {len(block)} cells significant"
            f" ({up} positive); the largest: {self._cell_text(*top)} (the report's target-only block)."
        ]

    def _prior_lines(self) -> list[str]:
        """How many significant own-task gains are a shift of the answer-letter prior."""
        if not self.prior:
            return []
        gains = [
            (i, j) for i, j in self._diagonal() if self.model.cells.significant[i, j] and self.mean[i, j] > 0
        ]
        kept = [c for c in gains if self.prior.get((self.sources[c[0]], self.targets[c[1]]), (0.0, False))[1]]
        return [
            f"{len(gains) - len(kept)} of the {len(gains)} significant own-task gains vanish once each"
            " run's answer-letter prior is removed (w/o prior above: a shift of which letter the model"
            f" says, not of what it sees; vlmtransfer prior {escape(str(self.config.output))},"
            " docs/why-transfer.md)."
        ]

    def _cell_text(self, i: int, j: int) -> str:
        cells = self.model.cells
        return (
            f"{escape(self.sources[i])} -> {escape(self.targets[j])} {self.mean[i, j]:+.2f}"
            f" [{cells.ci_low[i, j]:+.2f}, {cells.ci_high[i, j]:+.2f}], p {cells.p[i, j]:.3g},"
            f" q {cells.q[i, j]:.3g}"
        )

    def _selection_target(self) -> str:
        """The target to try data selection on: the one with the largest significant positive transfer
        from another task (a donor to train on), else the first target."""
        cells = self.model.cells
        donated = [
            (self.mean[i, j], self.targets[j])
            for i in range(len(self.sources))
            for j in range(len(self.targets))
            if self.sources[i] != self.targets[j] and cells.significant[i, j] and self.mean[i, j] > 0
        ]
        return max(donated)[1] if donated else self.targets[0]

    def _next_steps(self) -> list[str]:
        study, analysis = self.config.output, self.analysis_dir
        target = self._selection_target()
        return [
            f"open {escape(str(analysis / 'report.html'))}: heatmap (hover for intervals), transfer graph,"
            " personas, figures",
            f"vlmtransfer status {escape(str(study))}; "
            f"vlmtransfer analyze {escape(str(study))} --significant-only",
            f"vlmtransfer select --analysis {escape(str(analysis))} --model {escape(self.label)}"
            f" --target {escape(target)} --top-k 2",
            "your own model and tasks: copy configs/demo.yaml, set models and data, then"
            " vlmtransfer run STUDY.yaml (docs/study.md)",
        ]


def prior_cells(analysis_dir: Path) -> dict[tuple[str, str], tuple[float, bool]]:
    """Per (source, target) of the first model: PGF without the letter prior and whether it is
    significant, from ``analysis.json``'s diagnostics (empty when there are none)."""
    try:
        document = json.loads((analysis_dir / "analysis.json").read_text())
        models = (document.get("diagnostics") or {}).get("prior", {}).get("models", {})
    except (OSError, ValueError, AttributeError):
        return {}
    if not models:
        return {}
    cells = next(iter(models.values()))["cells"]
    return {
        (c["source"], c["target"]): (
            math.nan if c["pgf_corrected"] is None else c["pgf_corrected"],
            c["significant_corrected"],
        )
        for c in cells
    }


def _signed(value: float) -> str:
    colour = "green" if value > 0 else "red" if value < 0 else "white"
    return f"[{colour}]{value:+.2f}[/{colour}]"
