"""``cpmap compare``: the CP-SAT mapper against the heuristic searchers, layer by layer.

Every method maps the same layers in the same mapping space (the solve spec's constraints
apply to all of them) and every reported cost is the evaluator's (docs/compare.md):

* ``cpsat``: the CP-SAT model of :mod:`cpmap.solve`, solved here with a solution callback
  so that each improving solution is re-scored by the evaluator when it is found -- the
  best-so-far curve.  The final answer, status and certified bound are those
  :func:`cpmap.solve.layer.solve_layer` gives; it is never served from the solve cache,
  since the wall time is part of the comparison.
* ``random``, ``ga``, ``anneal``, ``exhaustive``: :mod:`cpmap.search`.  Exhaustive search
  counts the space first and is reported ``refused`` when it exceeds the limit.

Per layer and method: the best mapping and its energy, cycles and EDP, the wall time, the
evaluator calls (CP-SAT evaluates no mappings one by one: it reports the number of
improving solutions it found instead), the ratio to CP-SAT's best and to its certified
lower bound.  :func:`run_compare` runs a solve plan; :func:`compare_layer` one problem
(``bench/compare.py``).  Its tables, JSON, CSV and plot are :mod:`cpmap.report.compare`.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace

from ..core.arch import Arch
from ..core.constraints import Constraints
from ..core.errors import CpmapError
from ..core.mapping import Mapping
from ..core.objectives import UNITS, objective_key
from ..core.options import WORK_PER_SECOND, SolveOptions
from ..core.problem import Problem
from ..core.workload import Workload
from ..cost.evaluator import Result, evaluate
from ..search import (
    DEFAULT_LIMIT,
    SearchError,
    anneal,
    count_mappings,
    exhaustive_search,
    genetic_search,
    random_search,
    space_for,
)
from ..solve.layer import solve_layer
from ..spec.solve import SolvePlan
from .pool import terminate, worker_init

METHODS = ("cpsat", "random", "ga", "exhaustive", "anneal")
"""Method names ``--methods`` accepts, in their default order."""

STATUSES = ("optimal", "feasible", "infeasible", "no_mapping", "refused", "error")
"""optimal: proved best in the space (CP-SAT OPTIMAL, exhaustive search complete);
feasible: a mapping, not proved best; infeasible: proved that no mapping exists;
no_mapping: none found within the budget; refused: exhaustive search over its limit;
error: the method failed (the reason says how)."""

REL_TOL = 1e-9
"""Costs within this relative tolerance count as equal (worse / equal / better)."""


@dataclass(frozen=True)
class Budgets:
    """What each method may spend on one layer.  ``time_limit``: CP-SAT's seconds (model
    building included in the reported wall time, as in ``cpmap solve``); ``budget``: wall
    seconds of each heuristic, which also stops at its count limit (``samples`` random
    mappings, ``generations`` x ``population`` for the GA, ``steps`` annealing moves,
    ``exhaustive_limit`` mappings for exhaustive search, which is refused above it).
    ``budget`` None: the count limits alone.  A count of 0 (``samples``, ``generations``,
    ``steps``) means no count limit: the budget alone (annealing then cools over the
    budget's seconds).  CP-SAT's ``time_limit`` (wall clock, everything included),
    ``work_limit`` (deterministic time; None: 0.7 x the time limit) and ``deterministic``
    are ``cpmap solve``'s; ``workers``: 1 by default, like each searcher."""

    time_limit: float = 10.0
    budget: float | None = 10.0
    samples: int = 100_000
    population: int = 100
    generations: int = 50
    steps: int = 20_000
    exhaustive_limit: int = DEFAULT_LIMIT
    seed: int = 0
    workers: int = 1
    encoding: str = "exact"
    deterministic: bool = True
    work_limit: float | None = None

    def describe(self, method: str) -> str:
        """The budget of one method, in words."""
        wall = "" if self.budget is None else f" or {self.budget:g} s"
        if method == "cpsat":
            work = WORK_PER_SECOND * self.time_limit if self.work_limit is None else self.work_limit
            return (f"time limit {self.time_limit:g} s, work limit {work:g}, "
                    f"{self.workers} worker{'s' * (self.workers != 1)}, {self.encoding} encoding")
        if method == "random":
            return f"{self.samples:,} samples{wall}" if self.samples else f"random samples{wall}"
        if method == "ga":
            return (f"{self.generations} generations x {self.population}{wall}" if self.generations
                    else f"population {self.population}{wall}")
        if method == "anneal":
            return f"{self.steps:,} steps{wall}" if self.steps else f"annealing{wall}"
        if method == "exhaustive":
            return f"spaces up to {self.exhaustive_limit:,} mappings{wall}"
        raise ValueError(method)

    def to_json(self) -> dict:
        return {"time_limit": self.time_limit, "budget": self.budget, "samples": self.samples,
                "population": self.population, "generations": self.generations, "steps": self.steps,
                "exhaustive_limit": self.exhaustive_limit, "seed": self.seed, "workers": self.workers,
                "encoding": self.encoding, "deterministic": self.deterministic, "work_limit": self.work_limit}


@dataclass(frozen=True)
class MethodRun:
    """One method on one layer.  ``history``: the best-so-far trace, ``(seconds, count,
    cost)`` per improvement plus one entry at the end, seconds since the method started and
    count its evaluator calls (CP-SAT: solutions found so far).  ``lower_bound``: CP-SAT's
    certified bound in the objective's unit (energy objective only, as ``cpmap solve``)."""

    method: str
    status: str
    detail: str = ""
    """CP-SAT's status (OPTIMAL, FEASIBLE, ...) or what stopped a searcher (samples,
    budget, complete)."""
    reason: str = ""
    mapping: Mapping | None = None
    result: Result | None = None
    cost: float | None = None
    seconds: float = 0.0
    evaluations: int | None = None
    valid_evaluations: int | None = None
    solutions: int | None = None
    history: tuple[tuple[float, int, float], ...] = ()
    lower_bound: float | None = None
    space_mappings: int | None = None
    """Exhaustive: the size of the space (for a refusal, a lower bound of it)."""


def parse_methods(text: str) -> tuple[str, ...]:
    """``cpsat,random,ga`` -> the method names, checked."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise CpmapError(f"--methods: expected comma-separated methods from {', '.join(METHODS)}, got {text!r}")
    for n in names:
        if n not in METHODS:
            raise CpmapError(f"--methods: unknown method {n!r} (choose from {', '.join(METHODS)})")
    if len(set(names)) != len(names):
        raise CpmapError(f"--methods: expected each method once, got {text}")
    return tuple(names)


# --------------------------------------------------------------------------- CP-SAT


_STATUS = {"OPTIMAL": "optimal", "FEASIBLE": "feasible", "INFEASIBLE": "infeasible", "UNKNOWN": "no_mapping"}


def _cpsat_trace(problem: Problem, arch: Arch, options) -> tuple:
    """``solve_layer`` with every improving solution's time (since before the model is
    built) kept; the solutions are re-scored by the evaluator after the solve, so that the
    re-scoring does not slow it down.  Returns (LayerSolution, history, seconds, solutions)."""
    start = time.perf_counter()
    trace: list[tuple[float, Mapping]] = []
    sol = solve_layer(problem, arch, options,
                      on_solution=lambda _t, mapping: trace.append((time.perf_counter() - start, mapping)))
    seconds = time.perf_counter() - start
    history: list[tuple[float, int, float]] = []
    best = None
    for k, (t, mapping) in enumerate(trace, 1):
        r = evaluate(problem, arch, mapping)
        if not r.valid:
            continue  # the final mapping is checked by solve_layer; an invalid one in between is skipped
        key = objective_key(r, options.objective)
        if best is None or key < best:
            best = key
            history.append((t, k, key[0]))
    if sol.best is not None:
        cost = objective_key(sol.best.result, options.objective)[0]
        if not history or cost < history[-1][2]:
            history.append((seconds, len(trace), cost))
        history.append((seconds, len(trace), min(cost, history[-1][2])))
    return sol, tuple(history), seconds, len(trace)


def _cpsat_child(problem: Problem, arch: Arch, options) -> tuple:
    try:
        return _cpsat_trace(problem, arch, options)
    finally:
        worker_init()  # OR-Tools resets SIGINT to SIG_DFL after a solve


class CpsatPool:
    """Runs CP-SAT in one child process, as ``cpmap solve`` does (docs/batch.md): the parent
    never runs CP-SAT, whose SIGINT handling would otherwise swallow a later Ctrl-C.  Use
    as a context manager; Ctrl-C while waiting ends the child and propagates."""

    def __init__(self) -> None:
        self._executor = None

    def solve(self, problem: Problem, arch: Arch, options) -> tuple:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(max_workers=1, initializer=worker_init)
        future = self._executor.submit(_cpsat_child, problem, arch, options)
        try:
            return future.result()
        except (KeyboardInterrupt, BrokenProcessPool):
            self.close()
            raise

    def close(self) -> None:
        if self._executor is not None:
            terminate(self._executor)
            self._executor = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run_cpsat(problem: Problem, arch: Arch, objective: str, constraints: Constraints | None, budgets: Budgets,
              pool: CpsatPool | None = None) -> MethodRun:
    """:func:`cpmap.solve.layer.solve_layer` (status, mapping and certified bound as ``cpmap
    solve`` reports them, never from the cache) with its best-so-far curve, in ``pool``'s
    child process, or in this one without a pool (then the SIGINT handler is restored
    after the solve)."""
    options = SolveOptions(objective=objective, encoding=budgets.encoding, time_limit=budgets.time_limit,
                           workers=budgets.workers, seed=budgets.seed,
                           constraints=constraints if constraints is not None else Constraints(),
                           deterministic=budgets.deterministic, work_limit=budgets.work_limit)
    if pool is not None:
        sol, history, seconds, solutions = pool.solve(problem, arch, options)
    else:
        handler = signal.getsignal(signal.SIGINT)
        try:
            sol, history, seconds, solutions = _cpsat_trace(problem, arch, options)
        finally:
            if handler is not None and threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, handler)
    status = _STATUS.get(sol.status, "error")
    best = sol.best
    return MethodRun("cpsat", status, sol.status, sol.reason, None if best is None else best.mapping,
                     None if best is None else best.result, sol.value, seconds, solutions=solutions,
                     history=history if best is not None else (), lower_bound=sol.lower_bound)


# --------------------------------------------------------------------------- searchers


def run_search(method: str, problem: Problem, arch: Arch, objective: str, constraints,
               budgets: Budgets) -> MethodRun:
    """One heuristic searcher.  A refused exhaustive search, a searcher that cannot run and
    an empty space (a dataflow no mapping can carry: infeasible) are reported, not raised."""
    start, b = time.perf_counter(), budgets
    try:
        space = space_for(problem, arch, constraints)
        if space.empty_reason:
            return MethodRun(method, "infeasible", "", space.empty_reason, seconds=time.perf_counter() - start)
        size = None
        if method == "random":
            res = random_search(problem, arch, samples=b.samples or None, budget=b.budget, seed=b.seed,
                                objective=objective, space=space)
        elif method == "ga":
            if not b.generations and b.budget is None:
                raise SearchError("genetic search: generations 0 (until the budget) needs a budget")
            res = genetic_search(problem, arch, population=b.population, generations=b.generations or 10**12,
                                 budget=b.budget, seed=b.seed, objective=objective, space=space)
        elif method == "anneal":
            res = anneal(problem, arch, steps=b.steps or None, budget=b.budget, seed=b.seed, objective=objective,
                         space=space)
        elif method == "exhaustive":
            size = count_mappings(space, cap=b.exhaustive_limit)
            if size > b.exhaustive_limit:
                return MethodRun(method, "refused", "", f"space has at least {size:,} mappings > limit "
                                 f"{b.exhaustive_limit:,}", seconds=time.perf_counter() - start,
                                 space_mappings=size)
            res = exhaustive_search(problem, arch, limit=b.exhaustive_limit, budget=b.budget,
                                    objective=objective, space=space)
        else:
            raise ValueError(f"unknown method {method!r}")
    except SearchError as e:
        return MethodRun(method, "error", "", str(e), seconds=time.perf_counter() - start)
    seconds = time.perf_counter() - start
    shift = max(0.0, seconds - res.seconds)  # space building and counting, before the searcher's clock
    history = tuple((t + shift, n, c) for t, n, c in res.history)
    complete = res.stopped_by == "complete"
    if res.best_result is None:
        status = "infeasible" if complete else "no_mapping"
        reason = "no valid mapping in the space" if complete else "no valid mapping found within the budget"
        return MethodRun(method, status, res.stopped_by, reason, seconds=seconds, evaluations=res.evaluations,
                         valid_evaluations=res.valid_evaluations, space_mappings=size)
    return MethodRun(method, "optimal" if complete else "feasible", res.stopped_by, "", res.best_mapping,
                     res.best_result, res.best_cost, seconds, res.evaluations, res.valid_evaluations,
                     history=history, space_mappings=size)


def run_method(method: str, problem: Problem, arch: Arch, objective: str, constraints,
               budgets: Budgets, pool: CpsatPool | None = None) -> MethodRun:
    """Run one method on one problem; a failure (a bug, an objective the CP-SAT model does
    not have) is an ``error`` row, not an exception.  KeyboardInterrupt propagates."""
    start = time.perf_counter()
    try:
        if method == "cpsat":
            return run_cpsat(problem, arch, objective, constraints, budgets, pool)
        return run_search(method, problem, arch, objective, constraints, budgets)
    except Exception as e:  # noqa: BLE001 -- reported for this layer and method, the others go on
        reason = f"{type(e).__name__}: {' '.join(str(e).split())}"
        return MethodRun(method, "error", "", reason, seconds=time.perf_counter() - start)


# --------------------------------------------------------------------------- one layer


@dataclass(frozen=True)
class LayerComparison:
    name: str
    problem: Problem
    runs: tuple[MethodRun, ...]
    interrupted: bool = False

    def run(self, method: str) -> MethodRun | None:
        return next((r for r in self.runs if r.method == method), None)


def compare_layer(name: str, problem: Problem, arch: Arch, methods: tuple[str, ...], objective: str,
                  constraints, budgets: Budgets, on_run: Callable[[str, MethodRun], None] | None = None,
                  pool: CpsatPool | None = None) -> LayerComparison:
    """Every method on one problem, in order (CP-SAT in ``pool``'s child process if given).
    On Ctrl-C, returns the methods finished so far with ``interrupted`` set."""
    runs = []
    try:
        for m in methods:
            r = run_method(m, problem, arch, objective, constraints, budgets, pool)
            runs.append(r)
            if on_run is not None:
                on_run(name, r)
    except KeyboardInterrupt:
        return LayerComparison(name, problem, tuple(runs), interrupted=True)
    return LayerComparison(name, problem, tuple(runs))


# --------------------------------------------------------------------------- a solve plan


@dataclass
class CompareRun:
    """The result of :func:`run_compare`."""

    plan: SolvePlan
    methods: tuple[str, ...]
    budgets: Budgets
    layers: list[LayerComparison] = field(default_factory=list)
    interrupted: bool = False
    wall_seconds: float = 0.0


def run_compare(plan: SolvePlan, methods: tuple[str, ...], budgets: Budgets, progress: bool = False) -> CompareRun:
    """Every selected layer of a solve plan with every method (layer by layer, methods in
    the given order).  ``progress``: a line on stderr per finished method."""
    out = CompareRun(plan, methods, budgets)
    start = time.perf_counter()
    total = len(plan.layers) * len(methods)
    done = [0]

    def on_run(layer: str, r: MethodRun) -> None:
        done[0] += 1
        if progress:
            what = _cost_text(r, plan.objective)
            print(f"[{done[0]}/{total}] {layer} {r.method}: {what} ({r.seconds:.2f} s)", file=sys.stderr,
                  flush=True)

    with CpsatPool() as pool:
        for layer in plan.layers:
            cmp = compare_layer(layer.name, layer.problem, plan.arch, methods, plan.objective,
                                plan.constraints, budgets, on_run, pool)
            out.layers.append(cmp)
            if cmp.interrupted:
                out.interrupted = True
                break
    out.wall_seconds = time.perf_counter() - start
    return out


def _cost_text(r: MethodRun, objective: str) -> str:
    if r.cost is None:
        return f"{r.status}" + (f" ({r.reason})" if r.reason else "")
    return f"{r.status}, {r.cost:,.6g} {UNITS[objective]}"


def compare(workload: Workload, arch: Arch, methods: tuple[str, ...] = METHODS, budgets: Budgets | None = None,
            *, options: SolveOptions | None = None, layers: list[str] | None = None,
            progress: bool = False) -> CompareRun:
    """Every method on the layers of ``workload`` (all, or those named in ``layers``) on
    ``arch``; ``options`` give the objective and the constraints (by name) every method
    shares, ``budgets`` what each method may spend per layer."""
    plan = SolvePlan.of(workload, arch, options or SolveOptions(), layers)
    return run_compare(plan, tuple(methods), budgets or Budgets(), progress=progress)


def with_workers(budgets: Budgets, workers: int | None) -> Budgets:
    """``budgets`` with CP-SAT's worker count: ``workers`` if given, else 1, as each
    searcher has one core (issue 11: CP-SAT had every core)."""
    return replace(budgets, workers=workers or 1)
