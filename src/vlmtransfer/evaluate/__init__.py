"""Evaluation: multiple-choice scoring of a base model and its LoRA adapters on MCQ datasets.

The scorer contract (:mod:`.scorer`), its registry (:mod:`.registry`), results (:mod:`.scoring`) and the
dummy scorer (:mod:`.dummy`) import no torch; the Hugging Face evaluator (:mod:`.engine`) does. Names are
loaded on first use, so ``from vlmtransfer.evaluate.scorer import Scorer`` (or the study runner with the
dummy scorer) never imports torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlmtransfer.lazy import lazy_exports

if TYPE_CHECKING:
    from vlmtransfer.evaluate.engine import EvalSettings, Evaluator, score_questions
    from vlmtransfer.evaluate.registry import SCORERS, get_scorer, load_scorer
    from vlmtransfer.evaluate.scorer import Request, Scorer, TrainableScorer, evaluate_requests
    from vlmtransfer.evaluate.scoring import (
        AnswerPosition,
        QuestionResult,
        accuracy_by_task,
        answer_position,
        letter_token_ids,
    )

_WHERE = {
    "EvalSettings": "vlmtransfer.settings",
    "Evaluator": "vlmtransfer.evaluate.engine",
    "score_questions": "vlmtransfer.evaluate.engine",
    "SCORERS": "vlmtransfer.evaluate.registry",
    "get_scorer": "vlmtransfer.evaluate.registry",
    "load_scorer": "vlmtransfer.evaluate.registry",
    "Request": "vlmtransfer.evaluate.scorer",
    "Scorer": "vlmtransfer.evaluate.scorer",
    "TrainableScorer": "vlmtransfer.evaluate.scorer",
    "evaluate_requests": "vlmtransfer.evaluate.scorer",
    "AnswerPosition": "vlmtransfer.evaluate.scoring",
    "QuestionResult": "vlmtransfer.evaluate.scoring",
    "accuracy_by_task": "vlmtransfer.evaluate.scoring",
    "answer_position": "vlmtransfer.evaluate.scoring",
    "letter_token_ids": "vlmtransfer.evaluate.scoring",
}

__all__ = [
    "SCORERS",
    "AnswerPosition",
    "EvalSettings",
    "Evaluator",
    "QuestionResult",
    "Request",
    "Scorer",
    "TrainableScorer",
    "accuracy_by_task",
    "answer_position",
    "evaluate_requests",
    "get_scorer",
    "letter_token_ids",
    "load_scorer",
    "score_questions",
]


__getattr__, __dir__ = lazy_exports(__name__, _WHERE, globals(), __all__)
