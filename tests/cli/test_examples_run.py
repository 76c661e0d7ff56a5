"""Every ``vlmtransfer`` example in README.md and in each command's ``--help`` runs, with the flags it is
written with, and exits 0 (issue 28 item 1; ``test_examples.py`` checks that each one parses).

Each example runs in-process (Typer's CliRunner) in a fresh copy of one workspace, a folder laid out like
a user's checkout after the steps the docs assume (``make demo``, ``data blink``, ``analyze ... --out
out/paper``). The workspace is built once per session, small, from the embedded tiny model and the
synthetic suite. What is substituted, and nothing else (:data:`SUBSTITUTIONS` on the command line,
:func:`workspace` for the files):

- Hub models (``qwen2.5-vl-3b/7b/32b``) -> ``tiny``, the embedded model; ``configs/paper.yaml`` keeps its
  three labelled models, each ``tiny``.
- BLINK -> synthetic: ``home/snapshots/BLINK`` is a snapshot in the hub's layout whose 13 tasks hold two
  synthetic questions each (the BLINK task's synthetic counterpart; Functional_Correspondence, which has
  none, takes visual correspondence's). ``data blink --revision main`` reads it through a faked hub
  (revision resolution and ``datasets.load_dataset`` of BLINK-Benchmark/BLINK), ``--source`` reads it
  directly; ``data/blink`` is its export.
- VSI-Bench -> ``home/snapshots/VSI-Bench``, the loader tests' small copy in the hub's layout (its
  parquet and zipped mp4s); ``data vsibench --revision main`` reads it through a faked hub (revision
  resolution and the download of each file).
- The user's source datasets (``~/data/DIW``, ``~/data/tallyqa``) -> the builder tests' miniature DIW and
  TallyQA in their real file formats; ``~`` -> the workspace's ``home`` folder, ``/tmp/demo`` ->
  ``demo-tmp``.
- The user's tables -> ``results.csv`` (an accuracy table with a Counting target), ``predictions.parquet``
  (the tiny study's per-question results), ``3B.csv``/``7B.csv``/``32B.csv`` (the paper's PGF files),
  ``my_tasks.yaml`` (README's task file), ``my_task/`` (one synthetic task's folder).
- Sizes: ``--n 1000`` -> 4, ``--train 1000 --val 200`` -> 4/4, ``--max-steps 192`` -> 4, ``--bootstrap``
  -> 200; ``configs/demo.yaml`` and ``configs/paper.yaml`` are the real files with seeds, steps and
  executor (Ray -> local) made small; ``vlmtransfer demo`` runs with its module's sizes made small
  (3 tasks, 16 train / 8 val questions, 2 seeds, 8 steps); ``model tiny --rebuild`` pretrains with the
  pretraining tests' short recipe sizes.

Examples that take more than a few seconds even so (pretraining, the demo, ``select --run``, the paper
study) are marked slow and run in ``make test-slow``.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import re
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from tests.cli.test_examples import HELP_TEXTS, examples, readme_examples
from tests.conftest import EXAMPLE_PGF, REPO, accuracy_rows

SUBSTITUTIONS: tuple[tuple[str, str], ...] = (
    (r"qwen2\.5-vl-(?:3b|7b|32b)", "tiny"),  # hub models -> the embedded tiny Qwen2.5-VL
    (r"/tmp/demo\b", "demo-tmp"),
    (r"--n 1000\b", "--n 4"),
    (r"--train 1000 --val 200\b", "--train 4 --val 4"),
    (r"--max-steps 192\b", "--max-steps 4"),
    (r"--bootstrap \d+", "--bootstrap 200"),
)
"""(pattern, replacement) applied to every example line, in order: model names, paths and sizes only."""

SLOW = (
    "--rebuild",  # pretraining
    "vlmtransfer demo",  # a study, its analysis and report
    "--run configs/",  # select --run: 10 finetunes
    "run configs/paper.yaml --reset-changed",  # 3 models x 13 targets, generating
    "vlmtransfer report out/paper",  # the paper's figures: 15-18 s per example on 2 cores
)
"""Examples that run for more than a few seconds on the tiny sizes: `make test-slow`."""

DEMO_SIZES = {
    "DEMO_TASKS": ("Syn_Counting", "Syn_Forensic_Detection", "Syn_Object_Localization"),
    "DEMO_VIDEO_TARGETS": ("Syn_Video_Object_Counting",),
    "DEMO_VIDEO_VAL": 4,
    "DEMO_SEEDS": (0, 1),
    "DEMO_TRAIN": 16,
    "DEMO_VAL": 8,
    "DEMO_STEPS": 8,
}
"""`vlmtransfer demo`'s sizes, made small; configs/demo.yaml gets the same seeds and steps, so that
`demo` in the workspace reuses its study as `make demo` reuses a finished one."""

PRETRAIN_SIZES = {
    "examples_per_task": 4,
    "held_out_per_task": 2,
    "stage_max_steps": 2,
    "check_every": 2,
    "settle_steps": 2,
    "final_steps": 2,
    "batch_size": 4,
    "eval_examples_per_task": 2,
}
"""`model tiny --rebuild`'s pretraining recipe, made small (as in tests/recipes/test_tiny_pretrain.py)."""

BLINK_FALLBACK = "Syn_Visual_Correspondence"
"""The synthetic task standing in for a BLINK task without a synthetic counterpart."""


def substitute(line: str) -> str:
    """``line`` with :data:`SUBSTITUTIONS` applied and ``~`` expanded, as the shell does, to the
    workspace's ``home`` (an absolute path; run in the workspace): what runs in the workspace."""
    line = line.replace("~/", f"{Path.cwd() / 'home'}/")
    for pattern, replacement in SUBSTITUTIONS:
        line = re.sub(pattern, replacement, line)
    return line


def invoke(line: str) -> Result:
    """Run the command line ``line`` (``vlmtransfer ...``) in-process in the current directory."""
    from vlmtransfer.cli.main import app

    return CliRunner().invoke(app, shlex.split(line)[1:])


def run_ok(line: str) -> Result:
    """:func:`invoke`, asserting exit 0 and showing the output and any traceback otherwise."""
    result = invoke(line)
    if result.exit_code != 0:
        trace = ""
        if result.exc_info and not isinstance(result.exception, SystemExit):
            import traceback

            trace = "".join(traceback.format_exception(*result.exc_info))
        pytest.fail(f"{line!r} exited {result.exit_code}:\n{result.output}\n{trace}")
    return result


# --- the fakes: sizes, the hub ----------------------------------------------------------------------


@contextlib.contextmanager
def small_sizes() -> Iterator[None]:
    """The demo's and the tiny model's pretraining sizes made small, and the BLINK hub faked."""
    with pytest.MonkeyPatch.context() as patch:
        from vlmtransfer.recipes import tiny_pretrain
        from vlmtransfer.study import demo

        for name, value in DEMO_SIZES.items():
            patch.setattr(demo, name, value)  # raises if the demo renames it: update DEMO_SIZES
        small_recipe = functools.partial(tiny_pretrain.PretrainRecipe, **PRETRAIN_SIZES)
        patch.setattr(tiny_pretrain, "PretrainRecipe", small_recipe)
        yield


@contextlib.contextmanager
def fake_blink_hub(snapshot: Path) -> Iterator[None]:
    """BLINK-Benchmark/BLINK on the hub served from the local ``snapshot``: revisions resolve to a fixed
    commit and ``datasets.load_dataset`` reads the snapshot's parquet files."""
    import datasets

    from vlmtransfer import hub
    from vlmtransfer.data import blink

    real_load = datasets.load_dataset

    def load_dataset(path: str, name: str | None = None, **kwargs: Any) -> Any:
        if path != blink.BLINK_DATASET:
            return real_load(path, name, **kwargs)
        split = kwargs["split"]
        files = [str(f) for f in sorted((snapshot / str(name)).glob(f"{split}-*.parquet"))]
        return real_load("parquet", data_files={split: files}, split=split, cache_dir=kwargs.get("cache_dir"))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hub, "prepare_hub_access", lambda *args, **kwargs: None)
        patch.setattr(blink, "resolve_revision", lambda revision, **kwargs: "0" * 40)
        patch.setattr(datasets, "load_dataset", load_dataset)
        yield


@contextlib.contextmanager
def fake_vsi_hub(snapshot: Path) -> Iterator[None]:
    """nyu-visionx/VSI-Bench on the hub served from the local ``snapshot`` (revisions resolve to a fixed
    commit, as BLINK's in :func:`fake_blink_hub`, which must be active too)."""
    from vlmtransfer.data import vsibench

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(vsibench, "_hub_file", lambda name, revision, cache_dir: snapshot / name)
        yield


# --- the workspace --------------------------------------------------------------------------------


def blink_snapshot(synthetic: Path, root: Path, per_task: int = 2) -> None:
    """A BLINK snapshot in the hub's layout (``root/<Task>/val-00000-of-00001.parquet``, BLINK's
    schema) whose questions are the first ``per_task`` synthetic val questions of each task's
    synthetic counterpart."""
    from datasets import Dataset

    from tests.data.test_blink import FEATURES
    from vlmtransfer.data import read_records
    from vlmtransfer.data.blink import BLINK_TASKS

    for task in BLINK_TASKS:
        folder = synthetic / f"Syn_{task}"
        folder = folder if folder.is_dir() else synthetic / BLINK_FALLBACK
        rows: dict[str, list] = {name: [] for name in FEATURES}
        for i, record in enumerate(read_records(folder / "val.jsonl")[:per_task], start=1):
            images = [{"bytes": (folder / path).read_bytes(), "path": None} for path in record.images]
            rows["idx"].append(f"val_{task}_{i}")
            rows["question"].append(record.prompt.split("\n")[0])
            rows["sub_task"].append(task.replace("_", " "))
            for k in range(4):
                rows[f"image_{k + 1}"].append(images[k] if k < len(images) else None)
            rows["choices"].append(list(record.choices))
            rows["answer"].append(f"({record.answer})")
            rows["prompt"].append(record.prompt)
            rows["explanation"].append("")
        (root / task).mkdir(parents=True)
        Dataset.from_dict(rows, features=FEATURES).to_parquet(root / task / "val-00000-of-00001.parquet")


def tallyqa(root: Path) -> None:
    """A miniature TallyQA (COCO photos, ``train.json``), as tests/data/builders/test_image_tasks.py."""
    from tests.data.builders.conftest import save, textured

    questions = []
    for k, count in enumerate([0, 1, 2, 3, 5, 7, 12, 4]):
        image = f"train2014/COCO_train2014_{k:012d}.jpg"
        save(textured(120, 90, k), root / image)
        questions.append(
            {"image": image, "question": f"How many dogs are there {k}?", "answer": count,
             "issimple": True, "data_source": "amt", "image_id": k, "question_id": 100 + k}
        )  # fmt: skip
    (root / "train.json").write_text(json.dumps(questions))
    (root / "test.json").write_text(json.dumps(questions[:1]))


def small_config(name: str, changes: dict[str, Any]) -> str:
    """The repository's ``configs/<name>`` with the top-level and nested ``changes`` applied."""
    config = yaml.safe_load((REPO / "configs" / name).read_text())
    for key, value in changes.items():
        if isinstance(value, dict):
            config[key] = {**config.get(key, {}), **value}
        else:
            config[key] = value
    return yaml.safe_dump(config, sort_keys=False)


def single_task_folder(dataset: Path, task: str, out: Path) -> None:
    """``out``: the folder of ``task`` from ``dataset``, renamed to ``out.name`` (records say so)."""
    shutil.copytree(dataset / task, out)
    for path in out.glob("*.jsonl"):
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        path.write_text("".join(json.dumps({**line, "task": out.name}) + "\n" for line in lines))


def user_files(root: Path) -> None:
    """The tables and task file the examples name as the user's own."""
    import csv

    tasks = ("Counting", "Relative_Depth", "Jigsaw")
    with (root / "results.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows(accuracy_rows("my-model", tasks=tasks))
    (root / "my_tasks.yaml").write_text(
        "suite: video\ntasks:\n"
        + "".join(
            f"  - {{name: {t}, abbreviation: {t[:2].upper()}, level: mid, granularity: image, choices: 4}}\n"
            for t in tasks
        )
    )
    (root / "examples").mkdir()
    shutil.copytree(EXAMPLE_PGF, root / "examples" / "paper-pgf")
    for size in ("3B", "7B", "32B"):
        shutil.copy(EXAMPLE_PGF / f"qwen2.5-vl-{size}.csv", root / f"{size}.csv")


def build_workspace(root: Path) -> None:
    """Lay out ``root`` as the examples expect it (see the module docstring)."""
    from vlmtransfer.study.demo import prepare_demo_data

    (root / "configs").mkdir(parents=True)
    user_files(root)
    tallyqa(root / "home" / "data" / "tallyqa")
    from tests.data.builders.test_point_tasks import _diw

    _diw(root / "home" / "data" / "DIW")
    with contextlib.chdir(root), small_sizes():
        run_ok(substitute("vlmtransfer data synth --out data/synthetic --train 1000 --val 200 --seed 0"))
        blink_snapshot(root / "data" / "synthetic", root / "home" / "snapshots" / "BLINK")
        from tests.data.test_vsibench import vsi_copy

        vsi_copy(root / "home" / "snapshots" / "VSI-Bench", zipped=("scannet", "arkitscenes"))
        with fake_blink_hub(root / "home" / "snapshots" / "BLINK"):
            run_ok("vlmtransfer data blink --out data/blink --revision main")
        for task, source in (("Relative_Depth", "DIW --blink ~/snapshots/BLINK"), ("Counting", "tallyqa")):
            build = f"vlmtransfer data build {task} --source ~/data/{source} --out data/blink-train --n 4"
            run_ok(substitute(build))
        for task, out in (("Syn_Counting", "counting"), ("Syn_Relative_Depth", "depth")):
            train = (
                f"vlmtransfer finetune --model tiny --train data/synthetic --task {task} --out adapters/{out}"
            )
            run_ok(train)
        prepare_demo_data(root / "demo-out")
        single_task_folder(root / "demo-out" / "data", "Syn_Counting", root / "my_task")
        seeds, steps = list(DEMO_SIZES["DEMO_SEEDS"]), DEMO_SIZES["DEMO_STEPS"]
        (root / "configs" / "demo.yaml").write_text(
            small_config("demo.yaml", {"seeds": seeds, "train": {"max_steps": steps}})
        )
        (root / "configs" / "paper.yaml").write_text(
            small_config(
                "paper.yaml",
                {
                    "models": [{"name": "tiny", "label": label} for label in ("3B", "7B", "32B")],
                    "seeds": [0],
                    "executor": {"kind": "local"},
                },
            )
        )
        run_ok("vlmtransfer run configs/demo.yaml")
        run_ok("vlmtransfer analyze demo-out/study")
        shutil.copy(root / "demo-out" / "study" / "predictions.parquet", root / "predictions.parquet")
        run_ok(
            "vlmtransfer analyze examples/paper-pgf/qwen2.5-vl-3B.csv examples/paper-pgf/qwen2.5-vl-7B.csv"
            " examples/paper-pgf/qwen2.5-vl-32B.csv --label 3B --label 7B --label 32B"
            " --model-order 3B,7B,32B --out out/paper"
        )


@pytest.fixture(scope="session")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The workspace, built once per session, and a pristine copy of it that each test restores."""
    base = tmp_path_factory.mktemp("examples")
    with contextlib.redirect_stderr(io.StringIO()):
        build_workspace(base / "workspace")
    shutil.copytree(base / "workspace", base / "pristine")
    return base / "workspace", base / "pristine"


@pytest.fixture
def workspace(prepared: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    """The workspace as built, made the current directory. It is restored at the path it was built at,
    since a study names its data by path (a moved study's runs are stale, as designed)."""
    root, pristine = prepared
    shutil.rmtree(root)
    shutil.copytree(pristine, root)
    monkeypatch.chdir(root)
    return root


def all_examples() -> dict[str, list[str]]:
    """Each distinct example line (README's and the --help texts'), with where it appears."""
    origins: dict[str, list[str]] = {}
    for line in readme_examples():
        origins.setdefault(line, []).append("README")
    for verb, text in HELP_TEXTS.items():
        for line in examples(text):
            origins.setdefault(line, []).append(f"{verb} --help")
    return origins


def cases() -> list[Any]:
    """pytest parameters: one per distinct example, slow ones marked, ids naming where they appear."""
    params = []
    for line, origins in all_examples().items():
        marks = [pytest.mark.slow] if any(key in line for key in SLOW) else []
        params.append(pytest.param(line, marks=marks, id=f"{'+'.join(dict.fromkeys(origins))}: {line}"))
    return params


OUTPUT = re.compile(r"(?:--out|-o|--output-path)[ =](\S+)")


def run_example(line: str, root: Path) -> Result:
    """Run the example ``line`` in the workspace ``root`` with its substitutions and fakes, as a first
    run: the folder it writes with ``--out`` is removed first (the workspace holds some of them for the
    examples that read them)."""
    line = substitute(line)
    for output in OUTPUT.findall(line):
        path = root / output
        if path.is_dir():
            shutil.rmtree(path)
        path.unlink(missing_ok=True)
    snapshots = root / "home" / "snapshots"
    with small_sizes(), fake_blink_hub(snapshots / "BLINK"), fake_vsi_hub(snapshots / "VSI-Bench"):
        return run_ok(line)


@pytest.mark.parametrize("line", cases())
def test_example_runs(line, workspace):
    run_example(line, workspace)


def test_every_example_is_run():
    """Nothing is dropped between the parsed examples and the run ones."""
    run = {case.values[0] for case in cases()}
    assert run == set(readme_examples()) | {line for text in HELP_TEXTS.values() for line in examples(text)}
    assert len(run) >= 50


def test_the_substitutions_change_only_names_paths_and_sizes():
    line = "vlmtransfer finetune --model qwen2.5-vl-7b --train ~/d --task Counting --n 1000 --max-steps 192"
    home = Path.cwd() / "home"
    expected = f"vlmtransfer finetune --model tiny --train {home}/d --task Counting --n 4 --max-steps 4"
    assert substitute(line) == expected


def test_a_broken_example_fails_when_run(workspace):
    """The run, not only the parse, fails: a target the analysis lacks, a study file that is not there."""
    with pytest.raises(pytest.fail.Exception, match="exited 2"):
        run_example("vlmtransfer select --analysis out/paper --model 7B --target Syn_Counting", workspace)
    with pytest.raises(pytest.fail.Exception, match="exited 2"):
        run_example("vlmtransfer status demo-out/no-such-study", workspace)
