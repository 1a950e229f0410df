"""An intermediate's move between two layers' mesh partitions (cpmap/cost/redistribute.py,
docs/cost-model.md section 11): 2,000 random producer/consumer pairs on random meshes
against a literal walk of both loop nests (the oracle's), with routes as link sets."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from oracle import MeshWalk, _contribution, build_nest, element_coord, xy_route
from strategies import DrawChooser, gen_mapping

from cpmap.core.arch import Arch, Fanout, Level, MeshMemory
from cpmap.core.mapping import LevelMapping, Mapping
from cpmap.core.problem import conv, fc, pool
from cpmap.core.residency import resident_mapping_errors
from cpmap.cost.redistribute import ROLES, correspondence, exchange

PROPERTY = settings(max_examples=400, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def mesh(rows, cols) -> Arch:
    return Arch("m", 16, 1.0, (
        Level("RF", frozenset("WIO"), 1.0, 1.0, capacity=64),
        Level("GB", frozenset("WIO"), 6.0, 7.0, capacity=512),
        Level("DRAM", frozenset("WIO"), 200.0, 200.0,
              fanout=Fanout("NoC", (("NY", rows), ("NX", cols)), topology="mesh", hop_energy_pj=3.0,
                            energy_pj=0.5),
              memory=MeshMemory("corners"))))


def holders(problem, arch, mapping, tensor):
    """{element: set of nodes touching it}, walking every step and PE of the nest."""
    nest = build_nest(problem, arch, mapping)
    dims = problem.dims
    pos = {d: k for k, d in enumerate(dims)}
    t_loops = [lp for lp in nest if lp.kind == "t"]
    s_loops = [lp for lp in nest if lp.kind == "s"]
    n_mesh = sum(1 for lp in s_loops if lp.level == len(arch.levels) - 1)
    walk = MeshWalk(arch.levels[-1], mapping.levels[-1])
    tens = problem.tensor(tensor)
    out: dict = {}
    for tt in itertools.product(*(range(lp.factor) for lp in t_loops)):
        tb = _contribution(t_loops, tt, pos, len(dims))
        for pe in itertools.product(*(range(lp.factor) for lp in s_loops)):
            sv = _contribution(s_loops, pe, pos, len(dims))
            vals = {d: tb[k] + sv[k] for k, d in enumerate(dims)}
            out.setdefault(element_coord(tens, vals), set()).add(walk.node(pe[:n_mesh]))
    return out


def literal_exchange(prod, p_map, cons, c_map, arch, c_arch=None):
    """(word-hops, reads, writes) of the move, walking both nests; with ``c_arch`` the
    producer runs on region ``arch`` and the consumer on region ``c_arch`` (the oracle's
    MeshWalk places their nodes at absolute positions)."""
    src = holders(prod, arch, p_map, "O")
    need = holders(cons, c_arch or arch, c_map, "I")
    o_ext = [ax.extent(prod.size) for ax in prod.tensor("O").axes]
    i_ext = [1 + sum(c * (cons.size[d] - 1) for d, c in ax.terms) for ax in cons.tensor("I").axes]
    o_ax = [(ax.terms[0][0], e) for ax, e in zip(prod.tensor("O").axes, o_ext)]
    i_ax = [(ax.terms[0][0], e) for ax, e in zip(cons.tensor("I").axes, i_ext)]
    groups = correspondence(o_ax, i_ax)
    padded = all(g[2] for g in groups)
    role_o = {ROLES[d]: k for k, (d, _) in enumerate(o_ax)}
    hops = reads = writes = 0
    for o, nodes in src.items():
        assert len(nodes) == 1  # a resident O has one home
        (s,) = nodes
        if padded:  # role by role, centred padding
            i = []
            for d, e in i_ax:
                k = role_o.get(ROLES[d])
                oe, oc = (o_ext[k], o[k]) if k is not None else (1, 0)
                i.append(oc + (e - oe) // 2)
        else:  # row-major flatten
            lin = 0
            for c, e in zip(o, o_ext):
                lin = lin * e + c
            i = []
            for e in reversed(i_ext):
                i.insert(0, lin % e)
                lin //= e
        dst = need.get(tuple(i), set()) - {s}
        if dst:
            hops += len(set().union(*(xy_route(s, d) for d in dst)))
            reads += 1
            writes += len(dst)
    return hops, reads, writes


def _pair(c):
    """A producer (conv or pool) and a consumer reading its output (conv with padding,
    pool, or fc over the flattened output)."""
    N, K, P, Q = c.int(1, 2), c.int(1, 4), c.int(1, 4), c.int(1, 3)
    prod = conv("a", N=N, K=K, C=c.int(1, 2), P=P, Q=Q, R=c.int(1, 2)) if c.bool() else \
        pool("a", N=N, C=K, P=P, Q=Q, R=c.int(1, 2), S=1)
    kind = c.choice(["conv", "pool", "fc"])
    if kind == "fc":
        return prod, fc("b", N=N, K=c.int(1, 3), C=K * P * Q)
    R, pad = c.int(1, 3), c.int(0, 1)
    P2 = P + 2 * pad - R + 1
    if P2 < 1:
        R, pad, P2 = 1, 0, P
    if kind == "pool":
        return prod, pool("b", N=N, C=K, P=P2, Q=Q, R=R, S=1)
    return prod, conv("b", N=N, K=c.int(1, 3), C=K, P=P2, Q=Q, R=R, S=1)


@pytest.mark.parametrize("shape", [(2, 2), (2, 3), (3, 3), (4, 2), (1, 4)])
def test_exchange_matches_the_literal_walk(shape):
    # 5 mesh shapes x 400 derandomized examples = 2,000 pairs
    arch = mesh(*shape)
    seen = {"moved": 0}

    @PROPERTY
    @given(st.data())
    def run(data):
        c = DrawChooser(data.draw)
        prod, cons = _pair(c)
        p_map = gen_mapping(c, prod, arch, prefer=2)
        c_map = gen_mapping(c, cons, arch, prefer=2)
        assume(not resident_mapping_errors(prod, p_map, {"O": 1}))
        got = exchange(prod, p_map, cons, c_map, arch, 1)
        hops, reads, writes = literal_exchange(prod, p_map, cons, c_map, arch)
        assert (got.word_hops, got.reads, got.writes) == (hops, reads, writes)
        assert got.energy_pj == pytest.approx(hops * 3.0 + reads * 6.0 + writes * 7.5)
        seen["moved"] += hops > 0

    run()
    assert seen["moved"] >= 100, seen


def test_same_partition_moves_nothing_and_a_transpose_by_hand():
    # fc K=4 then fc C=4 on a 1x4 mesh: both split the 4 channels over the columns
    # (the producer by K, the consumer by C): every element is already home
    arch = mesh(1, 4)
    a, b = fc("a", K=4, C=2), fc("b", K=2, C=4)
    pa = Mapping((LevelMapping("RF", (("C", 2),), frozenset("WIO")), LevelMapping("GB", (), frozenset("WIO")),
                  LevelMapping("DRAM", (), frozenset("WI"), (("NX", (("K", 4),)),))))
    rf_k = LevelMapping("RF", (("K", 2),), frozenset("WIO"))
    gb = LevelMapping("GB", (), frozenset("WIO"))
    same = Mapping((rf_k, gb, LevelMapping("DRAM", (), frozenset("WO"), (("NX", (("C", 4),)),))))
    assert exchange(a, pa, b, same, arch, 1).word_hops == 0
    # the consumer splits its K (irrelevant to I) over columns 0, 1 instead, each node
    # reading all 4 inputs: c = 0 (at column 0) goes to column 1 (1 link), c = 1 to column
    # 0 (1), c = 2 to columns 0 and 1 (a tree of 2 links), c = 3 likewise (3 links)
    pb = Mapping((LevelMapping("RF", (("C", 4),), frozenset("WIO")), gb,
                  LevelMapping("DRAM", (), frozenset("WO"), (("NX", (("K", 2),)),))))
    got = exchange(a, pa, b, pb, arch, 1)
    assert got.word_hops == 1 + 1 + 2 + 3
    assert got.reads == 4 and got.writes == 1 + 1 + 2 + 2
    assert got.energy_pj == pytest.approx(7 * 3.0 + 4 * 6.0 + 6 * 7.5)
