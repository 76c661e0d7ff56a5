"""The synthetic suite: every task's :class:`~.base.TaskDef`, in suite order (the order of
``vlmtransfer/tasks/synthetic.yaml``)."""

from __future__ import annotations

from vlmtransfer.data.synthetic.tasks import (
    art_style,
    counting,
    depth,
    forensic,
    jigsaw,
    multiview,
    object_localization,
    reflectance,
    semantic_correspondence,
    spatial_relation,
    visual_correspondence,
    visual_similarity,
)
from vlmtransfer.data.synthetic.tasks.base import TaskDef
from vlmtransfer.registry import Registry

__all__ = ["TASKS"]

TASKS: Registry[TaskDef] = Registry(
    "synthetic task",
    (
        (task.name, task)
        for task in (
            art_style.TASK,
            counting.TASK,
            forensic.TASK,
            jigsaw.TASK,
            multiview.TASK,
            object_localization.TASK,
            depth.TASK,
            reflectance.TASK,
            semantic_correspondence.TASK,
            spatial_relation.TASK,
            visual_correspondence.TASK,
            visual_similarity.TASK,
        )
    ),
    cutoff=0.5,
)
"""The synthetic tasks by name, in suite order; an unknown name is an InputError listing near matches."""
