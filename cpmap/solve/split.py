"""Branch and bound over the bypass literals, CP-SAT solving each node (issue 11 item 5).

With every ``keep`` literal fixed, the layer model's gated counts become plain products whose
lower bounds propagate, and CP-SAT proves such a *keep pattern* many times faster than the
whole model, where a free literal lets each gated count relax to zero
(docs/performance.md: VGG-16 conv3_1 at batch 16, the 64 patterns of eyeriss's two levels
closed under the optimum's cutoff in 4.9 deterministic seconds, the whole model in 27).
So when the whole model does not prove within a first share of the work, :func:`split_search`
splits its space on the free keep literals, depth first, and solves each node (the model
with some literals fixed and the energy cut below the best found so far) with what is left.

Soundness: the nodes of one depth partition the space (each fixes the same literals to
every combination of values), and a node's space is the union of its children's.  A node
solved to INFEASIBLE under the cut ``objective <= best - 1`` holds no mapping better than
``best``; one solved OPTIMAL gives its optimum, which becomes ``best`` when better; one
stopped by a limit has CP-SAT's bound for its space under the cut, so no mapping there is
below ``min(that bound, best)``; a node never solved keeps its parent's bound.  The
returned bound is the least of ``best`` and the bounds of the nodes still open, a valid
lower bound of the whole model's objective; it equals ``best`` (a proof) when no node is
left open.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from .budget import set_params, stop_reason
from .readback import Progress


@dataclass
class SplitResult:
    """What :func:`split_search` found: the solver holding the best solution (its values are
    the whole model's: every node is a clone with constraints added), that objective value,
    the certified bound, whether every node was closed, and the nodes solved."""

    solver: cp_model.CpSolver | None
    best: int | None
    bound: float
    proved: bool
    nodes: int = 0
    stopped: bool = False  # a node solve was interrupted (Ctrl-C, the time limit)
    log: list = field(default_factory=list)  # (fixed literal values, status, deterministic s)


def free_literals(layer_model) -> list:
    """The keep literals the split branches on: innermost level first (a level that
    bypasses a tensor it should keep close to the PEs is pruned at once), tensors in the
    problem's order."""
    return [v for (_, _), v in sorted(layer_model.keep.items(), key=lambda kv: kv[0][0])
            if not isinstance(v, bool)]


def split_search(model: cp_model.CpModel, objective, literals: list, solve, first: cp_model.CpSolver | None,
                 bound: float, probe: float, work_left) -> SplitResult:
    """Depth-first branch and bound over ``literals`` (BoolVars of ``model``).

    ``solve(node_model, work)`` runs CP-SAT on a node for at most ``work`` deterministic
    seconds and returns ``(solver, status)``, status None when the search must stop;
    ``work_left()`` is the work still available (None: unlimited), ``probe`` the work an
    inner node gets before it is split (a leaf, every literal fixed, gets all that is left).  ``first`` is the solver of the first
    (whole-model) solve when it found a solution, and ``bound`` a valid bound of the whole
    model (the first solve's)."""
    best = None if first is None else round(first.objective_value)
    result = SplitResult(first, best, bound, False)
    stack = [((), bound)]  # (fixed values of the first literals, valid bound of that node)
    open_bounds: list = []  # bounds of nodes left unsolved or unclosed
    tried, closed = Counter(), Counter()  # inner-node probes per depth, and those that closed it
    while stack:
        fixed, node_bound = stack.pop()
        left = work_left()
        if left is not None and left <= 1e-3:
            open_bounds.append(node_bound)
            open_bounds.extend(b for _, b in stack)
            break
        if result.best is not None and node_bound >= result.best:
            continue  # pruned by its bound
        leaf = len(fixed) == len(literals)
        work = left if leaf else (probe if left is None else min(probe, left))
        depth = len(fixed)
        # an inner node is probed while probes at its depth close nodes: after two probes
        # there that closed nothing, its nodes are split at once (the probes' presolve is
        # what closes them, and it is the same work again at the leaves)
        probing = leaf or tried[depth] < 2 or closed[depth] > 0
        if fixed and probing:
            node = model.clone()
            for lit, val in zip(literals, fixed):
                node.add(node.get_bool_var_from_proto_index(lit.index) == val)
            if result.best is not None:
                node.add(objective <= result.best - 1)
            solver, status = solve(node, work)
            result.nodes += 1
            if status is None:  # interrupted: this node and every one left stay open
                result.stopped = True
                open_bounds.append(node_bound)
                open_bounds.extend(b for _, b in stack)
                break
            result.log.append((fixed, solver.status_name(status), round(solver.deterministic_time, 4)))
            if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
                value = round(solver.objective_value)
                if result.best is None or value < result.best:
                    result.best, result.solver = value, solver
            tried[depth] += 1
            if status in (cp_model.OPTIMAL, cp_model.INFEASIBLE):
                closed[depth] += 1
                continue  # closed: nothing in it beats best
            if status == cp_model.MODEL_INVALID:
                raise RuntimeError("a split node's model is invalid")
            node_bound = max(node_bound, solver.best_objective_bound)
        if leaf:
            open_bounds.append(node_bound)
            continue
        # the child agreeing with the best solution so far last on the stack: solved first
        lit = literals[len(fixed)]
        pick = 1 if result.solver is None else int(result.solver.value(lit))
        stack.append((fixed + (1 - pick,), node_bound))
        stack.append((fixed + (pick,), node_bound))
    result.proved = not open_bounds
    candidates = open_bounds + ([result.best] if result.best is not None else [])
    result.bound = min(candidates) if candidates else bound
    return result


SPLIT_FIRST_WORK = 1.0
"""Deterministic seconds the whole model gets before the split takes over (a layer that
proves within it never splits: on the benchmark layers most do)."""
SPLIT_PROBE_WORK = 0.03
"""Deterministic seconds an inner node of the split gets before it is split further: enough
for CP-SAT's presolve to close a pattern that bypasses a tensor the level should keep."""
MAX_SPLIT_LITERALS = 8
"""The split branches on at most this many free keep literals (256 patterns); a model with
more is solved whole."""


ENABLED = False
"""Off: measured in deterministic time the split saved work on the hardest layers (VGG-16
conv3_1 at batch 16: 27 -> 8.6 det s), but on the wall clock, the limit users set, it lost
(bench/layers.py at commit 29a5bf2, idle, 10 s: 21 of 28 proved against 25 of 28 without
it; ResNet-50 3x3 at batch 1 8.75 s against about 2.5 s; AlexNet conv2 at batch 16 unproved
at a 45% gap): every node pays a model copy and CP-SAT's presolve, which deterministic time
does not count, and a split cut short reports its parent's weak bound.  Kept, tested
against enumeration, for the next attempt (docs/solver.md, "Keep-literal split")."""


def splits(layer_model, options) -> bool:
    """Whether a one-worker energy solve of this model uses the split (several workers run
    CP-SAT's portfolio on the whole model, as before); never while :data:`ENABLED` is off."""
    lits = free_literals(layer_model)
    return (ENABLED and options.workers == 1 and options.objective == "energy"
            and 0 < len(lits) <= MAX_SPLIT_LITERALS)


def continue_split(layer_model, problem, arch, options, first: tuple, budget, reserve: float,
                   on_solution=None, should_stop=None) -> tuple:
    """Continue an unproved first solve ``first`` = (solver, progress, status), stopped by
    its :data:`SPLIT_FIRST_WORK`, with :func:`split_search` on what is left of ``budget``
    (the wall-clock part less ``reserve`` x the time limit).  Returns what
    :func:`cpmap.solve.layer.solve_layer`'s single solve returns: (solver holding the best
    solution, its progress, status of the whole model, interrupted, stop reason, budget
    left, raw bound)."""
    solver, progress, status = first
    state = {"budget": budget, "progress": {id(solver): progress}, "interrupted": False, "cut": None}
    started = time.perf_counter()

    def node_solve(model, work):
        s = cp_model.CpSolver()
        set_params(s, options, state["budget"].seconds_left(reserve), work)
        offset = time.perf_counter() - started + (progress.last_seconds or 0.0)
        report = None if on_solution is None else (lambda t, m: on_solution(t + offset, m))
        pr = Progress(layer_model, problem, arch, report, should_stop)
        try:
            st, stop = s.solve(model, pr), pr.stopped
        except KeyboardInterrupt:
            st, stop = cp_model.UNKNOWN, True
        state["progress"][id(s)] = pr
        if not (stop and pr.mapping is None):  # a Ctrl-C may leave no response to read
            state["budget"] = state["budget"].spent(s)
        if stop or stop_reason(s, st, False, work) == "time_limit":
            state["cut"] = pr  # this node and what is left stay open; its mapping may be the best
            state["interrupted"] = state["interrupted"] or stop
            return s, None
        if st in (cp_model.OPTIMAL, cp_model.FEASIBLE) and (
                state["best"][0] is None or round(s.objective_value) < state["best"][0]):
            state["best"] = (round(s.objective_value), s)
        return s, st

    def work_left():
        b = state["budget"]
        return 0.0 if b.seconds_left(reserve) <= 0 else b.work

    found = solver if status == cp_model.FEASIBLE else None
    state["best"] = (None if found is None else round(found.objective_value), found)
    try:
        r = split_search(layer_model.model, layer_model.energy, free_literals(layer_model), node_solve, found,
                         solver.best_objective_bound, SPLIT_PROBE_WORK, work_left)
    except KeyboardInterrupt:  # between two node solves: the best so far, the first solve's bound
        state["interrupted"] = True
        r = SplitResult(state["best"][1], state["best"][0], solver.best_objective_bound, False, stopped=True)
    best = state["progress"].get(id(r.solver)) if r.solver is not None else None
    cut, interrupted = state["cut"], state["interrupted"]
    if cut is not None and cut.mapping is not None and (r.best is None or cut.objective < r.best):
        best = cut  # found by the interrupted node: its bound is among the open ones
    budget = state["budget"]
    if r.proved:
        st, stop = (cp_model.OPTIMAL, "optimal") if r.best is not None else (cp_model.INFEASIBLE, "infeasible")
    else:
        st = cp_model.FEASIBLE if best is not None else cp_model.UNKNOWN
        stop = ("interrupted" if interrupted else
                "work_limit" if budget.work is not None and budget.work <= 1e-3 else "time_limit")
    # a mapping from a node the limits cut short ends the layer's solves like an interruption
    # (no tie-break, no top-k: the time is up, and no solver holds its values)
    cut_best = best is not None and best is cut
    return (r.solver or solver, best or Progress(layer_model, problem, arch), st, interrupted or cut_best, stop,
            budget, r.bound)
