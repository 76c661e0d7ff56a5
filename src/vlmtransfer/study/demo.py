"""The demo study: the embedded tiny Qwen2.5-VL on the synthetic suite, sized for signal on a laptop CPU.

Eight tasks whose baselines lie between chance + 10 points and 90 % on the demo's splits (forensics,
multi-view reasoning, object localisation, visual similarity, relative reflectance, counting, relative
depth, jigsaw); art style, spatial relation and the two correspondences are left out, since the model
answers them at chance and finetuning on a task answered at chance mostly wipes out the others
(docs/synthetic-suite.md, "What LoRA does"). The `train` and `val` splits leave finetuning room where
pretraining did not (weaker forensic grids, smaller camera moves, marker letters a pixel off the patch
grid in half the questions, clearer jigsaw edges; "Headroom").

Two synthetic video tasks (object counting and appearance order, VSI-Bench's types on clips of a camera
panning along a strip of shapes; docs/video.md) are targets only, as VSI-Bench is in the paper's §5.3:
every image finetune is also evaluated on them, and the analysis and report show the image-to-video
block of the PGF matrix on its own.

Sizes come from measurements on the shipped model (docs/synthetic-suite.md): 400 val questions per
target (one question is 0.25 points; with 200 the smallest PGF detected with 80 % power was 0.10-0.24);
three seeds; rank-16 LoRA on the language model, vision tower and merger (the language model alone
recalibrated each task's own pathway and transferred nothing significant), 128 steps at lr 3e-3 with a
linear decay; two worker processes, which on a CPU finish the jobs sooner than one process using every
core. Everything is real: the data is generated, every finetune and evaluation runs, and the analysis
comes from them.
"""

from __future__ import annotations

import json
from pathlib import Path

from vlmtransfer.data.records import MANIFEST
from vlmtransfer.study.config import StudyConfig

__all__ = ["DEMO_SEEDS", "DEMO_TASKS", "DEMO_VIDEO_TARGETS", "demo_config", "prepare_demo_data"]

DEMO_TASKS = (
    "Syn_Counting",
    "Syn_Forensic_Detection",
    "Syn_Jigsaw",
    "Syn_Multi-view_Reasoning",
    "Syn_Object_Localization",
    "Syn_Relative_Depth",
    "Syn_Relative_Reflectance",
    "Syn_Visual_Similarity",
)
DEMO_VIDEO_TARGETS = ("Syn_Video_Object_Counting", "Syn_Video_Appearance_Order")
DEMO_SEEDS = (0, 1, 2)
DEMO_TRAIN = 500
DEMO_VAL = 400
DEMO_VIDEO_VAL = 120
DEMO_STEPS = 128
DATA_SEED = 0
DEMO_WORKERS = 2


def prepare_demo_data(out_dir: Path) -> bool:
    """Generate the demo's synthetic data, the image tasks in ``out_dir/data`` and the video targets in
    ``out_dir/video``, unless they already hold exactly it; True if anything was generated."""
    from vlmtransfer.data.synthetic import generate_suite  # noqa: PLC0415

    generated = False
    for folder, tasks, train, val in (
        ("data", DEMO_TASKS, DEMO_TRAIN, DEMO_VAL),
        ("video", DEMO_VIDEO_TARGETS, 0, DEMO_VIDEO_VAL),
    ):
        if not _holds(out_dir / folder, {task: {"train": train, "val": val} for task in tasks}):
            generate_suite(out_dir / folder, tasks=tasks, n_train=train, n_val=val, seed=DATA_SEED)
            generated = True
    return generated


def _holds(data_dir: Path, expected: dict[str, dict[str, int]]) -> bool:
    try:
        manifest = json.loads((data_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return manifest.get("seed") == DATA_SEED and manifest.get("tasks") == expected


def demo_config(out_dir: Path) -> StudyConfig:
    """The demo study writing under ``out_dir`` (data in ``out_dir/data`` and ``out_dir/video``, the
    study in ``out_dir/study``)."""
    return StudyConfig.model_validate(
        {
            "name": "demo: tiny Qwen2.5-VL x synthetic suite",
            "output": out_dir / "study",
            "models": [{"name": "tiny", "label": "tiny"}],
            "data": {"dirs": [out_dir / "data"], "target_dirs": [out_dir / "video"]},
            "seeds": list(DEMO_SEEDS),
            "lora": {"rank": 16, "alpha": 32, "dropout": 0.05, "vision": True},
            "train": {
                "learning_rate": 3e-3,
                "max_steps": DEMO_STEPS,
                "batch_size": 8,
                "warmup_ratio": 0.05,
            },
            "eval": {"mode": "loglik", "batch_size": 32},
            "executor": {"kind": "local", "workers": DEMO_WORKERS},
        }
    )
