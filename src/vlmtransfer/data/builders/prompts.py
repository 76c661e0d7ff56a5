"""Prompts in BLINK's exact wording, from the task registry or from a local BLINK copy's val rows.

A template is BLINK's full prompt with placeholders: ``{choices}`` for the lettered options (one
``(A) text`` line each), and for the tasks whose question varies, ``{question}`` (Counting,
Spatial_Relation), ``{object}`` (Object_Localization) or ``{action}`` (Functional_Correspondence).
Literal braces are doubled, as in :meth:`str.format`. The registry's templates (``extra.prompt`` of
each BLINK task in ``tasks/blink.yaml``) reproduce BLINK's val prompts, whose wording differs between
tasks in small ways ("choices" or "options", a blank line before the options, a trailing newline).

With ``--blink DIR``, the template is derived from that copy's val rows instead: the options block is
cut from each prompt, and what varies between rows becomes the placeholder — the row's ``question``
field where the prompt contains it, otherwise the part between the prefix and suffix all rows share.
"""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vlmtransfer.data.records import LETTERS, MCQRecord
from vlmtransfer.errors import InputError
from vlmtransfer.tasks import TaskRegistry, default_registry

__all__ = [
    "SLOTS",
    "PromptTemplate",
    "choices_block",
    "derive_template",
    "registry_template",
    "template_from_blink",
]

SLOTS = frozenset({"choices", "question", "object", "action"})
"""The placeholders a template may use."""


def choices_block(choices: Sequence[str]) -> str:
    """BLINK's option lines: ``(A) first`` newline ``(B) second`` ..."""
    return "\n".join(f"({letter}) {choice}" for letter, choice in zip(LETTERS, choices, strict=False))


@dataclass(frozen=True)
class PromptTemplate:
    """A prompt template and where it came from.

    Raises:
        ValueError: a placeholder other than :data:`SLOTS`, a format spec, or no ``{choices}``.
    """

    text: str
    origin: str = "registry"

    def __post_init__(self) -> None:
        fields = []
        for _, name, spec, conversion in string.Formatter().parse(self.text):
            if name is None:
                continue
            if name not in SLOTS or spec or conversion:
                raise ValueError(
                    f"prompt template: unsupported placeholder {{{name}}} (allowed: {sorted(SLOTS)})"
                )
            fields.append(name)
        if "choices" not in fields:
            raise ValueError("prompt template: no {choices} placeholder")

    @property
    def slots(self) -> frozenset[str]:
        """The placeholders besides ``choices``."""
        return frozenset(name for _, name, _, _ in string.Formatter().parse(self.text) if name) - {"choices"}

    def render(self, choices: Sequence[str], **slots: str) -> str:
        """The prompt for these options and slot values.

        Raises:
            ValueError: a slot value is missing.
        """
        missing = self.slots - set(slots)
        if missing:
            raise ValueError(f"prompt template needs {sorted(missing)}")
        return self.text.format(choices=choices_block(choices), **slots)


def registry_template(task: str, registry: TaskRegistry | None = None) -> PromptTemplate:
    """The task's template from the registry (``extra.prompt``).

    Raises:
        InputError: the task has no template (a user task without ``extra: {prompt: ...}``) or it is invalid.
    """
    spec = (registry or default_registry()).get(task)
    text = spec.extra.get("prompt")
    if not isinstance(text, str):
        raise InputError(f"task {task!r} has no prompt template (extra.prompt in its task file)")
    try:
        return PromptTemplate(text, "registry")
    except ValueError as exc:
        raise InputError(f"task {task!r}: {exc}") from None


def template_from_blink(
    task: str, blink_dir: Path, default: PromptTemplate
) -> tuple[PromptTemplate, str | None]:
    """The template of ``task`` derived from the val rows of a local BLINK copy.

    Returns:
        The derived template, or ``default`` with a warning when the copy has no val rows for the task
        or its prompts do not fit ``default``'s placeholders.

    Raises:
        InputError: the copy's rows cannot be read.
    """
    from vlmtransfer.data.blink import BlinkSource, load_blink  # noqa: PLC0415 - loads datasets

    if not any((blink_dir / task).glob("val-*.parquet")):
        return default, f"{blink_dir} has no {task} val rows; prompts use the registry template"
    import tempfile  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="vlmtransfer-blink-") as cache:
        rows = [record for record, _ in load_blink(task, "val", BlinkSource(blink_dir, cache_dir=cache))]
    derived = derive_template(rows, default)
    if derived is None:
        return (
            default,
            f"the {task} val prompts of {blink_dir} do not fit the registry template; used it instead",
        )
    return derived, None


def derive_template(rows: Sequence[MCQRecord], default: PromptTemplate) -> PromptTemplate | None:
    """BLINK's template from val rows, with ``default``'s placeholders; None when the rows do not fit.

    Each row's options block (:func:`choices_block` of its choices, followed by whitespace only) is
    replaced by ``{choices}``. With no other placeholder the most common result is the template. A
    ``{question}`` replaces the row's ``meta["question"]`` where the prompt contains it once. Another
    placeholder takes the part of the prompts between the longest prefix and suffix all rows share,
    trimmed to word boundaries.
    """
    heads = [h for h in (_cut_choices(r) for r in rows) if h is not None]
    if not heads:
        return None
    slots = default.slots
    if not slots:
        candidates = [_escape_all(h) for h in heads]
    elif slots == {"question"}:
        candidates = [c for c in (_with_question(r) for r in rows) if c is not None]
    elif len(slots) == 1:
        candidates = _with_varying_part(heads, next(iter(slots)))
    else:  # pragma: no cover - no BLINK task has two placeholders
        return None
    if not candidates:
        return None
    text, agreeing = Counter(candidates).most_common(1)[0]
    try:
        template = PromptTemplate(text, f"BLINK val rows ({agreeing} of {len(rows)} agree)")
    except ValueError:
        return None
    return template if template.slots == slots else None


_CHOICES_MARK = "\x00choices\x00"


def _cut_choices(row: MCQRecord) -> str | None:
    """The prompt with its trailing options block replaced by a marker, or None if it has none."""
    block = choices_block(row.choices)
    at = row.prompt.rfind(block)
    if at < 0 or row.prompt[at + len(block) :].strip():
        return None
    return row.prompt[:at] + _CHOICES_MARK + row.prompt[at + len(block) :]


def _escape_all(head: str) -> str:
    return _escape(head).replace(_CHOICES_MARK, "{choices}")


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _with_question(row: MCQRecord) -> str | None:
    head, question = _cut_choices(row), row.meta.get("question")
    if head is None or not isinstance(question, str) or not question or head.count(question) != 1:
        return None
    before, after = head.split(question)
    return f"{_escape_all(before)}{{question}}{_escape_all(after)}"


def _with_varying_part(heads: list[str], slot: str) -> list[str]:
    distinct = sorted(set(heads))
    if len(distinct) < 2:
        return []
    prefix = _common_prefix(distinct)
    suffix = _common_prefix([h[::-1] for h in distinct])[::-1]
    while prefix and prefix[-1].isalnum():  # never split a word: the slot starts at a word boundary
        prefix = prefix[:-1]
    while suffix and suffix[0].isalnum():
        suffix = suffix[1:]
    if _CHOICES_MARK not in suffix or any(len(h) <= len(prefix) + len(suffix) for h in distinct):
        return []
    return [f"{_escape_all(prefix)}{{{slot}}}{_escape_all(suffix)}"] * len(heads)


def _common_prefix(texts: list[str]) -> str:
    first, last = min(texts), max(texts)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    return first[:n]
