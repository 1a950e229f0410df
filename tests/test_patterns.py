"""The pattern bounds (cpmap/solve/patterns.py) remove no mapping and change no optimum.

They are redundant constraints: per tensor, the least energy of its counts over the keep
patterns still possible bounds the count energy.  Checked against exhaustive enumeration
(tests/brute_force.py: every split, bypass and loop permutation) on an architecture where
every level below DRAM may bypass every tensor (two free keep literals per tensor, so all
three tensors get a bound):

* pointwise: for every factorization and bypass of the space, the model with them pinned
  (loop order free) has the same optimum with the bounds as without them;
* the whole solve: the optimum is the enumerated one and the bound never exceeds it, also
  when the search is cut short at many work limits.
"""

from __future__ import annotations

import pytest
import solvekit
from brute_force import brute_force_mappings
from ortools.sat.python import cp_model
from solvekit import solver_meets_enumeration, switched
from test_loop_order import pin

import cpmap.solve.patterns as patterns_mod
from cpmap.core.arch import Arch, Fanout, Level
from cpmap.core.problem import conv, fc, gemm
from cpmap.cost.evaluator import Evaluator
from cpmap.solve.kit import ModelKit
from cpmap.solve.model import build_model
from cpmap.solve.patterns import holds, leaves

ARCH = Arch("patterns", 16, 1.0, (
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


@pytest.fixture(autouse=True)
def bounds_on(monkeypatch):
    """The bounds are off by default (docs/performance.md); these tests check them on."""
    monkeypatch.setattr(patterns_mod, "ENABLED", True)


def bounded_tensors(lm) -> int:
    return sum(v.name.startswith("patmin_") for v in lm.model.proto.variables)


def pinned_optimum(problem, mapping, enabled: bool):
    with switched(patterns_mod, enabled):  # every mapping stays: no dominance rule
        lm = build_model(problem, ARCH, prune_dominated=False)
    assert bounded_tensors(lm) == (3 if enabled else 0)
    return solvekit.pinned_optimum(lm, mapping, pin)


@pytest.mark.parametrize("problem", LAYERS, ids=lambda p: p.name)
def test_pinned_mappings_keep_their_optimum(problem):
    """One mapping per (factors, bypass) of the space (the order is the model's choice):
    pinned, the model's optimum is the same with the bounds and without; valid mappings
    are all feasible."""
    ev = Evaluator(problem, ARCH)
    seen, checked, valid = set(), 0, 0
    for mapping in brute_force_mappings(problem, ARCH):
        key = tuple((frozenset(lv.temporal), lv.keeps, lv.spatial) for lv in mapping.levels)
        if key in seen:
            continue
        seen.add(key)
        if len(seen) % 7:  # a deterministic seventh of the space keeps the run short
            continue
        ok = ev.evaluate(mapping).valid
        without, with_bounds = pinned_optimum(problem, mapping, False), pinned_optimum(problem, mapping, True)
        assert with_bounds == without, mapping
        if ok:
            assert isinstance(with_bounds, int), mapping
            valid += 1
        checked += 1
        if checked == 40:
            break
    assert valid >= 10 and checked == 40, (valid, checked)


@pytest.mark.parametrize("problem", LAYERS, ids=lambda p: p.name)
def test_solver_meets_enumeration_with_pattern_bounds(problem):
    assert bounded_tensors(build_model(problem, ARCH)) == 3
    assert solver_meets_enumeration(problem, ARCH, brute_force_mappings(problem, ARCH))


@pytest.mark.parametrize("problem", LAYERS, ids=lambda p: p.name)
def test_bound_never_exceeds_the_optimum_when_cut_short(problem):
    ev = Evaluator(problem, ARCH)
    truth = min(r.energy_pj for r in map(ev.evaluate, brute_force_mappings(problem, ARCH)) if r.valid)
    lm = build_model(problem, ARCH)
    for work in (1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03):
        s = cp_model.CpSolver()
        p = s.parameters
        p.num_workers, p.random_seed, p.linearization_level, p.max_deterministic_time = 1, 0, 0, work
        s.solve(lm.model)
        assert s.best_objective_bound / lm.scale + lm.constant_pj <= truth * (1 + 1e-12), work


def test_leaves_and_holds_evaluate_conjunctions_and_disjunctions():
    kit = ModelKit(fc("f", N=2, K=2, C=2))
    a, b, c = (kit.m.new_bool_var(n) for n in "abc")
    both = kit.conj([a, b.negated()], "and")
    either = kit.disj(both, c)
    free: dict = {}
    assert leaves(kit, either.negated(), free) and sorted(free) == sorted(v.index for v in (a, b, c))
    for va in (False, True):
        for vb in (False, True):
            for vc in (False, True):
                values = {a.index: va, b.index: vb, c.index: vc}
                assert holds(kit, either, values) == ((va and not vb) or vc)
                assert holds(kit, either.negated(), values) == (not ((va and not vb) or vc))
                assert holds(kit, b.negated(), values) == (not vb)
