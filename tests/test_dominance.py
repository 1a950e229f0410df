"""Dominance (cpmap/solve/dominance.py): a level that keeps nothing holds no temporal loop.

The argument, checked on the evaluator: take any mapping with a level that keeps no tensor,
move its temporal loops into the level above (each dim's factors multiplied), and some
loop-order class of that level (the irrelevant loops of one tensor innermost, or a loop
relevant to all) costs no more than the original mapping, in any order it had.  Then the
model: with the constraint its optimum is the exhaustive enumeration's and the model's own
without it, and it really removes mappings.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from brute_force import valid_space
from hypothesis import given, settings
from hypothesis import strategies as st
from solvekit import pinned_optimum, switched
from strategies import DrawChooser, gen_arch, gen_mapping, gen_problem
from test_loop_order import pin

import cpmap.solve.dominance as dominance_mod
from cpmap.core.arch import Arch, Fanout, Level
from cpmap.core.mapping import LevelMapping, Mapping
from cpmap.core.options import SolveOptions
from cpmap.core.problem import conv, fc, gemm, pool
from cpmap.cost.evaluator import Evaluator
from cpmap.solve.layer import solve_layer
from cpmap.solve.model import build_model

ARCH = Arch("dom", 16, 1.0, (
    Level("RF", frozenset("WIO"), 20.0, 1.0, capacity=16),
    Level("GB", frozenset("WIO"), 1.0, 2.0, capacity=64,
          fanout=Fanout("PE", (("Y", 2), ("X", 3)), multicast=True, reduction=True, energy_pj=2.0)),
    Level("DRAM", frozenset("WIO"), 200.0, 200.0),
))

LAYERS = [
    gemm("gemm", B=2, M=1, N=2, K=4),
    conv("conv", K=2, C=2, P=2, Q=1, R=2, S=1),
    fc("fc", N=2, K=4, C=3),
    pool("pool", C=2, P=2, Q=2, R=2, S=1),
]


def class_orders(problem, loops):
    """``loops`` ((dim, factor), ...) of one level in each loop-order class: one tensor's
    irrelevant loops innermost, or a loop relevant to every tensor innermost."""
    irr = {t.name: {d for d in problem.dims if d not in t.dims} for t in problem.tensors}
    out = []
    for dims in irr.values():
        inner = [lp for lp in loops if lp[0] in dims]
        if inner:
            out.append(tuple(lp for lp in loops if lp[0] not in dims) + tuple(inner))
    shared = [lp for lp in loops if not any(lp[0] in dims for dims in irr.values())]
    if shared or not out:
        out.append(tuple(lp for lp in loops if lp not in shared[:1]) + tuple(shared[:1]))
    return out


def merged(mapping: Mapping, i: int) -> Mapping:
    """``mapping`` with level ``i``'s temporal loops moved into level ``i + 1`` (factors of a
    dim on both multiplied)."""
    factors: dict[str, int] = {}
    for d, f in mapping.levels[i + 1].temporal + mapping.levels[i].temporal:
        factors[d] = factors.get(d, 1) * f
    levels = list(mapping.levels)
    levels[i] = replace(levels[i], temporal=())
    levels[i + 1] = replace(levels[i + 1], temporal=tuple(factors.items()))
    return Mapping(tuple(levels))


@st.composite
def emptied_cases(draw):
    """A random layer, hierarchy (no static energy) and mapping with a level below the
    outermost that keeps nothing and holds temporal loops."""
    c = DrawChooser(draw)
    problem = gen_problem(c, c.choice(("conv", "grouped", "fc", "gemm", "pool", "eltwise")))
    arch = replace(gen_arch(c), static_pj_per_cycle=0.0)
    mapping = gen_mapping(c, problem, arch)
    i = c.int(0, len(arch.levels) - 2)
    levels = list(mapping.levels)
    levels[i] = replace(levels[i], keeps=frozenset())
    return problem, arch, Mapping(tuple(levels)), i


@settings(max_examples=2000, derandomize=True, deadline=None)
@given(emptied_cases())
def test_some_class_of_the_merged_level_costs_no_more(case):
    problem, arch, mapping, i = case
    ev = Evaluator(problem, arch)
    before = ev.evaluate(mapping)
    if not before.valid:
        return
    moved = merged(mapping, i)
    costs = []
    for order in class_orders(problem, moved.levels[i + 1].temporal):
        levels = list(moved.levels)
        levels[i + 1] = replace(levels[i + 1], temporal=order)
        after = ev.evaluate(Mapping(tuple(levels)))
        assert after.valid, "the kept tiles and the fanouts are unchanged"
        costs.append(after.energy_pj)
    assert min(costs) <= before.energy_pj * (1 + 1e-12) + 1e-9


@pytest.mark.parametrize("problem", LAYERS, ids=lambda p: p.name)
def test_solver_equals_exhaustive_enumeration(problem):
    """The optimum energy, and (the cycles tie-break) the fewest cycles among the mappings
    of that energy, both the enumeration's."""
    results = [r for r, _ in valid_space(problem, ARCH)]
    least = min(r.energy_pj for r in results)
    fastest = min(r.cycles for r in results if r.energy_pj <= least * (1 + 1e-12))
    with switched(dominance_mod, True):
        sol = solve_layer(problem, ARCH, SolveOptions(time_limit=60, workers=1))
    assert sol.status == "OPTIMAL" and sol.lower_bound <= least * (1 + 1e-12)
    assert sol.value == pytest.approx(least, rel=1e-12) and sol.best.result.cycles == fastest


def test_pinned_mapping_with_loops_at_an_empty_level_is_removed():
    problem = LAYERS[0]
    mapping = Mapping((LevelMapping("RF", (("N", 2),), frozenset("WIO")),
                       LevelMapping("GB", (("K", 2),), frozenset(), (("Y", (("K", 2),)),)),
                       LevelMapping("DRAM", (("B", 2),), frozenset("WIO"))))
    results = {}
    for enabled in (False, True):
        with switched(dominance_mod, enabled):
            results[enabled] = pinned_optimum(build_model(problem, ARCH), mapping, pin)
    assert isinstance(results[False], int) and results[True] == "INFEASIBLE"
    # the same factors with GB keeping a tensor stay in the model
    kept = Mapping((mapping.levels[0], replace(mapping.levels[1], keeps=frozenset("W")), mapping.levels[2]))
    with switched(dominance_mod, True):
        assert isinstance(pinned_optimum(build_model(problem, ARCH), kept, pin), int)


def test_left_out_where_the_argument_does_not_hold():
    """Static energy (cycles enter the energy), a bandwidth (the cycles tie-break sees the
    loop order) and a delay objective: no constraint added."""
    problem = LAYERS[0]

    def size(arch, objective):
        with switched(dominance_mod, True):
            return len(build_model(problem, arch, objective).model.proto.constraints)

    with switched(dominance_mod, False):
        plain = len(build_model(problem, ARCH).model.proto.constraints)
    assert size(ARCH, "energy") > plain
    with switched(dominance_mod, False):
        assert size(ARCH, "delay") == len(build_model(problem, ARCH, "delay").model.proto.constraints)
    static = replace(ARCH, static_pj_per_cycle=5.0)
    limited = replace(ARCH, levels=(ARCH.levels[0], ARCH.levels[1], replace(ARCH.levels[2], read_bandwidth=2.0)))
    for arch in (static, limited):
        with switched(dominance_mod, False):
            assert size(arch, "energy") == len(build_model(problem, arch).model.proto.constraints)


@settings(max_examples=40, derandomize=True, deadline=None)
@given(st.data())
def test_optimum_unchanged_on_random_layers(data):
    """The model's optimum with and without the constraint, on random tiny layers and
    hierarchies with free bypass (no static energy, no bandwidths: where the rule applies)."""
    c = DrawChooser(data.draw)
    problem = gen_problem(c, c.choice(("conv", "fc", "gemm", "pool")), budget=64)
    arch = gen_arch(c, max_levels=3)
    levels = tuple(replace(lv, read_bandwidth=None, write_bandwidth=None) for lv in arch.levels)
    arch = replace(arch, levels=levels, static_pj_per_cycle=0.0)
    values = []
    for enabled in (False, True):
        with switched(dominance_mod, enabled):
            sol = solve_layer(problem, arch, SolveOptions(time_limit=60, workers=1))
        values.append(None if sol.best is None else (sol.status, sol.value))
    if values[0] is None:
        assert values[1] is None
        return
    assert values[0][0] == values[1][0] == "OPTIMAL"
    assert values[1][1] == pytest.approx(values[0][1], rel=1e-12)
    assert math.isfinite(values[1][1])
