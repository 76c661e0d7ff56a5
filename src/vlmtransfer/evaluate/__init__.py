"""Evaluation: multiple-choice scoring of a model (and later its adapters) on MCQ datasets."""

from vlmtransfer.evaluate.scoring import ANSWER_PREFIX, ChoiceScores, letter_token_ids, score_questions

__all__ = ["ANSWER_PREFIX", "ChoiceScores", "letter_token_ids", "score_questions"]
