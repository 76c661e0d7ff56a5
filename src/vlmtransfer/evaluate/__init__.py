"""Evaluation: multiple-choice scoring of a base model and its LoRA adapters on MCQ datasets."""

from vlmtransfer.evaluate.engine import EvalSettings, Evaluator, accuracy_by_task, score_questions
from vlmtransfer.evaluate.scoring import ANSWER_PREFIX, QuestionResult, letter_token_ids

__all__ = [
    "ANSWER_PREFIX",
    "EvalSettings",
    "Evaluator",
    "QuestionResult",
    "accuracy_by_task",
    "letter_token_ids",
    "score_questions",
]
