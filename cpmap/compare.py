"""``cpmap compare``: the CP-SAT mapper against the heuristic searchers, layer by layer.

Every method maps the same layers in the same mapping space (the solve spec's constraints
apply to all of them) and every reported cost is the evaluator's (docs/compare.md):

* ``cpsat``: the CP-SAT model of :mod:`cpmap.cpsat`, solved here with a solution callback
  so that each improving solution is re-scored by the evaluator when it is found -- the
  best-so-far curve.  The final answer, status and certified bound are those
  :func:`cpmap.solver.solve_layer` gives; it is never served from the solve cache, since
  the wall time is part of the comparison.
* ``random``, ``ga``, ``anneal``, ``exhaustive``: :mod:`cpmap.search`.  Exhaustive search
  counts the space first and is reported ``refused`` when it exceeds the limit.

Per layer and method: the best mapping and its energy, cycles and EDP, the wall time, the
evaluator calls (CP-SAT evaluates no mappings one by one: it reports the number of
improving solutions it found instead), the ratio to CP-SAT's best and to its certified
lower bound.  :func:`run_compare` runs a solve plan; :func:`compare_layer` one problem
(``bench/compare.py``).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from .arch import Arch
from .errors import CpmapError
from .evaluator import Result, evaluate
from .mapping import Mapping
from .problem import Problem
from .search import (
    DEFAULT_LIMIT,
    SearchError,
    anneal,
    count_mappings,
    exhaustive_search,
    genetic_search,
    objective_key,
    random_search,
    space_for,
)

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
    budget's seconds).  ``deterministic``: CP-SAT's time limit counts
    its deterministic time, as in ``cpmap solve`` (reproducible; the wall time reported may
    differ, and is capped at twice the limit plus one second)."""

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

    def describe(self, method: str) -> str:
        """The budget of one method, in words."""
        wall = "" if self.budget is None else f" or {self.budget:g} s"
        if method == "cpsat":
            clock = "deterministic " if self.deterministic else ""
            return f"{clock}time limit {self.time_limit:g} s, {self.workers} worker{'s' * (self.workers != 1)}, " \
                   f"{self.encoding} encoding"
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
                "encoding": self.encoding, "deterministic": self.deterministic}


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
    from .solver import solve_layer

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
    import signal

    try:
        return _cpsat_trace(problem, arch, options)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # OR-Tools resets SIGINT after a solve


class CpsatPool:
    """Runs CP-SAT in one child process, as ``cpmap solve`` does (docs/batch.md): the parent
    never runs CP-SAT, whose SIGINT handling would otherwise swallow a later Ctrl-C.  Use
    as a context manager; Ctrl-C while waiting ends the child and propagates."""

    def __init__(self) -> None:
        self._executor = None

    def solve(self, problem: Problem, arch: Arch, options) -> tuple:
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        from .batch import _worker_init

        if self._executor is None:
            self._executor = ProcessPoolExecutor(max_workers=1, initializer=_worker_init)
        future = self._executor.submit(_cpsat_child, problem, arch, options)
        try:
            return future.result()
        except (KeyboardInterrupt, BrokenProcessPool):
            self.close()
            raise

    def close(self) -> None:
        if self._executor is not None:
            from .batch import _terminate

            _terminate(self._executor)
            self._executor = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run_cpsat(problem: Problem, arch: Arch, objective: str, constraints, budgets: Budgets,
              pool: CpsatPool | None = None) -> MethodRun:
    """:func:`cpmap.solver.solve_layer` (status, mapping and certified bound as ``cpmap
    solve`` reports them, never from the cache) with its best-so-far curve, in ``pool``'s
    child process, or in this one without a pool (then the SIGINT handler is restored
    after the solve)."""
    import signal

    from .cpsat import UserConstraints
    from .solver import SolveOptions

    options = SolveOptions(objective=objective, encoding=budgets.encoding, time_limit=budgets.time_limit,
                           workers=budgets.workers, seed=budgets.seed,
                           constraints=constraints if constraints is not None else UserConstraints(),
                           deterministic=budgets.deterministic)
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
    """One heuristic searcher.  A refused exhaustive search, and a searcher that cannot
    run (e.g. restrictions it cannot sample), are reported, not raised."""
    start = time.perf_counter()
    b = budgets
    try:
        space = space_for(problem, arch, constraints)
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


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not math.isfinite(a) or not math.isfinite(b) or b <= 0:
        return None
    return a / b


def run_json(run: MethodRun, layer: str, reference: MethodRun | None, budgets: Budgets) -> dict:
    """One method's row: the fields of docs/compare.md."""
    from .spec import mapping_to_obj

    r = run.result
    ref_cost = reference.cost if reference is not None else None
    bound = reference.lower_bound if reference is not None else None
    return {
        "method": run.method, "status": run.status, "detail": run.detail, "reason": run.reason,
        "budget": budgets.describe(run.method),
        "best_cost": run.cost,
        "energy_pj": None if r is None else r.energy_pj,
        "cycles": None if r is None else r.cycles,
        "edp": None if r is None else r.energy_pj * r.cycles,
        "utilization": None if r is None else r.utilization,
        "seconds": run.seconds,
        "evaluations": run.evaluations, "valid_evaluations": run.valid_evaluations, "solutions": run.solutions,
        "ratio_to_cpsat": _ratio(run.cost, ref_cost),
        "ratio_to_lower_bound": _ratio(run.cost, bound),
        "lower_bound": run.lower_bound,
        "space_mappings": run.space_mappings,
        "history": [list(h) for h in run.history],
        "mapping": None if run.mapping is None else {"layer": layer, "mapping": mapping_to_obj(run.mapping)},
    }


def layer_json(cmp: LayerComparison, budgets: Budgets) -> dict:
    cpsat = cmp.run("cpsat")
    ref = cpsat if cpsat is not None and cpsat.cost is not None else None
    return {
        "name": cmp.name, "type": cmp.problem.kind, "macs": cmp.problem.macs,
        "cpsat_status": None if cpsat is None else cpsat.detail or cpsat.status,
        "cpsat_cost": None if ref is None else ref.cost,
        "lower_bound": None if ref is None else ref.lower_bound,
        "gap": None if ref is None or ref.lower_bound is None or not ref.cost
        else max(0.0, (ref.cost - ref.lower_bound) / ref.cost),
        "interrupted": cmp.interrupted,
        "methods": [run_json(r, cmp.name, ref, budgets) for r in cmp.runs],
    }


def summarize(layers: list[dict], methods: tuple[str, ...]) -> dict:
    """Per method, over the layers where both it and CP-SAT have a mapping: the geometric
    mean of method best / CP-SAT best, and on how many layers it is worse, equal (within
    :data:`REL_TOL`) or better; plus the count of each status."""
    out = {}
    for m in methods:
        ratios, statuses = [], {}
        worse = equal = better = 0
        seconds = 0.0
        for lay in layers:
            row = next((r for r in lay["methods"] if r["method"] == m), None)
            if row is None:
                continue
            statuses[row["status"]] = statuses.get(row["status"], 0) + 1
            seconds += row["seconds"]
            q = row["ratio_to_cpsat"]
            if q is None:
                continue
            ratios.append(q)
            if abs(q - 1.0) <= REL_TOL:
                equal += 1
            elif q > 1:
                worse += 1
            else:
                better += 1
        geo = math.exp(sum(math.log(q) for q in ratios) / len(ratios)) if ratios else None
        out[m] = {"layers_compared": len(ratios), "geomean_ratio_to_cpsat": geo,
                  "worst_ratio_to_cpsat": max(ratios) if ratios else None,
                  "worse": worse, "equal": equal, "better": better, "statuses": statuses,
                  "seconds": seconds}
    return out


# --------------------------------------------------------------------------- a solve plan


@dataclass
class CompareRun:
    """The result of :func:`run_compare`."""

    plan: object  # cpmap.solvespec.SolvePlan
    methods: tuple[str, ...]
    budgets: Budgets
    layers: list[LayerComparison] = field(default_factory=list)
    interrupted: bool = False
    wall_seconds: float = 0.0


def run_compare(plan, methods: tuple[str, ...], budgets: Budgets, progress: bool = False) -> CompareRun:
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
                                plan.user_constraints(layer.problem), budgets, on_run, pool)
            out.layers.append(cmp)
            if cmp.interrupted:
                out.interrupted = True
                break
    out.wall_seconds = time.perf_counter() - start
    return out


def _cost_text(r: MethodRun, objective: str) -> str:
    if r.cost is None:
        return f"{r.status}" + (f" ({r.reason})" if r.reason else "")
    unit = {"energy": " pJ", "delay": " cycles", "edp": " pJ x cycles"}[objective]
    return f"{r.status}, {r.cost:,.6g}{unit}"


def compare_json(run: CompareRun) -> dict:
    """``{"settings": {...}, "layers": [...], "summary": {...}}`` (docs/compare.md)."""
    plan, b = run.plan, run.budgets
    layers = [layer_json(c, b) for c in run.layers]
    settings = {"spec": plan.file, "workload": plan.workload.name, "arch": plan.arch.name,
                "objective": plan.objective, "batch": plan.batch, "methods": list(run.methods),
                "budgets": {m: b.describe(m) for m in run.methods}, **b.to_json(),
                "constraints": plan.constraints.to_obj(), "cpu_count": os.cpu_count(),
                "wall_seconds": run.wall_seconds, "interrupted": run.interrupted}
    return {"settings": settings, "layers": layers, "summary": summarize(layers, run.methods)}


# --------------------------------------------------------------------------- text, CSV, PNG


def _g(x: float | None, fmt: str = "{:,.6g}") -> str:
    return "-" if x is None else fmt.format(x)


def _cost(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}" if abs(x) >= 1e4 else f"{x:,.6g}"


def _status_cell(row: dict) -> str:
    if row["status"] in ("optimal", "feasible") and row["detail"] and row["method"] != "cpsat":
        return f"{row['status']} ({row['detail']})"
    return row["status"]


def _table(header: list[str], rows: list[list[str]], left: int) -> list[str]:
    """The first ``left`` columns left-aligned, the others right-aligned."""
    widths = [max(len(c) for c in col) for col in zip(header, *rows)]

    def line(cells: list[str]) -> str:
        return "  " + "  ".join(c.ljust(w) if k < left else c.rjust(w)
                                for k, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return [line(header), *(line(r) for r in rows)]


def format_table(data: dict) -> str:
    """The table ``cpmap compare`` prints: one row per layer and method, then notes (why a
    method has no mapping) and the per-method summary."""
    s = data["settings"]
    objective = s["objective"]
    header = ["layer", "method", "status", "energy_pj", "cycles"]
    if objective == "edp":
        header.append("edp")
    header += ["seconds", "evals", "x cpsat", "x bound"]
    rows, notes = [], []
    for lay in data["layers"]:
        for k, row in enumerate(lay["methods"]):
            evals = f"{row['solutions']} sol." if row["method"] == "cpsat" and row["solutions"] is not None \
                else _g(row["evaluations"], "{:,}")
            cells = [lay["name"] if k == 0 else "", row["method"], _status_cell(row), _cost(row["energy_pj"]),
                     _g(row["cycles"], "{:,}")]
            if objective == "edp":
                cells.append(_g(row["edp"], "{:.4g}"))
            cells += [f"{row['seconds']:.2f}", evals, _g(row["ratio_to_cpsat"], "{:.4f}"),
                      _g(row["ratio_to_lower_bound"], "{:.4f}")]
            rows.append(cells)
            if row["reason"]:
                notes.append(f"  {lay['name']} {row['method']}: {row['status']} ({row['reason']})")
        if lay["interrupted"]:
            notes.append(f"  {lay['name']}: interrupted; methods after the last row were not run")
    lines = [f"compare: {s['workload']} on {s['arch']}, objective {objective}"
             + (f", batch {s['batch']}" if s["batch"] is not None else "")]
    lines += [f"  {m}: {d}" for m, d in s["budgets"].items()]
    lines += ["", *_table(header, rows, 3)]
    if notes:
        lines += ["", "notes:", *notes]
    summary = data["summary"]
    if "cpsat" in summary:
        lines += ["", "vs cpsat (method best / cpsat best over the layers both mapped):"]
        srows = []
        for m, v in summary.items():
            if m == "cpsat":
                continue
            srows.append([m, str(v["layers_compared"]), _g(v["geomean_ratio_to_cpsat"], "{:.4f}"),
                          _g(v["worst_ratio_to_cpsat"], "{:.4f}"), str(v["worse"]), str(v["equal"]),
                          str(v["better"])])
        if srows:
            lines += _table(["method", "layers", "geomean", "worst", "worse", "equal", "better"], srows, 1)
    return "\n".join(lines) + "\n"


CSV_FIELDS = ("layer", "type", "method", "status", "detail", "best_cost", "energy_pj", "cycles", "edp",
              "utilization", "seconds", "evaluations", "valid_evaluations", "solutions", "ratio_to_cpsat",
              "ratio_to_lower_bound", "cpsat_lower_bound", "space_mappings", "budget", "reason")


def compare_csv(data: dict) -> str:
    """One row per layer and method (:data:`CSV_FIELDS`); empty cells for missing values."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for lay in data["layers"]:
        for row in lay["methods"]:
            extra = {"layer": lay["name"], "type": lay["type"], "cpsat_lower_bound": lay["lower_bound"]}
            w.writerow(["" if (v := extra.get(f, row.get(f))) is None else v for f in CSV_FIELDS])
    return buf.getvalue()


COLORS = {"cpsat": "tab:blue", "random": "tab:orange", "ga": "tab:green", "exhaustive": "tab:purple",
          "anneal": "tab:red"}


def plot_best_so_far(data: dict, path) -> bool:
    """Best-so-far cost against wall time per method, log-log, one panel per layer, with
    CP-SAT's certified lower bound dashed.  False (and a warning) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("cpmap: warning: matplotlib is not installed; the plot was not drawn", file=sys.stderr)
        return False
    layers = data["layers"]
    objective = data["settings"]["objective"]
    unit = {"energy": "energy (pJ)", "delay": "cycles", "edp": "EDP (pJ x cycles)"}[objective]
    n = max(1, len(layers))
    cols = min(3, n)
    nrows = math.ceil(n / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.6 * cols, 3.5 * nrows), squeeze=False)
    for k, lay in enumerate(layers):
        ax = axes[k // cols][k % cols]
        drawn = False
        for row in lay["methods"]:
            hist = row["history"]
            if hist:
                xs = [max(h[0], 1e-4) for h in hist]
                ys = [h[2] for h in hist]
                ax.step(xs, ys, where="post", color=COLORS.get(row["method"]), label=row["method"])
                ax.plot(xs[:1], ys[:1], "o", ms=3, color=COLORS.get(row["method"]))
                drawn = drawn or all(y > 0 for y in ys)
            else:
                ax.plot([], [], color=COLORS.get(row["method"]), label=f"{row['method']}: {row['status']}")
        if lay["lower_bound"] is not None and lay["lower_bound"] > 0:
            ax.axhline(lay["lower_bound"], color="black", ls="--", lw=0.8, label="cpsat bound")
        ax.set_xscale("log")
        if drawn:
            ax.set_yscale("log")
        ax.set_title(lay["name"], fontsize=9)
        ax.set_xlabel("wall time (s)", fontsize=8)
        ax.set_ylabel(f"best {unit}", fontsize=8)
        ax.tick_params(which="both", labelsize=7)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6)
    for k in range(len(layers), nrows * cols):
        axes[k // cols][k % cols].set_visible(False)
    s = data["settings"]
    fig.suptitle(f"{s['workload']} on {s['arch']}: best-so-far {objective} vs wall time", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / (3.5 * nrows)))  # room for the title
    tmp = f"{path}.tmp.png"
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    return True


REPORT_FILES = ("compare.json", "compare.csv", "compare.png")


def write_compare_report(data: dict, out_dir: str) -> list[str]:
    """Write compare.json (the ``--json`` object), compare.csv and compare.png into
    ``out_dir``; return the paths written."""
    from .batch import atomic_write_text

    root = Path(out_dir)
    atomic_write_text(root / "compare.json", json.dumps(data, indent=1) + "\n")
    atomic_write_text(root / "compare.csv", compare_csv(data))
    written = [str(root / "compare.json"), str(root / "compare.csv")]
    if plot_best_so_far(data, root / "compare.png"):
        written.append(str(root / "compare.png"))
    return written


def default_output(spec_file: str) -> str:
    stem = os.path.splitext(os.path.basename(spec_file))[0]
    return os.path.join("cpmap-out", f"compare-{stem}")


def with_workers(budgets: Budgets, workers: int | None) -> Budgets:
    """``budgets`` with CP-SAT's worker count: ``workers`` if given, else every core."""
    if workers is None:
        from .batch import available_cores

        workers = available_cores()
    return replace(budgets, workers=workers)
