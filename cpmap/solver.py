"""Solve one layer with CP-SAT, re-score with the evaluator, certify the gap.

The solver's objective is never reported as the cost: every mapping it returns is
re-scored by :func:`cpmap.evaluator.evaluate`.  The lower bound is CP-SAT's best objective
bound (divided by the energy scale, plus the constant MAC energy); it is valid because the
model's energy equals the evaluator's (per-word energies rounded *down* when they are not
exact decimals) and the model contains every mapping of the space.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from .arch import Arch
from .cpsat import LayerModel, UserConstraints, build_model
from .evaluator import Result, evaluate
from .mapping import LevelMapping, Mapping
from .problem import Problem


OBJECTIVES = ("energy", "delay", "edp")
ENCODINGS = ("exact", "pwl")


@dataclass(frozen=True)
class SolveOptions:
    """How to solve one layer.

    ``objective``: energy (pJ), delay (cycles) or edp (pJ x cycles); ``encoding``: how the
    energy objective is modelled (docs/solver.md); ``time_limit``: seconds per layer;
    ``workers`` and ``seed``: CP-SAT's, fixed so that a run is reproducible; ``top_k``: how
    many distinct mappings to return, ranked by the evaluator."""

    objective: str = "energy"
    encoding: str = "exact"
    time_limit: float = 10.0
    workers: int = 2
    seed: int = 0
    top_k: int = 1
    constraints: UserConstraints = field(default_factory=UserConstraints)


@dataclass(frozen=True)
class Candidate:
    mapping: Mapping
    result: Result


def objective_value(result: Result, objective: str) -> float:
    """The evaluator's value of ``objective`` for a result (pJ, cycles or pJ x cycles)."""
    if objective == "energy":
        return result.energy_pj
    if objective == "delay":
        return float(result.cycles)
    return result.energy_pj * result.cycles


@dataclass(frozen=True)
class LayerSolution:
    """The answer for one layer.  ``lower_bound`` is in the objective's unit (pJ, cycles or
    pJ x cycles) and certified: no mapping of the space scores below it under the
    evaluator.  ``alternatives`` holds the ``top_k`` best distinct mappings found, best
    first (``best`` is the first)."""

    name: str
    status: str  # OPTIMAL | FEASIBLE | INFEASIBLE | UNKNOWN
    best: Candidate | None
    lower_bound: float | None
    solve_seconds: float
    objective: str = "energy"
    reason: str = ""
    alternatives: tuple[Candidate, ...] = ()

    @property
    def value(self) -> float | None:
        """The evaluator's objective value of the best mapping."""
        return None if self.best is None else objective_value(self.best.result, self.objective)

    @property
    def lower_bound_pj(self) -> float | None:
        """The certified lower bound on energy (energy objective only)."""
        return self.lower_bound if self.objective == "energy" else None

    @property
    def gap(self) -> float | None:
        """Certified gap (value - lower bound) / value."""
        if self.best is None or self.lower_bound is None:
            return None
        v = self.value
        return max(0.0, (v - self.lower_bound) / v) if v > 0 else 0.0


def mapping_from_solution(lm: LayerModel, problem: Problem, arch: Arch, value) -> Mapping:
    """Read a mapping back from solver values.  Level j's loops irrelevant to the chosen
    tensor go innermost, which realizes exactly the reuse the model assumed."""
    rel = {t.name: t.dims for t in problem.tensors}
    levels = []
    for i, lv in enumerate(arch.levels):
        loops = [(d, lm.factor(value, d, s)) for d in problem.dims for s in lm.slots
                 if s.level == i and not s.spatial]
        loops = [(d, f) for d, f in loops if f > 1]
        chosen = next((t for t in problem.tensor_names if (i, t) in lm.inner and value(lm.inner[i, t])), None)
        if chosen is not None:
            loops = [lp for lp in loops if lp[0] in rel[chosen]] + [lp for lp in loops if lp[0] not in rel[chosen]]
        spatial = []
        if lv.fanout is not None:
            for ax, _ in lv.fanout.axes:
                sl = tuple((d, lm.factor(value, d, s)) for d in problem.dims for s in lm.slots
                           if s.level == i and s.axis == ax and lm.factor(value, d, s) > 1)
                if sl:
                    spatial.append((ax, sl))
        keeps = frozenset(t for t in problem.tensor_names if _val(value, lm.keep[i, t]))
        levels.append(LevelMapping(lv.name, tuple(loops), keeps, tuple(spatial)))
    return Mapping(tuple(levels))


def _val(value, v) -> int:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    return int(value(v))


def solve_layer(problem: Problem, arch: Arch, options: SolveOptions = SolveOptions()) -> LayerSolution:
    """minimize the evaluator's cost of one layer; return the best mapping, its exact
    cost, and the certified lower bound."""
    start = time.perf_counter()
    lm = build_model(problem, arch, options.objective, options.constraints)
    solver = cp_model.CpSolver()
    params = solver.parameters
    params.max_time_in_seconds = options.time_limit
    params.num_workers = options.workers
    params.random_seed = options.seed
    status = solver.solve(lm.model)
    elapsed = time.perf_counter() - start
    if status == cp_model.INFEASIBLE:
        return LayerSolution(problem.name, "INFEASIBLE", None, None, elapsed, options.objective,
                             reason=explain_infeasible(problem, arch, options))
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return LayerSolution(problem.name, "UNKNOWN", None, None, elapsed, options.objective,
                             reason="no mapping found within the time limit")
    mapping = mapping_from_solution(lm, problem, arch, solver.value)
    result = evaluate(problem, arch, mapping)
    if not result.valid:
        raise AssertionError(f"solver returned an invalid mapping: {result.errors}")
    if options.objective == "energy":
        bound = solver.best_objective_bound / lm.scale + lm.constant_pj
    else:
        bound = None
    best = Candidate(mapping, result)
    return LayerSolution(problem.name, "OPTIMAL" if status == cp_model.OPTIMAL else "FEASIBLE",
                         best, bound, elapsed, options.objective, alternatives=(best,))


def explain_infeasible(problem: Problem, arch: Arch, options: SolveOptions) -> str:
    """Say which restriction makes the layer impossible to map."""
    cons = options.constraints
    for lv_i, tensors in cons.keeps.items():
        lv = arch.levels[lv_i]
        if lv.capacity is not None and len(tensors) > lv.capacity:
            return (f"level {lv.name} must keep {sorted(tensors)} but even 1-word tiles need "
                    f"{len(tensors)} words > capacity {lv.capacity}")
    if cons.min_utilization > 0:
        return (f"no mapping reaches utilization {cons.min_utilization:g} with the other constraints "
                f"(the layer's dims may not factor onto the {arch.pes} PEs)")
    if cons.spatial_dims:
        return "the fixed spatial dataflow conflicts with the layer's dims or the capacities"
    return "no mapping satisfies the capacity and fanout limits"
