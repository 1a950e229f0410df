"""The CP-SAT model's mesh terms (hops from the spatial-entry tables, channel loads,
static energy x the evaluator's cycles; docs/solver.md, "Mesh hops and static energy")
against the evaluator, mapping by mapping, and the loop-order classes with static energy
and bandwidth limits in the objective (docs/solver.md, "Loop order").

For each case (2x2, 2x3, 3x2 and 3x3 meshes; corners, per-node and explicit channels;
multicast on and off; input partitioning; static energy always on; channel and level
bandwidths on some) every *factorization* is listed once: the loop factors of every slot,
the bypass and each mesh axis's ordered loops (tests/brute_force.py, the temporal order
left out).  A hypothesis example draws one; the model, built once per case, gets its
factor exponents, bypass literals and mesh entry literal fixed through solution hints
(``fix_variables_to_their_hinted_value``), leaving only the loop-order classes free, and
is solved for energy.  Then:

* the model is infeasible exactly when no temporal order of the factorization is valid;
* its optimum equals the least evaluator energy over *every* permutation of every
  level's temporal loops (so the order classes lose nothing when static energy x
  bandwidth-limited cycles is in the objective), and equals the evaluator's energy and
  cycles of the mapping read back, which has the same factors, bypass and mesh order.

2,000 examples in the default run (a few hundredths of a second each).  Besides, the
cases not in tests/test_mesh_solve.py (3x3 and 3x2 meshes, explicit channels, per-node
memory without multicast) are solved whole against exhaustive enumeration.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from functools import cache

import pytest
from brute_force import brute_force_mappings
from hypothesis import given, settings
from hypothesis import strategies as st
from ortools.sat.python import cp_model
from solvekit import owed_status
from test_mesh_cost import PROBLEM, mesh_arch
from test_mesh_solve import in_node, mid_mesh, two_level

from cpmap.core.arch import Arch, Fanout, Level, MeshMemory
from cpmap.core.factors import prime_factors
from cpmap.core.mapping import LevelMapping, Mapping
from cpmap.core.options import SolveOptions
from cpmap.core.problem import conv, fc
from cpmap.cost.evaluator import Evaluator
from cpmap.solve.layer import mapping_from_solution, solve_layer
from cpmap.solve.model import build_model


def level_bandwidths():
    """A 2x2 mesh with read and write bandwidths on both levels and on the channels:
    the cycles (so the static energy) are bandwidth-limited for many mappings."""
    return Arch("bw-2x2", 16, 1.0, (
        Level("RF", frozenset("WIO"), read_pj=1.0, write_pj=1.0, capacity=8, read_bandwidth=2, write_bandwidth=1),
        Level("DRAM", frozenset("WIO"), read_pj=200.0, write_pj=200.0, read_bandwidth=1.5, write_bandwidth=0.5,
              fanout=Fanout("NoC", (("NY", 2), ("NX", 2)), topology="mesh", hop_energy_pj=3.0),
              memory=MeshMemory("corners", (), 1))), static_pj_per_cycle=50.0)


CASES = {
    "fc-2x2-corners": (fc("f", N=2, K=2, C=4), two_level(2, 2, MeshMemory("corners"), 40.0)),
    "fc-2x2-pernode-unicast": (fc("f", N=2, K=2, C=4),
                               two_level(2, 2, MeshMemory("per_node"), 40.0, multicast=False)),
    "fc-2x3-corners-bw": (PROBLEM, mesh_arch(static=60.0)),
    "fc-2x3-pernode": (PROBLEM, mesh_arch(MeshMemory("per_node"), static=60.0)),
    "conv-3x3-unicast-bw": (conv("c", K=3, C=2, P=3, Q=1, R=2, S=1),
                            two_level(3, 3, MeshMemory("corners", (), 1.5), 30.0, multicast=False)),
    "conv-3x2-channels": (conv("c", K=2, C=2, P=3, Q=1, R=2, S=1),
                          two_level(3, 2, MeshMemory("channels", ((0, 1), (2, 0)), 2), 100.0, hop=3.0)),
    "fc-2x2-level-bw": (fc("f", N=2, K=2, C=2), level_bandwidths()),
    "node-gb": (fc("g", N=2, K=2, C=2), in_node(20.0, 1)),
    "mid-mesh": (fc("m", N=1, K=2, C=4), mid_mesh()),
}


def factorization(m: Mapping) -> tuple:
    """A mapping without its temporal orders: per level the bypass, the temporal loops
    as a multiset, and the spatial entry (whose order on a mesh places the nodes)."""
    return tuple((lv.keeps, tuple(sorted(lv.temporal)), lv.spatial) for lv in m.levels)


@cache
def factorizations(name: str) -> list[Mapping]:
    """One mapping per factorization of the case, in enumeration order."""
    problem, arch = CASES[name]
    seen: dict = {}
    for m in brute_force_mappings(problem, arch):
        seen.setdefault(factorization(m), m)
    return list(seen.values())


def every_order(m: Mapping) -> list[Mapping]:
    """``m`` with every permutation of each level's temporal loops."""
    per_level = [list(dict.fromkeys(itertools.permutations(lv.temporal))) for lv in m.levels]
    return [Mapping(tuple(LevelMapping(lv.level, order, lv.keeps, lv.spatial) for lv, order in zip(m.levels, orders)))
            for orders in itertools.product(*per_level)]


@cache
def model(name: str):
    """The case's energy model with the evaluator's cycles added (built once: the
    examples only change its hints)."""
    problem, arch = CASES[name]
    lm = build_model(problem, arch, "energy")
    return lm, lm.evaluator_cycles()


def hint(lm, mapping: Mapping) -> None:
    """Hint (and so, with fix_variables_to_their_hinted_value, fix) the factor
    exponents, bypass and mesh entry of ``mapping``; loop-order classes stay free."""
    slot = {(s.level, s.axis): s for s in lm.slots}
    factors: dict = {}
    for i, level in enumerate(mapping.levels):
        loops = [(d, f, slot[i, None]) for d, f in level.temporal]
        loops += [(d, f, slot[i, ax]) for ax, axis_loops in level.spatial for d, f in axis_loops]
        for d, f, s in loops:
            factors[d, s] = factors.get((d, s), 1) * f
    assert all(f == 1 or key in lm.exponents for key, f in factors.items())
    lm.model.clear_hints()
    for key, evs in lm.exponents.items():
        exps = prime_factors(factors.get(key, 1))
        for p, v in evs:
            lm.model.add_hint(v, exps.get(p, 0))
    for (i, t), k in lm.keep.items():
        if not isinstance(k, bool):
            lm.model.add_hint(k, t in mapping.levels[i].keeps)
    for j, entries in lm.mesh_entries.items():
        assert sum(e == mapping.levels[j].spatial for _, e in entries) == 1  # the table has the entry once
        for lit, e in entries:
            lm.model.add_hint(lit, e == mapping.levels[j].spatial)


def check_factorization(problem, arch, lm, cycles, mapping: Mapping) -> None:
    """The model ``lm`` (built for ``problem`` on ``arch``, ``cycles`` its evaluator
    cycles) with ``mapping``'s factorization fixed: infeasible iff no temporal order of it
    is valid, else its optimum is the least evaluator energy over every order and the
    evaluator's energy and cycles of the mapping read back (module docstring)."""
    ev = Evaluator(problem, arch)
    valid = [r for r in (ev.evaluate(m) for m in every_order(mapping)) if r.valid]
    hint(lm, mapping)
    solver = cp_model.CpSolver()
    solver.parameters.fix_variables_to_their_hinted_value = True
    solver.parameters.num_workers = 1
    status = solver.solve(lm.model)
    if not valid:
        assert status == cp_model.INFEASIBLE, mapping
        return
    assert status == cp_model.OPTIMAL, mapping
    pj = solver.objective_value / lm.scale + lm.constant_pj
    got = mapping_from_solution(lm, problem, arch, solver.value)
    assert factorization(got) == factorization(mapping)
    r = ev.evaluate(got)
    assert r.valid and pj == pytest.approx(r.energy_pj, rel=1e-12) and solver.value(cycles) == r.cycles, mapping
    assert pj == pytest.approx(min(v.energy_pj for v in valid), rel=1e-12), mapping


@settings(max_examples=2000, derandomize=True, deadline=None, database=None)
@given(name=st.sampled_from(sorted(CASES)), pick=st.integers(0, 2**31))
def test_fixed_factorization_is_priced_as_the_evaluator_prices_its_best_order(name, pick):
    options = factorizations(name)
    check_factorization(*CASES[name], *model(name), options[pick % len(options)])


def test_cases_price_hops_static_and_bandwidth():
    """The cases are not trivial: across each case's factorizations the NoC energy and
    the static energy vary and more than two nodes are used somewhere."""
    for name, (problem, arch) in CASES.items():
        ev = Evaluator(problem, arch)
        rs = [r for r in (ev.evaluate(m) for m in factorizations(name)[::7]) if r.valid]
        noc = {sum(v["energy_pj"] for v in r.noc.values()) for r in rs}
        assert len(noc) > 2 and len({r.static_pj for r in rs}) > 2, name
        assert max(max(v["nodes_used"] for v in r.noc.values()) for r in rs) > 2, name


@pytest.mark.parametrize("name", ["fc-2x2-pernode-unicast", "conv-3x3-unicast-bw", "conv-3x2-channels",
                                  "fc-2x2-level-bw"])
def test_energy_optimum_is_the_exhaustive_optimum(name):
    problem, arch = CASES[name]
    ev = Evaluator(problem, arch)
    truth = min(r.energy_pj for r in (ev.evaluate(m) for m in brute_force_mappings(problem, arch)) if r.valid)
    sol = solve_layer(problem, arch, SolveOptions(time_limit=60, workers=1))
    assert sol.lower_bound <= truth * (1 + 1e-12)
    assert owed_status(sol, problem, arch) and sol.value == pytest.approx(truth, rel=1e-12)


# Issue 12 item 5 / docs/solver.md "Mesh hops and static energy", Loop order: with static
# energy x bandwidth-limited cycles the loop-order classes are NOT complete.  Found by a
# sweep of check_factorization over random RF < GB (2-PE reduction fanout) < DRAM machines:
# at GB the loops C, P, R (C and R irrelevant to O, P to W) in the order C P R put only R
# innermost (a partial run of O's irrelevant loops, no class), 23 cycles; O's class (C and R
# innermost) costs less dynamic energy but 24 cycles, W's class (P innermost) 26.
CEX_ARCH = Arch("cex", 16, 1.0, (
    Level("RF", frozenset("WIO"), 1.0, 1.0, capacity=16, read_bandwidth=0.5, write_bandwidth=3),
    Level("GB", frozenset("WIO"), 6.0, 6.0, capacity=64, read_bandwidth=3, write_bandwidth=2,
          fanout=Fanout("PE", (("X", 2),), multicast=True, reduction=True)),
    Level("DRAM", frozenset("WIO"), 200.0, 200.0, read_bandwidth=2, write_bandwidth=1)), static_pj_per_cycle=1000.0)
CEX_LAYER = conv("c", N=1, K=2, C=2, P=2, Q=1, R=2, S=2)


def cex_mapping(gb_order: tuple[str, ...]) -> Mapping:
    return Mapping((LevelMapping("RF", (("K", 2),), frozenset("O")),
                    LevelMapping("GB", tuple((d, 2) for d in gb_order), frozenset("WIO"), (("X", (("S", 2),)),)),
                    LevelMapping("DRAM", (), frozenset("WIO"))))


def test_partial_run_beats_every_class_with_static_energy_and_bandwidth():
    """The numbers, by the oracle's literal walk and the evaluator: the partial run C P R
    (23 cycles) is cheapest; O's class (P C R: C, R innermost) has less dynamic energy
    (energy - 1000 x cycles) but one cycle more; W's class (C R P) is worst."""
    from oracle import simulate

    ev = Evaluator(CEX_LAYER, CEX_ARCH)
    for order, pj, cycles in ((("C", "P", "R"), 30112.0, 23), (("P", "C", "R"), 31064.0, 24),
                              (("C", "R", "P"), 33208.0, 26)):
        r, o = ev.evaluate(cex_mapping(order)), simulate(CEX_LAYER, CEX_ARCH, cex_mapping(order))
        assert r.valid and (r.energy_pj, r.cycles) == (pj, cycles) == (o.energy_pj, o.cycles)
    assert 31064 - 1000 * 24 < 30112 - 1000 * 23  # the class wins on dynamic energy alone
    # the whole solve is not misled here: the optimum (29,056 pJ by exhaustive enumeration,
    # 5 min) has another factorization, and the solver proves it (not repeated: too slow)


@pytest.mark.xfail(strict=True, reason="loop-order classes are incomplete under static energy x "
                   "bandwidth-limited cycles (docs/solver.md): the model's best class costs 31,064 pJ, "
                   "the order C P R 30,112 pJ")
def test_classes_reach_the_best_order_with_static_energy_and_bandwidth():
    lm = build_model(CEX_LAYER, CEX_ARCH, "energy")
    check_factorization(CEX_LAYER, CEX_ARCH, lm, lm.evaluator_cycles(), cex_mapping(("C", "P", "R")))


def test_where_classes_are_unproved_the_bound_is_the_floor():
    """On the counterexample's machine the solver cannot certify its class-restricted bound:
    it reports the compulsory floor (MACs x 1 pJ + every weight and input read and every
    output written once at DRAM's 200 pJ + static 1,000 pJ x ceil(MACs / 2 PEs)), below
    the exhaustive optimum 29,056 pJ (enumerated when the case was found), and says why."""
    sol = solve_layer(CEX_LAYER, CEX_ARCH, SolveOptions(time_limit=60, workers=1))
    macs = 2 * 2 * 2 * 2 * 2  # K C P R S
    words = 2 * 2 * 2 * 2 + 2 * 3 * 2 + 2 * 2  # W (K C R S), I (C, P+R-1, S), O (K P)
    floor = macs * 1.0 + words * 200.0 + 1000.0 * math.ceil(macs / 2)
    assert sol.lower_bound == floor <= 29056
    assert sol.status == "FEASIBLE" and "loop-order classes" in sol.reason
    assert sol.value >= 29056
    # the same layer without the static energy is priced affinely: certified as before
    flat = replace(CEX_ARCH, static_pj_per_cycle=0.0)
    assert solve_layer(CEX_LAYER, flat, SolveOptions(time_limit=60, workers=1)).status == "OPTIMAL"
