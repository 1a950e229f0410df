"""On-chip residency at a level with several instances (docs/cost-model.md section 11,
"Several instances"): each node's buffer holds its share of the resident tensor.  A hand
count on a 2x2 mesh, the two rules (no cross-instance partial sums of a resident O, one
window per instance), 2,100 random cases against the oracle's literal walk, and the CP-SAT
model against exhaustive enumeration on a small mesh.
"""

from __future__ import annotations

import dataclasses

import pytest
from brute_force import brute_force_mappings
from hypothesis import HealthCheck, given, settings
from oracle import OracleError, simulate
from strategies import DrawChooser, gen_mapping, gen_mesh_arch, gen_problem
from test_residency import _allow, check_against_oracle, lm, resident_keeps

from cpmap.core.arch import Arch, Fanout, Level, MeshMemory
from cpmap.core.mapping import Mapping
from cpmap.core.options import SolveOptions
from cpmap.core.problem import conv, fc
from cpmap.core.residency import resident_levels, resident_mapping_errors, with_resident
from cpmap.cost.evaluator import evaluate
from cpmap.solve.layer import solve_layer

PROPERTY = settings(max_examples=350, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


def node_arch(rows=2, cols=2, gb=64) -> Arch:
    """RF per PE (1 PE per node), a GB per node, DRAM at the corners of a rows x cols mesh."""
    return Arch("nodes", 16, 1.0, (
        Level("RF", frozenset("WIO"), 1.0, 1.0, capacity=16),
        Level("GB", frozenset("WIO"), 6.0, 6.0, capacity=gb),
        Level("DRAM", frozenset("WIO"), 200.0, 200.0,
              fanout=Fanout("NoC", (("NY", rows), ("NX", cols)), topology="mesh", hop_energy_pj=10.0),
              memory=MeshMemory("corners"))))


def test_hand_count_on_a_2x2_mesh():
    # conv K=2, C=1, P=4, Q=1, R=3 (I has 6 rows): the mesh splits P over the rows
    # (NY: P 2) and K over the columns (NX: K 2).  Node (p, k) computes output rows 2p..2p+1
    # of channel k, so it reads input rows 2p..2p+3: a share of 4 words (a window of 2 P
    # and 3 R), not the whole 6; both columns of a row hold the same 4 words (K is
    # irrelevant to I).  Resident I: no DRAM I reads (with I in DRAM: 2 windows of 4 words,
    # each multicast to a row), no GB I fills (4 nodes x 4 words) and no I hops; the GB
    # holds W 3 + I 4 + O 2 = 9 words per node.
    problem = with_resident(conv("c", K=2, C=1, P=4, Q=1, R=3), {"I": "GB"})
    arch = node_arch()
    mapping = Mapping((lm("RF", [("P", 2), ("R", 3)], "WIO"), lm("GB", [], "WIO"),
                       lm("DRAM", [], "WO", (("NY", (("P", 2),)), ("NX", (("K", 2),))))))
    r = evaluate(problem, arch, mapping)
    assert r.valid, r.errors
    assert r.tiles["GB"] == {"W": 3, "I": 4, "O": 2}
    assert r.accesses["DRAM"]["I"] == {"reads": 0, "writes": 0}
    assert r.noc["NoC"]["hops"]["I"] == 0
    # GB I: never filled; read once per RF fill: every node fills its RF with its 4 rows once
    assert r.accesses["GB"]["I"] == {"reads": 4 * 4, "writes": 0}
    plain = evaluate(conv("c", K=2, C=1, P=4, Q=1, R=3), arch,
                     Mapping(mapping.levels[:2] + (lm("DRAM", [], "WIO", mapping.levels[2].spatial),)))
    assert plain.accesses["DRAM"]["I"]["reads"] == 8  # two row windows of 4, each multicast to a row
    assert plain.accesses["GB"]["I"]["writes"] == 16
    assert plain.energy_pj - r.energy_pj == pytest.approx(8 * 200 + 16 * 6 + 10 * plain.noc["NoC"]["hops"]["I"])
    check_against_oracle(problem, arch, mapping)


def test_rules_of_several_instances():
    arch = node_arch()
    # a resident O split along C (irrelevant to O): partial sums in two nodes, never added
    p = with_resident(fc("f", K=2, C=2), {"O": "GB"})
    m = Mapping((lm("RF", [("K", 2)], "WIO"), lm("GB", [], "WIO"), lm("DRAM", [], "WI", (("NY", (("C", 2),)),))))
    r = evaluate(p, arch, m)
    assert not r.valid and any("C may not be unrolled" in e for e in r.errors)
    with pytest.raises(OracleError, match="never added"):
        simulate(p, arch, m)
    # a window dim split across nodes with a temporal loop over it above the mesh: node 0
    # gets output rows {0, 1, 4, 5}, input rows 0..3 and 4..7 = 8 words, not one window of 6
    p2 = with_resident(conv("c", K=1, C=1, P=8, Q=1, R=3), {"I": "GB"})
    m2 = Mapping((lm("RF", [("P", 2), ("R", 3)], "WIO"), lm("GB", [], "WIO"),
                  lm("DRAM", [("P", 2)], "WO", (("NY", (("P", 2),)),))))
    r2 = evaluate(p2, arch, m2)
    assert not r2.valid and any("no temporal P loop" in e for e in r2.errors)
    assert simulate(p2, arch, m2).tiles["GB"]["I"] == 8
    assert resident_levels(p2, arch) == {"I": 1}  # allowed: the GB has 4 instances


def _resident_node_case(c, family: str):
    """A random layer on a random mesh hierarchy, I and/or O resident at a level below the
    mesh (so with several instances), a random mapping following the residency."""
    problem = gen_problem(c, family)
    arch = gen_mesh_arch(c)
    L = len(arch.levels)
    mesh = next(j for j, lv in enumerate(arch.levels) if lv.fanout is not None and lv.fanout.mesh)
    which = c.choice((("I",), ("O",), ("I", "O")))
    where = {t: c.int(0, mesh - 1) if mesh > 0 else 0 for t in which}
    levels = list(arch.levels)
    for t, r in where.items():
        levels[r] = _allow(levels[r], t)
    arch = dataclasses.replace(arch, levels=tuple(levels))
    problem = with_resident(problem, {t: arch.levels[r].name for t, r in where.items()})
    mapping = resident_keeps(gen_mapping(c, problem, arch, prefer=mesh), arch, where)
    assert L > 1
    return problem, arch, mapping, where


@pytest.mark.parametrize("family", ["conv", "grouped", "fc", "gemm", "pool", "eltwise"])
def test_resident_on_nodes_matches_oracle(family):
    # 6 families x 350 derandomized examples = 2,100 cases; those a rule refuses are
    # checked for what the rule protects against instead (the oracle's final O).  Measured
    # at this commit: 1,843 compared in full, 1,428 of them with a share strictly below
    # the whole tensor, 257 refused by a rule.
    from hypothesis import strategies as st

    seen = {"compared": 0, "split": 0, "refused": 0}

    @PROPERTY
    @given(st.data())
    def run(data):
        problem, arch, mapping, where = _resident_node_case(DrawChooser(data.draw), family)
        errors = resident_mapping_errors(problem, mapping, where)
        if any("partial sums" in e for e in errors):
            seen["refused"] += 1
            assert not evaluate(problem, arch, mapping).valid
            with pytest.raises(OracleError):
                simulate(problem, arch, mapping)
            return
        if errors:  # only the window rule: the evaluator refuses the mapping
            seen["refused"] += 1
            assert not evaluate(problem, arch, mapping).valid
            return
        check_against_oracle(problem, arch, mapping)
        seen["compared"] += 1
        tiles = evaluate(problem, arch, mapping).tiles
        seen["split"] += any(tiles[arch.levels[r].name].get(t, 0) < problem.tensor_words(t)
                             for t, r in where.items())

    run()
    # most cases are compared in full, and many of those hold a strict share per node
    assert seen["compared"] >= 250 and seen["split"] >= 150, seen


# ------------------------------------------------------------ CP-SAT vs enumeration

def enumerated(problem, arch):
    where = resident_levels(problem, arch)
    best_e = best_c = None
    for m in {resident_keeps(m, arch, where) for m in brute_force_mappings(problem, arch)}:
        r = evaluate(problem, arch, m)
        if r.valid:
            best_e = r.energy_pj if best_e is None else min(best_e, r.energy_pj)
            best_c = r.cycles if best_c is None else min(best_c, r.cycles)
    return best_e, best_c


@pytest.mark.parametrize("problem", [
    fc("fc", N=2, K=2, C=2),
    conv("conv", K=2, C=1, P=4, Q=1, R=3),
])
@pytest.mark.parametrize("resident", [{"I": "GB"}, {"O": "GB"}, {"I": "GB", "O": "GB"}])
def test_solver_optimum_equals_exhaustive_on_nodes(problem, resident):
    arch = node_arch(rows=2, cols=1, gb=8)
    p = with_resident(problem, resident)
    want_e, want_c = enumerated(p, arch)
    opts = SolveOptions(time_limit=60, workers=1)
    sol = solve_layer(p, arch, opts)
    assert sol.status == "OPTIMAL"
    assert sol.value == pytest.approx(want_e, rel=1e-12)
    assert sol.lower_bound <= want_e * (1 + 1e-12)
    assert evaluate(p, arch, sol.best.mapping).energy_pj == sol.value
    delay = solve_layer(p, arch, dataclasses.replace(opts, objective="delay"))
    assert delay.value == want_c
