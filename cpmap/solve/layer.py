"""Solve one layer with CP-SAT, re-score with the evaluator, certify the gap.

The solver's objective is never reported as the cost: every mapping it returns is
re-scored by :func:`cpmap.cost.evaluator.evaluate`.  The lower bound is CP-SAT's best objective
bound (divided by the energy scale, plus the constant MAC energy); it is valid because the
model's energy equals the evaluator's (per-word energies rounded *down* when they are not
exact decimals) and the model contains every mapping of the space.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from ortools.sat.python import cp_model

from ..core.arch import Arch
from ..core.constraints import ResolvedConstraints
from ..core.mapping import Mapping
from ..core.objectives import SECONDARY, objective_value
from ..core.options import SolveOptions
from ..core.problem import Problem
from ..cost.evaluator import Result, evaluate
from ..cost.floor import compulsory_floor
from .budget import Budget, set_params, stop_reason
from .infeasible import explain_infeasible
from .model import LayerModel, build_model
from .order import classes_unproved
from .readback import Progress, mapping_from_solution
from .split import SPLIT_FIRST_WORK, continue_split, splits
from .tuning import model_encoding

TIE_BREAK_SHARE = 0.05
"""Share of the time and work limits for the secondary objective after a proof (0.02 before
the one-worker prime tables, whose presolve takes more of it: MobileNet-V2's first depthwise
layer then needs 0.5 deterministic s to reach its fewest cycles, tests/test_model_identity.py)."""
PROVED_GAP = 1e-3
"""OPTIMAL means the certified gap (evaluator value vs lower bound) is at most this,
whatever the objective and encoding: CP-SAT's own OPTIMAL is about its model's objective,
which may be a relaxation of the evaluator's value."""


@dataclass(frozen=True)
class Candidate:
    mapping: Mapping
    result: Result


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
    stopped_by: str = ""  # one of cpmap.solve.budget.STOPS: what ended the (first) search
    work: float = 0.0  # CP-SAT deterministic seconds spent by all of the layer's searches

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


def _bound(layer_model: LayerModel, raw: float, objective: str) -> float:
    """The certified lower bound in the objective's unit from CP-SAT's objective bound."""
    if objective == "energy":
        return raw / layer_model.scale + layer_model.constant_pj
    if objective == "delay":
        return float(raw)
    return raw * layer_model.edp_quantum / layer_model.scale


def _exclude(layer_model: LayerModel, model: cp_model.CpModel, value) -> None:
    """A no-good cut: the next solution differs in some factor, bypass, loop-order class or
    mesh order (which node holds which index: another entry of the same factors)."""
    diff = [lit.negated() for entries in layer_model.mesh_entries.values() for lit, _ in entries if value(lit)]
    for evs in layer_model.exponents.values():
        for _, v in evs:
            b = model.new_bool_var("")
            model.add(v != int(value(v))).only_enforce_if(b)
            diff.append(b)
    for lit in list(layer_model.keep.values()) + list(layer_model.inner.values()):
        if isinstance(lit, bool):
            continue
        diff.append(lit.negated() if value(lit) else lit)
    model.add_bool_or(diff)


def _tie_break(layer_model: LayerModel, solver: cp_model.CpSolver, options: SolveOptions, problem: Problem,
               arch: Arch, cand: Candidate, budget: Budget) -> tuple[Candidate, Budget]:
    """Among the mappings with the proved optimum, the one with the fewest cycles (the
    evaluator's, bandwidth stalls included; energy objective) or the least energy (delay
    objective), searched for a short while from the optimum found.  Equal optima differ
    widely in the other measure (a pool layer can take 8 or 16 cycles at the same energy);
    an architect expects the better one.  Its work limit is a share of the layer's
    (reproducible); its wall-clock limit is what is left of the layer's, or that share of
    the time limit when the work is unlimited."""
    solved = len(layer_model.model.proto.variables)  # the hint covers the solved model's variables
    cycles = layer_model.evaluator_cycles()
    tie = layer_model.model.clone()
    primary = layer_model.energy if options.objective == "energy" else cycles
    tie.add(primary <= round(solver.objective_value))
    tie.minimize(cycles if options.objective == "energy" else layer_model.energy)
    for i in range(solved):
        var = tie.get_int_var_from_proto_index(i)
        tie.add_hint(var, solver.value(var))
    tie_solver = cp_model.CpSolver()
    seconds = budget.seconds_left()
    work = None if options.work is None else min(budget.work, TIE_BREAK_SHARE * options.work)
    if work is None:
        seconds = min(seconds, TIE_BREAK_SHARE * options.time_limit)
    set_params(tie_solver, options, seconds, work)
    st = tie_solver.solve(tie)
    budget = budget.spent(tie_solver)
    if st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return cand, budget
    mapping = mapping_from_solution(layer_model, problem, arch, tie_solver.value)
    r = evaluate(problem, arch, mapping)
    # the evaluator decides: never worse in the primary measure, strictly better in the other
    secondary = SECONDARY[options.objective]
    if (r.valid and objective_value(r, options.objective) <= objective_value(cand.result, options.objective)
            and objective_value(r, secondary) < objective_value(cand.result, secondary)):
        return Candidate(mapping, r), budget
    return cand, budget


MAX_MODEL_MACS = 10**16
"""Largest layer (MACs) the CP-SAT model is built for: its counts, products and energy
coefficients are int64, and a larger layer would overflow them (tests/test_huge_layers.py).
The evaluator and the heuristic searchers work on Python integers and have no such limit."""
_TOO_LARGE = "too large for the CP-SAT model (its counts are 64-bit integers)"


def _too_large(problem: Problem) -> str:
    if problem.macs > MAX_MODEL_MACS:
        return (f"{_TOO_LARGE}: {problem.macs:.3g} MACs, expected at most {MAX_MODEL_MACS:.0e}; "
                "cost mappings with cpmap evaluate or search them with cpmap compare")
    return ""


def _build(problem: Problem, arch: Arch, options: SolveOptions, constraints, max_cycles: int | None,
           tangent_cuts: bool = True) -> LayerModel:
    # top-k lists distinct mappings, a mirrored one too (cpmap/solve/symmetry.py)
    encoding = model_encoding(options.workers, options.encoding)
    layer_model = build_model(problem, arch, options.objective, constraints, options.encoding,
                              tangent_cuts and encoding.get("tangent_cuts", True),
                              break_symmetry=options.top_k <= 1,
                              prune_dominated=options.top_k <= 1 and max_cycles is None,
                              prime_tables=encoding.get("prime_tables", False))
    if max_cycles is not None:
        layer_model.model.add(layer_model.evaluator_cycles() <= max_cycles)
    return layer_model


def _solve_once(layer_model: LayerModel, problem: Problem, arch: Arch, options: SolveOptions, on_solution,
                k: int, budget: Budget, should_stop=None) -> tuple:
    """One CP-SAT solve of the model, the ``k``-th of ``top_k``: (solver, progress, status,
    interrupted by Ctrl-C or ``should_stop``, stop reason, budget left, raw bound).  It may
    spend an equal share of what is left for the solves still to come (the first keeps back
    the tie-break's share of the time limit).  A first one-worker energy solve not proved
    within :data:`~cpmap.solve.split.SPLIT_FIRST_WORK` goes on as a split over the keep
    literals (:mod:`cpmap.solve.split`)."""
    solver = cp_model.CpSolver()
    solves_left = max(1, options.top_k - k)
    reserve = TIE_BREAK_SHARE if k == 0 and options.tie_break else 0.0
    work = None if budget.work is None else budget.work / solves_left
    split = k == 0 and splits(layer_model, options) and (work is None or work > SPLIT_FIRST_WORK)
    first = SPLIT_FIRST_WORK if split else work
    set_params(solver, options, budget.seconds_left(reserve) / solves_left, first)
    progress = Progress(layer_model, problem, arch, on_solution if k == 0 else None, should_stop)
    try:
        st, interrupted = solver.solve(layer_model.model, progress), False
    except KeyboardInterrupt:
        st, interrupted = cp_model.FEASIBLE if progress.mapping else cp_model.UNKNOWN, True
    interrupted = interrupted or progress.stopped
    stop, budget = stop_reason(solver, st, interrupted, first), budget.spent(solver)
    if split and stop == "work_limit":
        return continue_split(layer_model, problem, arch, options, (solver, progress, st), budget, reserve,
                              on_solution, should_stop)
    raw = progress.bound if interrupted else solver.best_objective_bound
    return solver, progress, st, interrupted, stop, budget, raw


def solve_layer(problem: Problem, arch: Arch, options: SolveOptions | None = None,
                on_solution=None, max_cycles: int | None = None, should_stop=None) -> LayerSolution:
    """Minimize the evaluator's cost of one layer; return the best mapping, its exact cost
    and the certified lower bound, within the options' time limit (wall-clock, everything
    included) and work limit (:mod:`cpmap.solve.budget`).  With ``top_k`` > 1 the model is
    solved again with each mapping found excluded, the solves sharing the limits, and the
    distinct mappings are ranked by the evaluator.  ``on_solution(seconds, mapping)`` is
    called for every improving solution of the first solve.  Ctrl-C returns the best
    mapping found so far.  ``options`` default to :class:`~cpmap.core.options.SolveOptions`'s.
    ``max_cycles`` restricts the space to mappings of at most that many cycles (the
    evaluator's, bandwidth stalls included: the epsilon constraint of
    :mod:`cpmap.solve.pareto`).  ``should_stop()``, when
    given, is asked at every solution: once it is true the solve ends like an interrupted
    one, with the best mapping so far (how a batch worker passes on a Ctrl-C that arrived
    while the model was being built)."""
    start = time.perf_counter()
    options = options or SolveOptions()
    budget = Budget.start(options, start)
    constraints = options.constraints.resolve(problem, arch)
    too_large = _too_large(problem)
    layer_model = None if too_large else _build(problem, arch, options, constraints, max_cycles)
    if layer_model is not None and layer_model.model.validate():
        too_large = f"{_TOO_LARGE}: {layer_model.model.validate().split(':')[0].strip()}"
    if too_large:
        return LayerSolution(problem.name, "UNKNOWN", None, None, time.perf_counter() - start, options.objective,
                             reason=too_large, stopped_by="not_solved")
    found: list[Candidate] = []
    status, bound, reason, stopped_by = "UNKNOWN", None, "", ""
    for k in range(max(1, options.top_k)):
        solver, progress, st, interrupted, stop, budget, raw = _solve_once(
            layer_model, problem, arch, options, on_solution, k, budget, should_stop)
        if k == 0 and st == cp_model.INFEASIBLE:
            # CP-SAT 9.15 has proved models infeasible whose only fault was a valid tangent
            # cut with coefficients near 1e11 (a conv with prime dims 1021 and 4093; see
            # tests/test_huge_layers.py): confirm on the same model without the cuts
            layer_model = _build(problem, arch, options, constraints, max_cycles, tangent_cuts=False)
            solver, progress, st, interrupted, stop, budget, raw = _solve_once(
                layer_model, problem, arch, options, on_solution, k, budget, should_stop)
        if k == 0:
            stopped_by = stop
            if progress.mapping is None:
                return _without_mapping(problem, arch, options, constraints, stop, time.perf_counter() - start,
                                        budget.used)
            bound = _bound(layer_model, raw, options.objective)
            status = "OPTIMAL" if st == cp_model.OPTIMAL else "FEASIBLE"
            reason = {"interrupted": "interrupted: best mapping so far", "time_limit": "time limit reached",
                      "work_limit": "work limit reached"}.get(stop, "")
        if progress.mapping is None:
            break  # no further distinct mapping (or interrupted)
        cand = _candidate(problem, arch, options, progress, first=k == 0)
        if (k == 0 and st == cp_model.OPTIMAL and options.tie_break and not interrupted
                and options.objective in ("energy", "delay") and options.encoding == "exact"):
            try:
                cand, budget = _tie_break(layer_model, solver, options, problem, arch, cand, budget)
            except KeyboardInterrupt:
                interrupted = True  # the optimum stands; only the tie-break and top-k stop
        found.append(cand)
        if interrupted or k + 1 >= options.top_k or st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            break
        _exclude(layer_model, layer_model.model, solver.value)
    sol = _ranked(problem, options, found, status, bound, reason, time.perf_counter() - start)
    sol = _floor_when_orders_unproved(sol, problem, arch, options.objective, max_cycles is not None)
    return replace(sol, stopped_by=stopped_by, work=budget.used)


def _floor_when_orders_unproved(sol: LayerSolution, problem: Problem, arch: Arch, objective: str,
                                capped: bool) -> LayerSolution:
    """Where the loop-order classes are not proved complete, the model's bound holds over
    class orders only: report the compulsory floor (valid for every mapping) as the bound,
    and OPTIMAL only if the mapping meets it."""
    why = classes_unproved(problem, arch, objective, capped)
    if not why or sol.lower_bound is None:
        return sol
    floor = compulsory_floor(problem, arch)
    energy = floor.energy_pj + arch.static_pj_per_cycle * floor.cycles
    bound = {"energy": energy, "delay": floor.cycles, "edp": energy * floor.cycles}[objective]
    out = replace(sol, lower_bound=min(bound, sol.value))
    if out.status == "OPTIMAL" and (out.gap is None or out.gap > PROVED_GAP):
        out = replace(out, status="FEASIBLE", reason=(
            f"optimal over the model's loop-order classes (their bound {sol.lower_bound:.6g}), but {why}; "
            f"the certified bound is the compulsory floor"))
    return out


def _without_mapping(problem: Problem, arch: Arch, options: SolveOptions, constraints: ResolvedConstraints,
                     stop: str, seconds: float, work: float) -> LayerSolution:
    if stop == "infeasible":
        return LayerSolution(problem.name, "INFEASIBLE", None, None, seconds, options.objective,
                             reason=explain_infeasible(problem, arch, constraints), stopped_by=stop, work=work)
    reason = {"interrupted": "interrupted before a mapping was found",
              "work_limit": "no mapping found within the work limit"}.get(stop, "no mapping found within the time limit")
    return LayerSolution(problem.name, "UNKNOWN", None, None, seconds, options.objective, reason=reason,
                         stopped_by=stop, work=work)


def _candidate(problem: Problem, arch: Arch, options: SolveOptions, progress: Progress, first: bool) -> Candidate:
    """The solve's mapping, re-scored by the evaluator; under a relaxed objective (pwl,
    edp) an earlier incumbent of the first solve can score better, and then it is taken."""
    result = evaluate(problem, arch, progress.mapping)
    if not result.valid:
        raise AssertionError(f"solver returned an invalid mapping: {result.errors}")
    cand = Candidate(progress.mapping, result)
    if first and len(progress.incumbents) > 1:
        for m in progress.incumbents[:-1]:
            r = evaluate(problem, arch, m)
            if r.valid and objective_value(r, options.objective) < objective_value(cand.result, options.objective):
                cand = Candidate(m, r)
    return cand


def _ranked(problem: Problem, options: SolveOptions, found: list[Candidate], status: str, bound: float | None,
            reason: str, elapsed: float) -> LayerSolution:
    """The distinct mappings found, ranked by the evaluator, with the certified status."""
    unique = list({c.mapping: c for c in reversed(found)}.values())[::-1]
    ranked = sorted(unique, key=lambda c: objective_value(c.result, options.objective))
    best = found[0]
    # the first solve's optimum is the best mapping; alternatives never beat it under the
    # evaluator unless the objective is a relaxation (pwl) or not energy
    if objective_value(ranked[0].result, options.objective) < objective_value(best.result, options.objective):
        best = ranked[0]
    solution = LayerSolution(problem.name, status, best, bound, elapsed, options.objective, reason, tuple(ranked))
    if status == "OPTIMAL" and (solution.gap is None or solution.gap > PROVED_GAP):
        # the model was a relaxation of the evaluator's value (pwl, edp's energy quantum,
        # energies or bandwidths rounded for int64): its optimum is not the mapping's
        solution = replace(solution, status="FEASIBLE", reason=(
            f"the {options.objective} model ({options.encoding}) was solved to optimality, but it is a "
            f"relaxation: the mapping's certified gap to its bound is {_percent(solution.gap)} > "
            f"{_percent(PROVED_GAP)}"))
    return solution


def _percent(gap: float | None) -> str:
    return "unknown" if gap is None else f"{100 * gap:.3g}%"
