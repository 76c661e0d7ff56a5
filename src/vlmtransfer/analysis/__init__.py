"""Transfer analysis: PGF, transferability, malleability, graph, cliques, personas, categories, scale.

Pure functions over numpy/pandas; this package never imports torch, so results tables can be
analysed with a light install. Typical use::

    from vlmtransfer.analysis import load_inputs, analyze, write_analysis
    models = load_inputs(["results.csv"])
    result = analyze(models)
    write_analysis(result, "out/")

The names below load their modules on first use (PEP 562), so importing one light module of this package
(``analysis.power``, say) does not import pandas and scipy with all the others.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vlmtransfer.analysis.categories import category_scores
    from vlmtransfer.analysis.cube import SeedScores, TransferCube
    from vlmtransfer.analysis.export import (
        SCHEMA_VERSION,
        analysis_schema,
        analysis_tables,
        analysis_to_dict,
        write_analysis,
    )
    from vlmtransfer.analysis.graph import (
        Clique,
        mutual_transfer_graph,
        transfer_cliques,
        transfer_edges,
    )
    from vlmtransfer.analysis.inputs import ModelData, load_inputs
    from vlmtransfer.analysis.metrics import (
        gap_scores,
        malleability,
        perfection_gap_factor,
        relative_gain,
        transferability,
    )
    from vlmtransfer.analysis.personas import PERSONAS, persona_table, personas
    from vlmtransfer.analysis.pipeline import Analysis, AnalysisOptions, ModelAnalysis, analyze
    from vlmtransfer.analysis.scale import scale_trend

_EXPORTS = {
    "Analysis": "vlmtransfer.analysis.pipeline",
    "AnalysisOptions": "vlmtransfer.analysis.pipeline",
    "Clique": "vlmtransfer.analysis.graph",
    "ModelAnalysis": "vlmtransfer.analysis.pipeline",
    "ModelData": "vlmtransfer.analysis.inputs",
    "PERSONAS": "vlmtransfer.analysis.personas",
    "SCHEMA_VERSION": "vlmtransfer.analysis.export",
    "SeedScores": "vlmtransfer.analysis.cube",
    "TransferCube": "vlmtransfer.analysis.cube",
    "analysis_schema": "vlmtransfer.analysis.export",
    "analysis_tables": "vlmtransfer.analysis.export",
    "analysis_to_dict": "vlmtransfer.analysis.export",
    "analyze": "vlmtransfer.analysis.pipeline",
    "category_scores": "vlmtransfer.analysis.categories",
    "gap_scores": "vlmtransfer.analysis.metrics",
    "load_inputs": "vlmtransfer.analysis.inputs",
    "malleability": "vlmtransfer.analysis.metrics",
    "mutual_transfer_graph": "vlmtransfer.analysis.graph",
    "perfection_gap_factor": "vlmtransfer.analysis.metrics",
    "persona_table": "vlmtransfer.analysis.personas",
    "personas": "vlmtransfer.analysis.personas",
    "relative_gain": "vlmtransfer.analysis.metrics",
    "scale_trend": "vlmtransfer.analysis.scale",
    "transfer_cliques": "vlmtransfer.analysis.graph",
    "transfer_edges": "vlmtransfer.analysis.graph",
    "transferability": "vlmtransfer.analysis.metrics",
    "write_analysis": "vlmtransfer.analysis.export",
}

__all__ = [
    "PERSONAS",
    "SCHEMA_VERSION",
    "Analysis",
    "AnalysisOptions",
    "Clique",
    "ModelAnalysis",
    "ModelData",
    "SeedScores",
    "TransferCube",
    "analysis_schema",
    "analysis_tables",
    "analysis_to_dict",
    "analyze",
    "category_scores",
    "gap_scores",
    "load_inputs",
    "malleability",
    "mutual_transfer_graph",
    "perfection_gap_factor",
    "persona_table",
    "personas",
    "relative_gain",
    "scale_trend",
    "transfer_cliques",
    "transfer_edges",
    "transferability",
    "write_analysis",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


class _Package(types.ModuleType):
    """The package object: keeps an exported name (``personas``, a function) from being replaced by the
    submodule of the same name when that submodule loads (the import system sets it as an attribute;
    eager imports used to rebind the function afterwards)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return  # ``from vlmtransfer.analysis.<module> import ...`` still finds it in sys.modules
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
