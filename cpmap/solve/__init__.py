"""The CP-SAT layer mapper: the model of one layer's mapping space (:mod:`.model`, built
from :mod:`.kit` and :mod:`.monomial`) and :func:`solve_layer`, which solves it,
re-scores the answer with the evaluator and certifies the gap (docs/solver.md)."""

from .infeasible import explain_infeasible
from .layer import Candidate, LayerSolution, mapping_from_solution, solve_layer
from .model import LayerModel, build_model

__all__ = ["Candidate", "LayerModel", "LayerSolution", "build_model", "explain_infeasible",
           "mapping_from_solution", "solve_layer"]
