"""Generating the synthetic suite: deterministic streams, balanced answers, records and a dataset tree."""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from vlmtransfer.data.dataset import image_bytes, write_manifest, write_split
from vlmtransfer.data.prompts import format_question
from vlmtransfer.data.records import LETTERS, MANIFEST, MCQRecord
from vlmtransfer.data.synthetic.tasks import TASKS, TaskDef
from vlmtransfer.data.synthetic.video_tasks import VIDEO_QUESTION_PREFIX, VIDEO_TASKS, VideoTaskDef
from vlmtransfer.errors import InputError
from vlmtransfer.fsutil import staged_directory
from vlmtransfer.registry import Registry

__all__ = [
    "MIN_IMAGE_SIZE",
    "SYNTHETIC_TASKS",
    "SYNTHETIC_VIDEO_TASKS",
    "generate_examples",
    "generate_suite",
    "task_def",
]

SYNTHETIC_TASKS: tuple[str, ...] = TASKS.names()
"""The synthetic image tasks, in suite order (the order of ``tasks/synthetic.yaml``): the default
selection, and what the tiny model was pretrained on."""
SYNTHETIC_VIDEO_TASKS: tuple[str, ...] = VIDEO_TASKS.names()
"""The synthetic video tasks (``tasks/synthetic_video.yaml``), generated when named."""
_ANY_TASK: Registry[TaskDef | VideoTaskDef] = Registry(
    "synthetic task", (*TASKS.items(), *VIDEO_TASKS.items()), cutoff=0.5
)

MIN_IMAGE_SIZE = 56
_ANSWER_STREAM = 0  # the stream that deals answer letters
_EXAMPLE_STREAM = 1  # the streams of the examples themselves
ANSWER_BLOCK = 20  # answers are balanced over blocks of ANSWER_BLOCK x (number of choices) examples


def task_def(name: str) -> TaskDef | VideoTaskDef:
    """The definition of a synthetic image or video task; an unknown name is an InputError listing
    near matches."""
    return _ANY_TASK.get(name)


def _key(text: str) -> int:
    """A stable 32-bit hash (the same in every process, unlike ``hash``)."""
    return zlib.crc32(text.encode("utf-8"))


def _check(split: str, n: int, seed: int, image_size: int) -> None:
    if not isinstance(split, str) or not split or not split.replace("_", "").replace("-", "").isalnum():
        raise InputError(f"split name {split!r} must be a non-empty word (letters, digits, _ or -)")
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise InputError(f"number of examples must be a whole number >= 0, not {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"seed must be a whole number >= 0, not {seed!r}")
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < MIN_IMAGE_SIZE:
        raise InputError(f"image size must be a whole number >= {MIN_IMAGE_SIZE}, not {image_size!r}")


def answer_indices(task: str, split: str, n: int, seed: int) -> list[int]:
    """Correct-choice indices of the first ``n`` examples, dealt in blocks of ``ANSWER_BLOCK * k``
    examples (``k`` choices), each a seeded shuffle of its own stream holding every choice equally often.
    A final, partial block of ``m`` examples holds each choice ``m // k`` times plus ``m % k`` distinct
    choices drawn from that block's stream, so each choice is correct ``n // k`` or ``n // k + 1`` times.
    Blocks this long keep neighbouring examples from giving each other's answers away (with blocks of
    ``k`` the last answer of each block is the choice not yet seen). Answers of complete blocks do not
    depend on ``n``; only those of the final partial block do."""
    k = task_def(task).choices
    block = ANSWER_BLOCK * k
    answers: list[int] = []
    for b in range((n + block - 1) // block):
        rng = np.random.default_rng(
            np.random.SeedSequence([seed, _key(task), _key(split), _ANSWER_STREAM, b])
        )
        m = min(block, n - b * block)
        extra = rng.permutation(k)[: m % k]
        deal = np.concatenate([np.repeat(np.arange(k), m // k), extra])
        answers.extend(int(v) for v in rng.permutation(deal))
    return answers


def generate_examples(
    task: str,
    split: str,
    n: int,
    seed: int,
    image_size: int = 112,
    *,
    rendering: Literal["split", "pretrain"] = "split",
) -> Iterator[tuple[MCQRecord, list[Image.Image]]]:
    """The first ``n`` examples of ``task``'s ``split`` for ``seed``: records and their images (a video
    task's: its clip's frames, in time order).

    Example ``i`` is drawn from its own stream, ``SeedSequence([seed, crc32(task), crc32(split), 1, i])``,
    so it does not depend on other tasks, nor on ``n`` unless it lies in the final, partial block of
    answers, and splits never share a stream (nor do the streams dealing the answers, see
    :func:`answer_indices`). Image paths are
    ``images/<split>_<i:05d>_<k>.png``, relative to the task's directory; a video task's record names
    one video, the folder of frames ``videos/<split>_<i:05d>`` (frames ``<k:02d>.png``), and its prompt
    starts with VSI-Bench's ``These are frames of a video.``.

    ``rendering="pretrain"`` draws the split's questions with the ``pretrain`` split's renderings (the
    ``TaskDef.pretraining`` generators): what the split was before renderings made for ``train`` and
    ``val`` only. The tiny model's tokenizer learns from it, so such renderings never change the
    tokenizer that ``vlmtransfer model tiny --rebuild`` trains.

    Raises:
        InputError: unknown task (with near matches), bad split name, negative ``n`` or seed, or an
            image size below 56.
    """
    definition = task_def(task)
    _check(split, n, seed, image_size)
    if rendering not in {"split", "pretrain"}:
        raise InputError(f"unknown rendering {rendering!r} (known: split, pretrain)", field="rendering")
    if isinstance(definition, VideoTaskDef):
        yield from _video_examples(definition, split, n, seed, image_size)
        return
    generator = definition.generator("pretrain" if rendering == "pretrain" else split)
    for i, rng, answer in _draws(task, split, n, seed):
        example = generator(rng, answer, image_size)
        if len(example.choices) != definition.choices or len(example.images) != definition.images:
            raise AssertionError(f"{task}: generator broke the task's shape")  # pragma: no cover
        images = tuple(f"images/{split}_{i:05d}_{k}.png" for k in range(len(example.images)))
        prompt = format_question(example.question, example.choices)
        record = _record(task, split, i, seed, image_size, definition.blink, example, answer, prompt, images)
        yield record, example.images


def _draws(task: str, split: str, n: int, seed: int) -> Iterator[tuple[int, np.random.Generator, int]]:
    """Per example ``i``: its own random stream and its dealt answer index (see
    :func:`generate_examples`)."""
    answers = answer_indices(task, split, n, seed)
    for i in range(n):
        sequence = np.random.SeedSequence([seed, _key(task), _key(split), _EXAMPLE_STREAM, i])
        yield i, np.random.default_rng(sequence), answers[i]


def _record(  # noqa: PLR0917 - one record's every part, in one place for images and videos
    task: str,
    split: str,
    i: int,
    seed: int,
    size: int,
    mirrors: str,
    example: Any,
    answer: int,
    prompt: str,
    images: tuple[str, ...] = (),
    videos: tuple[str, ...] = (),
) -> MCQRecord:
    return MCQRecord(
        id=f"syn_{split}_{task}_{i:05d}",
        task=task,
        images=images,
        prompt=prompt,
        choices=example.choices,
        answer=LETTERS[answer],
        meta={
            "generator": "synthetic",
            "seed": seed,
            "split": split,
            "index": i,
            "image_size": size,
            "mirrors": mirrors,
            "render": example.render,
        },
        videos=videos,
    )


def _video_examples(
    definition: VideoTaskDef, split: str, n: int, seed: int, size: int
) -> Iterator[tuple[MCQRecord, list[Image.Image]]]:
    """:func:`generate_examples` of a video task: the same streams and answer dealing, one clip each."""
    task = definition.name
    for i, rng, answer in _draws(task, split, n, seed):
        example = definition.generate(rng, answer, size)
        if len(example.choices) != definition.choices or len(example.frames) != definition.frames:
            raise AssertionError(f"{task}: generator broke the task's shape")  # pragma: no cover
        prompt = f"{VIDEO_QUESTION_PREFIX}\n{format_question(example.question, example.choices)}"
        videos = (f"videos/{split}_{i:05d}",)
        record = _record(
            task, split, i, seed, size, definition.mirrors, example, answer, prompt, videos=videos
        )
        yield record, example.frames


def _write_unit(staging: Path, task: str, split: str, n: int, *, seed: int, image_size: int) -> None:
    if isinstance(task_def(task), VideoTaskDef):
        write_split(staging, task, split, _video_items(staging / task, task, split, n, seed, image_size))
        return
    items = (
        (record, [image_bytes(im) for im in images])
        for record, images in generate_examples(task, split, n, seed, image_size)
    )
    write_split(staging, task, split, items)


def _video_items(  # noqa: PLR0917 - _write_unit's arguments, passed on
    task_dir: Path, task: str, split: str, n: int, seed: int, image_size: int
) -> Iterator[tuple[MCQRecord, list[bytes]]]:
    """Records of a video task for ``write_split``, each clip's frames written to its folder first."""
    for record, frames in generate_examples(task, split, n, seed, image_size):
        folder = task_dir / record.videos[0]
        folder.mkdir(parents=True, exist_ok=True)
        for k, frame in enumerate(frames):
            (folder / f"{k:02d}.png").write_bytes(image_bytes(frame))
        yield record, []


def generate_suite(  # noqa: PLR0917 - the public signature, positional as documented
    out_dir: str | Path,
    tasks: Sequence[str] | None = None,
    n_train: int = 1000,
    n_val: int = 200,
    seed: int = 0,
    image_size: int = 112,
) -> dict[str, dict[str, int]]:
    """Write the synthetic suite to ``out_dir`` (all or nothing; an earlier suite there is replaced).

    ``tasks``: image and video task names (default: every image task). Layout:
    ``out_dir/<task>/train.jsonl``, ``val.jsonl``, ``images/<split>_<index:05d>_<k>.png`` (a video
    task's ``videos/<split>_<index:05d>/<k:02d>.png``, a folder of frames per clip) and
    ``out_dir/manifest.json`` (kind ``synthetic``, with the seed and image size). A split with no
    examples gets no file.

    Returns:
        ``{task: {"train": n_train, "val": n_val}}``.

    Raises:
        InputError: unknown task names (with near matches) or bad counts, seed or size, before anything
            is written.
        vlmtransfer.fsutil.OutputDirectoryError: ``out_dir`` holds files vlmtransfer did not write.
    """
    names = list(SYNTHETIC_TASKS if tasks is None else tasks)
    if not names:
        raise InputError("no synthetic tasks selected")
    for name in names:
        task_def(name)
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InputError(f"task(s) listed twice: {', '.join(duplicates)}")
    splits = {"train": n_train, "val": n_val}
    for split, n in splits.items():
        _check(split, n, seed, image_size)
    counts = {name: dict(splits) for name in names}
    units = [(name, split, n) for name in names for split, n in splits.items() if n]
    with staged_directory(out_dir, MANIFEST) as staging:
        # Each (task, split) is independent and writes its own files, so running them in threads
        # changes nothing in the output; PNG encoding releases the GIL, which makes this faster.
        workers = max(1, min(len(units), os.cpu_count() or 1, 4))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [
                pool.submit(_write_unit, staging, name, split, n, seed=seed, image_size=image_size)
                for name, split, n in units
            ]
            for future in futures:
                future.result()
        write_manifest(
            staging,
            "synthetic",
            counts,
            seed=seed,
            image_size=image_size,
            suite="synthetic",
        )
    return counts
