"""PGF-guided data selection: recommend (and test) training mixtures for a target without data."""

from vlmtransfer.select.recipe import (
    Candidate,
    Recipe,
    SelectionRule,
    choose_recipe,
    load_candidates,
    split_budget,
)

__all__ = ["Candidate", "Recipe", "SelectionRule", "choose_recipe", "load_candidates", "split_budget"]
