"""`vlmtransfer analyze` through the CLI: outputs, summary, and every kind of bad input."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from tests.conftest import accuracy_rows
from vlmtransfer.analysis import analysis_schema
from vlmtransfer.cli.main import app

HEADER = ["model", "seed", "source", "target", "accuracy"]
PGF_HEADER = ["seed", "ft_task", "task", "perfection_gap_factor"]


def run(*args: str | Path):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_reference_files_end_to_end(reference_pgf_files, tmp_path):
    out = tmp_path / "out"
    args = ["analyze", *reference_pgf_files, "--label", "3B", "--label", "7B", "--label", "32B"]
    result = run(*args, "--model-order", "3B,7B,32B", "--out", out)
    assert result.exit_code == 0, result.stderr
    for heading in ("top donors", "Strongest transfer edges", "Largest cliques", "Personas", "Scale trend"):
        assert heading in result.stdout
    document = json.loads((out / "analysis.json").read_text())
    assert list(document["models"]) == ["3B", "7B", "32B"]
    expected = {"pgf.csv", "transferability.csv", "malleability.csv", "edges.csv", "cliques.csv"}
    expected |= {"personas.csv", "categories.csv", "scale.csv", "matrices/32B.pgf_mean.csv"}
    assert expected <= {str(p.relative_to(out)) for p in out.rglob("*.csv")}


def test_accuracy_table_with_options(write_csv, tmp_path):
    path = write_csv("acc.csv", accuracy_rows(tasks=("A", "B", "C", "D")))
    out = tmp_path / "out"
    options = ["--ceiling", "A=95", "--edge-fraction", "0.5", "--include-self", "--quiet"]
    result = run("analyze", path, "--out", out, *options)
    assert result.exit_code == 0, result.stderr
    document = json.loads((out / "analysis.json").read_text())
    assert document["options"]["include_self"] is True
    assert document["options"]["edge_fraction"] == 0.5
    model = document["models"]["m"]
    assert model["baseline"]["A"]["ceiling"] == 95.0
    assert model["relative_gain_mean"] is not None
    assert "top donors" not in result.stdout


def test_rerunning_into_the_same_directory_replaces_it_without_stale_files(write_csv, tmp_path):
    out = tmp_path / "out"
    first = write_csv("first.csv", accuracy_rows(model="first"))
    assert run("analyze", first, "--out", out, "-q").exit_code == 0
    original = (out / "analysis.json").read_bytes()
    assert run("analyze", first, "--out", out, "-q").exit_code == 0
    assert (out / "analysis.json").read_bytes() == original  # idempotent
    second = write_csv("second.csv", accuracy_rows(model="second"))
    assert run("analyze", second, "--out", out, "-q", "--overwrite").exit_code == 0
    assert sorted(p.name for p in (out / "matrices").iterdir()) == [
        "second.pgf_mean.csv",
        "second.pgf_q.csv",
        "second.pgf_std.csv",
    ]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_an_analysis_of_other_inputs_is_replaced_only_with_overwrite(write_csv, tmp_path):
    out = tmp_path / "out"
    first = write_csv("first.csv", accuracy_rows(model="first"))
    assert run("analyze", first, "--out", out, "-q").exit_code == 0
    original = (out / "analysis.json").read_bytes()
    refreshed = run("analyze", first, "--out", out, "-q", "--alpha", "0.1")  # same inputs: a refresh
    assert refreshed.exit_code == 0, refreshed.output
    assert b'"alpha": 0.1' in (out / "analysis.json").read_bytes()
    assert run("analyze", first, "--out", out, "-q").exit_code == 0
    assert (out / "analysis.json").read_bytes() == original
    second = write_csv("second.csv", accuracy_rows(model="second"))
    refused = run("analyze", first, second, "--out", out, "-q")
    assert refused.exit_code == 2
    assert refused.stderr == (
        f"error: --out: {out} already holds an analysis of {first} (model first); "
        "pass --overwrite to replace it, or choose another --out\n"
    )
    assert (out / "analysis.json").read_bytes() == original
    (out / "analysis.json").write_text("{not json")
    unreadable = run("analyze", first, "--out", out, "-q")
    assert unreadable.exit_code == 2
    assert "holds an analysis.json that cannot be read; pass --overwrite" in unreadable.stderr
    assert run("analyze", first, "--out", out, "-q", "--overwrite").exit_code == 0
    assert (out / "analysis.json").read_bytes() == original


def test_an_existing_folder_of_other_files_is_never_overwritten(write_csv, tmp_path):
    path = write_csv("acc.csv", accuracy_rows())
    folder = tmp_path / "papers"
    folder.mkdir()
    (folder / "draft.tex").write_text("precious")
    result = run("analyze", path, "--out", folder)
    assert result.exit_code == 2
    assert "already holds other files" in result.stderr
    assert [p.name for p in folder.iterdir()] == ["draft.tex"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run("analyze", path, "--out", empty, "-q").exit_code == 0
    assert (empty / "analysis.json").is_file()


@pytest.mark.parametrize(
    ("make_out", "fragment"),
    [
        (lambda tmp: tmp / "afile" / "sub", "afile is not a directory"),
        (lambda tmp: tmp / "afile", "exists and is not a directory"),
        (lambda tmp: "", "the output directory is empty"),
    ],
)
def test_impossible_output_directories_are_bad_input(write_csv, tmp_path, make_out, fragment):
    path = write_csv("acc.csv", accuracy_rows())
    (tmp_path / "afile").write_text("x")
    result = run("analyze", path, "--out", make_out(tmp_path))
    assert result.exit_code == 2, result.exception
    assert result.stderr.startswith("error: --out: ")
    assert fragment in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["acc.csv", "afile"]


def test_usage_errors_are_one_line_with_exit_2(tmp_path):
    for argv, fragment in [
        (["analyze", "x.csv"], "--out: required (it defaults only for a single study directory)"),
        (["analyze", "x.csv", "--out", "o", "--edge-fraction", "abc"], "Invalid value for '--edge-fraction'"),
        (["analyse"], "No such command 'analyse'"),
    ]:
        command = [sys.executable, "-m", "vlmtransfer.cli", *argv]
        completed = subprocess.run(command, capture_output=True, text=True, check=False, cwd=tmp_path)
        assert completed.returncode == 2
        assert completed.stderr.count("\n") == 1, completed.stderr
        assert completed.stderr.startswith("error: ")
        assert fragment in completed.stderr


def test_help_shows_examples():
    result = run("analyze", "--help")
    assert result.exit_code == 0
    assert "Examples" in result.stdout
    assert "--model-order" in result.stdout


def _rows_with(change):
    rows = accuracy_rows()
    change(rows)
    return rows


BAD_TABLES = {
    "missing column": (
        [["model", "seed", "source", "target"], ["m", "", "base", "A"]],
        "missing column 'accuracy'",
    ),
    "misspelt column": (
        [["model", "seed", "source", "target", "acuracy"], ["m", "", "base", "A", "50"]],
        "missing column 'accuracy' (found 'acuracy'",
    ),
    "misspelt optional column": (
        [[*HEADER, "celing"], ["m", "", "base", "A", 50, 95]],
        "unknown column 'celing' (did you mean 'ceiling'?)",
    ),
    "non-numeric accuracy": (
        _rows_with(lambda r: r[5].__setitem__(4, "abc")),
        "line 6: 'accuracy' is 'abc', not a number",
    ),
    "NaN accuracy": (
        _rows_with(lambda r: r[7].__setitem__(4, "NaN")),
        "line 8: 'accuracy' is 'NaN', not a number",
    ),
    "infinite accuracy": (_rows_with(lambda r: r[7].__setitem__(4, "inf")), "not a finite number"),
    "empty accuracy": (_rows_with(lambda r: r[4].__setitem__(4, "")), "line 5: empty 'accuracy'"),
    "accuracy above 100": (
        _rows_with(lambda r: r[9].__setitem__(4, 104)),
        "line 10: 'accuracy' is 104, outside [0, 100]",
    ),
    "accuracy below 0": (_rows_with(lambda r: r[9].__setitem__(4, -1)), "outside [0, 100]"),
    "duplicate rows": (_rows_with(lambda r: r.append(list(r[5]))), "duplicates line 6"),
    "no base rows": ([HEADER, ["m", "0", "A", "A", 50]], "model 'm' has no base rows"),
    "only base rows": ([HEADER, ["m", "", "base", "A", 50]], "has only base rows"),
    "baseline at ceiling": (
        _rows_with(lambda r: r[1].__setitem__(4, 100)),
        "baseline 100 (line 2) is at or above",
    ),
    "task missing from a seed": (_rows_with(lambda r: r.pop()), "seed '1' lacks C -> C"),
    "source missing from a seed": (
        [r for r in accuracy_rows() if not (r[1] == "1" and r[2] == "B")],
        "seed '1' lacks B -> A and 2 more",
    ),
    "target without a baseline": (_rows_with(lambda r: r.pop(3)), "no base accuracy on target 'C'"),
    "baseline for an unevaluated target": (
        _rows_with(lambda r: r.insert(1, ["m", "", "base", "Z", 50])),
        "base row for target 'Z'",
    ),
    "mixed baseline seeds": (_rows_with(lambda r: r[1].__setitem__(1, "0")), "mix an empty seed"),
    "per-seed baseline missing for a seed": (
        [
            r
            for r in accuracy_rows(per_seed_base=True)
            if not (r[1] == "1" and r[2] == "base" and r[3] == "B")
        ],
        "no base accuracy for seed '1' on target 'B'",
    ),
    "finetuned row without a seed": (
        _rows_with(lambda r: r[5].__setitem__(1, "")),
        "only base rows may leave it empty",
    ),
    "empty model name": (_rows_with(lambda r: r[5].__setitem__(0, "")), "line 6: empty 'model'"),
    "inconsistent ceilings": (
        [[*HEADER, "ceiling"], ["m", "", "base", "A", 50, 90], ["m", "0", "A", "A", 60, 95]],
        "has ceiling 90 on line 2 but 95 on line 3",
    ),
    "ceiling out of range": ([[*HEADER, "ceiling"], ["m", "", "base", "A", 50, 120]], "outside (0, 100]"),
    "wrong number of fields": (_rows_with(lambda r: r[3].append("extra")), "line 4: expected 5 fields"),
    "header only": ([HEADER], "has a header but no data rows"),
    "pgf not a number": ([PGF_HEADER, ["0", "A", "A", "x"]], "line 2: 'perfection_gap_factor' is 'x'"),
    "pgf duplicate": (
        [PGF_HEADER, ["0", "A", "A", "0.1"], ["0", "A", "A", "0.2"]],
        "line 3: duplicates line 2",
    ),
    "pgf task missing from a seed": (
        [PGF_HEADER, ["0", "A", "A", "0.1"], ["0", "A", "B", "0.1"], ["1", "A", "A", "0.1"]],
        "seed '1' lacks A -> B",
    ),
    "capitalised header": (
        [["Model", "Seed", "Source", "Target", "Accuracy"], ["m", "", "base", "A", 50]],
        "(column names are lowercase)",
    ),
    "semicolon separated": ([["model;seed;source;target;accuracy"], ["m;;base;A;50"]], "separated by commas"),
    "fractions, not percent": (
        [HEADER, ["m", "", "base", "A", 0.5], ["m", "0", "A", "A", 0.7]],
        "every accuracy is <= 1 (max 0.7): accuracies must be percentages",
    ),
    "fractional n": (
        [[*HEADER, "n"], ["m", "", "base", "A", 50, 10.5]],
        "line 2: 'n' is 10.5, not a whole number",
    ),
    "zero n": ([[*HEADER, "n"], ["m", "", "base", "A", 50, 0]], "line 2: 'n' is 0, outside [1, 1e+09]"),
    "a finetuned task named base": (
        [HEADER, ["m", "", "base", "A", 50], ["m", "0", "base", "A", 60], ["m", "0", "A", "A", 70]],
        "'base' is the reserved source name",
    ),
    "pgf missing column": (
        [["seed", "ft_task", "task", "pgf"], ["0", "A", "A", "0.1"]],
        "perfection_gap_factor",
    ),
}


@pytest.mark.parametrize("case", list(BAD_TABLES))
def test_bad_tables_give_one_line_exit_2_and_no_output(case, write_csv, tmp_path):
    rows, fragment = BAD_TABLES[case]
    path = write_csv("bad.csv", rows)
    _assert_rejected(run("analyze", path, "--out", tmp_path / "out"), fragment, "bad.csv", tmp_path)


BAD_FILES = {
    "empty file": (b"", "file is empty"),
    "whitespace only": (b"\n  \n", "file is empty"),
    "binary file": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a CSV file (binary content)"),
    "latin-1 text": (
        "model,seed,source,target,accuracy\nm,,base,Caf\xe9,50\n".encode("latin-1"),
        "not UTF-8",
    ),
    "JSON file": (b'{"model": "m", "accuracy": 50}\n', "not an accuracy table"),
    "byte-order mark only": (b"\xef\xbb\xbf\n", "file is empty"),
    "unterminated quote": (b'model,seed,source,target,accuracy\nm,,"base,A,50\n', "expected 5 fields"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_files_give_one_line_exit_2_and_no_output(case, tmp_path):
    content, fragment = BAD_FILES[case]
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    _assert_rejected(run("analyze", path, "--out", tmp_path / "out"), fragment, "bad.csv", tmp_path)


BAD_OPTIONS = {
    "ceiling without value": (["--ceiling", "A"], "--ceiling: expected TASK=VALUE"),
    "ceiling not a number": (["--ceiling", "A=high"], "--ceiling: expected TASK=VALUE"),
    "ceiling above 100": (["--ceiling", "A=101"], "--ceiling: expected TASK=VALUE"),
    "ceiling of an unknown target": (["--ceiling", "Zebra=90"], "--ceiling: 'Zebra' is not a target"),
    "ceiling at the baseline": (["--ceiling", "A=50"], "at or above its ceiling 50"),
    "unknown model in order": (["--model-order", "n"], "--model-order: unknown model 'n'"),
    "model named twice in order": (["--model-order", "m,m"], "named twice"),
    "edge fraction zero": (["--edge-fraction", "0"], "edge_fraction must be in (0, 1], got 0"),
    "clique size one": (["--min-clique-size", "1"], "min_clique_size must be at least 2"),
    "empty label": (["--label", " "], "--label: a label is empty"),
    "too many labels": (["--label", "x"], "--label: 1 labels given for 0 PGF file(s)"),
}


@pytest.mark.parametrize("case", list(BAD_OPTIONS))
def test_bad_options_give_one_line_exit_2_and_no_output(case, write_csv, tmp_path):
    options, fragment = BAD_OPTIONS[case]
    path = write_csv("acc.csv", accuracy_rows())
    _assert_rejected(run("analyze", path, "--out", tmp_path / "out", *options), fragment, None, tmp_path)


def test_missing_file_and_duplicate_labels(write_csv, tmp_path):
    _assert_rejected(
        run("analyze", tmp_path / "nope.csv", "--out", tmp_path / "out"),
        "file not found",
        "nope.csv",
        tmp_path,
    )
    pgf = write_csv("p.csv", [PGF_HEADER, ["0", "A", "A", "0.1"]])
    _assert_rejected(run("analyze", pgf, pgf, "--out", tmp_path / "out"), "is used by both", None, tmp_path)


def test_a_bad_second_file_leaves_no_output_even_after_a_good_first(write_csv, tmp_path):
    good = write_csv("good.csv", accuracy_rows())
    bad = write_csv("bad.csv", [HEADER, ["m2", "0", "A", "A", 50]])
    _assert_rejected(
        run("analyze", good, bad, "--out", tmp_path / "out"), "no base rows", "bad.csv", tmp_path
    )


def test_the_installed_command_prints_no_traceback(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("model,seed,source,target,accuracy\nm,,base,A,104\n")
    command = [sys.executable, "-m", "vlmtransfer.cli", "analyze", str(path), "--out", str(tmp_path / "out")]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    assert completed.returncode == 2
    assert completed.stderr == f"error: {path}: line 2: 'accuracy' is 104, outside [0, 100]\n"
    assert "Traceback" not in completed.stdout + completed.stderr


def _assert_rejected(result, fragment: str, file_name: str | None, tmp_path: Path) -> None:
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert fragment in lines[0]
    if file_name:
        assert file_name in lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_user_task_file_gives_categories_to_new_tasks(write_csv, tmp_path):
    tasks = tmp_path / "tasks.yaml"
    tasks.write_text(
        "suite: mine\ntasks:\n"
        "  - {name: A, abbreviation: TA, level: low, granularity: pixel}\n"
        "  - {name: B, abbreviation: TB, level: low, granularity: image}\n"
        "  - {name: C, abbreviation: TC, level: high, granularity: image}\n"
    )
    path = write_csv("acc.csv", accuracy_rows())
    out = tmp_path / "out"
    assert run("analyze", path, "--tasks", tasks, "--out", out, "-q").exit_code == 0
    document = json.loads((out / "analysis.json").read_text())
    assert document["tasks"]["A"] == {"abbreviation": "TA", "level": "low", "granularity": "pixel"}
    levels = {row["source_category"] for row in document["models"]["m"]["categories"]["level"]}
    assert levels == {"low", "high"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("tasks:\n  - {name: A, abbreviation: A, level: extreme}\n")
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    result = run("analyze", path, "--tasks", bad, "--out", fresh / "out")
    _assert_rejected(result, "level must be", "bad.yaml", fresh)


def test_an_unreadable_file_is_bad_input(tmp_path):
    unreadable = Path("/proc/self/mem")  # exists, but reading it whole fails with EIO
    if not unreadable.exists():
        pytest.skip("needs Linux /proc")
    result = run("analyze", unreadable, "--out", tmp_path / "out")
    _assert_rejected(result, "cannot read file", "/proc/self/mem", tmp_path)


def test_a_file_name_with_a_newline_still_gives_one_line(tmp_path):
    path = tmp_path / "bad\nname.csv"
    path.write_text("model,seed,source,target,accuracy\nm,,base,A,200\n")
    _assert_rejected(
        run("analyze", path, "--out", tmp_path / "out"), "outside [0, 100]", "bad name.csv", tmp_path
    )


def test_suspicious_values_are_warned_about_but_analysed(write_csv, tmp_path):
    pgf = write_csv("p.csv", [PGF_HEADER, ["0", "A", "A", "7.5"], ["0", "A", "B", "0.1"]])
    acc = write_csv(
        "a.csv", [[*HEADER, "ceiling"], ["m", "", "base", "A", 50, 80], ["m", "0", "A", "A", 90, 80]]
    )
    result = run("analyze", pgf, acc, "--out", tmp_path / "out", "-q")
    assert result.exit_code == 0, result.stderr
    warnings = result.stderr.strip().splitlines()
    assert warnings[0].startswith("warning: ")
    assert "1 PGF value(s) above 1 (max 7.5 on line 2)" in warnings[0]
    assert "1 finetuned accuracies exceed their target's ceiling (first: line 3, 90 > 80)" in warnings[1]


def test_ceiling_precedence_option_then_column_then_task_file(write_csv, tmp_path):
    tasks = tmp_path / "tasks.yaml"
    tasks.write_text(
        "tasks:\n  - {name: A, abbreviation: A, ceiling: 80}\n  - {name: B, abbreviation: B, ceiling: 80}\n"
    )
    rows = [[*HEADER, "ceiling"]]
    rows += [["m", "", "base", t, 50, 90 if t == "B" else ""] for t in "ABC"]
    rows += [["m", "0", s, t, 60, ""] for s in "ABC" for t in "ABC"]
    path = write_csv("acc.csv", rows)
    out = tmp_path / "out"
    assert run("analyze", path, "--tasks", tasks, "--ceiling", "C=70", "--out", out, "-q").exit_code == 0
    baseline = json.loads((out / "analysis.json").read_text())["models"]["m"]["baseline"]
    assert {t: b["ceiling"] for t, b in baseline.items()} == {"A": 80.0, "B": 90.0, "C": 70.0}
    assert all(b["accuracy_std"] is None for b in baseline.values())  # one baseline shared by all seeds


def test_question_counts_are_carried_into_the_long_table(write_csv, tmp_path):
    rows = [[*HEADER, "n"], ["m", "", "base", "A", 50, 120], ["m", "0", "A", "A", 60, 120]]
    out = tmp_path / "out"
    assert run("analyze", write_csv("acc.csv", rows), "--out", out, "-q").exit_code == 0
    long = (out / "pgf.csv").read_text().splitlines()
    assert long[0].split(",")[-2:] == ["n", "relative_gain"]
    assert long[1].split(",")[-2] == "120.0"


def test_output_does_not_depend_on_row_order(write_csv, tmp_path):
    rows = accuracy_rows(seeds=("0", "00", "1"))
    shuffled = [rows[0], *reversed(rows[1:])]
    for name, table in (("a", rows), ("b", shuffled)):
        assert run("analyze", write_csv(f"{name}.csv", table), "--out", tmp_path / name, "-q").exit_code == 0
    first = json.loads((tmp_path / "a" / "analysis.json").read_text())
    second = json.loads((tmp_path / "b" / "analysis.json").read_text())
    first.pop("inputs"), second.pop("inputs")
    first["models"]["m"].pop("origin"), second["models"]["m"].pop("origin")
    assert first == second
    assert first["models"]["m"]["seeds"] == ["0", "00", "1"]


def test_input_hash_is_of_the_bytes_analysed(write_csv, tmp_path):
    path = write_csv("acc.csv", accuracy_rows())
    out = tmp_path / "out"
    assert run("analyze", path, "--out", out, "-q").exit_code == 0
    (entry,) = json.loads((out / "analysis.json").read_text())["inputs"]
    assert entry == {
        "path": str(path),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "models": ["m"],
    }


@pytest.mark.parametrize(
    "rows",
    [
        [
            HEADER,
            ["m", "", "base", "A", 50],
            ["m", "0", "A", "A", 60],
        ],  # one seed, one task: nothing to transfer
        [
            HEADER,
            *[["m", "", "base", t, 50] for t in "AB"],
            *[["m", "0", s, t, 50] for s in "AB" for t in "AB"],
        ],
        [HEADER, *[["m", "", "base", t, 40] for t in "ABC"], *[["m", "0", "A", t, 45] for t in "ABC"]],
    ],
    ids=["single-task", "all-zero", "single-source"],
)
def test_degenerate_studies_give_schema_valid_output(write_csv, tmp_path, rows):
    out = tmp_path / "out"
    result = run("analyze", write_csv("acc.csv", rows), "--out", out)
    assert result.exit_code == 0, result.stderr
    jsonschema.validate(json.loads((out / "analysis.json").read_text()), analysis_schema())
