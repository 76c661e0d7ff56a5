"""Evaluation: multiple-choice scoring of a base model and its LoRA adapters on MCQ datasets."""

from vlmtransfer.evaluate.engine import EvalSettings, Evaluator, accuracy_by_task, score_questions
from vlmtransfer.evaluate.scoring import AnswerPosition, QuestionResult, answer_position, letter_token_ids

__all__ = [
    "AnswerPosition",
    "EvalSettings",
    "Evaluator",
    "QuestionResult",
    "accuracy_by_task",
    "answer_position",
    "letter_token_ids",
    "score_questions",
]
