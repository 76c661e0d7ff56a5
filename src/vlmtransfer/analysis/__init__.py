"""Transfer analysis: PGF, transferability, malleability, graph, cliques, personas, categories, scale.

Pure functions over numpy/pandas; this package never imports torch, so results tables can be
analysed with a light install. Typical use::

    from vlmtransfer.analysis import load_inputs, analyze, write_analysis
    models = load_inputs(["results.csv"])
    result = analyze(models)
    write_analysis(result, "out/")
"""

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
