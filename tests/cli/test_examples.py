"""Every ``vlmtransfer`` example in README.md and in each command's ``--help`` parses: the command exists,
its options exist, take the values given and nothing required is missing (issue 28 item 1).

Parsing, not running: examples name hub models, BLINK and the user's files. Running each one on the
tiny model and synthetic data is the next step (see the issue)."""

from __future__ import annotations

import re
import shlex

import pytest
import typer

from tests.conftest import REPO
from vlmtransfer.cli import (
    analyze,
    data,
    demo,
    diagnostics,
    evaluate,
    finetune,
    model,
    power,
    predict,
    report,
    select,
    study,
    tasks,
)
from vlmtransfer.cli.main import app

HELP_TEXTS = {
    "analyze": analyze.EXAMPLES, "data": "\n".join(
        getattr(data, name) for name in dir(data) if name.endswith("EXAMPLES")
    ), "demo": demo.EXAMPLES, "evaluate": evaluate.EXAMPLES, "finetune": finetune.EXAMPLES,
    "model": "\n".join(getattr(model, name) for name in dir(model) if name.endswith("EXAMPLES")),
    "power": power.EXAMPLES, "report": report.EXAMPLES, "select": select.EXAMPLES,
    "run": study.RUN_EXAMPLES, "status": study.STATUS_EXAMPLES, "tasks": tasks.EXAMPLES,
    "prior": diagnostics.PRIOR_EXAMPLES, "similarity": diagnostics.SIMILARITY_EXAMPLES,
    "predict": predict.EXAMPLES,
}  # fmt: skip


def examples(text: str) -> list[str]:
    """The ``vlmtransfer ...`` command lines of ``text``: continuation lines joined, rich markup,
    comments and shell pipes dropped."""
    text = re.sub(r"\[/?(?:dim|bold)\]", "", text).replace("\\\n", " ")
    commands = []
    for raw in text.splitlines():
        line = raw.split(" #")[0].split(" | ")[0].strip()
        if line.startswith("vlmtransfer ") and "--help" not in line:
            commands.append(line)
    return commands


def readme_examples() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), flags=re.DOTALL)
    return [command for block in blocks for command in examples(block)]


def parse(line: str) -> None:
    """Parse ``line`` as the CLI would, down to its subcommand, without running it."""
    command = typer.main.get_command(app)
    context = command.make_context("vlmtransfer", shlex.split(line)[1:])
    while hasattr(command, "resolve_command"):
        rest = [*getattr(context, "_protected_args", []), *context.args]  # typer's vendored click
        name, command, rest = command.resolve_command(context, rest)
        context = command.make_context(name, rest, parent=context)


def test_there_are_examples_everywhere():
    assert len(readme_examples()) >= 20
    for verb, text in HELP_TEXTS.items():
        assert examples(text), f"{verb} --help has no example"


@pytest.mark.parametrize("line", readme_examples())
def test_readme_examples_parse(line):
    parse(line)


@pytest.mark.parametrize("line", [line for text in HELP_TEXTS.values() for line in examples(text)])
def test_help_examples_parse(line):
    parse(line)


def test_a_broken_example_is_caught():
    with pytest.raises(Exception, match="No such option: --no-such-option"):
        parse("vlmtransfer analyze x.csv --out o --no-such-option")
    with pytest.raises(Exception, match="Missing parameter: analysis"):
        parse("vlmtransfer select --model 7B --target Counting")
    with pytest.raises(Exception, match="No such command 'analyse'"):
        parse("vlmtransfer analyse x.csv")


def test_every_command_with_examples_is_covered():
    """A new verb's --help examples are parsed and run too: its epilog must be in HELP_TEXTS."""
    command = typer.main.get_command(app)
    with_examples = {
        name
        for name, sub in command.commands.items()
        if "vlmtransfer " in (getattr(sub, "epilog", None) or "")
    }
    assert with_examples <= set(HELP_TEXTS)
