"""On-chip residency (docs/cost-model.md section 11): the evaluator against the oracle's
literal walk, a hand count, the validity rules, and the CP-SAT model against exhaustive
enumeration.

A resident tensor's backing store is an on-chip level: no DRAM traffic, its whole data
occupies that level for the layer's duration, and its accesses are that level's.
"""

from __future__ import annotations

import dataclasses
from functools import cache

import pytest
from brute_force import brute_force_mappings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import compare, simulate
from strategies import DrawChooser, gen_arch, gen_mapping, gen_problem
from test_oracle import expected_valid

from cpmap.core.arch import Arch, Fanout, Level
from cpmap.core.errors import CpmapError
from cpmap.core.mapping import LevelMapping, Mapping
from cpmap.core.options import SolveOptions
from cpmap.core.problem import conv, fc, pool
from cpmap.core.residency import resident_levels, with_resident
from cpmap.cost.evaluator import evaluate
from cpmap.solve.layer import solve_layer

PROPERTY = settings(max_examples=350, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def lm(level, temporal=(), keeps="", spatial=()):
    return LevelMapping(level, tuple(temporal), frozenset(keeps), tuple(spatial))


def resident_keeps(mapping: Mapping, arch: Arch, resident: dict[str, int]) -> Mapping:
    """``mapping`` with the keeps residency requires: the level keeps the tensor, no level
    above it does (the outermost neither: there is no DRAM copy)."""
    levels = []
    for i, lmp in enumerate(mapping.levels):
        keeps = set(lmp.keeps)
        for t, r in resident.items():
            if i == r:
                keeps.add(t)
            elif i > r:
                keeps.discard(t)
        levels.append(dataclasses.replace(lmp, keeps=frozenset(keeps)))
    return Mapping(tuple(levels))


def _allow(lv: Level, t: str) -> Level:
    """``lv`` allowed to keep ``t`` (a partition of 1-40 words if it is partitioned)."""
    if t in lv.keeps:
        return lv
    parts = lv.partitions + ((t, 24),) if lv.partitions is not None else None
    return dataclasses.replace(lv, keeps=lv.keeps | {t}, partitions=parts)


@st.composite
def resident_cases(draw, family: str):
    """(problem with residency, arch, mapping): a random layer, hierarchy and resident
    level (fanouts above it removed, the tensor allowed there), I, O or both resident,
    and a random mapping whose keeps follow the residency."""
    c = DrawChooser(draw)
    problem = gen_problem(c, family)
    arch = gen_arch(c)
    L = len(arch.levels)
    which = c.choice((("I",), ("O",), ("I", "O")))
    where = {t: c.int(0, L - 2) for t in which}
    top = min(where.values())
    levels = [dataclasses.replace(lv, fanout=None) if i > top else lv for i, lv in enumerate(arch.levels)]
    for t, r in where.items():
        levels[r] = _allow(levels[r], t)
    arch = dataclasses.replace(arch, levels=tuple(levels))
    problem = with_resident(problem, {t: arch.levels[r].name for t, r in where.items()})
    mapping = resident_keeps(gen_mapping(c, problem, arch), arch, where)
    return problem, arch, mapping


def check_against_oracle(problem, arch, mapping):
    oracle = simulate(problem, arch, mapping)  # also asserts the final O (at its resident level) is right
    result = evaluate(problem, arch, mapping)
    diffs = compare(result, oracle, arch, problem)
    if result.valid != expected_valid(oracle, arch, problem, mapping):
        diffs.append(f"valid: evaluator {result.valid} ({result.errors}) but oracle tiles say otherwise")
    assert not diffs, ("evaluator and oracle disagree:\n  " + "\n  ".join(diffs)
                       + f"\nproblem={problem!r}\narch={arch!r}\nmapping={mapping!r}")


@pytest.mark.parametrize("family", ["conv", "grouped", "fc", "gemm", "pool", "eltwise"])
def test_resident_evaluator_matches_oracle(family):
    # 6 families x 350 derandomized examples = 2,100 oracle comparisons with residency
    @PROPERTY
    @given(resident_cases(family))
    def run(case):
        check_against_oracle(*case)

    run()


# ------------------------------------------------------------------ the worked example

def worked_example():
    """docs/cost-model.md section 7: its hierarchy, layer and mapping."""
    arch = Arch("worked", 16, 1.0, (
        Level("RF", frozenset("WIO"), 1.0, 1.0, capacity=64),
        Level("GB", frozenset("WIO"), 6.0, 6.0, capacity=4096,
              fanout=Fanout("X", (("X", 4),), multicast=True, reduction=True, energy_pj=2.0)),
        Level("DRAM", frozenset("WIO"), 200.0, 200.0)))
    problem = conv("worked", K=4, C=2, P=4, Q=1, R=3)
    mapping = Mapping((lm("RF", [("R", 3), ("C", 2)], "WIO"),
                       lm("GB", [("P", 4)], "WIO", (("X", (("K", 4),)),)),
                       lm("DRAM", [], "W")))
    return problem, arch, mapping


def test_worked_example_with_resident_input_and_output():
    # Section 7 counts 11,856 pJ with every tensor in DRAM.  With I and O resident in GB:
    # DRAM I reads 12 and O writes 16 disappear (28 * 200 = 5,600 pJ), and so do GB's 12
    # I fill writes from DRAM (72 pJ); everything below GB is unchanged: 11,856 - 5,672.
    problem, arch, mapping = worked_example()
    problem = with_resident(problem, {"I": "GB", "O": "GB"})
    r = evaluate(problem, arch, mapping)
    assert r.valid, r.errors
    assert r.energy_pj == 6_184
    assert r.accesses["DRAM"]["I"] == {"reads": 0, "writes": 0}
    assert r.accesses["DRAM"]["O"] == {"reads": 0, "writes": 0}
    assert r.accesses["GB"]["I"] == {"reads": 24, "writes": 0}
    assert r.accesses["GB"]["O"] == {"reads": 0, "writes": 16}
    assert r.tiles["GB"] == {"W": 24, "I": 12, "O": 16}  # I and O whole: 2*6 and 4*4 words
    assert r.tiles["DRAM"] == {"W": 24}
    check_against_oracle(problem, arch, mapping)


def test_resident_tensor_occupies_the_level_whole():
    # fc K=8, C=8: I has 8 words, O 8.  GB capacity 12: W tile 1 + resident I 8 fits,
    # resident I and O (16) do not, whatever the mapping.
    arch = Arch("a", 16, 1.0, (Level("RF", frozenset("WIO"), 1, 1, capacity=8),
                              Level("GB", frozenset("WIO"), 2, 2, capacity=12),
                              Level("DRAM", frozenset("WIO"), 100, 100)))
    base = fc("f", K=8, C=8)
    m = Mapping((lm("RF", [], "WIO"), lm("GB", [], "WI"), lm("DRAM", [("K", 8), ("C", 8)], "WO")))
    r = evaluate(with_resident(base, {"I": "GB"}), arch, m)
    assert r.valid and r.tiles["GB"] == {"W": 1, "I": 8}
    m2 = resident_keeps(m, arch, {"I": 1, "O": 1})
    r2 = evaluate(with_resident(base, {"I": "GB", "O": "GB"}), arch, m2)
    assert not r2.valid and any("GB: tiles need 17 words > capacity 12" in e for e in r2.errors)


def test_keeps_must_follow_the_residency():
    problem, arch, mapping = worked_example()
    problem = with_resident(problem, {"I": "GB"})
    bad = Mapping(mapping.levels[:2] + (lm("DRAM", [], "WI"),))  # DRAM still keeps I
    r = evaluate(problem, arch, bad)
    assert not r.valid and any("DRAM.keeps: I is resident in GB" in e for e in r.errors)
    bad2 = Mapping((mapping.levels[0], lm("GB", [("P", 4)], "WO", (("X", (("K", 4),)),)), mapping.levels[2]))
    r2 = evaluate(problem, arch, bad2)
    assert not r2.valid and any("GB must keep it" in e for e in r2.errors)


@pytest.mark.parametrize("resident, message", [
    ({"I": "DRAM"}, "expected an on-chip level"),
    ({"I": "XX"}, "expected an on-chip level"),
])
def test_bad_residency_is_a_clear_error(resident, message):
    problem, arch, _ = worked_example()
    with pytest.raises(CpmapError, match=message):
        resident_levels(with_resident(problem, resident), arch)


def test_pool_has_no_weights_but_may_keep_its_input_resident():
    problem = with_resident(pool("p", C=2, P=2, Q=1, R=2, S=1), {"I": "GB", "O": "GB"})
    problem2, arch, _ = worked_example()
    assert resident_levels(problem, arch) == {"I": 1, "O": 1}
    with pytest.raises(ValueError, match="resident tensors must be I and/or O"):
        dataclasses.replace(problem2, resident=(("W", "GB"),))


# ------------------------------------------------------------ CP-SAT vs enumeration

TINY = Arch("tiny", 16, 1.0, (
    Level("RF", frozenset("WIO"), 1, 1, capacity=6),
    Level("GB", frozenset("WIO"), 6, 6, capacity=40,
          fanout=Fanout("PE", (("X", 2),), multicast=True, reduction=True, energy_pj=2)),
    Level("DRAM", frozenset("WIO"), 200, 200)))


@cache  # the layers without residency recur once per residency case
def enumerated_optimum(problem, arch) -> tuple[float, int]:
    """(least energy, least cycles) over every mapping obeying the residency."""
    where = resident_levels(problem, arch)
    best_e = best_c = None
    for m in {resident_keeps(m, arch, where) for m in brute_force_mappings(problem, arch)}:
        r = evaluate(problem, arch, m)
        if r.valid:
            best_e = r.energy_pj if best_e is None else min(best_e, r.energy_pj)
            best_c = r.cycles if best_c is None else min(best_c, r.cycles)
    return best_e, best_c


@pytest.mark.parametrize("problem", [
    fc("fc", N=2, K=4, C=3),
    conv("conv", K=2, C=2, P=3, Q=1, R=2),
    pool("pool", C=2, P=2, Q=1, R=2, S=1),
])
@pytest.mark.parametrize("resident", [{"I": "GB"}, {"O": "GB"}, {"I": "GB", "O": "GB"}])
def test_solver_optimum_equals_exhaustive_with_residency(problem, resident):
    p = with_resident(problem, resident)
    want_e, want_c = enumerated_optimum(p, TINY)
    opts = SolveOptions(time_limit=30, workers=1)
    sol = solve_layer(p, TINY, opts)
    assert sol.status == "OPTIMAL"
    assert sol.value == pytest.approx(want_e, rel=1e-12)
    assert sol.lower_bound <= want_e * (1 + 1e-12)
    assert sol.lower_bound == pytest.approx(want_e, rel=1e-9)
    assert evaluate(p, TINY, sol.best.mapping).energy_pj == sol.value
    delay = solve_layer(p, TINY, dataclasses.replace(opts, objective="delay"))
    assert delay.value == want_c
    # residency never costs more than DRAM (the same mapping with DRAM backing exists)
    assert want_e <= enumerated_optimum(problem, TINY)[0]


def test_resident_data_too_large_is_infeasible_with_a_reason():
    p = with_resident(fc("big", K=24, C=24), {"I": "GB", "O": "GB"})  # 24 + 24 words > 40
    sol = solve_layer(p, TINY, SolveOptions(time_limit=10, workers=1))
    assert sol.status == "INFEASIBLE"
    assert "resident" in sol.reason and "GB" in sol.reason
