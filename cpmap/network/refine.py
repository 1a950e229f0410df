"""Lazy bound refinement of a pipelined schedule (docs/pipeline.md, "Refinement").

A layer problem the solver did not prove within its limits gives its candidate a weak
bound (the solver's bound or the compulsory floor, :func:`~.pipeline.layer_bound`) and
perhaps not its best mapping.  Of the candidates, only two selections decide the certified
network gap: the **bound ILP's** (the network bound is the least sum of candidate bounds;
raising the bound of a candidate it did not select leaves that least sum where it is, so
only its own candidates' problems can raise it) and the **chosen schedule's** (its value).
Refinement solves those selections' unproved problems again -- the ones with the largest
shortfalls, as many as the gap's excess over the target needs (:func:`to_refine`) -- each
with :data:`~cpmap.core.pipeline.REFINE_FACTOR` times its previous limits, through the batch
machinery (cached under the same key: a later run at the first limits reuses the longer
answer), and rebuilds both ILPs; it stops when the gap is at most the target, nothing is
left to refine, the rounds are spent or Ctrl-C came.

Valid: every layer bound stays certified for its problem (a longer solve of the same
problem; the merged answer keeps the larger of two certified bounds and the better of two
valid mappings), so the network bound argument holds unchanged after any number of rounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..core.pipeline import REFINE_FACTOR, PipelineOptions
from ..solve.layer import LayerSolution
from ..spec.solve import SolvePlan

REFINABLE_STOPS = ("time_limit", "work_limit")
"""Stops a longer solve can get past (not Ctrl-C, not a layer too large for the model)."""


@dataclass(frozen=True)
class Refinement:
    """One round: ``problems`` unproved layer problems solved again, each with
    :data:`~cpmap.core.pipeline.REFINE_FACTOR` times the limits of its previous solve (so
    ``4 ** k`` times the first pass's at its ``k``-th re-solve; ``factor``: the largest in
    the round); ``proved`` of them proved now; the certified gap before and after."""

    round: int
    problems: int
    proved: int
    factor: int
    gap_before: float | None
    gap_after: float | None


def refinable(solution: LayerSolution | None) -> bool:
    """Whether a longer solve could prove or improve ``solution``: a search its time or work
    limit stopped before a proof."""
    return (solution is not None and solution.status in ("FEASIBLE", "UNKNOWN")
            and solution.stopped_by in REFINABLE_STOPS)


def to_refine(selected, excess: float = math.inf) -> list:
    """The refinable layer problems of the ``selected`` candidates (each with ``variant``
    and ``solutions``), once each, as their answers' keys ((problem, node region or None),
    :meth:`~.segments.Variant.solve_keys`): by decreasing shortfall (the candidate's groups x (value
    - solver bound) of the layer, in the objective's unit; unbounded without a mapping or
    a bound), the fewest whose shortfalls add up to ``excess`` (how far the network gap is
    above its target, in the same unit), or all when they add up to less.  So a round
    spends its longer limits where the gap is, not on every unproved layer."""
    short: dict[tuple, float] = {}
    for c in selected:
        for p, s in zip(c.variant.solve_keys(), c.solutions):
            if refinable(s):
                gap = math.inf if s.value is None or s.lower_bound is None else s.value - s.lower_bound
                short[p] = max(short.get(p, 0.0), c.variant.groups * gap)
    out, total = [], 0.0
    for p in sorted(short, key=lambda q: -short[q]):  # stable: ties keep the selections' order
        if total >= excess and excess < math.inf:  # unbounded excess (no schedule yet): every one
            break
        out.append(p)
        total += short[p]
    return out


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


def refine(result, sols: dict, plan: SolvePlan, options: PipelineOptions, solve, schedule):
    """Refinement rounds on a first ``result`` (a :class:`~.pipeline.PipelineResult` built
    from the layer answers ``sols``, {(problem, region or None): solution}) until its gap is at most
    ``options.gap_target``, nothing is left to refine, ``options.refine_rounds`` are spent
    or Ctrl-C came.  ``solve(plan, keys)`` -> ({key: solution}, BatchResult) solves
    through the batch machinery; ``schedule(sols, batch)`` rebuilds the result.  Returns the
    last result with its ``refinements``."""
    rounds: list[Refinement] = []
    tries: dict[tuple, int] = {}
    while len(rounds) < options.refine_rounds and not result.batch.interrupted:
        gap = result.gap
        if gap is not None and gap <= options.gap_target:
            break
        stuck = [c for c in result.candidates if len(c.variant.layers) == 1 and c.value is None]  # block a schedule
        excess = math.inf if gap is None else result.value - result.bound - options.gap_target * result.value
        todo = to_refine(result.schedule + result.bound_selection + tuple(stuck), excess)
        if not todo:
            break
        for p in todo:
            tries[p] = tries.get(p, 0) + 1
        new: dict = {}
        wall, stopped, factor = 0.0, False, 1
        for k in sorted({tries[p] for p in todo}):  # each problem at 4x its previous limits
            factor = REFINE_FACTOR ** k
            got, again = solve(scaled(plan, factor, result.batch.workers), [p for p in todo if tries[p] == k])
            new, wall, stopped = new | got, wall + again.wall_seconds, again.interrupted
            if stopped:
                break
        sols = sols | {p: merged(sols.get(p), new.get(p)) for p in todo}
        result = schedule(sols, replace(result.batch, interrupted=stopped,
                                        wall_seconds=result.batch.wall_seconds + wall))
        proved = sum(1 for p in todo if new.get(p) is not None and new[p].status in ("OPTIMAL", "INFEASIBLE"))
        rounds.append(Refinement(len(rounds) + 1, len(todo), proved, factor, gap, result.gap))
    return replace(result, refinements=tuple(rounds))
