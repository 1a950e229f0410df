"""An intermediate's move between two disjoint node regions (a spatial pipeline,
cpmap/cost/redistribute.py with region offsets): 2,000 random producer/consumer pairs on
random pairs of disjoint regions against a literal walk of both nests (the oracle places
each region's nodes at their absolute positions), the move's lower bound (needed words x
(distance x hop + read + write)) never above it, and a hand count."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from strategies import DrawChooser, gen_mapping
from test_redistribute import _pair, literal_exchange, mesh

from cpmap.core.mapping import LevelMapping, Mapping
from cpmap.core.problem import conv, fc
from cpmap.core.region import Region, on_region
from cpmap.core.residency import resident_mapping_errors
from cpmap.cost.redistribute import exchange, move_floor, needed_words

PROPERTY = settings(max_examples=400, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def disjoint_pair(c, shape) -> tuple[Region, Region]:
    """Two disjoint random rectangles of a ``shape`` mesh (a random cut, then a random
    sub-rectangle on each side)."""
    rows, cols = shape
    along_rows = rows > 1 and (cols == 1 or c.bool())
    size = rows if along_rows else cols
    cut = c.int(1, size - 1)
    sides = [(0, cut), (cut, size - cut)]
    if c.bool():
        sides.reverse()  # the consumer before the producer
    out = []
    for start, n in sides:
        a = start + c.int(0, n - 1)
        b = c.int(a, start + n - 1)
        other = cols if along_rows else rows
        x = c.int(0, other - 1)
        y = c.int(x, other - 1)
        out.append(Region(a, x, b - a + 1, y - x + 1) if along_rows else Region(x, a, y - x + 1, b - a + 1))
    return out[0], out[1]


@pytest.mark.parametrize("shape", [(2, 2), (2, 3), (3, 3), (4, 2), (1, 4)])
def test_region_exchange_matches_the_literal_walk(shape):
    # 5 mesh shapes x 400 derandomized examples = 2,000 pairs of layers on disjoint regions
    arch = mesh(*shape)
    seen = {"far": 0}

    @PROPERTY
    @given(st.data())
    def run(data):
        c = DrawChooser(data.draw)
        rp, rc = disjoint_pair(c, shape)
        assert not rp.overlaps(rc) and rp.distance(rc) >= 1
        pa, ca = on_region(arch, rp), on_region(arch, rc)
        prod, cons = _pair(c)
        p_map = gen_mapping(c, prod, pa, prefer=2)
        c_map = gen_mapping(c, cons, ca, prefer=2)
        assume(not resident_mapping_errors(prod, p_map, {"O": 1}))
        got = exchange(prod, p_map, cons, c_map, arch, 1, (rp.row, rp.col), (rc.row, rc.col))
        hops, reads, writes = literal_exchange(prod, p_map, cons, c_map, pa, ca)
        assert (got.word_hops, got.reads, got.writes) == (hops, reads, writes)
        assert got.energy_pj == pytest.approx(hops * 3.0 + reads * 6.0 + writes * 7.5)
        # every needed element leaves its region: read once, written and routed at least once
        assert reads == needed_words(prod, cons)
        floor = move_floor(prod, cons, arch, 1, rp.distance(rc))
        assert 0 < floor <= got.energy_pj * (1 + 1e-12)
        seen["far"] += rp.distance(rc) > 1

    run()
    assert seen["far"] >= 40 or shape == (2, 2), seen


def test_hand_count_between_two_bands():
    # fc a (K 2) on the top row of a 2x2 mesh, K over its 2 columns; fc b (C 2, K 1) on the
    # bottom row, unsplit (its node (1,0)).  a's O[0] at (0,0) goes down 1 link to (1,0);
    # O[1] at (0,1) goes left and down, 2 links.  2 reads, 2 writes, 3 word-hops.
    arch = mesh(2, 2)
    top, bottom = Region(0, 0, 1, 2), Region(1, 0, 1, 2)
    a, b = fc("a", K=2, C=1), fc("b", K=1, C=2)
    gb = LevelMapping("GB", (), frozenset("WIO"))
    pa = Mapping((LevelMapping("RF", (), frozenset("WIO")), gb,
                  LevelMapping("DRAM", (), frozenset("WI"), (("NX", (("K", 2),)),))))
    pb = Mapping((LevelMapping("RF", (("C", 2),), frozenset("WIO")), gb, LevelMapping("DRAM", (), frozenset("WO"))))
    got = exchange(a, pa, b, pb, arch, 1, (0, 0), (1, 0))
    assert (got.word_hops, got.reads, got.writes) == (3, 2, 2)
    assert got.energy_pj == pytest.approx(3 * 3.0 + 2 * 6.0 + 2 * 7.5)
    # the bound: 2 words x (1 link x 3 + 6 + 7 + 0.5) = 33 <= 36
    assert move_floor(a, b, arch, 1, top.distance(bottom)) == pytest.approx(2 * (3.0 + 6.0 + 7.5))
    # a strided consumer reads rows 0, 2 of a 3-row output only: 2 of 3 elements are needed
    c1 = conv("c1", K=1, C=1, P=3, Q=1, R=1)
    c2 = conv("c2", K=1, C=1, P=2, Q=1, R=1, stride=2)
    assert needed_words(c1, c2) == 2 and move_floor(c1, c2, arch, 1, 0) == 0.0
