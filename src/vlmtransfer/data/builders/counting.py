"""Counting from TallyQA: the question as asked, four numeric options around the true count."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from vlmtransfer.data.builders.base import (
    Example,
    Item,
    RenderContext,
    SourceIndex,
    SourceInfo,
    find_file,
    relative_to,
)
from vlmtransfer.data.records import LETTERS
from vlmtransfer.errors import InputError

__all__ = ["TallyQACounting"]


@dataclass(frozen=True)
class _Question:
    image: str
    question: str
    answer: int
    simple: bool | None
    origin: str | None


class TallyQACounting:
    """TallyQA (Acharya et al., AAAI 2019): ``train.json``, a list of ``{image, question, answer,
    issimple, data_source, image_id, question_id}``; ``image`` is relative to the image root
    (``train2014/COCO_train2014_*.jpg``, ``VG_100K/*.jpg``, ``VG_100K_2/*.jpg``).

    Options: four consecutive counts containing the true one, starting at a random offset below it
    (never below 0), so the true count is not always in the middle; shuffled with the truth at the
    answer's letter, as in BLINK ("(A) 0 (B) 3 (C) 2 (D) 1").
    """

    task: str = "Counting"
    max_per_group: int | None = 2
    source = SourceInfo(
        dataset="TallyQA",
        files=(
            "train.json  (from tallyqa.zip)",
            "train2014/, val2014/  (COCO 2014 images) and VG_100K/, VG_100K_2/  (Visual Genome images)",
        ),
        download="https://github.com/manoja328/TallyQA_dataset (images: cocodataset.org, Visual Genome)",
        license="TallyQA annotations (see its repository); COCO and Visual Genome images under their terms",
        split="train.json only; test.json (BLINK's source) is never read",
    )

    def scan(self, root: Path) -> SourceIndex:
        path = find_file(root, ("train.json", "tallyqa/train.json"), "TallyQA's train questions", self.source)
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"not JSON ({type(exc).__name__})", source=path) from None
        if not isinstance(entries, list):
            raise InputError("expected a list of questions", source=path)
        index = SourceIndex(root=root, items=[])
        for n, entry in enumerate(entries):
            question = _question(entry, path, n)
            if question is None:
                index.excluded["not a non-negative whole count"] += 1
                continue
            key = str(entry.get("question_id", n))
            index.items.append(Item(key=key, payload=question, group=question.image))
        return index

    def render(self, index: SourceIndex, item: Item, answer: str, ctx: RenderContext) -> Example:
        question: _Question = item.payload
        photo = ctx.photo(question.image)
        low = int(ctx.rng.integers(max(0, question.answer - 3), question.answer + 1))
        wrong = [str(v) for v in range(low, low + 4) if v != question.answer]
        order = [wrong[i] for i in ctx.rng.permutation(3)]
        position = LETTERS.index(answer)
        choices = (*order[:position], str(question.answer), *order[position:])
        return Example(
            images=[photo.image],
            choices=choices,
            answer=answer,
            slots={"question": question.question},
            sources=(relative_to(photo.path, index.root),),
            raw=[photo.image],
            meta={"count": question.answer, "simple": question.simple, "data_source": question.origin},
        )


def _question(entry: object, path: Path, n: int) -> _Question | None:
    if not isinstance(entry, dict) or not all(k in entry for k in ("image", "question", "answer")):
        raise InputError("expected {image, question, answer, ...}", source=path, where=f"entry {n}")
    answer = entry["answer"]
    if isinstance(answer, bool) or not isinstance(answer, int) or answer < 0:
        return None
    text = " ".join(str(entry["question"]).split())
    return _Question(str(entry["image"]), text, answer, entry.get("issimple"), entry.get("data_source"))
