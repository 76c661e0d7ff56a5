"""The synthetic perception suite: procedurally rendered multiple-choice tasks mirroring BLINK's.

Each task mirrors one BLINK task's question form, number of choices and images per question, with big,
high-contrast renderings a tiny vision-language model can learn from on a CPU, and with skills shared
by construction between tasks (depth cues, positions, colours, shapes, textures, marker reading), so
that finetuning on one task can transfer to others. See ``docs/synthetic-suite.md``.

Generation is deterministic: the same seed gives byte-identical files. The task specs (level,
granularity, choices, images) are in ``vlmtransfer/tasks/synthetic.yaml`` (suite ``synthetic``).
Four video tasks (a camera panning along a strip of shapes, asked VSI-Bench's questions; clips as
folders of frames) are generated when named: ``SYNTHETIC_VIDEO_TASKS``, suite ``synthetic_video``
(:mod:`.video_tasks`).

::

    from vlmtransfer.data.synthetic import generate_suite, generate_examples, solve
    generate_suite("data/synthetic", n_train=1000, n_val=200, seed=0)
    for record, images in generate_examples("Syn_Counting", "val", 5, seed=0):
        assert solve(record, images) == record.answer
"""

from vlmtransfer.data.synthetic.solvers import solve
from vlmtransfer.data.synthetic.suite import (
    SYNTHETIC_TASKS,
    SYNTHETIC_VIDEO_TASKS,
    generate_examples,
    generate_suite,
)

__all__ = ["SYNTHETIC_TASKS", "SYNTHETIC_VIDEO_TASKS", "generate_examples", "generate_suite", "solve"]
