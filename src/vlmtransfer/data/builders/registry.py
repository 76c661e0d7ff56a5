"""Which builder makes which BLINK task's training set."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from types import MappingProxyType

from vlmtransfer.data.builders.art_style import WikiArtStyle
from vlmtransfer.data.builders.base import Builder
from vlmtransfer.data.builders.counting import TallyQACounting
from vlmtransfer.data.builders.depth import DIWDepth
from vlmtransfer.data.builders.forensic import RealVsGeneratedForensics
from vlmtransfer.data.builders.functional_correspondence import FunKPointCorrespondence
from vlmtransfer.data.builders.jigsaw import PhotoJigsaw
from vlmtransfer.data.builders.multiview import CO3DMultiView
from vlmtransfer.data.builders.object_localization import LVISLocalization
from vlmtransfer.data.builders.reflectance import IIWReflectance
from vlmtransfer.data.builders.semantic_correspondence import SPairCorrespondence
from vlmtransfer.data.builders.spatial_relation import VSRSpatialRelation
from vlmtransfer.data.builders.visual_correspondence import HPatchesCorrespondence
from vlmtransfer.data.builders.visual_similarity import NightsSimilarity
from vlmtransfer.errors import InputError

__all__ = ["BUILDERS", "get_builder"]

BUILDERS: Mapping[str, Builder] = MappingProxyType(
    {
        builder.task: builder
        for builder in (
            WikiArtStyle(),
            TallyQACounting(),
            RealVsGeneratedForensics(),
            FunKPointCorrespondence(),
            PhotoJigsaw(),
            CO3DMultiView(),
            LVISLocalization(),
            DIWDepth(),
            IIWReflectance(),
            SPairCorrespondence(),
            VSRSpatialRelation(),
            HPatchesCorrespondence(),
            NightsSimilarity(),
        )
    }
)
"""The builder of each of the 13 BLINK tasks of the study, in BLINK's (alphabetical) task order."""


def get_builder(task: str) -> Builder:
    """The builder of ``task``.

    Raises:
        InputError: IQ_Test (no training source) or an unknown task, listing near matches.
    """
    if task in BUILDERS:
        return BUILDERS[task]
    if task == "IQ_Test":
        raise InputError("IQ_Test has no training source; the study leaves it out", source="TASK")
    close = difflib.get_close_matches(task, BUILDERS, n=3)
    hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
    raise InputError(
        f"no training-set builder for {task!r}{hint}; known: {', '.join(BUILDERS)}", source="TASK"
    )
