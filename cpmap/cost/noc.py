"""Mesh NoC geometry: node coordinates, memory channels, XY routes and hop totals.

Implements docs/cost-model.md section 10 for one mesh fanout and one mapping.  Every
word that crosses a mesh fanout travels between a memory channel of the fanout's level
and the nodes that send or receive it; this module says how many links it crosses.

* **Node of a child.**  Axis 0 of the mesh is its rows, axis 1 its columns.  The loops
  unrolled on one axis number its nodes in mixed radix, the first loop listed in the
  mapping's spatial entry for that axis the most significant: with ``NY: {K: 2, C: 2}``
  the child with loop indices (k, c) sits in row ``k * 2 + c``.  Unused rows and columns
  (a product below the axis size) are the last ones.
* **Groups.**  Children that need the same tile at the same time (they differ only in
  loops over dims irrelevant to the tensor) form a group when the fanout multicasts
  (fills) or reduces (outputs); otherwise every child is its own group.
* **Routes.**  Dimension-ordered XY routing: along the source's row to the destination's
  column, then along that column.  A group is served as one tree, the union of the XY
  routes from its channel to every member; its cost is the number of links in the tree
  (each link carries each word once: multicast going down, in-network addition of partial
  sums coming up, the same tree reversed).
* **Channel of a group.**  The channel whose tree has the fewest links, the first in
  channel order on ties (corners: top-left, top-right, bottom-left, bottom-right; explicit
  channels: as listed; ``per_node``: row-major).  For one node this is its nearest channel.
* **Read-backs** of partial sums reach one member per group: the one whose indices over
  the tensor's irrelevant loops are all 0, from the group's channel.
* **Access forwarding** (TANGRAM) of an input tensor the mapping lists in ``forward``:
  the group is the g children that need the same tile (whatever the multicast flag);
  each member fetches a disjoint 1/g of the tile from its own nearest channel (first in
  channel order on ties; its own vault with ``per_node``) along the XY route, then sends
  that share to the other members along the XY tree rooted at itself spanning the group.
  Per word of the group's tile: ``(1/g) * sum over members (route + tree links)``, an
  exact fraction; each member's channel serves 1/g of the tile.
* **Buffer sharing** of an input tensor the mapping lists in ``share``: the g children
  that need the same tile hold one distributed copy (word k of the tile at member k mod
  g): each member fetches its 1/g from its own nearest channel (no forwarding step), and
  every read of the tensor at a member's buffer is of a word spread evenly over the
  group, so it crosses ``(1/g) * sum over members m' of hops(reader, m')`` links.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache

from ..core.arch import Fanout, MeshMemory

Node = tuple[int, int]


@dataclass(frozen=True)
class Traffic:
    """How one kind of transfer of one tensor spreads over the mesh, per fanout instance.

    ``links``: links summed over the groups' trees (or, for read-backs, routes);
    ``per_channel``: groups served by each channel, in channel order; ``spread``: what the
    evaluator's word count of this transfer is counted per (the used children for fills
    and write-backs, counted per child; the groups for read-backs, counted per group).
    ``words`` so counted cost ``words / spread * links`` word-hops."""

    links: int | Fraction
    per_channel: tuple[int | Fraction, ...]
    spread: int


@dataclass(frozen=True)
class MeshPlan:
    """Hop totals of one mesh fanout under one mapping: per tensor, its fills (and MAC
    operand reads), its reduced write-backs (and MAC updates) and its read-backs."""

    nodes_used: int
    channels: tuple[Node, ...]
    fill: dict
    """{tensor: Traffic} of tiles sent down to the nodes."""
    reduce: dict
    """{tensor: Traffic} of partial sums or outputs sent up to memory."""
    readback: dict
    """{tensor: Traffic} of partial sums read back to one node per group."""
    remote: dict = field(default_factory=dict)
    """{tensor: Traffic} of the reads of a shared tensor at the nodes' buffers: the
    links from the reader to the member holding each word, 1/g of the tile at each."""


def tree_links(src: Node, nodes) -> int:
    """Links of the union of the XY routes from ``src`` to every node: the row of ``src``
    from its leftmost to its rightmost column needed, then per destination column the
    span of rows from ``src``'s row to the farthest destination in it on each side."""
    r0, c0 = src
    cols: dict[int, list[int]] = {}
    for r, c in nodes:
        cols.setdefault(c, []).append(r)
    links = max(c0, max(cols)) - min(c0, min(cols))
    for rows in cols.values():
        links += max(r0, max(rows)) - min(r0, min(rows))
    return links


def hops(src: Node, dst: Node) -> int:
    """Links of the XY route from ``src`` to ``dst`` (Manhattan distance)."""
    return abs(src[0] - dst[0]) + abs(src[1] - dst[1])


def node_of(fanout: Fanout, spatial, index: tuple[int, ...]) -> Node:
    """The (row, column) of the child whose loop indices (in ``spatial`` order: per axis
    entry, per loop) are ``index``; ``spatial`` is a LevelMapping's ``spatial``."""
    coord = {fanout.axes[0][0]: 0, fanout.axes[1][0]: 0}
    k = 0
    for axis, loops in spatial:
        for _, f in loops:
            coord[axis] = coord[axis] * f + index[k]
            k += 1
    return coord[fanout.axes[0][0]], coord[fanout.axes[1][0]]


@lru_cache(maxsize=4096)
def mesh_plan(fanout: Fanout, memory: MeshMemory, spatial, tensors: tuple[tuple[str, frozenset], ...],
              forward: frozenset = frozenset(), share: frozenset = frozenset()) -> MeshPlan:
    """The plan of ``fanout`` when its level's mapping unrolls ``spatial``;
    ``tensors`` = ((name, dims it depends on), ...); ``forward``, ``share``: the input
    tensors fetched by access forwarding, held by buffer sharing."""
    channels = memory.coordinates(*fanout.shape)
    loops = [d for _, ls in spatial for d, _ in ls]
    children = list(itertools.product(*(range(f) for _, ls in spatial for _, f in ls)))
    nodes = {idx: node_of(fanout, spatial, idx) for idx in children}
    fill, reduce, readback, remote = {}, {}, {}, {}
    for t, dims in tensors:
        relevant = [k for k, d in enumerate(loops) if d in dims]
        per_node = memory.placement == "per_node"
        if t in forward or t in share:
            groups = [[nodes[c] for c in g] for g in _groups(children, relevant)]
            fill[t] = _forwarded(channels, per_node, groups, len(children), t in forward)
            if t in share:
                pairs = sum(hops(a, b) for g in groups for a in g for b in g)
                remote[t] = Traffic(Fraction(pairs, len(groups[0])), (0,) * len(channels), len(children))
            continue
        shares = fanout.reduction if t == "O" else fanout.multicast
        groups = _groups(children, relevant if shares else range(len(loops)))
        traffic = [(_serve(channels, [nodes[c] for c in g], per_node), g) for g in groups]
        per_channel = _count(channels, [ch for (ch, _), _ in traffic])
        down = Traffic(sum(links for (_, links), _ in traffic), per_channel, len(children))
        if t == "O":
            reduce[t] = down
            first = [min(g) for g in groups]  # all irrelevant indices 0: lowest in index order
            readback[t] = Traffic(sum(hops(channels[ch], nodes[f]) for ((ch, _), _), f in zip(traffic, first)),
                                  per_channel, len(groups))
        else:
            fill[t] = down
    return MeshPlan(len(children), channels, fill, reduce, readback, remote)


class HopTally:
    """Word-hops per mesh fanout and tensor, and words per channel, summed while the
    evaluator counts network words (``add`` next to every ``net[j] +=``)."""

    def __init__(self, plans: dict[int, MeshPlan]):
        self.plans = plans
        self.hops = {j: {} for j in plans}
        self.load = {j: [0] * len(plan.channels) for j, plan in plans.items()}

    def add(self, j: int, tensor: str, kind: str, words: int) -> None:
        """``words`` of ``tensor`` cross fanout ``j`` as ``kind`` (fill, reduce, readback),
        counted as the evaluator counts network words."""
        plan = self.plans.get(j)
        if plan is None or not words:
            return
        tr = getattr(plan, kind)[tensor]
        per_group = words // tr.spread  # exact: the words are spread evenly (section 10)
        self.hops[j][tensor] = self.hops[j].get(tensor, 0) + per_group * tr.links
        load = self.load[j]
        for k, n in enumerate(tr.per_channel):
            load[k] += per_group * n


def _forwarded(channels: tuple[Node, ...], per_node: bool, groups: list[list[Node]], spread: int,
               tree: bool = True) -> Traffic:
    """Access forwarding: every member of a group fetches 1/g of its tile from its nearest
    channel and multicasts it to the others along the XY tree rooted at itself (buffer
    sharing, ``tree`` False: it keeps its share)."""
    links, per = 0, [0] * len(channels)
    g = len(groups[0])  # every group has the product of the irrelevant factors as members
    for members in groups:
        for node in members:
            k, fetch = _serve(channels, [node], per_node)
            links += fetch + (tree_links(node, members) if tree else 0)
            per[k] += 1
    return Traffic(Fraction(links, g), tuple(Fraction(n, g) for n in per), spread)


def exact_number(x):
    """An exact count as JSON holds it: an int when whole, else the nearest float (word-hops
    and channel words of access forwarding are multiples of 1/g)."""
    return int(x) if x == int(x) else float(x)


def _groups(children: list, keys) -> list[list]:
    """Children with equal indices at the loop positions ``keys``, in first-seen order."""
    out: dict[tuple, list] = {}
    for c in children:
        out.setdefault(tuple(c[k] for k in keys), []).append(c)
    return list(out.values())


def _serve(channels: tuple[Node, ...], members: list[Node], per_node: bool) -> tuple[int, int]:
    """(channel index, tree links) of the channel with the smallest tree, first on ties.

    With a channel under every node only those inside the members' bounding box are
    tried: a source outside it is strictly worse (every vertical branch, or the row
    segment, grows), so the first minimum is the same (tests/oracle.py tries all)."""
    if per_node:
        cols = channels[-1][1] + 1  # row-major: channel index = row * cols + column
        rows = [r for r, _ in members]
        cs = [c for _, c in members]
        box = [r * cols + c for r in range(min(rows), max(rows) + 1) for c in range(min(cs), max(cs) + 1)]
    else:
        box = range(len(channels))
    best = min(box, key=lambda k: (tree_links(channels[k], members), k))
    return best, tree_links(channels[best], members)


def _count(channels: tuple[Node, ...], served: list[int]) -> tuple[int, ...]:
    per = [0] * len(channels)
    for k in served:
        per[k] += 1
    return tuple(per)
