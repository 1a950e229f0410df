"""Lazy bound refinement of a pipelined schedule (docs/pipeline.md, "Refinement").

A layer problem the solver did not prove within its limits gives its candidate a weak
bound (the solver's bound or the compulsory floor, :func:`~.pipeline.layer_bound`) and
perhaps not its best mapping.  Of the candidates, only two selections decide the certified
network gap: the **bound ILP's** (the network bound is the least sum of candidate bounds;
raising the bound of a candidate it did not select leaves that least sum where it is, so
only its own candidates' problems can raise it) and the **chosen schedule's** (its value).
Refinement solves just those selections' unproved problems again with
:data:`~cpmap.core.pipeline.REFINE_FACTOR` times the previous limits, through the batch
machinery (cached under the same key: a later run at the first limits reuses the longer
answer), and rebuilds both ILPs; it stops when the gap is at most the target, nothing is
left to refine, the rounds are spent or Ctrl-C came.

Valid: every layer bound stays certified for its problem (a longer solve of the same
problem; the merged answer keeps the larger of two certified bounds and the better of two
valid mappings), so the network bound argument holds unchanged after any number of rounds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..core.problem import Problem
from ..solve.layer import LayerSolution
from ..spec.solve import SolvePlan

REFINABLE_STOPS = ("time_limit", "work_limit")
"""Stops a longer solve can get past (not Ctrl-C, not a layer too large for the model)."""


@dataclass(frozen=True)
class Refinement:
    """One round: ``problems`` unproved layer problems solved again with ``time_limit``
    seconds and ``work_limit`` deterministic seconds each (None: the default share of the
    time limit); ``proved`` of them proved now; the certified gap before and after."""

    round: int
    problems: int
    proved: int
    time_limit: float
    work_limit: float | None
    gap_before: float | None
    gap_after: float | None


def refinable(solution: LayerSolution | None) -> bool:
    """Whether a longer solve could prove or improve ``solution``: a search its time or work
    limit stopped before a proof."""
    return (solution is not None and solution.status in ("FEASIBLE", "UNKNOWN")
            and solution.stopped_by in REFINABLE_STOPS)


def to_refine(selected) -> list[Problem]:
    """The refinable layer problems of the ``selected`` candidates (each with
    ``variant.problems`` and ``solutions``), once each, in order."""
    out: dict[Problem, None] = {}
    for c in selected:
        for p, s in zip(c.variant.problems, c.solutions):
            if refinable(s):
                out[p] = None
    return list(out)


def scaled(plan: SolvePlan, factor: float, workers: int) -> SolvePlan:
    """``plan`` with ``factor`` times its time and work limits, and ``workers`` CP-SAT workers
    per solve fixed (the first pass's, so a refined answer is the same search run longer and
    a later run at the first limits may reuse it from the cache)."""
    work = None if plan.work_limit is None else plan.work_limit * factor
    return replace(plan, time_limit=plan.time_limit * factor, work_limit=work, workers=workers)


def merged(old: LayerSolution | None, new: LayerSolution | None) -> LayerSolution | None:
    """One answer from two answers of the same problem: a proved one as it is; else the one
    with the better mapping, carrying the larger of the two certified bounds (both hold)."""
    if new is None or old is None:
        return old if new is None else new
    for s in (new, old):
        if s.status in ("OPTIMAL", "INFEASIBLE"):
            return s
    better = new if old.value is None or (new.value is not None and new.value <= old.value) else old
    bounds = [b for b in (old.lower_bound, new.lower_bound) if b is not None]
    return replace(better, lower_bound=max(bounds) if bounds else None, work=old.work + new.work)
