"""Task orders (category, clustering) and graph layouts: permutations, deterministic, meaningful."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from vlmtransfer.report import load_report_data, task_order
from vlmtransfer.report.data import TaskInfo
from vlmtransfer.report.layout import circle_layout, graph_layout
from vlmtransfer.report.order import category_groups, category_order, cluster_order


def test_category_order_is_level_then_granularity_then_name():
    info = {
        "a": TaskInfo("a", "A", "high", "pixel"),
        "b": TaskInfo("b", "B", "low", "image"),
        "c": TaskInfo("c", "C", "low", "pixel"),
        "d": TaskInfo("d", "D", "weird", None),
        "e": TaskInfo("e", "E", None, None),
    }
    assert category_order(["e", "d", "a", "b", "c"], info) == ["c", "b", "a", "d", "e"]
    assert category_groups(["c", "b", "a", "d", "e"], info) == [
        ("low", 0, 2),
        ("high", 2, 3),
        ("weird", 3, 4),
        ("other", 4, 5),
    ]


def test_reference_category_order_starts_with_the_low_level_pixel_tasks(paper_analysis):
    data = load_report_data(paper_analysis)
    order = task_order(data, "category")
    assert order[:3] == ["Relative_Depth", "Relative_Reflectance", "Visual_Correspondence"]
    assert sorted(order) == sorted(data.all_tasks())
    assert task_order(data, "input") == list(data.all_tasks())


def test_clustering_puts_tasks_with_alike_transfer_together():
    # Two blocks that help within and hurt across; interleaved names so that input order splits them.
    tasks = ["a1", "b1", "a2", "b2", "a3", "b3"]
    block = np.array([[1 if t[0] == u[0] else -1 for u in tasks] for t in tasks], dtype=float)
    order = cluster_order(tasks, [pd.DataFrame(block, index=tasks, columns=tasks)])
    assert sorted(order) == sorted(tasks)
    groups = [t[0] for t in order]
    assert groups in (["a"] * 3 + ["b"] * 3, ["b"] * 3 + ["a"] * 3)
    assert cluster_order(tasks, [pd.DataFrame(block, index=tasks, columns=tasks)]) == order


def test_clustering_reference_tasks_is_a_deterministic_permutation(paper_analysis):
    data = load_report_data(paper_analysis)
    first = task_order(data, "cluster")
    assert sorted(first) == sorted(data.all_tasks())
    assert task_order(data, "cluster") == first
    assert first != task_order(data, "input")


def test_circle_layout_starts_at_the_top_and_goes_clockwise():
    positions = circle_layout(["a", "b", "c", "d"])
    assert positions["a"] == pytest.approx((0.0, 1.0))
    assert positions["b"] == pytest.approx((1.0, 0.0))
    assert all(math.isclose(math.hypot(x, y), 1.0) for x, y in positions.values())


def test_spring_layout_is_seeded_and_scaled(paper_analysis):
    model = load_report_data(paper_analysis).models["3B"]
    tasks = list(model.tasks)
    first = graph_layout(tasks, model.edges, "spring")
    assert first == graph_layout(tasks, model.edges, "spring")
    assert set(first) == set(tasks)
    assert max(max(abs(x), abs(y)) for x, y in first.values()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="unknown graph layout"):
        graph_layout(tasks, model.edges, "grid")
