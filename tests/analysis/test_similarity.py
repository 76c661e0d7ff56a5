"""Adapter similarity against materialised updates, seed aggregation, and the Mantel test."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import save_file
from scipy.stats import spearmanr

from vlmtransfer.analysis.similarity import (
    adapter_similarity,
    load_adapter,
    mantel_spearman,
    similarity_matrix,
    similarity_to_dict,
)
from vlmtransfer.errors import InputError

SHAPES = {"layers.0.q_proj": (12, 10), "layers.0.down_proj": (10, 20), "layers.1.q_proj": (12, 10)}


def write_adapter(path, rng, *, rank=4, alpha=8.0, modules=SHAPES, rslora=False, factors=None):
    path.mkdir(parents=True)
    tensors = {}
    for name, (out_dim, in_dim) in modules.items():
        a, b = (
            factors[name] if factors else (rng.normal(size=(rank, in_dim)), rng.normal(size=(out_dim, rank)))
        )
        prefix = f"base_model.model.model.language_model.{name}"
        tensors[f"{prefix}.lora_A.weight"] = a.astype(np.float32)
        tensors[f"{prefix}.lora_B.weight"] = b.astype(np.float32)
    save_file(tensors, str(path / "adapter_model.safetensors"))
    config = {"r": rank, "lora_alpha": alpha, "use_rslora": rslora, "alpha_pattern": {}}
    (path / "adapter_config.json").write_text(json.dumps(config))
    return path


def materialised(path) -> dict[str, np.ndarray]:
    """The slow reference: every module's dW = s * B @ A as a dense matrix."""
    from safetensors.numpy import load_file

    config = json.loads((path / "adapter_config.json").read_text())
    tensors = load_file(str(path / "adapter_model.safetensors"))
    out = {}
    for key in tensors:
        if ".lora_A." in key:
            name = key.split(".lora_A.")[0]
            a = tensors[key].astype(np.float64)
            b = tensors[key.replace("lora_A", "lora_B")].astype(np.float64)
            rank = a.shape[0]
            scale = config["lora_alpha"] / (math.sqrt(rank) if config["use_rslora"] else rank)
            out[name] = scale * b @ a
    return out


@pytest.mark.parametrize("rslora", [False, True])
def test_rank_space_cosine_equals_the_materialised_one(tmp_path, rslora):
    rng = np.random.default_rng(0)
    first = write_adapter(tmp_path / "a", rng, rank=4, rslora=rslora)
    second = write_adapter(tmp_path / "b", rng, rank=6, alpha=4.0, rslora=rslora)
    dense1, dense2 = materialised(first), materialised(second)
    flat1 = np.concatenate([dense1[k].ravel() for k in sorted(dense1)])
    flat2 = np.concatenate([dense2[k].ravel() for k in sorted(dense2)])
    whole = flat1 @ flat2 / np.linalg.norm(flat1) / np.linalg.norm(flat2)
    per_module = np.mean(
        [
            dense1[k].ravel() @ dense2[k].ravel() / np.linalg.norm(dense1[k]) / np.linalg.norm(dense2[k])
            for k in dense1
        ]
    )
    got = adapter_similarity(load_adapter(first), load_adapter(second))
    assert got == pytest.approx((whole, per_module), rel=1e-5)
    assert adapter_similarity(load_adapter(first), load_adapter(first))[0] == pytest.approx(1.0)


def test_a_scaled_copy_is_identical_and_a_negated_one_opposite(tmp_path):
    rng = np.random.default_rng(1)
    factors = {name: (rng.normal(size=(4, i)), rng.normal(size=(o, 4))) for name, (o, i) in SHAPES.items()}
    one = load_adapter(write_adapter(tmp_path / "one", rng, factors=factors))
    doubled = {k: (a, 2 * b) for k, (a, b) in factors.items()}
    negated = {k: (a, -b) for k, (a, b) in factors.items()}
    assert adapter_similarity(one, load_adapter(write_adapter(tmp_path / "two", rng, factors=doubled)))[
        0
    ] == pytest.approx(1.0)
    assert adapter_similarity(one, load_adapter(write_adapter(tmp_path / "neg", rng, factors=negated)))[
        0
    ] == pytest.approx(-1.0)


def test_source_matrix_averages_seed_pairs(tmp_path):
    rng = np.random.default_rng(2)
    adapters = {
        (source, seed): load_adapter(write_adapter(tmp_path / f"{source}{seed}", rng))
        for source in ("X", "Y")
        for seed in ("0", "1")
    }
    result = similarity_matrix(adapters)
    cross = [adapter_similarity(adapters[("X", s)], adapters[("Y", t)])[0] for s in "01" for t in "01"]
    assert result.cosine.loc["X", "Y"] == pytest.approx(np.mean(cross))
    assert result.cosine.loc["Y", "X"] == result.cosine.loc["X", "Y"]
    own = adapter_similarity(adapters[("X", "0")], adapters[("X", "1")])[0]
    assert result.cosine.loc["X", "X"] == pytest.approx(own)
    assert len(result.pairs) == 6
    assert math.isnan(result.rho)
    json.dumps(similarity_to_dict(result), allow_nan=False)


def test_one_seed_leaves_the_diagonal_unknown(tmp_path):
    rng = np.random.default_rng(3)
    adapters = {(s, "0"): load_adapter(write_adapter(tmp_path / s, rng)) for s in ("X", "Y")}
    result = similarity_matrix(adapters)
    assert math.isnan(result.cosine.loc["X", "X"])
    assert similarity_to_dict(result)["cosine"]["values"][0][0] is None


def test_mantel_exact_p_and_rho_against_scipy():
    rng = np.random.default_rng(4)
    tasks = list("ABCDE")
    pgf = pd.DataFrame(rng.normal(size=(5, 5)), index=tasks, columns=tasks)
    sim = pgf.copy()
    rho, p, count = mantel_spearman(sim, pgf)
    assert rho == pytest.approx(1.0)
    assert count == 120
    assert p == pytest.approx(1 / 120)  # only the identity matches a generic matrix perfectly
    noise = pd.DataFrame(rng.normal(size=(5, 5)), index=tasks, columns=tasks)
    rho, p, _ = mantel_spearman(noise, pgf)
    off = ~np.eye(5, dtype=bool)
    assert rho == pytest.approx(spearmanr(noise.to_numpy()[off], pgf.to_numpy()[off]).statistic)
    # the exact p is the share of relabellings at least as extreme, computed directly
    extreme = 0
    for order in itertools.permutations(range(5)):
        permuted = noise.to_numpy()[np.ix_(order, order)]
        extreme += abs(spearmanr(permuted[off], pgf.to_numpy()[off]).statistic) >= abs(rho) - 1e-12
    assert p == pytest.approx(extreme / 120)


def test_mantel_samples_permutations_beyond_seven_tasks():
    rng = np.random.default_rng(5)
    tasks = [f"T{i}" for i in range(9)]
    pgf = pd.DataFrame(rng.normal(size=(9, 9)), index=tasks, columns=tasks)
    rho, p, count = mantel_spearman(pgf, pgf, n_permutations=199, random_state=0)
    assert rho == pytest.approx(1.0)
    assert count == 199
    assert p == pytest.approx(1 / 200)
    assert math.isnan(mantel_spearman(pgf.iloc[:2, :2], pgf.iloc[:2, :2])[0])


def test_bad_adapters_are_refused(tmp_path):
    rng = np.random.default_rng(6)
    path = write_adapter(tmp_path / "a", rng)
    config = json.loads((path / "adapter_config.json").read_text())
    (path / "adapter_config.json").write_text(json.dumps({**config, "alpha_pattern": {"q_proj": 4}}))
    with pytest.raises(InputError, match="alpha_pattern"):
        load_adapter(path)
    with pytest.raises(InputError, match="cannot read the adapter"):
        load_adapter(tmp_path / "missing")
    other = load_adapter(write_adapter(tmp_path / "b", rng, modules={"layers.9.v_proj": (3, 3)}))
    with pytest.raises(InputError, match="shares no module"):
        adapter_similarity(load_adapter(write_adapter(tmp_path / "c", rng)), other)
