"""The synthetic tasks: one module per task, each with its generator and its ``TASK``, and one registry.

Laid out as ``data/builders/`` is: :mod:`.base` holds the contract (:class:`TaskDef`, the
:class:`Example` a generator returns) and the helpers generators share (random draws, placement,
retries, labels off the patch grid); :mod:`.ground` the ground-plane backdrop of the depth and
multi-view scenes; one module per task (``counting.py``, ``jigsaw.py`` ...) its generators, constants
and ``TASK``; :mod:`.registry` the suite, :data:`TASKS`, in suite order.

Adding a task is adding one module and registering it:

1. ``<task>.py``: a generator ``gen(rng, answer, size) -> Example`` that draws every random number from
   ``rng`` (a scene that misses the task's constraints raises :class:`~.base.RetryError` inside
   :func:`~.base.retrying`, which draws again from the same stream), and
   ``TASK = TaskDef(name, mirrored task, choices, images, gen)``, with ``pretraining=`` an easier
   generator for the ``pretrain`` split where there is one;
2. ``<task>.TASK`` in :data:`TASKS` (:mod:`.registry`), at its spec's position in
   ``vlmtransfer/tasks/synthetic.yaml``, and the spec there;
3. a solver in :mod:`vlmtransfer.data.synthetic.solvers` (``_SOLVERS``), which proves every answer
   recoverable without the model.

The suite's tests then check the task's shape, balance, determinism and solvability. An existing task's
random draws never change: the tests pin the ``pretrain`` split and the tokenizer corpus the shipped tiny
model was built from (both are drawn over every registered task, so a new task updates those two digests).
"""

from vlmtransfer.data.synthetic.tasks.base import Example, TaskDef
from vlmtransfer.data.synthetic.tasks.registry import TASKS

__all__ = ["TASKS", "Example", "TaskDef"]
