"""Random small layers, hierarchies and structurally valid mappings.

Every generator is written once against a tiny ``Chooser`` interface so that the same
code drives hypothesis (``st.composite``, shrinkable, derandomized in CI) and the
100,000-case sweep in ``bench/oracle_sweep.py`` (plain ``random.Random``, fast).
"""

from __future__ import annotations

import math
import random
from dataclasses import replace

from hypothesis import strategies as st

from cpmap.core.arch import Arch, Fanout, Level, MeshMemory
from cpmap.core.factors import prime_list
from cpmap.core.mapping import LevelMapping, Mapping
from cpmap.core.problem import Problem, conv, eltwise, fc, gemm, pool
from cpmap.core.region import Region, mesh_level, on_region

FAMILIES = ("conv", "grouped", "fc", "gemm", "pool", "eltwise")
MAX_MACS = 1200  # keeps one literal simulation within a few to ~50 ms


class Chooser:
    """Random choices; subclasses draw from hypothesis or from random.Random."""

    def int(self, lo: int, hi: int) -> int:
        raise NotImplementedError

    def bool(self) -> bool:
        return self.int(0, 1) == 1

    def choice(self, seq):
        seq = list(seq)
        return seq[self.int(0, len(seq) - 1)]

    def permutation(self, seq) -> list:
        rest, out = list(seq), []
        while rest:
            out.append(rest.pop(self.int(0, len(rest) - 1)))
        return out


class RandomChooser(Chooser):
    def __init__(self, rng: random.Random):
        self.rng = rng

    def int(self, lo, hi):
        return self.rng.randint(lo, hi)


_INTEGERS: dict[tuple[int, int], st.SearchStrategy] = {}


class DrawChooser(Chooser):
    def __init__(self, draw):
        self.draw = draw

    def int(self, lo, hi):
        # one strategy object per range: hypothesis draws the same values from it, without
        # re-validating a new st.integers on each of the ~100 draws of a case
        s = _INTEGERS.get((lo, hi))
        if s is None:
            s = _INTEGERS[(lo, hi)] = st.integers(lo, hi)
        return self.draw(s)


# ---------------------------------------------------------------------- problems

def _shrink(sizes: dict[str, int], order: str, budget: int) -> dict[str, int]:
    """Deterministically halve the largest of the listed dims until MACs fit the budget
    (keeps shrinking monotone for hypothesis and bounds simulation time)."""
    sizes = dict(sizes)
    while math.prod(sizes.values()) > budget:
        d = max(order, key=lambda d: sizes[d])
        if sizes[d] == 1:
            break
        sizes[d] = (sizes[d] + 1) // 2
    return sizes


def gen_problem(c: Chooser, family: str, budget: int = MAX_MACS) -> Problem:
    if family in ("conv", "grouped"):
        if family == "grouped":
            g = c.int(2, 4)
            if c.bool():  # depthwise: per-group K = C = 1
                kpg = cpg = 1
            else:
                kpg, cpg = c.int(1, 3), c.int(1, 3)
        else:
            g, kpg, cpg = 1, c.int(1, 4), c.int(1, 4)
        s = {"N": c.int(1, 2), "G": g, "K": kpg, "C": cpg, "P": c.int(1, 5), "Q": c.int(1, 4),
             "R": c.int(1, 3), "S": c.int(1, 3)}
        stride = (c.int(1, 3), c.int(1, 3))
        dilation = (c.int(1, 2), c.int(1, 2))
        s = _shrink(s, "PQKCNRSG", budget)
        return conv(f"{family}", N=s["N"], K=s["K"] * s["G"], C=s["C"] * s["G"], P=s["P"], Q=s["Q"],
                    R=s["R"], S=s["S"], stride=stride, dilation=dilation, groups=s["G"])
    if family == "fc":
        s = _shrink({"N": c.int(1, 4), "K": c.int(1, 12), "C": c.int(1, 12)}, "KCN", budget)
        return fc("fc", **s)
    if family == "gemm":
        s = _shrink({"B": c.int(1, 3), "M": c.int(1, 6), "N": c.int(1, 6), "K": c.int(1, 8)}, "KMNB", budget)
        return gemm("gemm", **s)
    if family == "pool":
        s = _shrink({"N": c.int(1, 2), "C": c.int(1, 4), "P": c.int(1, 5), "Q": c.int(1, 4),
                     "R": c.int(1, 3), "S": c.int(1, 3)}, "PQCNRS", budget)
        return pool("pool", **s, stride=(c.int(1, 3), c.int(1, 3)))
    if family == "eltwise":
        s = _shrink({"N": c.int(1, 2), "C": c.int(1, 6), "P": c.int(1, 4), "Q": c.int(1, 4),
                         "E": c.int(1, 3)}, "CPQNE", budget)
        return eltwise("eltwise", **s)
    raise ValueError(family)


# ------------------------------------------------------------------ architectures

ENERGIES = (0.0, 0.25, 1.0, 1.5, 3.0, 7.0, 200.0)
BANDWIDTHS = (0.5, 0.7, 1, 2, 2.5, 3, 4, 1 / 3)  # 0.7, 1/3: decimals no float divides exactly


def gen_arch(c: Chooser, max_levels: int = 4, max_fanouts: int = 2) -> Arch:
    n = c.int(2, max_levels)
    # 1 to max_fanouts fanouts, attached to distinct levels 1..n-1 (level 0 cannot have one)
    nfan = min(c.int(1, max_fanouts), n - 1)
    fan_levels = set(c.permutation(range(1, n))[:nfan])
    levels = []
    for i in range(n):
        outer = i == n - 1
        name = "DRAM" if outer else f"L{i}"
        if outer:
            keeps = frozenset("WIO")
        else:
            keeps = frozenset(t for t in "WIO" if c.int(0, 3) > 0)  # random bypass allowances
        capacity = partitions = None
        if not outer:
            if keeps and c.bool():
                partitions = tuple((t, c.int(1, 40)) for t in sorted(keeps))
            else:
                capacity = c.int(1, 120)
        rbw = c.choice(BANDWIDTHS) if c.int(0, 2) == 0 else None
        wbw = c.choice(BANDWIDTHS) if c.int(0, 2) == 0 else None
        fanout = None
        if i in fan_levels:
            naxes = c.int(1, 2)
            axes = tuple((ax, c.int(1, 4)) for ax in ("x", "y")[:naxes])
            fanout = Fanout(f"F{i}", axes, multicast=c.bool(), reduction=c.bool(),
                            energy_pj=c.choice(ENERGIES))
        levels.append(Level(name, keeps, read_pj=c.choice(ENERGIES), write_pj=c.choice(ENERGIES),
                            capacity=capacity, partitions=partitions, read_bandwidth=rbw,
                            write_bandwidth=wbw, fanout=fanout))
    return Arch("rand", 16, c.choice((0.0, 0.5, 1.0)), tuple(levels))


def gen_mesh_arch(c: Chooser) -> Arch:
    """A random hierarchy (gen_arch's, half the time with the mesh as its only fanout)
    whose outermost fanout (or, 1 time in 4, another one) is a mesh of 2x2 to 3x3 nodes
    (4x2, 2x4 or 4x3 1 time in 3, so that two dims can share an axis), memory at the
    corners, per node or at 1-3 random channels, multicast and reduction on or off, a
    channel bandwidth half the time and static energy."""
    base = gen_arch(c, max_levels=4, max_fanouts=c.int(1, 2))
    fanned = [j for j, lv in enumerate(base.levels) if lv.fanout is not None]
    j = fanned[-1] if len(fanned) == 1 or c.int(0, 3) > 0 else fanned[0]
    rows, cols = c.int(2, 3), c.int(2, 3)
    if c.int(0, 2) == 0:
        rows, cols = c.choice([(4, 2), (2, 4), (4, 3)])
    placement = c.choice(["corners", "per_node", "channels"])
    channels = ()
    if placement == "channels":
        nodes = c.permutation([(r, q) for r in range(rows) for q in range(cols)])
        channels = tuple(nodes[:c.int(1, 3)])
    memory = MeshMemory(placement, channels, c.choice((0.5, 1, 2, 4)) if c.bool() else None)
    old = base.levels[j].fanout
    mesh = Fanout("NoC", (("NY", rows), ("NX", cols)), multicast=c.bool(), reduction=c.int(0, 3) > 0,
                  energy_pj=old.energy_pj, topology="mesh", hop_energy_pj=c.choice((0.5, 1.0, 3.0, 10.0)))
    levels = list(base.levels)
    lv = levels[j]
    levels[j] = Level(lv.name, lv.keeps, lv.read_pj, lv.write_pj, lv.capacity, lv.partitions,
                      lv.read_bandwidth, lv.write_bandwidth, mesh, memory)
    static = c.choice((0.0, 0.5, 7.0))
    if c.int(0, 2) > 0:  # 2 times in 3 the mesh allows access forwarding
        levels[j] = replace(levels[j], fanout=replace(mesh, forwarding=True))
    if c.int(0, 2) > 0:  # and 2 times in 3 buffer sharing
        levels[j] = replace(levels[j], fanout=replace(levels[j].fanout, sharing=True))
    return Arch("mesh", 16, base.mac_pj, tuple(levels), static_pj_per_cycle=static)


# ----------------------------------------------------------------------- mappings

def gen_mapping(c: Chooser, problem: Problem, arch: Arch, allow_invalid_reduction: bool = False,
                prefer: int | None = None, force: str | None = None) -> Mapping:
    """A structurally valid mapping: factors multiply to the dims, every fanout axis
    unrolls at most its size, keeps respect the arch (the outermost keeps all).  Unless
    ``allow_invalid_reduction``, no O-irrelevant dim is unrolled across a fanout without
    reduction.  Capacities are *not* respected (the evaluator still reports counts).
    ``prefer``: a level whose fanout gets a prime 3 times in 4 when one goes spatial;
    ``force``: a dim whose first prime goes on an axis of that fanout when it fits."""
    L = len(arch.levels)
    o_dims = problem.tensor("O").dims
    temporal = [{} for _ in range(L)]                 # level -> {dim: factor}
    spatial = {}                                          # (level, axis) -> {dim: factor}
    for i, lv in enumerate(arch.levels):
        if lv.fanout is not None:
            for ax, _ in lv.fanout.axes:
                spatial[(i, ax)] = {}
    sslots = list(spatial)
    for d, size in problem.size.items():
        for n, prime in enumerate(prime_list(size)):
            placed = False
            fits = [sl for sl in sslots if sl[0] == prefer
                    and math.prod(spatial[sl].values()) * prime <= arch.levels[prefer].fanout.axis_size(sl[1])]
            if d == force and n == 0 and fits:
                i, ax = c.choice(fits)
                spatial[(i, ax)][d] = spatial[(i, ax)].get(d, 1) * prime
                placed = True
            elif sslots and c.int(0, 2) > 0:   # try spatial 2 times out of 3
                mine = [sl for sl in sslots if sl[0] == prefer]
                i, ax = c.choice(mine if mine and c.int(0, 3) > 0 else sslots)
                fan = arch.levels[i].fanout
                used = math.prod(spatial[(i, ax)].values())
                ok = used * prime <= fan.axis_size(ax)
                if d not in o_dims and not fan.reduction and not allow_invalid_reduction:
                    ok = False
                if ok:
                    spatial[(i, ax)][d] = spatial[(i, ax)].get(d, 1) * prime
                    placed = True
            if not placed:
                i = c.int(0, L - 1)
                temporal[i][d] = temporal[i].get(d, 1) * prime
    levels = []
    for i, lv in enumerate(arch.levels):
        loops = list(temporal[i].items())
        if c.int(0, 5) == 0:  # sometimes add a factor-1 loop: it must have no effect
            extra = [d for d in problem.dims if d not in temporal[i]]
            if extra:
                loops.append((c.choice(extra), 1))
        loops = tuple(c.permutation(loops))
        sp = []
        if lv.fanout is not None:
            for ax, _ in lv.fanout.axes:
                ls = list(spatial[(i, ax)].items())
                if c.int(0, 7) == 0:  # a factor-1 spatial loop must have no effect either
                    extra = [d for d in problem.dims if d not in spatial[(i, ax)]]
                    if extra:
                        ls.append((c.choice(extra), 1))
                ls = tuple(c.permutation(ls))
                if ls:
                    sp.append((ax, ls))
        if i == L - 1:
            keeps = frozenset(problem.tensor_names)
        else:
            keeps = frozenset(t for t in sorted(lv.keeps & set(problem.tensor_names)) if c.bool())
        levels.append(LevelMapping(lv.name, loops, keeps, tuple(sp)))
    return Mapping(tuple(levels))


def gen_case(c: Chooser, family: str, budget: int = MAX_MACS):
    problem = gen_problem(c, family, budget)
    arch = gen_arch(c)
    mapping = gen_mapping(c, problem, arch)
    return problem, arch, mapping


def gen_mesh_case(c: Chooser, family: str, budget: int = MAX_MACS, region: bool = False):
    """A mesh case; 1 time in 3 (when the mesh reduces) a reduction dim of the layer
    (C, R, S, gemm's K, eltwise's E) is partitioned across the mesh: input partitioning,
    whose partial sums are reduced across nodes.  ``region``: the layer runs on a random
    rectangle of the mesh (cpmap.core.region.on_region), 1x1 up to the whole mesh."""
    problem = gen_problem(c, family, budget)
    arch = gen_mesh_arch(c)
    if region:
        rows, cols = arch.levels[mesh_level(arch)].fanout.shape
        h, w = c.int(1, rows), c.int(1, cols)
        arch = on_region(arch, Region(c.int(0, rows - h), c.int(0, cols - w), h, w))
    mesh = next(j for j, lv in enumerate(arch.levels) if lv.fanout is not None and lv.fanout.mesh)
    psum = [d for d in problem.dims if d not in problem.tensor("O").dims and problem.size[d] > 1]
    force = c.choice(psum) if psum and arch.levels[mesh].fanout.reduction and c.int(0, 2) == 0 else None
    mapping = gen_mapping(c, problem, arch, prefer=mesh, force=force)
    if arch.levels[mesh].fanout.forwarding:  # forward each input tensor or not
        fwd = frozenset(t for t in problem.tensor_names if t != "O" and c.bool())
        levels = list(mapping.levels)
        levels[mesh] = replace(levels[mesh], forward=fwd)
        mapping = Mapping(tuple(levels))
    if arch.levels[mesh].fanout.sharing:  # share each input the nodes keep and do not forward
        share = frozenset(t for t in problem.tensor_names if t != "O" and t in mapping.levels[mesh - 1].keeps
                          and t not in mapping.levels[mesh].forward and c.bool())
        levels = list(mapping.levels)
        levels[mesh] = replace(levels[mesh], share=share)
        mapping = Mapping(tuple(levels))
    return problem, arch, mapping


@st.composite
def mesh_cases(draw, family: str, budget: int = MAX_MACS, region: bool = False):
    """(problem, arch, mapping) on a mesh architecture (gen_mesh_arch), or on a region of it."""
    return gen_mesh_case(DrawChooser(draw), family, budget, region)


@st.composite
def cases(draw, family: str, budget: int = MAX_MACS):
    """(problem, arch, mapping) for one layer family."""
    return gen_case(DrawChooser(draw), family, budget)


@st.composite
def problems(draw, family: str, budget: int = MAX_MACS):
    return gen_problem(DrawChooser(draw), family, budget)


@st.composite
def archs(draw):
    return gen_arch(DrawChooser(draw))
