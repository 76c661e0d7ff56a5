"""Node positions of transfer graphs, shared by the figures and the HTML page (same picture in both)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import networkx as nx
import pandas as pd

__all__ = ["circle_layout", "graph_layout", "spring_layout"]

Positions = dict[str, tuple[float, float]]


def graph_layout(tasks: Sequence[str], edges: pd.DataFrame, how: str = "circle") -> Positions:
    """Positions in [-1, 1]^2 for ``tasks``: ``circle`` or ``spring`` (see :class:`ReportOptions`)."""
    if how == "circle":
        return circle_layout(tasks)
    if how == "spring":
        return spring_layout(tasks, edges)
    raise ValueError(f"unknown graph layout {how!r}")


def circle_layout(tasks: Sequence[str]) -> Positions:
    """Tasks clockwise from the top in the given order (so category groups form arcs)."""
    n = max(len(tasks), 1)
    return {
        task: (round(math.sin(2 * math.pi * i / n), 6), round(math.cos(2 * math.pi * i / n), 6))
        for i, task in enumerate(tasks)
    }


def spring_layout(tasks: Sequence[str], edges: pd.DataFrame, seed: int = 0) -> Positions:
    """Fruchterman-Reingold with |PGF| as attraction, started from the circle and seeded: deterministic.

    Positive and negative edges both attract: a strong negative transfer is as much a relation to look
    at as a positive one, and the edge colour tells them apart.
    """
    graph = nx.Graph()
    graph.add_nodes_from(tasks)
    for source, target, pgf in edges[["source", "target", "pgf"]].itertuples(index=False):
        if source in graph and target in graph and source != target:
            weight = abs(float(pgf)) + (
                graph[source][target]["weight"] if graph.has_edge(source, target) else 0
            )
            graph.add_edge(source, target, weight=weight)
    raw = nx.spring_layout(graph, pos=circle_layout(tasks), seed=seed, weight="weight", iterations=200)
    scale = max((max(abs(x), abs(y)) for x, y in raw.values()), default=1.0) or 1.0
    return {
        task: (round(float(raw[task][0]) / scale, 6), round(float(raw[task][1]) / scale, 6)) for task in tasks
    }
