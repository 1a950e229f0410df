"""A layer on a node region of a mesh (cpmap.core.region): the mesh cut to the region, the
memory channels where the whole mesh has them.  Region geometry by hand, a hand count of
hops from channels outside the region, 2,040 random cases against the oracle (which
places the nodes at their absolute positions of the whole mesh and tries every channel
of it), and the CP-SAT model against exhaustive enumeration on regions (plain and with
resident I and O, as a spatial pipeline solves them)."""

from __future__ import annotations

import random

import pytest
from brute_force import brute_force_mappings
from hypothesis import HealthCheck, given, settings
from oracle import compare, simulate
from solvekit import solver_meets_enumeration
from strategies import FAMILIES, mesh_cases
from test_residency import lm, resident_keeps
from test_residency_nodes import node_arch

from cpmap.core.arch import Arch, Fanout, Level, MeshMemory
from cpmap.core.errors import CpmapError
from cpmap.core.mapping import Mapping
from cpmap.core.problem import conv, fc
from cpmap.core.region import Region, bands, on_region
from cpmap.core.residency import resident_levels, with_resident
from cpmap.cost.evaluator import evaluate
from cpmap.spec.arch import arch_to_obj

REGION = settings(max_examples=340, deadline=None, derandomize=True, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def row_arch(cols: int = 4) -> Arch:
    """An RF per node on a 1 x cols mesh below DRAM, channels at the corners (0,0), (0,cols-1)."""
    return Arch("row", 16, 1.0, (
        Level("RF", frozenset("WIO"), 1.0, 1.0, capacity=16),
        Level("DRAM", frozenset("WIO"), 200.0, 200.0,
              fanout=Fanout("NoC", (("NY", 1), ("NX", cols)), topology="mesh", hop_energy_pj=10.0),
              memory=MeshMemory("corners"))))


def test_region_geometry():
    a, b = Region(0, 0, 2, 4), Region(2, 0, 2, 4)
    assert not a.overlaps(b) and a.distance(b) == 1 and b.distance(a) == 1
    assert Region(0, 0, 1, 1).distance(Region(3, 2, 1, 1)) == 5  # 3 rows + 2 columns apart
    assert Region(0, 0, 2, 2).overlaps(Region(1, 1, 2, 2)) and Region(0, 0, 2, 2).distance(Region(1, 1, 1, 1)) == 0
    with pytest.raises(ValueError):
        Region(0, 0, 0, 1)
    # 4 rows into 2 bands: 1+3, 2+2, 3+1; the same for the columns
    assert len(bands((4, 4), 2)) == 6 and len(bands((4, 4), 3)) == 6 and len(bands((4, 4), 4)) == 2
    assert bands((2, 2), 2) == [(Region(0, 0, 1, 2), Region(1, 0, 1, 2)), (Region(0, 0, 2, 1), Region(0, 1, 2, 1))]
    assert bands((1, 3), 2) == [(Region(0, 0, 1, 1), Region(0, 1, 1, 2)), (Region(0, 0, 1, 2), Region(0, 2, 1, 1))]
    assert bands((4, 4), 5) == []
    # balanced by work 3:1 -- rows 1+3: slowest 3/1 per row, 2+2: 3/2, 3+1: max(3/3, 1/1) = 1
    assert bands((4, 4), 2, (3, 1)) == [(Region(0, 0, 3, 4), Region(3, 0, 1, 4)),
                                        (Region(0, 0, 4, 3), Region(0, 3, 4, 1))]
    assert bands((4, 4), 2, (1, 1)) == [(Region(0, 0, 2, 4), Region(2, 0, 2, 4)),
                                        (Region(0, 0, 4, 2), Region(0, 2, 4, 2))]
    with pytest.raises(CpmapError, match="not inside"):
        on_region(row_arch(), Region(0, 3, 1, 2))
    with pytest.raises(ValueError, match="no spec form"):  # never written out without its position
        arch_to_obj(on_region(row_arch(), Region(0, 1, 1, 2)))


def test_hand_count_channels_outside_the_region():
    # fc N=1, K=2, C=1 with K across 2 nodes (NX: K 2).  On the 1x4 row the channels are
    # (0,0) and (0,3).  On the region of columns 1..2: W, each node its own word: column 1
    # from (0,0), 1 link; column 2 from (0,3), 1 link.  I (K irrelevant): one multicast
    # tree, 2 links from either corner (tie: the first, (0,0)).  O: 1 + 1.  6 word-hops;
    # channel words (0,0): W 1 + I 1 + O 1 = 3, (0,3): W 1 + O 1 = 2.
    p = fc("f", N=1, K=2, C=1)
    m = Mapping((lm("RF", [], "WIO"), lm("DRAM", [], "WIO", (("NX", (("K", 2),)),))))
    mid = evaluate(p, on_region(row_arch(), Region(0, 1, 1, 2)), m)
    assert mid.valid, mid.errors
    assert mid.noc["NoC"]["hops"] == {"W": 2, "I": 2, "O": 2}
    assert mid.noc["NoC"]["channel_words"] == [3, 2]
    # the region of columns 0..1 keeps the channels at (0,0) and (0,3): W 0 + 1, I 1, O 0 + 1
    left = evaluate(p, on_region(row_arch(), Region(0, 0, 1, 2)), m)
    assert left.noc["NoC"]["hops"] == {"W": 1, "I": 1, "O": 1}
    assert mid.energy_pj - left.energy_pj == pytest.approx(3 * 10.0)
    # a plain 1x2 mesh has its own corners (0,0), (0,1): 0 + 0, 1, 0 + 0
    assert evaluate(p, row_arch(2), m).noc["NoC"]["hops"] == {"W": 0, "I": 1, "O": 0}


@pytest.mark.parametrize("family", FAMILIES)
def test_region_evaluator_matches_oracle(family):
    @REGION
    @given(mesh_cases(family, region=True))
    def run(case):
        problem, arch, mapping = case
        oracle = simulate(problem, arch, mapping)
        diffs = compare(evaluate(problem, arch, mapping), oracle, arch, problem)
        assert not diffs, "\n".join(diffs) + f"\n{problem!r}\n{arch!r}\n{mapping!r}"

    run()


def test_solver_meets_enumeration_on_regions():
    """Random small layers on random regions of 2x2, 1x3 and 2x3 meshes (corner channels,
    outside the region for most), also with resident I and O in the nodes' GB."""
    rng = random.Random(7)
    checked = 0
    for _ in range(10):
        rows, cols = rng.choice([(2, 2), (1, 3), (2, 3)])
        h, w = rng.randint(1, rows), rng.randint(1, min(cols, 2))
        region = Region(rng.randint(0, rows - h), rng.randint(0, cols - w), h, w)
        arch = on_region(node_arch(rows, cols, gb=12), region)
        problem = rng.choice([fc("f", N=rng.choice([1, 2]), K=rng.choice([1, 2]), C=2),
                              conv("c", K=2, C=1, P=2, Q=1, R=rng.choice([1, 2]))])
        res = rng.choice([{}, {"I": "GB"}, {"O": "GB"}, {"I": "GB", "O": "GB"}])
        problem = with_resident(problem, res)
        where = resident_levels(problem, arch)
        space = {resident_keeps(m, arch, where) for m in brute_force_mappings(problem, arch)}
        checked += solver_meets_enumeration(problem, arch, space)
    assert checked == 10
