"""Symmetry breaking (cpmap/solve/symmetry.py) keeps the optimum and removes mappings.

On square convolutions (P = Q, R = S, equal strides) the lex-leader constraint drops one
of each pair of mirrored mappings.  Checked against exhaustive enumeration
(tests/brute_force.py: every split, bypass and loop permutation, scored by the evaluator)
on an architecture with a two-axis PE array and free bypass: the solver's optimum is the
enumerated one and its bound never above it; pinned one by one, every valid mapping or
its mirror stays feasible in the model at its model energy, and some are really removed.
"""

from __future__ import annotations

import pytest
from brute_force import brute_force_mappings
from solvekit import pinned_optimum, solver_meets_enumeration, switched
from test_loop_order import pin

import cpmap.solve.symmetry as symmetry_mod
from cpmap.core.arch import Arch, Fanout, Level
from cpmap.core.mapping import LevelMapping, Mapping
from cpmap.core.problem import conv, fc, gemm
from cpmap.cost.evaluator import Evaluator
from cpmap.solve.model import build_model
from cpmap.solve.symmetry import dim_swaps

ARCH = Arch("sym", 16, 1.0, (
    Level("RF", frozenset("WIO"), 1.0, 1.0, capacity=12),
    Level("GB", frozenset("WIO"), 6.0, 6.0, capacity=60,
          fanout=Fanout("PE", (("Y", 2), ("X", 3)), multicast=True, reduction=True, energy_pj=2.0)),
    Level("DRAM", frozenset("WIO"), 200.0, 200.0),
))

LAYERS = [
    conv("square", K=1, C=1, P=2, Q=2, R=2, S=2),
    conv("strided", K=1, C=1, P=2, Q=2, R=3, S=3, stride=2),
    conv("pointwise", K=2, C=1, P=2, Q=2),
]


def test_swaps_found_only_where_the_layer_is_square():
    assert dim_swaps(conv("c", K=4, C=4, P=6, Q=6, R=3, S=3)) == [(("P", "Q"), ("R", "S"))]
    assert dim_swaps(conv("c", K=4, C=4, P=6, Q=6)) == [(("P", "Q"), ("R", "S"))]  # R = S = 1
    assert dim_swaps(conv("c", K=4, C=4, P=6, Q=4, R=3, S=3)) == []
    assert dim_swaps(conv("c", K=4, C=4, P=6, Q=6, R=3, S=1)) == []
    assert dim_swaps(conv("c", K=4, C=4, P=6, Q=6, R=3, S=3, stride=(1, 2))) == []
    assert dim_swaps(conv("c", K=4, C=4, P=6, Q=6, R=3, S=3, dilation=(2, 1))) == []
    assert dim_swaps(fc("f", N=4, K=4, C=4)) == []  # W[K, C], I[N, C], O[N, K]: no renaming fixes all three
    assert dim_swaps(gemm("g", M=4, N=4, K=4, B=4)) == []


def mirror(mapping: Mapping) -> Mapping:
    sw = {"P": "Q", "Q": "P", "R": "S", "S": "R"}
    return Mapping(tuple(LevelMapping(lv.level, tuple((sw.get(d, d), f) for d, f in lv.temporal), lv.keeps,
                                      tuple((ax, tuple((sw.get(d, d), f) for d, f in loops)) for ax, loops in lv.spatial))
                         for lv in mapping.levels))


@pytest.fixture(autouse=True)
def symmetry_on(monkeypatch):
    """The constraint is on by default; these tests make sure of it whatever ran before."""
    monkeypatch.setattr(symmetry_mod, "ENABLED", True)


def pinned(problem, mapping, enabled: bool):
    with switched(symmetry_mod, enabled):  # symmetry alone: the dominance rule would drop more mappings
        lm = build_model(problem, ARCH, prune_dominated=False)
    return pinned_optimum(lm, mapping, pin)


@pytest.mark.parametrize("problem", LAYERS, ids=lambda p: p.name)
def test_every_mapping_or_its_mirror_survives(problem):
    ev = Evaluator(problem, ARCH)
    seen, removed, kept = set(), 0, 0
    for mapping in brute_force_mappings(problem, ARCH):
        key = tuple((frozenset(lv.temporal), lv.keeps, lv.spatial) for lv in mapping.levels)
        if key in seen:
            continue
        seen.add(key)
        if len(seen) % 23 or not ev.evaluate(mapping).valid:  # a sample of the valid space
            continue
        assert ev.evaluate(mirror(mapping)).energy_pj == pytest.approx(ev.evaluate(mapping).energy_pj, rel=1e-12)
        free = pinned(problem, mapping, False)
        assert isinstance(free, int), mapping
        mine, theirs = pinned(problem, mapping, True), pinned(problem, mirror(mapping), True)
        assert mirror(mirror(mapping)) == mapping
        assert mine in (free, "INFEASIBLE") and theirs in (free, "INFEASIBLE"), mapping
        assert free in (mine, theirs), mapping  # one of the two keeps the model energy
        assert pinned(problem, mirror(mapping), False) == free
        removed += mine == "INFEASIBLE"
        kept += 1
        if kept == 40:
            break
    assert kept == 40 and removed > 0, (kept, removed)


@pytest.mark.parametrize("problem", LAYERS, ids=lambda p: p.name)
def test_solver_meets_enumeration_with_symmetry_breaking(problem):
    lm_on, lm_off = build_model(problem, ARCH), None
    with switched(symmetry_mod, False):
        lm_off = build_model(problem, ARCH)
    assert len(lm_on.model.proto.constraints) == len(lm_off.model.proto.constraints) + 1
    assert solver_meets_enumeration(problem, ARCH, brute_force_mappings(problem, ARCH))


def test_top_k_keeps_mirrored_mappings():
    """top-k lists distinct mappings, so it solves without the symmetry breaking: the second
    is no worse than the best mapping that differs from the first in factors or bypass,
    a mirror of the first included (enumerated)."""
    from cpmap.core.options import SolveOptions
    from cpmap.solve.layer import solve_layer

    problem = LAYERS[2]
    ev = Evaluator(problem, ARCH)
    space = [(r, m) for r, m in ((ev.evaluate(m), m) for m in brute_force_mappings(problem, ARCH)) if r.valid]

    def choice(m):
        return tuple((lv.level, tuple(sorted(lv.temporal)), tuple(sorted(lv.spatial_loops())), lv.keeps)
                     for lv in m.levels)

    sol = solve_layer(problem, ARCH, SolveOptions(time_limit=60, seed=1, top_k=2))
    first, second = sol.alternatives
    assert first.result.energy_pj == pytest.approx(min(r.energy_pj for r, _ in space), rel=1e-12)
    second_truth = min(r.energy_pj for r, m in space if choice(m) != choice(first.mapping))
    assert second.result.energy_pj <= second_truth * (1 + 1e-12)
    if choice(mirror(first.mapping)) != choice(first.mapping):  # the mirror is a distinct mapping of equal energy
        assert second.result.energy_pj == pytest.approx(first.result.energy_pj, rel=1e-12)
