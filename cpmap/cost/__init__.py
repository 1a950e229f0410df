"""The cost of a mapping: the exact analytical evaluator (docs/cost-model.md), the ground
truth every solver and searcher answer is re-scored by."""

from .evaluator import Evaluator, Result, evaluate, evaluator_for

__all__ = ["Evaluator", "Result", "evaluate", "evaluator_for"]
