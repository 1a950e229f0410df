"""Moving an intermediate between two layers' partitions of a mesh (docs/cost-model.md
section 11, "Between two layers on a node array").

When a producer's output O stays resident in the per-node buffers below a mesh and the
next layer reads it as its resident input I, the two layers may partition the mesh
differently: an element of O sits in the one node whose mesh indices produced it (a
resident O is never split along a dim irrelevant to it), while the consumer needs it in
every node whose mesh indices touch it (several for a K split, which replicates I, or for
the overlapping windows of a fmap split).  Each element then travels from its source node
to the needing nodes other than the source as one multicast tree of XY routes
(:func:`~cpmap.cost.noc.tree_links`): one read at the source's buffer, one write per
receiving node, each link crossed once.  Counted exactly from the two mappings' node
coordinates.

**Which O element is which I element.**  Axes pair by role (batch N, group G, channel
O's K or C and I's C, row P, column Q; a role one side lacks has extent 1 there): when
every I extent is at least O's, O's element ``v`` on an axis is I's ``v + (extent_I -
extent_O) // 2`` (the consumer's input padding, centred, is zeros it makes itself:
nothing moves for it).  Otherwise the axes of extent > 1 are grouped into runs of equal
products (a flatten: a conv's ``K, P, Q`` into an fc's ``C``), row-major inside a run.
Anything else (a gemm's axes) has no correspondence (:func:`correspondence`: None).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from ..core.arch import Arch
from ..core.mapping import Mapping
from ..core.problem import Problem
from .noc import node_of, tree_links

Offset = tuple[int, int]


@dataclass(frozen=True)
class Exchange:
    """An intermediate's move between two partitions: ``word_hops`` (words x links),
    ``reads`` at the source buffers and ``writes`` at the receiving ones (words), and its
    energy in pJ (hops at the mesh's hop energy, reads and writes at the buffer's)."""

    word_hops: int
    reads: int
    writes: int
    energy_pj: float


ROLES = {"N": "batch", "G": "group", "K": "channel", "C": "channel", "P": "row", "Q": "column", "E": "operand"}
"""The role of a tensor axis by its first dim: O's K and I's C are both channels."""


def correspondence(o_axes: list[tuple[str, int]], i_axes: list[tuple[str, int]]) -> list[tuple] | None:
    """Groups ``(O axes, I axes, padded)`` pairing O's axes with I's, given each side's
    axes as (first dim, extent); None when there is no correspondence.  By role
    (:data:`ROLES`) when every axis has one and each I extent is at least O's: one pair
    per role, an index None for a role a side lacks (extent 1 there); else the axes of
    extent > 1 in runs of equal products (a flatten)."""
    o_role = {ROLES.get(d): k for k, (d, _) in enumerate(o_axes)}
    i_role = {ROLES.get(d): k for k, (d, _) in enumerate(i_axes)}
    if None not in o_role and None not in i_role and len(o_role) == len(o_axes) and len(i_role) == len(i_axes):
        pairs = []
        for role in dict.fromkeys([*o_role, *i_role]):
            a, b = o_role.get(role), i_role.get(role)
            oe = o_axes[a][1] if a is not None else 1
            ie = i_axes[b][1] if b is not None else 1
            if ie < oe or (b is None and oe > 1):
                break
            if b is not None and ie > 1:
                pairs.append(([a], [b], True))
        else:
            return pairs
    oa = [k for k, (_, e) in enumerate(o_axes) if e > 1]
    ia = [k for k, (_, e) in enumerate(i_axes) if e > 1]
    groups, go, gi, po, pi = [], [], [], 1, 1
    while oa or ia:
        if po <= pi and oa:
            go.append(oa.pop(0))
            po *= o_axes[go[-1]][1]
        elif ia:
            gi.append(ia.pop(0))
            pi *= i_axes[gi[-1]][1]
        else:
            return None
        if po == pi:
            groups.append((go, gi, False))
            go, gi, po, pi = [], [], 1, 1
    return groups if not go and not gi else None


def _place_values(problem: Problem, mapping: Mapping) -> dict[tuple[int, int], int]:
    """{(level, k): place value} of the k-th spatial loop of each level in the nest (outer
    levels first, a level's temporal loops then its spatial ones; the innermost loop of a
    dim is its least significant digit)."""
    raw = []
    for i in reversed(range(len(mapping.levels))):
        lm = mapping.levels[i]
        raw += [(None, d, f) for d, f in lm.temporal]
        raw += [((i, k), d, f) for k, (d, f) in enumerate(lm.spatial_loops())]
    running = dict.fromkeys(problem.dims, 1)
    out = {}
    for key, d, f in reversed(raw):
        if key is not None:
            out[key] = running[d]
        running[d] *= f
    return out


def dim_offsets(problem: Problem, mapping: Mapping, arch: Arch, mesh: int) -> dict[str, list[Offset]]:
    """{dim: [node offset of each value]}: the (row, column) the mesh loops over ``dim``
    add to a node's coordinates (coordinates are sums of these over the dims)."""
    fanout, lm = arch.levels[mesh].fanout, mapping.levels[mesh]
    place = _place_values(problem, mapping)
    loops = lm.spatial_loops()
    out = {}
    for d, size in problem.size.items():
        mine = [k for k, (d2, _) in enumerate(loops) if d2 == d]
        if not mine:
            out[d] = [(0, 0)] * size
            continue
        offs = []
        for v in range(size):
            index = [(v // place[mesh, k]) % f if k in mine else 0 for k, (_, f) in enumerate(loops)]
            offs.append(node_of(fanout, lm.spatial, tuple(index)))
        out[d] = offs
    return out


def _axis_sets(problem: Problem, offsets: dict, k: int) -> list[frozenset]:
    """Per coordinate of I's axis ``k``: the node offsets of every (d0, d1) pair reaching it."""
    ax = problem.tensor("I").axes[k]
    sets: list[set] = [set() for _ in range(_span(ax, problem.size))]
    if len(ax.terms) == 1:
        for v, off in enumerate(offsets[ax.terms[0][0]]):
            sets[v].add(off)
    else:
        (d0, c0), (d1, c1) = ax.terms
        for v0, a in enumerate(offsets[d0]):
            for v1, b in enumerate(offsets[d1]):
                sets[c0 * v0 + c1 * v1].add((a[0] + b[0], a[1] + b[1]))
    return [frozenset(s) for s in sets]


def _span(ax, size: dict) -> int:
    """Index values 0 .. max of an axis (a strided window may skip some)."""
    return 1 + sum(c * (size[d] - 1) for d, c in ax.terms)


def _minkowski(a: frozenset, b: frozenset) -> frozenset:
    return frozenset((x[0] + y[0], x[1] + y[1]) for x in a for y in b)


def _group_classes(group, o_ext, i_ext, o_offs, i_sets) -> dict[tuple, int]:
    """{(source offset, needing offsets): elements} of one axis group."""
    oa, ia, padded = group
    out: dict[tuple, int] = {}
    if padded:
        a, b = oa[0], ia[0]
        o_n = o_ext[a] if a is not None else 1
        pad = (i_ext[b] - o_n) // 2
        for v in range(o_n):
            key = (o_offs[a][v] if a is not None else (0, 0), i_sets[b][v + pad])
            out[key] = out.get(key, 0) + 1
        return out
    for coords in itertools.product(*(range(o_ext[a]) for a in oa)):
        src, lin = (0, 0), 0
        for a, c in zip(oa, coords):
            src = (src[0] + o_offs[a][c][0], src[1] + o_offs[a][c][1])
            lin = lin * o_ext[a] + c
        need = frozenset({(0, 0)})
        for b in reversed(ia):
            need = _minkowski(need, i_sets[b][lin % i_ext[b]])
            lin //= i_ext[b]
        out[src, need] = out.get((src, need), 0) + 1
    return out


def _groups_of(producer: Problem, consumer: Problem):
    """(correspondence groups or None, O's extents, I's spans)."""
    o_t, i_t = producer.tensor("O"), consumer.tensor("I")
    o_ext = [ax.extent(producer.size) for ax in o_t.axes]
    i_ext = [_span(ax, consumer.size) for ax in i_t.axes]
    groups = correspondence([(ax.terms[0][0], e) for ax, e in zip(o_t.axes, o_ext)],
                            [(ax.terms[0][0], e) for ax, e in zip(i_t.axes, i_ext)])
    return groups, o_ext, i_ext


def exchange(producer: Problem, p_map: Mapping, consumer: Problem, c_map: Mapping, arch: Arch,
             level: int, p_at: Offset = (0, 0), c_at: Offset = (0, 0)) -> Exchange | None:
    """The move of ``producer``'s O (resident at ``level`` under ``p_map``) to where
    ``consumer`` reads its resident I under ``c_map``, on the one mesh above ``level``;
    None when the tensors have no correspondence (module docstring).  ``p_at``, ``c_at``:
    the first nodes (row, column) of the regions the two layers run on (a spatial
    pipeline, :mod:`cpmap.core.region`): each mapping's node coordinates are relative to
    its region, so they are added to them (the mesh of ``arch`` gives only the axis names
    and the energies)."""
    mesh = next(j for j in range(level + 1, len(arch.levels)) if arch.levels[j].fanout is not None)
    o_t, i_t = producer.tensor("O"), consumer.tensor("I")
    groups, o_ext, i_ext = _groups_of(producer, consumer)
    if groups is None:
        return None
    po = dim_offsets(producer, p_map, arch, mesh)
    co = dim_offsets(consumer, c_map, arch, mesh)
    o_offs = [po[ax.terms[0][0]] for ax in o_t.axes]
    i_sets = [_axis_sets(consumer, co, k) for k in range(len(i_t.axes))]
    spread = frozenset({c_at})  # dims irrelevant to I replicate it over their nodes
    for d in consumer.dims:
        if d not in i_t.dims:
            spread = _minkowski(spread, frozenset(co[d]))
    classes = [_group_classes(g, o_ext, i_ext, o_offs, i_sets) for g in groups]
    hops = reads = writes = 0
    for combo in itertools.product(*(c.items() for c in classes)):
        src, need, n = p_at, spread, 1
        for (s, nd), cnt in combo:
            src = (src[0] + s[0], src[1] + s[1])
            need = _minkowski(need, nd)
            n *= cnt
        others = need - {src}
        if others:
            hops += n * tree_links(src, need | {src})
            reads += n
            writes += n * len(others)
    lv, fan = arch.levels[level], arch.levels[mesh].fanout
    energy = hops * fan.hop_energy_pj + reads * lv.read_pj + writes * (lv.write_pj + fan.energy_pj)
    return Exchange(hops, reads, writes, energy)


def needed_words(producer: Problem, consumer: Problem) -> int | None:
    """Elements of ``producer``'s O that ``consumer``'s loops read (a strided window may
    skip some; the padding is not O's): the same for every pair of mappings, so a move
    between two disjoint regions reads each of them once at its source, writes it at
    least once and routes it at least the regions' distance.  None without a
    correspondence."""
    groups, o_ext, i_ext = _groups_of(producer, consumer)
    if groups is None:
        return None
    i_t = consumer.tensor("I")
    zero = {d: [(0, 0)] * s for d, s in consumer.size.items()}  # every value on one node
    i_sets = [_axis_sets(consumer, zero, k) for k in range(len(i_t.axes))]
    o_offs = [[(0, 0)] * e for e in o_ext]
    classes = [_group_classes(g, o_ext, i_ext, o_offs, i_sets) for g in groups]
    total = 0
    for combo in itertools.product(*(c.items() for c in classes)):
        n = 1
        for (_, nd), cnt in combo:
            n = n * cnt if nd else 0
        total += n
    return total


def move_floor(producer: Problem, consumer: Problem, arch: Arch, level: int, distance: int) -> float:
    """A lower bound (pJ) of :func:`exchange` over every pair of mappings when the two
    layers run on regions ``distance`` >= 1 links apart (0: no bound, the nodes may
    coincide): every needed element (:func:`needed_words`) has a source outside the
    consumer's region, so it is read once, written at least once and its tree has at least
    ``distance`` links."""
    words = needed_words(producer, consumer)
    if distance < 1 or not words:
        return 0.0
    mesh = next(j for j in range(level + 1, len(arch.levels)) if arch.levels[j].fanout is not None)
    lv, fan = arch.levels[level], arch.levels[mesh].fanout
    return words * (distance * fan.hop_energy_pj + lv.read_pj + lv.write_pj + fan.energy_pj)
