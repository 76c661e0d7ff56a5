"""Transfer-graph edges and cliques, including clique enumeration against brute force."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from vlmtransfer.analysis import TransferCube, mutual_transfer_graph, transfer_cliques, transfer_edges
from vlmtransfer.analysis.graph import one_sided_wilcoxon


def _matrix(values, names=None) -> pd.DataFrame:
    names = names or [f"t{i}" for i in range(len(values))]
    return pd.DataFrame(np.asarray(values, dtype=float), index=names, columns=names)


def test_edges_keep_the_top_fraction_of_each_sign_off_the_diagonal():
    # 12 off-diagonal cells: 10 positive (0.1 .. 1.0), 2 negative; huge diagonal ignored.
    values = np.full((4, 4), 9.0)
    off = [(i, j) for i in range(4) for j in range(4) if i != j]
    for k, (i, j) in enumerate(off):
        values[i, j] = (k + 1) / 10 if k < 10 else -(k - 9) / 10
    edges = transfer_edges(_matrix(values), fraction=0.2)
    positive = edges[edges["sign"] == "positive"]
    negative = edges[edges["sign"] == "negative"]
    assert positive["pgf"].tolist() == [1.0, 0.9]  # ceil(0.2 * 10) = 2, strongest first
    assert negative["pgf"].tolist() == [-0.2]  # ceil(0.2 * 2) = 1, strongest |PGF|
    assert (edges["source"] != edges["target"]).all()


def test_edge_fraction_one_keeps_every_signed_off_diagonal_edge_and_zeros_are_no_edges():
    values = [[0, 0.5, 0.0], [-0.5, 0, 0.2], [0.1, -0.3, 0]]
    edges = transfer_edges(_matrix(values), fraction=1.0)
    assert len(edges) == 5
    assert set(edges["sign"]) == {"positive", "negative"}


def test_edges_break_ties_deterministically():
    values = [[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]
    edges = transfer_edges(_matrix(values, ["c", "a", "b"]), fraction=0.5)
    assert list(zip(edges["source"], edges["target"], strict=True)) == [("a", "b"), ("a", "c"), ("b", "a")]


def test_edges_of_a_non_square_matrix():
    matrix = pd.DataFrame([[0.9, 0.4], [0.3, -0.2]], index=["A", "B"], columns=["A", "V"])
    edges = transfer_edges(matrix, fraction=1.0)
    assert set(zip(edges["source"], edges["target"], strict=True)) == {("A", "V"), ("B", "A"), ("B", "V")}


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5])
def test_edge_fraction_out_of_range_is_rejected(fraction):
    with pytest.raises(ValueError, match="edge fraction"):
        transfer_edges(_matrix([[0, 1], [1, 0]]), fraction)


def _brute_force_maximal_cliques(matrix: pd.DataFrame, sign: str, min_size: int = 3) -> set[frozenset]:
    names = list(matrix.index)
    values = matrix.to_numpy()
    same = values > 0 if sign == "positive" else values < 0

    def is_clique(members):
        return all(same[i, j] and same[j, i] for i, j in itertools.combinations(members, 2))

    cliques = [
        frozenset(members)
        for size in range(2, len(names) + 1)
        for members in itertools.combinations(range(len(names)), size)
        if is_clique(members)
    ]
    maximal = {c for c in cliques if not any(c < other for other in cliques)}
    return {frozenset(names[i] for i in c) for c in maximal if len(c) >= min_size}


sign_matrices = st.integers(3, 8).flatmap(
    lambda n: st.lists(st.sampled_from([-1.0, 0.0, 1.0]), min_size=n * n, max_size=n * n).map(
        lambda cells: np.array(cells).reshape(n, n)
    )
)


@settings(max_examples=150, deadline=None)
@given(signs=sign_matrices, sign=st.sampled_from(["positive", "negative"]))
def test_cliques_match_brute_force_on_random_sign_matrices(signs, sign):
    names = [f"t{i}" for i in range(len(signs))]
    cube = TransferCube(("s",), tuple(names), tuple(names), signs[None] * 0.5)
    found = {frozenset(c.tasks) for c in transfer_cliques(cube, sign)}
    assert found == _brute_force_maximal_cliques(_matrix(signs, names), sign)


def test_cliques_are_largest_first_and_need_both_directions():
    # A, B, C, D mutually positive; E positive towards A, B but not back.
    names = list("ABCDE")
    values = np.full((5, 5), 0.3)
    values[:, 4] = -0.1  # nothing transfers positively *to* E
    values[4, 4] = 1.0
    cube = TransferCube(("s",), tuple(names), tuple(names), values[None])
    cliques = transfer_cliques(cube, "positive")
    assert [c.tasks for c in cliques] == [("A", "B", "C", "D")]
    graph = mutual_transfer_graph(cube.mean(), "positive")
    assert not graph.has_edge("A", "E")


def test_clique_p_value_is_the_one_sided_wilcoxon_over_all_directed_edges_and_seeds():
    rng = np.random.default_rng(0)
    values = rng.normal(0.2, 0.1, size=(3, 3, 3))  # 3 seeds, 3 tasks, all mean-positive
    values[:, [0, 1, 2], [0, 1, 2]] = 5.0  # diagonal must not enter the test
    names = ("A", "B", "C")
    cube = TransferCube(("s0", "s1", "s2"), names, names, values)
    (clique,) = transfer_cliques(cube, "positive")
    off = ~np.eye(3, dtype=bool)
    expected = stats.wilcoxon(values[:, off].reshape(-1), alternative="greater").pvalue
    assert clique.n_values == 18
    assert clique.p_value == pytest.approx(expected)
    assert clique.mean_pgf == pytest.approx(values.mean(axis=0)[off].mean())


def test_one_sided_wilcoxon_directions_and_degenerate_input():
    positive = np.array([0.3, 0.2, 0.5, 0.1, 0.4, 0.6])
    assert one_sided_wilcoxon(positive, "positive") < 0.05
    assert one_sided_wilcoxon(positive, "negative") > 0.95
    assert one_sided_wilcoxon(np.zeros(5), "positive") == 1.0


@pytest.mark.parametrize("n", [4, 6, 12, 13, 14, 18, 50, 51])
@pytest.mark.parametrize("sign", ["positive", "negative"])
def test_batched_wilcoxon_equals_one_scipy_call_per_sample(n, sign):
    rng = np.random.default_rng(n)
    samples = rng.normal(0.05, 0.2, size=(6 if n >= 12 else 40, n))
    samples[::3] = np.round(samples[::3], 2)  # ties
    samples[::7, :2] = 0.0  # zeros
    samples[5] = 0.0  # nothing to test
    alternative = "greater" if sign == "positive" else "less"
    expected = [stats.wilcoxon(row, alternative=alternative).pvalue if row.any() else 1.0 for row in samples]
    assert one_sided_wilcoxon(samples, sign).tolist() == pytest.approx(expected, rel=1e-12, abs=0)


def test_negative_cliques_use_negative_mutual_edges():
    names = ("A", "B", "C", "D")
    values = np.full((4, 4), -0.2)
    values[3, :3] = 0.1
    cube = TransferCube(("s",), names, names, values[None])
    (clique,) = transfer_cliques(cube, "negative")
    assert clique.tasks == ("A", "B", "C")
    assert clique.sign == "negative"
    assert math.isclose(clique.mean_pgf, -0.2)
