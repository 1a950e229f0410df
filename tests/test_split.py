"""The split over keep literals (cpmap/solve/split.py) against exhaustive enumeration.

The split solves the layer model node by node (some keep literals fixed, the objective cut
below the best found) and claims a lower bound: the least of the best value and the bounds
of the nodes left open.  Here every node search is cut at many work limits, from almost
nothing to a proof, and at each the claimed bound must stay at or below the true optimum
found by enumerating every mapping (tests/brute_force.py: every split, bypass and loop
permutation) and scoring it with the evaluator; a proof must find exactly that optimum.
"""

from __future__ import annotations

import pytest
from brute_force import brute_force_mappings
from ortools.sat.python import cp_model

import cpmap.solve.layer as layer_mod
import cpmap.solve.split as split_mod
from cpmap.core.arch import Arch, Fanout, Level
from cpmap.core.options import SolveOptions
from cpmap.core.problem import conv, fc, gemm
from cpmap.cost.evaluator import Evaluator, evaluate
from cpmap.solve.layer import solve_layer
from cpmap.solve.model import build_model
from cpmap.solve.split import free_literals, split_search

# every level below DRAM may bypass every tensor: 6 free keep literals, 64 patterns
ARCH = Arch("split", 16, 1.0, (
    Level("RF", frozenset("WIO"), 1.0, 1.0, capacity=10),
    Level("GB", frozenset("WIO"), 6.0, 6.0, capacity=40,
          fanout=Fanout("PE", (("X", 2),), multicast=True, reduction=True, energy_pj=2.0)),
    Level("DRAM", frozenset("WIO"), 200.0, 200.0),
))

LAYERS = [
    fc("fc", N=2, K=4, C=2),
    conv("conv", K=2, C=2, P=3, Q=1, R=2, S=1),
    conv("depthwise", K=2, C=2, P=4, Q=1, R=3, S=1, groups=2),
    gemm("gemm", M=2, N=4, K=2, B=2),
]

_TRUTH: dict = {}


def truth(problem) -> float:
    """The least evaluator energy over every mapping (pJ)."""
    if problem.name not in _TRUTH:
        ev = Evaluator(problem, ARCH)
        _TRUTH[problem.name] = min(r.energy_pj for r in map(ev.evaluate, brute_force_mappings(problem, ARCH))
                                   if r.valid)
    return _TRUTH[problem.name]


def run_split(problem, budget: float | None, probe: float):
    """split_search from scratch (no incumbent, bound 0) with ``budget`` deterministic
    seconds in all (None: unlimited): (result, layer model)."""
    lm = build_model(problem, ARCH)
    used = [0.0]

    def solve(model, work):
        s = cp_model.CpSolver()
        p = s.parameters
        p.num_workers, p.random_seed, p.linearization_level = 1, 0, 0
        if work is not None:
            p.max_deterministic_time = max(work, 1e-4)
        st = s.solve(model)
        used[0] += s.deterministic_time
        return s, st

    left = (lambda: None) if budget is None else (lambda: budget - used[0])
    return split_search(lm.model, lm.energy, free_literals(lm), solve, None, 0, probe, left), lm


def pj(lm, raw: float) -> float:
    return raw / lm.scale + lm.constant_pj


@pytest.mark.parametrize("problem", LAYERS, ids=lambda p: p.name)
def test_split_proves_the_enumerated_optimum(problem):
    r, lm = run_split(problem, None, 0.002)
    assert r.proved and r.nodes > 0
    assert pj(lm, r.best) == pytest.approx(truth(problem), rel=1e-12)
    assert pj(lm, r.bound) == pytest.approx(truth(problem), rel=1e-12)
    # the solution held is the whole model's: its mapping scores the optimum
    mapping = layer_mod.mapping_from_solution(lm, problem, ARCH, r.solver.value)
    assert evaluate(problem, ARCH, mapping).energy_pj == pytest.approx(truth(problem), rel=1e-12)


@pytest.mark.parametrize("problem", LAYERS, ids=lambda p: p.name)
def test_split_bound_never_exceeds_the_optimum_when_cut_short(problem):
    seen_open = 0
    for budget in (1e-4, 3e-4, 1e-3, 2e-3, 4e-3, 8e-3, 0.016, 0.03, 0.06):
        for probe in (1e-4, 0.002):
            r, lm = run_split(problem, budget, probe)
            assert pj(lm, r.bound) <= truth(problem) * (1 + 1e-12), (budget, probe)
            if r.best is not None:
                assert pj(lm, r.best) >= truth(problem) * (1 - 1e-12)
                assert r.bound <= r.best
            if r.proved:
                assert pj(lm, r.best) == pytest.approx(truth(problem), rel=1e-12)
            seen_open += not r.proved
    assert seen_open > 0  # some budgets really cut the split short


def test_split_prunes_nodes_by_the_incumbent():
    """Given the optimum as incumbent, every node is closed under the cut and the bound is it."""
    problem = LAYERS[1]
    lm = build_model(problem, ARCH)
    whole = cp_model.CpSolver()
    whole.parameters.num_workers = 1
    assert whole.solve(lm.model) == cp_model.OPTIMAL

    def solve(model, work):
        s = cp_model.CpSolver()
        s.parameters.num_workers = 1
        return s, s.solve(model)

    r = split_search(lm.model, lm.energy, free_literals(lm), solve, whole, whole.best_objective_bound, 0.01,
                     lambda: None)
    assert r.proved and r.best == round(whole.objective_value) and r.solver is whole
    assert all(status == "INFEASIBLE" for _, status, _ in r.log)  # nothing beats the optimum


@pytest.fixture
def always_split(monkeypatch):
    """solve_layer splits after a first solve of almost no work, on any layer."""
    calls = []
    real = split_mod.split_search

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(layer_mod, "SPLIT_FIRST_WORK", 1e-4)
    monkeypatch.setattr(split_mod, "ENABLED", True)
    monkeypatch.setattr(split_mod, "split_search", counted)
    return calls


@pytest.mark.parametrize("problem", LAYERS, ids=lambda p: p.name)
def test_solve_layer_with_the_split_equals_exhaustive(problem, always_split):
    sol = solve_layer(problem, ARCH, SolveOptions(time_limit=60, workers=1, work_limit=30))
    assert sol.status == "OPTIMAL" and sol.stopped_by == "optimal"
    assert sol.best.result.energy_pj == pytest.approx(truth(problem), rel=1e-12)
    assert sol.lower_bound_pj <= truth(problem) * (1 + 1e-12)
    again = solve_layer(problem, ARCH, SolveOptions(time_limit=60, workers=1, work_limit=30))
    assert again.best.mapping == sol.best.mapping  # deterministic
    assert always_split


def test_solve_layer_split_cut_by_the_work_limit(always_split):
    problem, statuses = LAYERS[1], set()
    for work in (2e-3, 4e-3, 0.01):  # none, a first mapping (from 0.003), a proof (0.0057)
        sol = solve_layer(problem, ARCH, SolveOptions(time_limit=60, workers=1, work_limit=work))
        if sol.best is not None:
            assert sol.lower_bound_pj <= truth(problem) * (1 + 1e-12)
            assert sol.best.result.valid and sol.best.result.energy_pj >= truth(problem) * (1 - 1e-12)
        assert sol.status == "OPTIMAL" or sol.stopped_by == "work_limit"
        statuses.add(sol.status)
    assert {"FEASIBLE", "OPTIMAL"} <= statuses  # cut short with a mapping, and proved


def test_solve_layer_split_stopped_at_a_mapping(always_split):
    """``should_stop`` turning true once the split has begun ends it at the next mapping
    (how a batch worker passes on Ctrl-C); the answer keeps a valid bound."""
    stopped = 0
    for problem in LAYERS:
        sol = solve_layer(problem, ARCH, SolveOptions(time_limit=60, workers=1, work_limit=30),
                          should_stop=lambda: bool(always_split))
        assert sol.stopped_by in ("interrupted", "optimal")
        assert sol.best is not None and sol.best.result.energy_pj >= truth(problem) * (1 - 1e-12)
        assert sol.lower_bound_pj <= truth(problem) * (1 + 1e-12)
        stopped += sol.stopped_by == "interrupted"
    assert stopped > 0
