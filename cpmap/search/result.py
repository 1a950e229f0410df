"""The result every searcher returns, objectives, and the bookkeeping shared by the searchers."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..core.mapping import Mapping
from ..core.objectives import OBJECTIVES, objective_key
from ..cost.batch import MACS_LIMIT, BatchEvaluator
from ..cost.evaluator import Evaluator, Result
from .arrays import GenomeArrays
from .space import Genome, SearchError, Space, decode

STOPPED_BY = ("samples", "budget", "complete")
"""Why a search ended: a count limit (samples, evaluations, generations or steps), the
wall-clock budget, or the whole space was enumerated (exhaustive only)."""

INVALID = (math.inf, math.inf)


def check_objective(objective: str) -> None:
    if objective not in OBJECTIVES:
        raise SearchError(f"unknown objective {objective!r} (choose from {', '.join(OBJECTIVES)})")


@dataclass(frozen=True)
class SearchResult:
    """What a searcher found.  ``best_mapping`` / ``best_result`` are None only when no
    evaluated mapping was valid; otherwise ``best_result`` is the evaluator's (valid)
    result of ``best_mapping``.  ``history`` is the best-so-far trace: one
    ``(seconds, evaluations, best_cost)`` entry per improvement plus one at the end, with
    ``best_cost`` in the objective's unit (pJ for energy)."""

    method: str
    objective: str
    best_mapping: Mapping | None
    best_result: Result | None
    evaluations: int
    """Evaluator calls (a genetic search does not re-evaluate a genome it has seen)."""
    valid_evaluations: int
    seconds: float
    history: tuple[tuple[float, int, float], ...]
    stopped_by: str

    @property
    def best_cost(self) -> float:
        """The best mapping's objective value (inf when nothing valid was found)."""
        if self.best_result is None:
            return math.inf
        return objective_key(self.best_result, self.objective)[0]


class Tracker:
    """Evaluates genomes or mappings for one search and keeps the best, the counts, the
    trace and the clock.  Only mappings the evaluator calls valid can become the best:
    genomes evaluated in a batch (:meth:`evaluate_genomes`) are ranked by the batch
    evaluator, and the best of each batch is re-scored by the scalar one."""

    def __init__(self, method: str, space: Space, objective: str, budget: float | None):
        check_objective(objective)
        if budget is not None and not budget > 0:
            raise SearchError(f"{method}: the budget must be > 0 seconds, got {budget!r}")
        self.method, self.space, self.objective = method, space, objective
        self.evaluator = Evaluator(space.problem, space.arch)
        # the batch path counts in int64 and float64, exact below MACS_LIMIT (cost/batch.py);
        # it does not price mesh hops or static energy yet: those archs use the evaluator alone
        batchable = space.problem.macs < MACS_LIMIT and not space.arch.beyond_flat
        self.batch = BatchEvaluator(space.problem, space.arch) if batchable else None
        self.arrays = GenomeArrays(space)
        self.deadline = None if budget is None else time.perf_counter() + budget
        self.t0 = time.perf_counter()
        self.evaluations = 0
        self.valid = 0
        self.best_key = INVALID
        self.best_mapping: Mapping | None = None
        self.best_result: Result | None = None
        self.history: list[tuple[float, int, float]] = []

    def out_of_time(self) -> bool:
        return self.deadline is not None and time.perf_counter() >= self.deadline

    def evaluate_mapping(self, mapping: Mapping) -> tuple[float, float]:
        """The objective key of ``mapping`` (:data:`INVALID` when the evaluator rejects it)."""
        r = self.evaluator.evaluate(mapping, trusted=True)  # decoded/enumerated: valid structure
        self.evaluations += 1
        if not r.valid:
            return INVALID
        self.valid += 1
        key = objective_key(r, self.objective)
        if key < self.best_key:
            self.best_key, self.best_mapping, self.best_result = key, mapping, r
            self.history.append((time.perf_counter() - self.t0, self.evaluations, key[0]))
        return key

    def evaluate(self, genome: Genome) -> tuple[float, float]:
        return self.evaluate_mapping(decode(self.space, genome))

    def evaluate_genomes(self, genomes: Sequence[Genome]) -> list[tuple[float, float]]:
        """The objective keys of ``genomes`` (:data:`INVALID` for invalid mappings), from
        one batch evaluation.  Counts, improvements and the trace are recorded as if the
        genomes were evaluated one by one in order; the batch's best (if it improves) is
        decoded and re-scored by the scalar evaluator, which must agree."""
        if self.batch is None:  # a problem too large for exact batch counts: one by one
            return [self.evaluate(g) for g in genomes]
        if not genomes:
            return []
        res = self.batch.evaluate(*self.arrays(genomes), check=False)
        value, second = objective_key(res, self.objective)
        value = np.where(res.valid, value, math.inf)
        keys = list(zip(value.tolist(), np.where(res.valid, second, math.inf).tolist()))
        first = self.evaluations
        self.evaluations += len(genomes)
        self.valid += int(res.valid.sum())
        seconds = time.perf_counter() - self.t0
        best = None
        # improvements: entries at their prefix minimum and not above the best so far
        for b in np.flatnonzero((value <= np.minimum.accumulate(value)) & (value <= self.best_key[0])).tolist():
            if keys[b] < self.best_key:
                self.best_key, best = keys[b], b
                self.history.append((seconds, first + b + 1, keys[b][0]))
        if best is not None:
            mapping = decode(self.space, genomes[best])
            r = self.evaluator.evaluate(mapping, trusted=True)
            if not r.valid or objective_key(r, self.objective) != keys[best]:
                raise RuntimeError(f"{self.method}: the batch evaluator scored a mapping {keys[best]}, the "
                                   f"evaluator {objective_key(r, self.objective)} (valid {r.valid}): a bug, "
                                   f"please report it with the mapping {mapping}")
            self.best_mapping, self.best_result = mapping, r
        return keys

    def result(self, stopped_by: str) -> SearchResult:
        seconds = time.perf_counter() - self.t0
        history = list(self.history)
        if history:
            history.append((seconds, self.evaluations, history[-1][2]))
        return SearchResult(self.method, self.objective, self.best_mapping, self.best_result,
                            self.evaluations, self.valid, seconds, tuple(history), stopped_by)
