"""Pretraining the embedded tiny Qwen2.5-VL on the synthetic suite, one task at a time.

The point is a base model that behaves like a real VLM on BLINK: above chance on most tasks, below the
ceiling on most, so that finetuning on one task has room to help or hurt another. The pretraining data is
the synthetic suite's ``pretrain`` split, drawn from its own random streams, so it never overlaps the
``train`` split that LoRA finetuning uses or the ``val`` split that evaluation uses.

Why a curriculum: a 0.6 M-parameter model learns one of these tasks only after a plateau of several hundred
steps at chance (measured: a size comparison sat at chance for 800 steps at a constant learning rate, then
reached 100 % within 300 more). In an equal mixture of 12 tasks every task gets a twelfth of the steps, and
after 6,000 steps only the easiest one had crossed its plateau. So the tasks are taught in order (easy
first, so later tasks can reuse earlier features), each in a *stage* of its own at a constant rate; each
example of a stage is drawn from the tasks already taught with probability ``replay_share``, so they are
not forgotten. A stage ends when the task's accuracy on held-out ``pretrain`` questions reaches
``stage_target`` of the way from chance to 100 %, when it has made no progress for ``stage_patience``
steps, or after ``stage_max_steps`` (the task is then left where it is). A short mixture phase with a
cosine decay consolidates everything. Stopping at a target rather than at the ceiling leaves finetuning
headroom.

Two things keep a stage from wearing down what earlier ones taught (``keep_best``, on by default;
``--keep-last`` turns it off). Every stage ends at its best held-out check over all tasks kept so far
(:func:`breadth_score`), and a stage that gains too little is undone. A stage whose own task gained is
first followed by a short *settling* mixture of its task and the kept ones (``settle_steps``), because
two tasks drawn by one renderer overwrite each other within a stage and give the loss back in a mixture:
without settling, relative depth (95 % held out) was undone for the 31 points it had cost multi-view
reasoning.

Measured with the defaults (docs/synthetic-suite.md; 77 minutes on one thread of a shared machine), val
accuracy: relative depth 92 %, multi-view reasoning 75 %, object localisation 72.5 %, visual similarity
67.5 %, forensic detection 64.5 %, relative reflectance 54.5 %, counting 47.5 % (chance 25 % for
forensics and counting, 33.3 % for reflectance), each above chance at p < 0.01 and below the ceiling, as
the val splits of similarity, forensics and multi-view reasoning are harder than their pretrain splits;
jigsaw (54.5 %) and the other four tasks stay near chance. The recipe is the best of those measured,
and it is what ``vlmtransfer model tiny --rebuild`` reproduces.

All parameters train (vision tower, merger and language model). Each stage starts a fresh AdamW. The
recipe, every stage's held-out accuracy curve, the held-out accuracy of every task taught so far at the end
of each stage and before the closing mixture (what later training takes away from earlier tasks), and
the measured val accuracy of the result are saved beside the weights in ``pretraining.json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from vlmtransfer import __version__
from vlmtransfer.finetune.trainer import LossPoint, Schedule, TrainSettings, train
from vlmtransfer.fsutil import staged_directory
from vlmtransfer.models.tiny import TinyModelConfig

__all__ = ["CURRICULUM", "PRETRAINING_REPORT", "PretrainRecipe", "breadth_score", "pretrain_tiny"]

PRETRAINING_REPORT = "pretraining.json"

CURRICULUM = (
    "Syn_Forensic_Detection",
    "Syn_Visual_Similarity",
    "Syn_Art_Style",
    "Syn_Counting",
    "Syn_Spatial_Relation",
    "Syn_Multi-view_Reasoning",
    "Syn_Jigsaw",
    "Syn_Relative_Depth",
    "Syn_Object_Localization",
    "Syn_Relative_Reflectance",
    "Syn_Visual_Correspondence",
    "Syn_Semantic_Correspondence",
)
"""The default teaching order: per-image cues first, then colour and position, then marker binding
(the design ranking in docs/synthetic-suite.md, with the one-image sRR before the two-image
correspondences, which share its marker reading)."""


@dataclass(frozen=True)
class PretrainRecipe:
    """Everything that determines the pretrained tiny model (with the package version).

    Attributes:
        seed: tokenizer corpus, initialisation, pretraining data and data order.
        tasks: synthetic tasks in teaching order (default :data:`CURRICULUM`); the val accuracy report
            covers the whole suite, taught or not.
        examples_per_task: pretraining examples per task.
        held_out_per_task: further ``pretrain`` examples per task, never trained on, that decide when a
            stage ends.
        batch_size, learning_rate, warmup_steps: the optimisation (constant rate within a stage; the
            warm-up is capped at half of a stage or of the closing phase).
        stage_max_steps: the longest a stage may run.
        stage_target: a stage ends once held-out accuracy reaches this fraction of the way from chance to
            100 %.
        check_every: steps between held-out checks.
        stage_patience: a stage also ends once its held-out accuracy has not beaten its best by more than
            ``stage_min_delta`` points for this many steps, rounded up to whole checks (early stopping),
            so a task that stays at chance, or has plateaued, does not spend the whole cap wearing down
            what earlier stages taught; 0 disables it. ``stalled`` in a stage's report says it ended so.
        stage_min_delta: the improvement, in points, that counts as progress for ``stage_patience``.
            It only ignores one-question wobbles: on 100 held-out questions the noise is about 5 points,
            so a flat but noisy curve may run past ``stage_patience`` (a rising one is never cut short).
        keep_best: each stage and the closing mixture end by restoring the weights of their best check
            by :func:`breadth_score` (see ``stage_min_gain``); when false they keep their last
            weights, every stage is kept, and its held-out checks score its own task only.
        settle_steps: with ``keep_best``, a stage whose own task gained at least ``stage_min_gain`` points
            held out is followed by this many steps of the equal mixture of its task and the kept ones
            (cosine decay), checked like the stage, before its best check is chosen; 0 skips it. Two
            tasks drawn by one renderer can overwrite each other within a stage (relative depth cost
            multi-view reasoning 31 points) and a short mixture gives the loss back, which a choice made
            at the stage's end cannot see.
        retry_undone: after the curriculum, teach each task whose stage was undone once more (in order;
            only ``keep_best`` undoes stages).
        stage_min_gain: a stage is kept only if its best check's breadth score (:func:`breadth_score`
            over the tasks kept so far and its own) beats the score before the stage by at least this
            many points; otherwise the weights from before the stage are restored and its task is left
            out of later replay and the closing mixture.
        replay_share: share of each stage's batches drawn from the tasks kept before it (all of those
            taught before it unless ``keep_best``).
        final_steps: steps of the closing equal mixture of the kept tasks (cosine decay); with
            ``keep_best`` it keeps its best check's weights like a stage (possibly those it started
            from); 0 skips it.
        eval_examples_per_task: ``val`` questions per task for the accuracy report.
        model: the architecture's sizes.
    """

    seed: int = 0
    tasks: tuple[str, ...] | None = None
    examples_per_task: int = 3000
    held_out_per_task: int = 100
    batch_size: int = 32
    learning_rate: float = 1e-3
    warmup_steps: int = 20
    stage_max_steps: int = 1500
    stage_target: float = 0.6
    check_every: int = 100
    stage_patience: int = 500
    stage_min_delta: float = 2.0
    keep_best: bool = True
    stage_min_gain: float = 5.0
    settle_steps: int = 300
    retry_undone: bool = False
    replay_share: float = 0.3
    final_steps: int = 600
    eval_examples_per_task: int = 200
    model: TinyModelConfig = field(default_factory=TinyModelConfig)

    def __post_init__(self) -> None:
        checks = {
            "tasks": self.tasks is None
            or (0 < len(set(self.tasks)) == len(self.tasks) and set(self.tasks) <= set(CURRICULUM)),
            "examples_per_task": self.examples_per_task >= 1,
            "held_out_per_task": self.held_out_per_task >= 1,
            "batch_size": self.batch_size >= 1,
            "learning_rate": self.learning_rate > 0,
            "warmup_steps": self.warmup_steps >= 0,
            "stage_max_steps": self.stage_max_steps >= 1,
            "stage_target": 0 < self.stage_target <= 1,
            "check_every": self.check_every >= 1,
            "stage_patience": self.stage_patience >= 0,
            "stage_min_delta": self.stage_min_delta >= 0,
            "stage_min_gain": self.stage_min_gain >= 0,
            "settle_steps": self.settle_steps >= 0,
            "replay_share": 0 <= self.replay_share < 1,
            "final_steps": self.final_steps >= 0,
            "eval_examples_per_task": self.eval_examples_per_task >= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"{name}: invalid value {getattr(self, name)!r}")


def pretrain_tiny(
    out_dir: str | Path,
    recipe: PretrainRecipe | None = None,
    *,
    on_stage: Callable[[str], None] | None = None,
    on_step: Callable[[LossPoint, int], None] | None = None,
) -> dict[str, Any]:
    """Build the tiny model, pretrain it per ``recipe``, measure it, and save it to ``out_dir``.

    All or nothing: ``out_dir`` appears only when everything succeeded. Returns the report written to
    ``pretraining.json`` (recipe, stages, per-task val accuracy and chance level).
    """
    from vlmtransfer.models.loading import LoadOptions, load_model  # noqa: PLC0415
    from vlmtransfer.models.tiny import build_tiny_model  # noqa: PLC0415

    recipe = recipe or PretrainRecipe()
    tasks = recipe.tasks or CURRICULUM
    stage = on_stage or (lambda _message: None)
    out_dir = Path(out_dir)
    with staged_directory(out_dir, PRETRAINING_REPORT) as staging:
        stage("building the model and tokenizer")
        build_tiny_model(staging / "init", seed=recipe.seed, config=recipe.model)
        # CPU and fp32 wherever it runs: the shipped checkpoint must not depend on the machine's GPU.
        loaded = load_model(str(staging / "init"), LoadOptions(device="cpu", dtype="float32"))
        stage(f"rendering {recipe.examples_per_task} pretraining questions for each of {len(tasks)} tasks")
        data = _PretrainingData.render(tasks, recipe, loaded.processor)
        stages = []
        kept: list[str] = []
        seconds = 0.0
        # One stage per task in order, then (``retry_undone``) one more for each task whose stage was
        # undone: a task at chance may cross its plateau once the others' features are in place.
        schedule = list(tasks)
        while schedule:
            task = schedule.pop(0)
            number = len(stages)
            taught = tasks[: number + 1] if number < len(tasks) else tasks
            stage_report, stage_seconds = _teach(
                loaded,
                data,
                recipe,
                task=task,
                number=number,
                kept=kept,
                taught=taught,
                stage=stage,
                on_step=on_step,
            )
            stages.append(stage_report)
            seconds += stage_seconds
            if stage_report["kept"]:
                kept.append(task)
            elif recipe.retry_undone and number < len(tasks):
                schedule.append(task)
        before_closing = stages[-1]["taught_held_out_accuracy"]  # the last stage scored every task
        closing: dict[str, Any] | None = None
        if recipe.final_steps and kept:
            stage(f"consolidating: up to {recipe.final_steps} steps on the mixture of {len(kept)} kept tasks")
            closing, closing_seconds = _consolidate(loaded, data, kept, recipe, on_step=on_step)
            seconds += closing_seconds
        stage("measuring accuracy on the val split")
        # The whole suite, taught or not: a task left out of the curriculum is measured like the others.
        suite = [*tasks, *(task for task in CURRICULUM if task not in tasks)]
        accuracy, chance = _val_accuracy(loaded, suite, recipe)
        loaded.model.save_pretrained(staging)
        loaded.processor.save_pretrained(staging)
        for leftover in sorted((staging / "init").iterdir()):
            leftover.unlink()
        (staging / "init").rmdir()
        report = {
            "recipe": _jsonable(asdict(recipe)),
            "tasks": list(tasks),
            "accuracy": accuracy,
            "chance": chance,
            "eval_questions_per_task": recipe.eval_examples_per_task,
            "stages": stages,
            "held_out_before_closing": before_closing,
            "closing": closing,
            "training_seconds": round(seconds, 1),
            "parameters": sum(p.numel() for p in loaded.model.parameters()),
            "versions": {"vlmtransfer": __version__, "torch": torch.__version__},
        }
        (staging / PRETRAINING_REPORT).write_text(json.dumps(report, indent=2) + "\n")
    return report


@dataclass(frozen=True)
class _PretrainingData:
    """Encoded pretraining questions of all tasks, each task's slice of them, and its held-out questions."""

    tasks: tuple[str, ...]
    encoded: list[Any]
    spans: dict[str, range]
    held_out: dict[str, list[Any]]

    @classmethod
    def render(cls, tasks: Sequence[str], recipe: PretrainRecipe, processor: Any) -> _PretrainingData:
        from vlmtransfer.data.synthetic import generate_examples  # noqa: PLC0415
        from vlmtransfer.models.encoding import encode_question  # noqa: PLC0415

        encoded: list[Any] = []
        spans: dict[str, range] = {}
        held_out: dict[str, list[Any]] = {}
        n = recipe.examples_per_task
        for task in tasks:
            examples = list(generate_examples(task, "pretrain", n + recipe.held_out_per_task, recipe.seed))
            start = len(encoded)
            encoded.extend(
                encode_question(record, images, processor, with_answer=True)
                for record, images in examples[:n]
            )
            spans[task] = range(start, len(encoded))
            held_out[task] = examples[n:]
        return cls(tuple(tasks), encoded, spans, held_out)

    def chance(self, task: str) -> float:
        """Chance accuracy in percent."""
        return 100.0 / len(self.held_out[task][0][0].choices)

    def target(self, task: str, stage_target: float) -> float:
        """The held-out accuracy (percent) ``stage_target`` of the way from chance to 100 %."""
        chance = self.chance(task)
        return chance + stage_target * (100.0 - chance)


def breadth_score(
    accuracy: Mapping[str, float], chance: Mapping[str, float], target: Mapping[str, float]
) -> float:
    """Summed held-out accuracy above chance (points), each task's capped at its stage target.

    The quantity a stage or the closing mixture keeps its best weights by. Capping makes breadth, not
    depth, pay: a task pushed from its target towards the ceiling adds nothing, while one worn down
    below its target costs what it lost, so weights that trade an earlier task for a later one win only
    when the later one gains more than the earlier one loses."""
    return sum(min(accuracy[task], target[task]) - chance[task] for task in accuracy)


class _Checks:
    """Held-out checks of one phase over a fixed set of tasks, keeping the weights of the best one.

    Check 0, taken on construction, is the weights before the phase, so a phase that only wears down
    what was there can be undone (``restore(initial=True)``)."""

    def __init__(self, loaded: Any, data: _PretrainingData, tasks: Sequence[str], recipe: PretrainRecipe):
        self._loaded, self._data, self._tasks = loaded, data, list(tasks)
        self._chance = {task: data.chance(task) for task in tasks}
        self._target = {task: data.target(task, recipe.stage_target) for task in tasks}
        self.history: list[tuple[int, dict[str, float], float]] = []
        self._initial = _snapshot(loaded.model)
        self._best: tuple[int, float, dict[str, torch.Tensor]] = (0, float("-inf"), self._initial)
        self.check(0)

    def check(self, step: int) -> dict[str, float]:
        """Score the current weights at ``step``; remember them if they beat every earlier check."""
        accuracy = _held_out_accuracy(self._loaded, self._data, self._tasks)
        score = breadth_score(accuracy, self._chance, self._target)
        self.history.append((step, accuracy, score))
        if score > self._best[1]:
            self._best = (step, score, self._initial if step == 0 else _snapshot(self._loaded.model))
        return accuracy

    @property
    def best_step(self) -> int:
        return self._best[0]

    @property
    def gain(self) -> float:
        """How far the best check's score lies above check 0's, in points."""
        return self._best[1] - self.history[0][2]

    def restore(self, *, initial: bool = False) -> int:
        """Load the best check's weights (or those from before the phase); return that check's step."""
        step, _, state = (0, 0.0, self._initial) if initial else self._best
        self._loaded.model.load_state_dict(state)
        return step

    def report(self) -> list[list[Any]]:
        """Every check as ``[step, {task: accuracy}, score]``."""
        return [[step, accuracy, round(score, 2)] for step, accuracy, score in self.history]


def _snapshot(model: Any) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def _teach(
    loaded: Any,
    data: _PretrainingData,
    recipe: PretrainRecipe,
    *,
    task: str,
    number: int,
    kept: Sequence[str],
    taught: Sequence[str],
    stage: Callable[[str], None],
    on_step: Callable[[LossPoint, int], None] | None,
) -> tuple[dict[str, Any], float]:
    """Stage ``number`` (0-based): train on ``task`` (replaying the ``kept`` ones) until the held-out
    target, a stall or the step cap; with ``keep_best``, settle if the task gained, then keep the
    best-scoring check's weights or undo the stage.

    Returns the stage's report, with the held-out accuracy of every ``taught`` task at its end, and its
    training seconds (settling included).
    """
    target = data.target(task, recipe.stage_target)
    stage(f"stage {number + 1}: {task} (until {target:.0f} % held out)")
    checks = _Checks(loaded, data, [*kept, task] if recipe.keep_best else [task], recipe)

    def own_curve() -> list[tuple[int, float]]:
        return [(step, accuracy[task]) for step, accuracy, _ in checks.history[1:]]

    def stage_over(point: LossPoint) -> bool:
        if point.step % recipe.check_every:
            return False
        accuracy = checks.check(point.step)[task]
        return accuracy >= target or _stalled(own_curve(), recipe.stage_patience, recipe.stage_min_delta)

    settings = _phase_settings(recipe, "constant", recipe.stage_max_steps, seed=recipe.seed + number)
    earlier = [i for t in kept for i in data.spans[t]]
    order = _stage_order(data.spans[task], earlier, recipe.replay_share, recipe.seed, number)
    curve = _train_phase(loaded, data, settings, order=order, should_stop=stage_over, on_step=on_step)
    if checks.history[-1][0] != curve[-1].step:
        checks.check(curve[-1].step)
    seconds, settled = curve[-1].seconds, 0
    own_gain = max(accuracy for _, accuracy in own_curve()) - checks.history[0][1][task]
    if recipe.keep_best and recipe.settle_steps and own_gain >= recipe.stage_min_gain:
        stage(f"  settling: up to {recipe.settle_steps} steps on the mixture of {len(kept) + 1} tasks")
        settled, settle_seconds = _settle(
            loaded, data, recipe, checks, [*kept, task], index=number, offset=curve[-1].step, on_step=on_step
        )
        seconds += settle_seconds
    if recipe.keep_best:
        keep = checks.best_step > 0 and checks.gain >= recipe.stage_min_gain
        kept_step = checks.restore(initial=not keep)
    else:
        keep, kept_step = True, curve[-1].step
    taught_accuracy = _held_out_accuracy(loaded, data, taught)
    last = own_curve()[-1][1]
    settling = f" and {settled} settling" if settled else ""
    verdict = f"kept the weights of step {kept_step}" if keep else "undone"
    summary = ", ".join(
        f"{name.removeprefix('Syn_')[:12]} {value:.0f}" for name, value in taught_accuracy.items()
    )
    stage(
        f"  {task}: {last:.0f} % held out after {curve[-1].step}{settling} steps; {verdict}"
        f" (best gain {checks.gain:+.1f} points); now {summary}"
    )
    report = {
        "task": task,
        "steps": curve[-1].step,
        "settle_steps": settled,
        "target": round(target, 2),
        "reached": last >= target,
        "stalled": last < target and curve[-1].step < recipe.stage_max_steps,  # why it ended
        "held_out_accuracy": [[step, round(accuracy, 2)] for step, accuracy in own_curve()],
        "checks": checks.report(),
        "kept": keep,
        "kept_step": kept_step,
        "final_loss": curve[-1].loss,
        "taught_held_out_accuracy": taught_accuracy,
    }
    return report, seconds


def _settle(
    loaded: Any,
    data: _PretrainingData,
    recipe: PretrainRecipe,
    checks: _Checks,
    tasks: Sequence[str],
    *,
    index: int,
    offset: int,
    on_step: Callable[[LossPoint, int], None] | None,
) -> tuple[int, float]:
    """After stage ``index``, train on the equal mixture of ``tasks`` with a cosine decay, scoring into
    the stage's ``checks`` at steps counted on from ``offset`` (the stage's last step), so that the
    stage's best check may lie after a loss it caused has been given back. Returns steps and seconds."""

    def record(point: LossPoint) -> bool:
        if point.step % recipe.check_every == 0 or point.step == recipe.settle_steps:
            checks.check(offset + point.step)
        return False

    number = 3 * len(data.tasks) + index  # past every stage's and the closing mixture's seed
    pool = [i for t in tasks for i in data.spans[t]]
    settings = _phase_settings(recipe, "cosine", recipe.settle_steps, seed=recipe.seed + number)
    order = _stage_order(pool, [], 0.0, recipe.seed, number)
    curve = _train_phase(loaded, data, settings, order=order, should_stop=record, on_step=on_step)
    return curve[-1].step, curve[-1].seconds


def _consolidate(
    loaded: Any,
    data: _PretrainingData,
    kept: Sequence[str],
    recipe: PretrainRecipe,
    *,
    on_step: Callable[[LossPoint, int], None] | None,
) -> tuple[dict[str, Any], float]:
    """The closing phase: the equal mixture of the ``kept`` tasks with a cosine decay; with
    ``keep_best``, keeping its best-scoring check's weights (possibly those it started from).
    Returns its report and seconds."""
    checks = _Checks(loaded, data, kept, recipe)

    def record(point: LossPoint) -> bool:
        if point.step % recipe.check_every == 0 or point.step == recipe.final_steps:
            checks.check(point.step)
        return False

    if recipe.keep_best:
        seed = recipe.seed + 2 * len(data.tasks)  # past every stage's seed, retries included
        pool = [i for t in kept for i in data.spans[t]]
        order: Iterator[int] | None = _stage_order(pool, [], 0.0, seed, 2 * len(data.tasks))
    else:  # every task is kept: one permutation of all questions per epoch, as before keep_best existed
        seed, order = recipe.seed + len(data.tasks), None
    settings = _phase_settings(recipe, "cosine", recipe.final_steps, seed=seed)
    curve = _train_phase(loaded, data, settings, order=order, should_stop=record, on_step=on_step)
    kept_step = checks.restore() if recipe.keep_best else curve[-1].step
    return {"steps": curve[-1].step, "kept_step": kept_step, "checks": checks.report()}, curve[-1].seconds


def _train_phase(
    loaded: Any,
    data: _PretrainingData,
    settings: TrainSettings,
    *,
    order: Iterator[int] | None,
    should_stop: Callable[[LossPoint], bool],
    on_step: Callable[[LossPoint, int], None] | None,
) -> list[LossPoint]:
    """One phase of training on the pretraining questions (a stage or the closing mixture)."""
    return train(
        loaded.model,
        data.encoded,
        settings,
        processor=loaded.processor,
        on_step=on_step,
        order=order,
        should_stop=should_stop,
    )


def _stalled(history: Sequence[tuple[int, float]], patience: int, min_delta: float) -> bool:
    """Whether the last ``patience`` steps of a stage's ``(step, accuracy)`` checks brought no accuracy
    more than ``min_delta`` above the best seen before them (never, when ``patience`` is 0).

    The first check is the baseline, so a stage gets at least ``patience`` steps after it."""
    if not patience or not history:
        return False
    last_step = history[-1][0]
    before = [accuracy for step, accuracy in history if step <= last_step - patience]
    since = [accuracy for step, accuracy in history if step > last_step - patience]
    return bool(before) and max(since) <= max(before) + min_delta


def _held_out_accuracy(loaded: Any, data: _PretrainingData, tasks: Sequence[str]) -> dict[str, float]:
    """Held-out accuracy (percent, 2 decimals) of each of ``tasks``: at a stage's end over every task
    taught so far, to see what later stages and the closing mixture take away from earlier ones."""
    from vlmtransfer.evaluate.engine import accuracy_by_task, score_questions  # noqa: PLC0415

    questions = [item for task in tasks for item in data.held_out[task]]
    accuracy = accuracy_by_task(score_questions(loaded, questions, batch_size=32))
    return {task: round(accuracy[task][0], 2) for task in tasks}


def _val_accuracy(
    loaded: Any, tasks: Sequence[str], recipe: PretrainRecipe
) -> tuple[dict[str, float], dict[str, float]]:
    """Per task: accuracy on the first ``eval_examples_per_task`` val questions, and chance, in percent."""
    from vlmtransfer.data.synthetic import generate_examples  # noqa: PLC0415
    from vlmtransfer.evaluate.engine import accuracy_by_task, score_questions  # noqa: PLC0415

    val = [
        item
        for task in tasks
        for item in generate_examples(task, "val", recipe.eval_examples_per_task, recipe.seed)
    ]
    accuracy = accuracy_by_task(score_questions(loaded, val, batch_size=32))
    chance = {record.task: 100.0 / len(record.choices) for record, _ in val}
    return {task: round(accuracy[task][0], 2) for task in tasks}, {
        task: round(chance[task], 2) for task in tasks
    }


def _phase_settings(recipe: PretrainRecipe, schedule: Schedule, steps: int, *, seed: int) -> TrainSettings:
    """One phase's optimisation (a stage or the closing mixture); the warm-up is capped at half of it."""
    return TrainSettings(
        learning_rate=recipe.learning_rate,
        schedule=schedule,
        max_steps=steps,
        batch_size=recipe.batch_size,
        warmup_ratio=min(0.5, recipe.warmup_steps / steps),
        seed=seed,
    )


def _stage_order(
    current: Sequence[int], earlier: Sequence[int], replay_share: float, seed: int, stage: int
) -> Iterator[int]:
    """An endless stream of question indices: the stage's task in seeded permutations, and with
    probability ``replay_share`` (when there is anything to replay) a uniformly drawn earlier question."""
    generator = torch.Generator().manual_seed(seed * 1000 + stage)
    permutation: list[int] = []
    while True:
        if earlier and torch.rand((), generator=generator).item() < replay_share:
            yield earlier[int(torch.randint(len(earlier), (), generator=generator))]
            continue
        if not permutation:
            permutation = [current[i] for i in torch.randperm(len(current), generator=generator).tolist()]
        yield permutation.pop()


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [_jsonable(item) for item in value]
    return value
