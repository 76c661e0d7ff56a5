"""Which builder makes which BLINK task's training set."""

from __future__ import annotations

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
from vlmtransfer.registry import Registry

__all__ = ["BUILDERS", "get_builder"]

BUILDERS: Registry[Builder] = Registry(
    "training-set builder",
    (
        (builder.task, builder)
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
    ),
    source="TASK",
)
"""The builder of each of the 13 BLINK tasks of the study, in BLINK's (alphabetical) task order."""


def get_builder(task: str) -> Builder:
    """The builder of ``task``.

    Raises:
        InputError: IQ_Test (no training source) or an unknown task, listing near matches.
    """
    if task == "IQ_Test":
        raise InputError("IQ_Test has no training source; the study leaves it out", source="TASK")
    return BUILDERS.get(task)
