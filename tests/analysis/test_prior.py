"""Answer-prior decomposition: a planted letter bias is removed exactly, real signal is kept."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from vlmtransfer.analysis import AnalysisOptions
from vlmtransfer.analysis.prior import (
    calibratable,
    calibrated_predictions,
    choice_probabilities,
    decompose_prior,
    letter_priors,
    prior_shift,
    prior_to_dict,
    read_predictions,
)
from vlmtransfer.errors import InputError

N = 120
OPTIONS = AnalysisOptions(n_resamples=300)


def _run(source: str, seed: str, target: str, logits: np.ndarray, answers: np.ndarray) -> pd.DataFrame:
    letters = np.array([chr(ord("A") + k) for k in range(logits.shape[1])])
    logprobs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    predicted = letters[logits.argmax(axis=1)]
    return pd.DataFrame(
        {
            "model": "m",
            "seed": seed,
            "source": source,
            "target": target,
            "question_id": [f"{target}-{i:03d}" for i in range(len(answers))],
            "answer": letters[answers],
            "predicted": predicted,
            "correct": (predicted == letters[answers]).astype(int),
            "logprobs": list(logprobs),
        }
    )


def _signal(rng: np.random.Generator, answers: np.ndarray, choices: int, strength: float) -> np.ndarray:
    logits = rng.normal(0.0, 1.0, (len(answers), choices))
    logits[np.arange(len(answers)), answers] += strength
    return logits


@pytest.fixture
def planted() -> pd.DataFrame:
    """Base model with some skill on two targets; source ``biased`` only adds a constant bias towards
    letter A on every question (a pure prior shift); source ``skilled`` sharpens the right answer."""
    rng = np.random.default_rng(0)
    frames = []
    for target, choices in (("T2", 2), ("T4", 4)):
        answers = np.tile(np.arange(choices), N // choices)
        base = _signal(rng, answers, choices, 1.0)
        frames.append(_run("base", "", target, base, answers))
        for seed in ("0", "1"):
            bias = np.zeros(choices)
            bias[0] = 2.5 + 0.1 * int(seed)
            frames.append(_run("biased", seed, target, base + bias, answers))
            sharper = base.copy()
            sharper[np.arange(N), answers] += 1.5 + 0.1 * int(seed)
            frames.append(_run("skilled", seed, target, sharper, answers))
    for target in ("biased", "skilled"):  # sources must be targets too for self-transfer cells
        answers = np.tile(np.arange(2), N // 2)
        base = _signal(rng, answers, 2, 1.0)
        frames.append(_run("base", "", target, base, answers))
        for source in ("biased", "skilled"):
            for seed in ("0", "1"):
                frames.append(_run(source, seed, target, base + rng.normal(0, 0.01, base.shape), answers))
    return pd.concat(frames, ignore_index=True)


def test_a_pure_letter_bias_is_removed_exactly(planted):
    calibrated = calibrated_predictions(planted)
    for target in ("T2", "T4"):
        base = calibrated[(calibrated["source"] == "base") & (calibrated["target"] == target)]
        for seed in ("0", "1"):
            biased = calibrated[
                (calibrated["source"] == "biased")
                & (calibrated["target"] == target)
                & (calibrated["seed"] == seed)
            ]
            assert biased["predicted"].tolist() == base["predicted"].tolist()
    raw = planted[(planted["source"] == "biased") & (planted["target"] == "T4")]
    assert (raw["predicted"] == "A").mean() > 0.8  # the bias did change the raw answers


def test_decomposition_separates_prior_from_skill(planted):
    decomposition = decompose_prior(planted, OPTIONS)
    cells = decomposition.cells["m"].set_index(["source", "target"])
    for target in ("T2", "T4"):
        biased = cells.loc[("biased", target)]
        assert biased["delta_accuracy"] < -5
        assert biased["delta_accuracy_corrected"] == pytest.approx(0.0, abs=1e-9)
        assert biased["explained"] == pytest.approx(1.0)
        assert biased["pgf_corrected"] == pytest.approx(0.0, abs=1e-9)
        assert biased["significant"]
        assert not biased["significant_corrected"]
        assert biased["vanishes"]
        skilled = cells.loc[("skilled", target)]
        assert skilled["delta_accuracy"] > 5
        assert skilled["delta_accuracy_corrected"] > 5
        assert skilled["significant_corrected"]
        assert not skilled["vanishes"]
    shift = decomposition.shift[decomposition.shift["target"].isin(["T2", "T4"])]
    per_source = shift.groupby("source")["prior_shift"].mean()
    assert per_source["biased"] > 0.3
    assert per_source["skilled"] < 0.1


def test_letter_priors_and_shift_match_a_direct_computation(planted):
    priors = letter_priors(planted)
    rows = planted[(planted["source"] == "biased") & (planted["seed"] == "1") & (planted["target"] == "T4")]
    expected = choice_probabilities(np.array(rows["logprobs"].tolist())).mean(axis=0)
    got = priors[(priors["source"] == "biased") & (priors["seed"] == "1") & (priors["target"] == "T4")]
    np.testing.assert_allclose(got.sort_values("letter")["prior"], expected)
    base = priors[(priors["source"] == "base") & (priors["target"] == "T4")].sort_values("letter")["prior"]
    shift = prior_shift(priors)
    value = shift[(shift["source"] == "biased") & (shift["seed"] == "1") & (shift["target"] == "T4")]
    assert value["prior_shift"].item() == pytest.approx(0.5 * np.abs(expected - base.to_numpy()).sum())


def test_json_form_counts_and_is_serialisable(planted):
    data = prior_to_dict(decompose_prior(planted, OPTIONS))
    model = data["models"]["m"]
    assert model["vanishing_cells"] >= 2
    assert set(model["prior_shift_by_source"]) == {"biased", "skilled"}
    json.dumps(data, allow_nan=False)


def test_reads_parquet_and_csv_and_sets_generated_answers_aside(planted, tmp_path):
    planted.to_parquet(tmp_path / "p.parquet", index=False)
    assert len(read_predictions(tmp_path / "p.parquet")) == len(planted)
    as_csv = planted.assign(logprobs=[json.dumps(list(v)) for v in planted["logprobs"]])
    as_csv.to_csv(tmp_path / "p.csv", index=False)
    back = read_predictions(tmp_path / "p.csv")
    np.testing.assert_allclose(back["logprobs"][5], planted["logprobs"][5])
    as_csv.loc[3, "logprobs"] = "[]"
    as_csv.to_csv(tmp_path / "g.csv", index=False)
    generated = read_predictions(tmp_path / "g.csv")
    kept, left_out = calibratable(generated)
    target = generated["target"][3]
    assert list(left_out) == [target]
    assert left_out[target].startswith("row 4: no per-choice log-probabilities")
    assert set(kept["target"]) == set(planted["target"]) - {target}
    planted.drop(columns=["logprobs"]).to_csv(tmp_path / "n.csv", index=False)
    with pytest.raises(InputError, match="missing column"):
        read_predictions(tmp_path / "n.csv")


def _numeric_and_mixed_targets(planted: pd.DataFrame) -> pd.DataFrame:
    """``planted``'s runs on two more targets the prior cannot be removed from, as VSI-Bench has: one
    numeric (generated answers, no log-probabilities) and one mixing 2- and 3-choice questions."""
    extra = []
    for _, run in planted.groupby(["source", "seed"], sort=False):
        numeric = run[run["target"] == "T2"].head(10).assign(target="N", answer="3", predicted="3")
        numeric["logprobs"] = [[] for _ in range(len(numeric))]
        mixed = run[run["target"] == "T2"].head(10).assign(target="M")
        mixed["logprobs"] = [list(v) + ([-9.0] if k % 2 else []) for k, v in enumerate(mixed["logprobs"])]
        extra += [numeric, mixed]
    return pd.concat([planted, *extra], ignore_index=True)


def test_targets_that_cannot_be_calibrated_are_left_out_and_the_rest_decomposed_as_alone(planted):
    """A study with numeric and mixed-choice targets (VSI-Bench's) is decomposed on its other targets,
    with exactly the cells the decomposition of those targets alone gives."""
    alone = decompose_prior(planted, OPTIONS)
    mixed = decompose_prior(_numeric_and_mixed_targets(planted), OPTIONS)
    assert set(mixed.left_out) == {"N", "M"}
    assert "no per-choice log-probabilities" in mixed.left_out["N"]
    assert mixed.left_out["M"] == "questions with different numbers of choices [2, 3]"
    pd.testing.assert_frame_equal(mixed.cells["m"], alone.cells["m"])
    assert prior_to_dict(mixed)["left_out"] == mixed.left_out


def test_a_study_with_nothing_to_calibrate_is_refused(planted):
    generated = planted.assign(logprobs=[[] for _ in range(len(planted))])
    with pytest.raises(InputError, match="no target has per-choice log-probabilities to calibrate"):
        decompose_prior(generated, OPTIONS)
