"""Training sets for the 13 BLINK tasks, built from the train splits of BLINK's own source datasets.

BLINK has no training split; "Understanding Task Transfer in Vision-Language Models" trained on data
"retrieved from the original datasets used in BLINK, adhering to the same task definitions and
response formats". One builder per task reads its source dataset (e.g. DIW for Relative_Depth) and
writes MCQ records that look like BLINK's questions: the same markers, options, image order and
prompt wording, answers balanced over the letters. See ``docs/blink-training-sets.md``.

    >>> from vlmtransfer.data.builders import BuildOptions, build_training_set
    >>> report = build_training_set("Relative_Depth", "~/data/DIW", "data/blink-train",  # doctest: +SKIP
    ...                             BuildOptions(n=1000, seed=0, blink=Path("~/snapshots/BLINK")))
"""

from vlmtransfer.data.builders.base import Builder, Example, Item, SkipItem, SourceIndex, SourceInfo
from vlmtransfer.data.builders.leakage import LeakageGuard, phash
from vlmtransfer.data.builders.pipeline import BUILD_FILE, KIND, BuildOptions, BuildReport, build_training_set
from vlmtransfer.data.builders.prompts import PromptTemplate, derive_template, registry_template
from vlmtransfer.data.builders.registry import BUILDERS, get_builder

__all__ = [
    "BUILDERS",
    "BUILD_FILE",
    "KIND",
    "BuildOptions",
    "BuildReport",
    "Builder",
    "Example",
    "Item",
    "LeakageGuard",
    "PromptTemplate",
    "SkipItem",
    "SourceIndex",
    "SourceInfo",
    "build_training_set",
    "derive_template",
    "get_builder",
    "phash",
    "registry_template",
]
