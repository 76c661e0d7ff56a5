"""Format learning: unparsed rates, PGF by protocol, and a planted format-only finetune."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vlmtransfer.analysis import AnalysisOptions
from vlmtransfer.analysis.answer_format import decompose_format, format_to_dict, unparsed_rates

N = 120
LETTERS = np.array(["A", "B"])


def run(source, seed, target, *, chosen, generated, answers):
    """One run's rows scored both ways: ``chosen`` is the log-likelihood letter, ``generated`` the parsed
    greedy one (None: unparsed)."""
    return pd.DataFrame(
        {
            "model": "m",
            "seed": seed,
            "source": source,
            "target": target,
            "question_id": [f"{target}-{i:03d}" for i in range(N)],
            "answer": answers,
            "predicted": chosen,
            "correct": (chosen == answers).astype(int),
            "logprobs": [[-0.5, -1.0]] * N,
            "text": ["(x)"] * N,
            "generated": generated,
        }
    )


@pytest.fixture
def planted():
    """The base model knows 70 % of answers but only says a parseable letter half the time; ``fmt``
    only learns to answer in format (same choices, always parseable); ``skill`` knows more but says as
    little as the base."""
    rng = np.random.default_rng(0)
    frames = []
    for target in ("T1", "T2", "fmt", "skill"):
        answers = LETTERS[rng.integers(0, 2, N)]
        knows = rng.random(N) < 0.7
        chosen = np.where(knows, answers, np.where(answers == "A", "B", "A"))
        said = rng.random(N) < 0.5
        frames.append(
            run("base", "", target, chosen=chosen, generated=np.where(said, chosen, None), answers=answers)
        )
        for seed in ("0", "1"):
            frames.append(run("fmt", seed, target, chosen=chosen, generated=chosen, answers=answers))
            better = np.where(rng.random(N) < 0.8, answers, chosen)
            frames.append(
                run(
                    "skill",
                    seed,
                    target,
                    chosen=better,
                    generated=np.where(said, better, None),
                    answers=answers,
                )
            )
    return pd.concat(frames, ignore_index=True)


def test_unparsed_rates_per_run(planted):
    rates = unparsed_rates(planted).set_index(["source", "seed", "target"])["unparsed"]
    assert rates[("fmt", "0", "T1")] == 0.0
    assert 0.35 < rates[("base", "", "T1")] < 0.65
    assert rates[("skill", "1", "T2")] == rates[("base", "", "T2")]


def test_a_format_only_finetune_is_flagged_and_a_skilled_one_is_not(planted):
    decomposition = decompose_format(planted, AnalysisOptions(n_resamples=300))
    cells = decomposition.cells["m"].set_index(["source", "target"])
    for target in ("T1", "T2"):
        fmt = cells.loc[("fmt", target)]
        assert fmt["pgf_loglik"] == pytest.approx(0.0)
        assert fmt["pgf_generated"] > 0.2
        assert fmt["format_only"]
        assert fmt["unparsed_change"] < -30
        skill = cells.loc[("skill", target)]
        assert skill["significant_loglik"]
        assert not skill["format_only"]
    document = format_to_dict(decomposition)["models"]["m"]
    assert document["unparsed_by_source"]["fmt"] == 0.0
    assert document["format_only_cells"] >= 2


def test_generate_mode_gives_rates_only_and_no_text_gives_none(planted):
    generate_only = planted.assign(logprobs=None, predicted=planted["generated"], generated=None)
    decomposition = decompose_format(generate_only)
    assert decomposition.cells == {}
    rates = decomposition.unparsed_by_source().set_index("source")["unparsed"]
    assert rates["fmt"] == 0.0  # the parsed letter read from predicted, as older generate-mode stores hold it
    assert decompose_format(planted.drop(columns=["text"])) is None
