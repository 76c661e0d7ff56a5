"""One prompt renderer for evaluation and training.

The model sees, in one user turn: the question's images (in record order), then the task prompt
(BLINK's ``prompt`` field: question plus lettered choices), then the answer instruction. The
training target is the answer in BLINK's form, ``"(B)"``. Messages use the Hugging Face chat format
(``{"type": "image"}`` entries, which the processor fills from the images passed beside them), so
any model's ``apply_chat_template`` renders them; the model layer does that, not this module.

Why images first: Qwen2.5-VL and BLINK's reference evaluations put the images before the text, and
keeping one order for training and evaluation keeps a finetuned adapter's prompt in distribution.
A model's own chat template has the last word on the rendered order: the embedded tiny model's puts
the text first (``vlmtransfer.models.tiny.CHAT_TEMPLATE`` says why).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from vlmtransfer.data.records import LETTERS, MCQRecord

__all__ = [
    "ANSWER_INSTRUCTION",
    "BLINK_DISCLAIMER",
    "DISCLAIMER_TASKS",
    "NUMBER_INSTRUCTION",
    "answer_target",
    "build_messages",
    "format_question",
    "render_prompt",
    "user_text",
]

ANSWER_INSTRUCTION = "Answer with the option's letter from the given choices directly."

NUMBER_INSTRUCTION = "Please answer the question using a single word or phrase."
"""The instruction after a numeric question's prompt (VSI-Bench's official one for numeric answers)."""

BLINK_DISCLAIMER = (
    "Disclaimer: This is not to make unfair assumptions about the people in the image and you just need to"
    " give your assessment on this question. You don't need to identify the real people. You just need to"
    " analyze based on the information I gave you.\n\n"
)
"""The text BLINK's own evaluation prepends for three tasks whose images show people, to avoid refusals
by API models. Off by default: open models do not refuse, and it changes the prompt distribution."""

DISCLAIMER_TASKS = frozenset({"Forensic_Detection", "Jigsaw", "Art_Style"})


def format_question(question: str, choices: Sequence[str]) -> str:
    """A prompt in BLINK's form: the question, then ``Select from the following choices.`` and one
    ``(X) choice`` line per option."""
    if not 2 <= len(choices) <= len(LETTERS):
        raise ValueError(f"a question needs 2 to {len(LETTERS)} choices, got {len(choices)}")
    options = "\n".join(f"({letter}) {choice}" for letter, choice in zip(LETTERS, choices, strict=False))
    return f"{question}\nSelect from the following choices.\n{options}"


def user_text(record: MCQRecord, *, disclaimer: bool = False, instruction: str = ANSWER_INSTRUCTION) -> str:
    """The text of the user turn: [disclaimer] prompt, newline, instruction (a numeric question's
    default instruction is :data:`NUMBER_INSTRUCTION`)."""
    if record.is_numeric and instruction == ANSWER_INSTRUCTION:
        instruction = NUMBER_INSTRUCTION
    prefix = BLINK_DISCLAIMER if disclaimer and record.task in DISCLAIMER_TASKS else ""
    return f"{prefix}{record.prompt}\n{instruction}" if instruction else f"{prefix}{record.prompt}"


def build_messages(
    record: MCQRecord,
    *,
    with_answer: bool = False,
    disclaimer: bool = False,
    instruction: str = ANSWER_INSTRUCTION,
) -> list[dict[str, Any]]:
    """Chat messages for one question: a user turn with one image entry per image and one video entry
    per video (``{"type": "video"}``, which the processor fills from the videos passed beside it), then
    the text.

    Args:
        record: the question.
        with_answer: append the assistant turn holding :func:`answer_target` (training).
        disclaimer: prepend BLINK's disclaimer for the tasks BLINK used it on.
        instruction: the answer instruction appended after the prompt.
    """
    content: list[dict[str, Any]] = [{"type": "image"} for _ in record.images]
    content += [{"type": "video"} for _ in record.videos]
    content.append(
        {"type": "text", "text": user_text(record, disclaimer=disclaimer, instruction=instruction)}
    )
    messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
    if with_answer:
        messages.append({"role": "assistant", "content": [{"type": "text", "text": answer_target(record)}]})
    return messages


def answer_target(record: MCQRecord) -> str:
    """The training target in BLINK's answer form, e.g. ``"(B)"``; a numeric question's is the number."""
    return record.answer if record.is_numeric else f"({record.answer})"


class ChatTemplater(Protocol):
    """Anything with Hugging Face's ``apply_chat_template`` (a processor or a tokenizer)."""

    def apply_chat_template(self, conversation: list[dict[str, Any]], **kwargs: Any) -> Any: ...


def render_prompt(
    record: MCQRecord,
    templater: ChatTemplater,
    *,
    with_answer: bool = False,
    disclaimer: bool = False,
    instruction: str = ANSWER_INSTRUCTION,
) -> str:
    """The exact text the model sees, rendered by the model's own chat template.

    For evaluation (``with_answer=False``) the generation prompt (the assistant turn's header) is
    appended, so the next token is the answer; for training the assistant turn holding ``(B)`` is
    included and no generation prompt is added. The processor expands each image entry into its tokens.
    """
    messages = build_messages(record, with_answer=with_answer, disclaimer=disclaimer, instruction=instruction)
    return templater.apply_chat_template(messages, tokenize=False, add_generation_prompt=not with_answer)
