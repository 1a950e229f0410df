"""Brute-force loop-nest oracle for the cpmap cost model (docs/cost-model.md).

This module deliberately shares *no* formula with ``cpmap/cost/evaluator.py``.  It walks the
whole nest literally on a small problem:

* every time step (every tuple of temporal loop indices, outer to inner) and, within a
  step, every PE (every tuple of spatial loop indices) does one MAC on concrete dim
  values; tensor element coordinates come from the problem's Axis terms;
* every storage level that keeps a tensor holds, per instance, one tile.  The tile's
  *identity* is the set of iteration coordinates under it projected onto the tensor's
  relevant dims.  Because every dim value is a mixed-radix number whose outer digits
  are the loops above the level, that set is ``base + box`` where ``base`` is the
  contribution of the loops above; so the base vector over the relevant dims *is* the
  identity (two identities are equal iff their projected sets are equal).  A refill
  happens whenever the identity changes, even if the element set is the same;
* W and I refills and MAC operand reads are counted per event and de-duplicated only
  when requests are simultaneous, identical and served by one parent instance through
  multicast-capable fanouts;
* O carries real numbers: W and I get random small integers, every O keeper instance
  stores partial sums with a valid flag, write-backs are reduced in the network,
  read-backs go to one child per reduction group, and at the end the outermost O must
  equal a directly computed reference layer.

* mesh fanouts: every transfer that crosses one is routed on the mesh: the children's
  (row, column) come from enumerating the loop indices of each axis in order, routes are
  built link by link (XY: along the row, then the column), a group of children served
  together (multicast fills, reduced write-backs) costs the links of the union of its
  routes from the channel whose union is smallest; every word-hop is summed per tensor,
  every word per channel (docs/cost-model.md section 10).

Counts are per-event sums, never products of factors.
"""

from __future__ import annotations

import functools
import itertools
import math
import random
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from cpmap.core.arch import Arch
from cpmap.core.mapping import Mapping
from cpmap.core.problem import Problem


@dataclass(frozen=True)
class NestLoop:
    kind: str          # "t" temporal, "s" spatial
    level: int         # temporal: the level owning it; spatial: the level whose fanout it is on
    dim: str
    factor: int
    weight: int        # place value of this loop's index in the dim's value (mixed radix)


@dataclass
class OracleResult:
    macs: int
    accesses: dict          # {level: {tensor: {"reads": int, "writes": int}}}
    network_words: dict     # {fanout: int}
    tiles: dict             # {level: {tensor: words}} for kept tensors
    compute_cycles: int
    cycles: int             # doc rule: ceil(total / used(level) / bandwidth)
    cycles_max_instance: int  # literal rule: busiest instance's count / bandwidth
    utilization: float
    energy_pj: float
    instance_accesses: dict = field(repr=False)  # {level: {instance: [reads, writes]}}
    output_matches_reference: bool = True
    hops: dict = field(default_factory=dict)        # {mesh fanout: {tensor: word-hops}}
    nodes_used: dict = field(default_factory=dict)  # {mesh fanout: children that do work}
    channel_words: dict = field(default_factory=dict)  # {mesh fanout: [words per channel, all instances]}
    static_pj: float = 0.0


class OracleError(AssertionError):
    """The simulated dataflow produced a wrong layer result (the oracle itself is broken
    or the mapping is not a mapping of this problem)."""


# --------------------------------------------------------------------------- nest

def build_nest(problem: Problem, arch: Arch, mapping: Mapping) -> list[NestLoop]:
    """All loops, outer to inner: per level from the outermost, its temporal loops, then
    the spatial loops of the fanout below it.  Place values: the innermost loop of a dim
    is the least significant digit."""
    raw: list[tuple[str, int, str, int]] = []
    for i in reversed(range(len(arch.levels))):
        lm = mapping.levels[i]
        for d, f in lm.temporal:
            raw.append(("t", i, d, f))
        for d, f in lm.spatial_loops():
            raw.append(("s", i, d, f))
    weights = [0] * len(raw)
    running = {d: 1 for d in problem.dims}
    for j in reversed(range(len(raw))):
        _, _, d, f = raw[j]
        weights[j] = running[d]
        running[d] *= f
    for d, size in problem.size.items():
        if running[d] != size:
            raise ValueError(f"factors of {d} multiply to {running[d]}, expected {size}")
    return [NestLoop(k, lv, d, f, w) for (k, lv, d, f), w in zip(raw, weights)]


def _contribution(loops: list[NestLoop], idx: tuple[int, ...], dim_pos: dict[str, int],
                  ndims: int) -> tuple[int, ...]:
    v = [0] * ndims
    for loop, x in zip(loops, idx):
        v[dim_pos[loop.dim]] += x * loop.weight
    return tuple(v)


def element_coord(tensor, values: dict[str, int]) -> tuple[int, ...]:
    """Element coordinate from the Axis terms: each axis index is sum(coef * dim)."""
    return tuple(sum(c * values[d] for d, c in ax.terms) for ax in tensor.axes)


def coord_terms(tensor, dims) -> tuple:
    """The Axis terms with each dim replaced by its position in ``dims``, for
    :func:`coord_at` (element_coord on a tuple of dim values instead of a dict)."""
    pos = {d: j for j, d in enumerate(dims)}
    return tuple(tuple((pos[d], c) for d, c in ax.terms) for ax in tensor.axes)


def coord_at(terms: tuple, v: tuple) -> tuple[int, ...]:
    """Element coordinate of the iteration point ``v`` (dim values in problem.dims order)."""
    return tuple(sum(c * v[j] for j, c in ax) for ax in terms)


# ------------------------------------------------------------------------ reference

def reference_output(problem: Problem, W: Values, I: Values) -> dict[tuple, int]:
    """The layer computed directly from its textbook definition (not from Axis terms),
    so a wrong axis definition would also show up."""
    sz = problem.size
    prm = dict(problem.params)
    out: dict[tuple, int] = {}
    rng = lambda d: range(sz[d])
    if problem.kind == "conv":
        sy, sx, dy, dx = prm["stride_y"], prm["stride_x"], prm["dilation_y"], prm["dilation_x"]
        for n, g, k, p, q in itertools.product(*(rng(d) for d in "NGKPQ")):
            out[(n, g, k, p, q)] = sum(
                W[(g, k, c, r, s)] * I[(n, g, c, sy * p + dy * r, sx * q + dx * s)]
                for c in rng("C") for r in rng("R") for s in rng("S"))
    elif problem.kind == "fc":
        for n, k in itertools.product(rng("N"), rng("K")):
            out[(n, k)] = sum(W[(k, c)] * I[(n, c)] for c in rng("C"))
    elif problem.kind == "gemm":
        for b, m, n in itertools.product(rng("B"), rng("M"), rng("N")):
            out[(b, m, n)] = sum(I[(b, m, k)] * W[(b, k, n)] for k in rng("K"))
    elif problem.kind == "pool":  # pooling simulated as a sum (same dataflow as max)
        sy, sx = prm["stride_y"], prm["stride_x"]
        for n, c, p, q in itertools.product(*(rng(d) for d in "NCPQ")):
            out[(n, c, p, q)] = sum(I[(n, c, sy * p + r, sx * q + s)]
                                    for r in rng("R") for s in rng("S"))
    elif problem.kind == "eltwise":
        for n, c, p, q in itertools.product(*(rng(d) for d in "NCPQ")):
            out[(n, c, p, q)] = sum(I[(e, n, c, p, q)] for e in rng("E"))
    else:
        raise ValueError(f"no reference for kind {problem.kind!r}")
    return out


class Values(dict):
    """Random non-zero small integers, created on first use (so any element the
    reference needs but the simulation never touched gets a fresh random value and
    almost surely breaks the comparison)."""

    def __init__(self, rng: random.Random):
        super().__init__()
        self.rng = rng

    def __missing__(self, key):
        v = self.rng.choice((-3, -2, -1, 1, 2, 3, 4, 5))
        self[key] = v
        return v


# ------------------------------------------------------------------------ mesh routing

@functools.cache
def xy_route(src: tuple[int, int], dst: tuple[int, int]) -> frozenset[frozenset]:
    """The links (unordered node pairs) of the XY route: along src's row to dst's column,
    then along that column to dst's row, one step at a time (memoized: the walk asks for
    the same routes at every step)."""
    links = set()
    r, c = src
    while c != dst[1]:
        nxt = c + (1 if dst[1] > c else -1)
        links.add(frozenset({(r, c), (r, nxt)}))
        c = nxt
    while r != dst[0]:
        nxt = r + (1 if dst[0] > r else -1)
        links.add(frozenset({(r, c), (nxt, c)}))
        r = nxt
    return frozenset(links)


class MeshWalk:
    """A mesh fanout under one mapping: where each child sits, where the channels are."""

    def __init__(self, level, level_mapping):
        fan, mem = level.fanout, level.memory
        self.rows, self.cols = fan.axes[0][1], fan.axes[1][1]
        row_axis = fan.axes[0][0]
        # a region of a larger mesh (cpmap.core.region): nodes at their absolute positions,
        # channels where the whole mesh has them, every vault of it tried
        self.origin = mem.origin if mem.mesh_shape is not None else (0, 0)
        rows, cols = mem.mesh_shape or (self.rows, self.cols)
        if mem.placement == "corners":
            corners = [(0, 0), (0, cols - 1), (rows - 1, 0), (rows - 1, cols - 1)]
            self.channels = [rc for k, rc in enumerate(corners) if rc not in corners[:k]]
        elif mem.placement == "per_node":
            self.channels = [(r, c) for r in range(rows) for c in range(cols)]
        else:
            self.channels = list(mem.channels)
        # the channels reported (the evaluator lists a region's own vaults only)
        r0, c0 = self.origin
        self.reported = [k for k, (r, c) in enumerate(self.channels) if mem.placement != "per_node"
                         or (r0 <= r < r0 + self.rows and c0 <= c < c0 + self.cols)]
        # a child's slice of spatial indices, axis entry by entry: its position in the
        # enumeration of that axis's index tuples (first loop outermost) is its coordinate
        spans = []
        for axis, loops in level_mapping.spatial:
            enum = list(itertools.product(*(range(f) for _, f in loops)))
            spans.append((axis == row_axis, len(loops), {ix: pos for pos, ix in enumerate(enum)}))
        self.spans = spans
        self.served: dict[frozenset, tuple[int, int]] = {}

    def node(self, index: tuple) -> tuple[int, int]:
        row = col = 0
        k = 0
        for is_row, n, pos in self.spans:
            if is_row:
                row = pos[index[k:k + n]]
            else:
                col = pos[index[k:k + n]]
            k += n
        assert row < self.rows and col < self.cols, "a child outside the mesh"
        return row + self.origin[0], col + self.origin[1]

    def serve(self, nodes) -> tuple[int, int]:
        """(channel index, links) of the smallest union of routes, first channel on ties
        (memoized per set of nodes: the same groups are served at every step)."""
        key = frozenset(nodes)
        best = self.served.get(key)
        if best is None:
            for k, ch in enumerate(self.channels):
                links = set().union(*(xy_route(ch, n) for n in key))
                if best is None or len(links) < best[1]:
                    best = (k, len(links))
            self.served[key] = best
        return best


# ------------------------------------------------------------------------ simulation

def simulate(problem: Problem, arch: Arch, mapping: Mapping, seed: int = 0,
             check_output: bool = True, readback: str = "reentry", tiles: str = "distinct") -> OracleResult:
    """Walk the nest literally; see the module docstring and ``o_read_back`` for the
    ``readback`` policy.  ``tiles="bbox"`` counts every tile (fills, capacity) as the
    bounding box of the elements it touches, per axis from the smallest index to the
    largest (Timeloop's rule); ``readback="multicast"`` delivers a read-back to every child
    of its reduction group (Timeloop's rule).  Raises OracleError if the final O is not
    the layer's result."""
    if readback not in ("reentry", "valid", "multicast"):
        raise ValueError(f"readback must be 'reentry', 'valid' or 'multicast', got {readback!r}")
    if tiles not in ("distinct", "bbox"):
        raise ValueError(f"tiles must be 'distinct' or 'bbox', got {tiles!r}")
    L = len(arch.levels)
    names = arch.level_names
    tnames = problem.tensor_names
    tensors = {t.name: t for t in problem.tensors}
    dims = problem.dims
    dim_pos = {d: j for j, d in enumerate(dims)}
    D = len(dims)

    nest = build_nest(problem, arch, mapping)
    t_loops = [lp for lp in nest if lp.kind == "t"]
    s_loops = [lp for lp in nest if lp.kind == "s"]
    # Nest order puts outer levels first, so "loops above level i" are prefixes:
    # toff[i] temporal loops and off[i] spatial loops belong to levels > i.
    toff = [sum(1 for lp in t_loops if lp.level > i) for i in range(L)]
    off = [sum(1 for lp in s_loops if lp.level > i) for i in range(L)]
    fanout_of = {i: arch.levels[i].fanout for i in range(L)}

    keeps = [set(mapping.levels[i].keeps) & set(tnames) for i in range(L)]
    # a resident tensor's backing store is its on-chip level: nothing above holds it, and
    # that level holds the whole tensor from the start (I) or to the end (O)
    resident = {t: names.index(lv) for t, lv in problem.resident}
    keeps[L - 1] = set(tnames) - set(resident)  # the outermost keeps everything else

    def fanout_slice(pe: tuple, j: int) -> tuple:
        """Spatial indices of the fanout attached to level j (j >= 1)."""
        return pe[off[j]:off[j - 1]]

    def forwarded(j: int, t: str) -> bool:
        """Whether the mapping fetches t across the mesh of level j by access forwarding."""
        return t in getattr(mapping.levels[j], "forward", ())

    def shared(j: int, t: str) -> bool:
        """Whether the nodes of the mesh of level j hold t by buffer sharing."""
        return 0 < j < L and t in getattr(mapping.levels[j], "share", ())

    def group_of(x: int, t: str, index: tuple) -> list:
        """The nodes of mesh x whose spatial indices equal ``index`` at every loop over a dim
        of t: the nodes that need the same tile of t."""
        loops = [(d, f) for _, ls in mapping.levels[x].spatial for d, f in ls]
        keep = [k for k, (d, _) in enumerate(loops) if d in tensors[t].dims]
        return [meshes[x].node(ix) for ix in itertools.product(*(range(f) for _, f in loops))
                if all(ix[k] == index[k] for k in keep)]

    def remote(x: int, t: str, inst: tuple, n: int) -> None:
        """n words of shared t read at the buffer of node ``inst`` (an instance of level
        x - 1): each word lives at one member of the group, 1/g of them at each."""
        group = group_of(x, t, inst[off[x]:off[x - 1]])
        me = meshes[x].node(inst[off[x]:off[x - 1]])
        hop[fanout_of[x].name][t] += Fraction(n, len(group)) * sum(len(xy_route(me, m)) for m in group)

    def read_at(i: int, inst: tuple, t: str, n: int) -> None:
        read(i, inst, t, n)
        if shared(i + 1, t):
            remote(i + 1, t, inst, n)

    unmerged_memo: dict[tuple, tuple] = {}

    def unmerged(pe: tuple, lo: int, hi: int, attr: str, t: str = "O") -> tuple:
        """Indices at fanouts of levels lo..hi that cannot merge (no multicast / no
        reduction; a forwarding group fetches one copy like a multicast): children
        differing there are separate transfers.  Memoized: it depends on nothing that
        changes during the walk, and the walk asks it for every PE at every step."""
        key = (pe, lo, hi, attr, t)
        got = unmerged_memo.get(key)
        if got is None:
            got = unmerged_memo[key] = tuple(
                fanout_slice(pe, j) for j in range(lo, hi + 1)
                if fanout_of[j] is not None and not getattr(fanout_of[j], attr)
                and not (attr == "multicast" and (forwarded(j, t) or shared(j, t))))
        return got

    meshes = {x: MeshWalk(arch.levels[x], mapping.levels[x]) for x in range(L)
              if fanout_of[x] is not None and getattr(fanout_of[x], "mesh", False)}
    if meshes and readback == "multicast":
        raise ValueError("the Timeloop read-back policy is not defined on a mesh")
    hop = {fanout_of[x].name: dict.fromkeys(tnames, 0) for x in meshes}
    chan: dict[int, dict] = {x: {} for x in meshes}  # x -> {(instance of level x, channel): words}

    def route(x: int, t: str, transfers, merge: bool) -> None:
        """Route (child of fanout x as a prefix of spatial indices, tile identity,
        unmerged indices below x, words) transfers, de-duplicated as the network counts
        are: children of one instance of level x needing the same tile are one group
        (one tree) when ``merge``, else each child is routed alone."""
        if x not in meshes:
            return
        mw = meshes[x]
        groups: dict[tuple, list] = {}
        for prefix, ident, below, n in transfers:
            node = mw.node(prefix[off[x]:off[x - 1]])
            key = (prefix[:off[x]], ident, below) + (() if merge else (node,))
            groups.setdefault(key, [n, set()])[1].add(node)
        for key, (n, nodes) in groups.items():
            if forwarded(x, t) or shared(x, t):  # each member fetches n/g words (and forwards them)
                for node in nodes:
                    k, fetch = mw.serve({node})
                    tree = set().union(*(xy_route(node, other) for other in nodes)) if forwarded(x, t) else ()
                    hop[fanout_of[x].name][t] += Fraction(n, len(nodes)) * (fetch + len(tree))
                    chan[x][(key[0], k)] = chan[x].get((key[0], k), 0) + Fraction(n, len(nodes))
                continue
            k, links = mw.serve(nodes)
            hop[fanout_of[x].name][t] += n * links
            chan[x][(key[0], k)] = chan[x].get((key[0], k), 0) + n

    def route_one(x: int, t: str, recipient: tuple, children: list, n: int) -> None:
        """A read-back of n words to ``recipient`` alone: from the channel serving its
        group at fanout x (the children in its instance of level x), along its route."""
        if x not in meshes:
            return
        mw = meshes[x]
        inst = recipient[:off[x]]
        nodes = {mw.node(c[off[x]:off[x - 1]]) for c in children if c[:off[x]] == inst}
        k, _ = mw.serve(nodes)
        hop[fanout_of[x].name][t] += n * len(xy_route(mw.channels[k], mw.node(recipient[off[x]:off[x - 1]])))
        chan[x][(inst, k)] = chan[x].get((inst, k), 0) + n

    # Time steps and PEs.  Each contributes a partial value per dim.
    t_ranges = [range(lp.factor) for lp in t_loops]
    s_ranges = [range(lp.factor) for lp in s_loops]
    steps = list(itertools.product(*t_ranges))
    pes = list(itertools.product(*s_ranges))
    pe_val = {pe: _contribution(s_loops, pe, dim_pos, D) for pe in pes}
    pe_arr = np.array([pe_val[pe] for pe in pes], dtype=np.int64).reshape(len(pes), D)
    # Instances of level i: distinct prefixes pe[:off[i]] (only used instances exist).
    instances = [sorted({pe[:off[i]] for pe in pes}) for i in range(L)]
    inst_val = [{inst: _contribution(s_loops[:off[i]], inst, dim_pos, D) for inst in instances[i]}
                for i in range(L)]

    rel_pos = {t: tuple(j for j, d in enumerate(dims) if d in tensors[t].dims) for t in tnames}
    terms = {t: coord_terms(tensors[t], dims) for t in tnames}

    # Inner iterations of level i: its own temporal loops, its fanout's spatial loops and
    # everything below = the loops after the "above" prefixes.  As arrays, one row per
    # iteration point (every index tuple), one column per dim: the index tuples times each
    # loop's place value in its dim (numpy only to do the same sums faster).
    inner_offsets = []
    for i in range(L):
        inner = [lp for lp in nest if lp.level <= i]
        idx = np.array(list(itertools.product(*(range(lp.factor) for lp in inner))), dtype=np.int64)
        place = np.zeros((len(inner), D), dtype=np.int64)
        for k, lp in enumerate(inner):
            place[k, dim_pos[lp.dim]] = lp.weight
        inner_offsets.append(idx.reshape(len(idx), len(inner)) @ place)
    # each tensor's Axis terms as a (dims x axes) matrix of coefficients
    coef = {}
    for t in tnames:
        coef[t] = np.zeros((D, len(terms[t])), dtype=np.int64)
        for a, ax in enumerate(terms[t]):
            for j, c in ax:
                coef[t][j, a] += c

    content_cache: dict[tuple, frozenset] = {}

    def content(i: int, t: str, ident: tuple) -> frozenset:
        """Elements of tensor t touched under a tile of level i with this identity."""
        key = (i, t, ident)
        got = content_cache.get(key)
        if got is None:
            base = np.zeros(D, dtype=np.int64)
            for j, v in zip(rel_pos[t], ident):
                base[j] = v
            # every iteration point under the tile, projected on the tensor's axes
            got = content_cache[key] = frozenset(map(tuple, ((base + inner_offsets[i]) @ coef[t]).tolist()))
        return got

    def words(i: int, t: str, ident: tuple) -> int:
        """Words a tile of level i occupies and moves: its distinct elements, or in "bbox"
        mode the box spanned by them."""
        elems = content(i, t, ident)
        if tiles == "distinct":
            return len(elems)
        return math.prod(max(e[a] for e in elems) - min(e[a] for e in elems) + 1
                         for a in range(len(tensors[t].axes)))

    def identity(i: int, t: str, tbase: tuple, inst: tuple) -> tuple:
        sv = inst_val[i][inst]
        return tuple(tbase[j] + sv[j] for j in rel_pos[t])

    # Counters.
    acc = {names[i]: {t: {"reads": 0, "writes": 0} for t in tnames} for i in range(L)}
    inst_acc = [{inst: [0, 0] for inst in instances[i]} for i in range(L)]
    net = {lv.fanout.name: 0 for lv in arch.levels if lv.fanout is not None}
    tile_max = {names[i]: {t: 0 for t in sorted(keeps[i])} for i in range(L)}

    def read(i, inst, t, n):
        acc[names[i]][t]["reads"] += n
        inst_acc[i][inst][0] += n

    def write(i, inst, t, n):
        acc[names[i]][t]["writes"] += n
        inst_acc[i][inst][1] += n

    def parent_of(i: int, t: str) -> int:
        return next(p for p in range(i + 1, L) if t in keeps[p])

    innermost = {t: min(i for i in range(L) if t in keeps[i]) for t in tnames}

    rng = random.Random(seed)
    values = {t: Values(rng) for t in tnames if t != "O"}
    has_w = "W" in values

    # O state: per keeper level and instance, {element: partial sum} for valid elements.
    o_levels = sorted(i for i in range(L) if "O" in keeps[i])
    o_store = {i: {inst: {} for inst in instances[i]} for i in o_levels}
    cur_id = {(i, t): {inst: None for inst in instances[i]} for t in tnames for i in range(L)}

    def reduction_groups(i: int, p: int, insts: list, ids: dict) -> dict[tuple, list]:
        """Children of level i that share one O tile under one parent instance p (they
        differ only in spatial indices the network reduces over): {key: children}."""
        groups: dict[tuple, list] = {}
        for inst in insts:
            key = (inst[:off[p]], ids[inst], unmerged(inst, i + 1, p, "reduction"))
            groups.setdefault(key, []).append(inst)
        return groups

    def o_write_back(i: int, insts: list, old_ids: dict):
        """Children of level i send their (old) O tiles up; children of one parent
        instance holding the same tile are summed in the network; one write per element
        at the parent, which overwrites its copy."""
        p = parent_of(i, "O")
        for (pinst, ident, _), children in reduction_groups(i, p, insts, old_ids).items():
            elems = content(i, "O", ident)
            pstore = o_store[p][pinst]
            for e in elems:
                held = [o_store[i][c][e] for c in children if e in o_store[i][c]]
                if not held:
                    raise OracleError(f"write-back of an untouched O element {e} at {names[i]}")
                pstore[e] = sum(held)
            write(p, pinst, "O", len(elems))
        for x in range(i + 1, p + 1):  # words crossing each fanout between, per child of it
            if fanout_of[x] is None:
                continue
            keys = {(inst[:off[x - 1]], old_ids[inst], unmerged(inst, i + 1, x - 1, "reduction"))
                    for inst in insts}
            net[fanout_of[x].name] += sum(words(i, "O", k[1]) for k in keys)
            route(x, "O", [k + (words(i, "O", k[1]),) for k in keys], fanout_of[x].reduction)
        for inst in insts:
            o_store[i][inst] = {}

    o_seen = {i: {inst: set() for inst in instances[i]} for i in o_levels}

    def o_read_back(i: int, insts: list, new_ids: dict):
        """Children of level i entering a tile: the partial sums are read once from the
        parent and written into ONE child of each reduction group (the first in index
        order); the others start from zero.  The first version of a tile reads nothing.

        ``readback`` decides what counts as "holding a partial sum" (docs/cost-model.md
        is ambiguous when the parent itself started a version from zero because it was
        not the recipient of *its* parent's read-back):
        * "reentry" (the doc's formula): every re-entry of a tile this child group held
          before reads the whole tile, even if the parent's copy is zeros;
        * "valid" (strict): only elements the parent actually holds a partial sum for
          are read;
        * "multicast" (Timeloop's counting): as "reentry", but the tile read once from the
          parent is delivered to EVERY child of the group, each counting its fill and then
          its reads; numerically the recipient keeps the partial sums and the others hold
          zeros (so the layer still adds up)."""
        p = parent_of(i, "O")
        receivers = []
        for (pinst, ident, _), children in reduction_groups(i, p, insts, new_ids).items():
            recipient = min(children)
            pstore = o_store[p][pinst]
            elems = content(i, "O", ident)
            if readback == "valid":
                got = {e: pstore[e] for e in elems if e in pstore}
            else:  # "reentry": a tile this group has held before is read back, whole
                got = {e: pstore.get(e, 0) for e in elems} if ident in o_seen[i][recipient] else {}
            for c in children:
                o_seen[i][c].add(ident)
            if got and readback == "multicast":
                read(p, pinst, "O", len(got))
                for c in children:
                    write(i, c, "O", len(got))
                    o_store[i][c] = dict(got) if c == recipient else dict.fromkeys(got, 0)
                receivers += children
                continue
            if got:
                read(p, pinst, "O", len(got))
                write(i, recipient, "O", len(got))
                for x in range(i + 1, p + 1):  # one copy travels down to the recipient
                    if fanout_of[x] is not None:
                        net[fanout_of[x].name] += len(got)
                        route_one(x, "O", recipient, children, len(got))
            o_store[i][recipient] = dict(got)
        for x in range(i + 1, p + 1):  # multicast: each child of a fanout receives its subtree's tiles once
            if fanout_of[x] is not None and receivers:
                keys = {(inst[:off[x - 1]], new_ids[inst], unmerged(inst, i + 1, x - 1, "reduction"))
                        for inst in receivers}
                net[fanout_of[x].name] += sum(words(i, "O", k[1]) for k in keys)

    for tt in steps:
        tbase_full = _contribution(t_loops, tt, dim_pos, D)
        # temporal base of each level: only the loops above it
        tbase = [_contribution(t_loops[:toff[i]], tt[:toff[i]], dim_pos, D) for i in range(L)]

        # ---- W and I fills (identity change => whole tile refilled)
        for t in tnames:
            if t == "O":
                continue
            for i in range(L - 1):
                if t not in keeps[i] or resident.get(t) == i:  # the resident copy is never refilled
                    continue
                ids = cur_id[(i, t)]
                changed = []
                for inst in instances[i]:
                    new = identity(i, t, tbase[i], inst)
                    if new != ids[inst]:
                        ids[inst] = new
                        changed.append(inst)
                if not changed:
                    continue
                p = parent_of(i, t)
                for inst in changed:
                    n = words(i, t, ids[inst])
                    tile_max[names[i]][t] = max(tile_max[names[i]][t], n)
                    # every child instance receives its own copy; shared: its 1/g of the group's
                    write(i, inst, t, Fraction(n, len(group_of(i + 1, t, inst[off[i + 1]:off[i]])))
                          if shared(i + 1, t) else n)
                # one parent read per group of simultaneous identical requests that can
                # be multicast from one parent instance
                for key in {(inst[:off[p]], ids[inst], unmerged(inst, i + 1, p, "multicast", t))
                            for inst in changed}:
                    read_at(p, key[0], t, words(i, t, key[1]))
                for x in range(i + 1, p + 1):
                    if fanout_of[x] is None:
                        continue
                    keys = {(inst[:off[x - 1]], ids[inst], unmerged(inst, i + 1, x - 1, "multicast", t))
                            for inst in changed}
                    per = len(group_of(x, t, next(iter(keys))[0][off[x]:off[x - 1]])) if x == i + 1 and shared(x, t) else 1
                    net[fanout_of[x].name] += sum(Fraction(words(i, t, k[1]), per) for k in keys)
                    route(x, t, [k + (words(i, t, k[1]),) for k in keys],
                          fanout_of[x].multicast or forwarded(x, t) or shared(x, t))

        # ---- O: write-backs inner -> outer, then read-backs outer -> inner
        o_changed = {}
        o_old = {}
        for i in o_levels[:-1]:
            ids = cur_id[(i, "O")]
            changed, old = [], {}
            for inst in instances[i]:
                new = identity(i, "O", tbase[i], inst)
                if new != ids[inst]:
                    old[inst] = ids[inst]
                    changed.append(inst)
            o_changed[i], o_old[i] = changed, old
        for i in o_levels[:-1]:
            back = [inst for inst in o_changed[i] if o_old[i][inst] is not None]
            if back:
                o_write_back(i, back, o_old[i])
        for i in reversed(o_levels[:-1]):
            if not o_changed[i]:
                continue
            ids = cur_id[(i, "O")]
            for inst in o_changed[i]:
                ids[inst] = identity(i, "O", tbase[i], inst)
                n = words(i, "O", ids[inst])
                tile_max[names[i]]["O"] = max(tile_max[names[i]]["O"], n)
            o_read_back(i, o_changed[i], ids)

        # ---- the MACs of this step: every PE's dim values, and each tensor's element at them
        full_arr = np.asarray(tbase_full, dtype=np.int64) + pe_arr
        full = list(map(tuple, full_arr.tolist()))
        elem = {t: list(map(tuple, (full_arr @ coef[t]).tolist())) for t in tnames}
        for t in tnames:
            if t == "O":
                continue
            k = innermost[t]
            rel = rel_pos[t]
            reqs = [(pe, tuple(v[j] for j in rel)) for pe, v in zip(pes, full)]
            for key in {(pe[:off[k]], ident, unmerged(pe, 1, k, "multicast", t)) for pe, ident in reqs}:
                read_at(k, key[0], t, 1)
            for x in range(1, k + 1):
                if fanout_of[x] is not None:
                    keys = {(pe[:off[x - 1]], ident, unmerged(pe, 1, x - 1, "multicast", t)) for pe, ident in reqs}
                    net[fanout_of[x].name] += len(keys)
                    route(x, t, [key + (1,) for key in keys],
                          fanout_of[x].multicast or forwarded(x, t) or shared(x, t))
        k = innermost["O"]
        updates: dict[tuple, int] = {}
        o_reqs = []
        for n, pe in enumerate(pes):
            i_val = values["I"][elem["I"][n]]
            prod = values["W"][elem["W"][n]] * i_val if has_w else i_val
            oe = elem["O"][n]
            o_reqs.append((pe, oe))
            key = (pe[:off[k]], oe, unmerged(pe, 1, k, "reduction"))
            updates[key] = updates.get(key, 0) + prod  # reduced in the network
        for (kinst, oe, _), s in updates.items():
            store = o_store[k][kinst]
            if oe in store:  # a valid partial sum is read before being updated
                read(k, kinst, "O", 1)
                store[oe] += s
            else:
                store[oe] = s
            write(k, kinst, "O", 1)
        for x in range(1, k + 1):
            if fanout_of[x] is not None:
                keys = {(pe[:off[x - 1]], oe, unmerged(pe, 1, x - 1, "reduction")) for pe, oe in o_reqs}
                net[fanout_of[x].name] += len(keys)
                route(x, "O", [key + (1,) for key in keys], fanout_of[x].reduction)

    # ---- end: everything still held is written back, inner -> outer
    for i in o_levels[:-1]:
        ids = cur_id[(i, "O")]
        o_write_back(i, list(instances[i]), dict(ids))

    top: dict = {}
    for inst, store in o_store[o_levels[-1]].items():  # a resident O: one store per instance
        clash = set(top) & set(store)
        if clash:
            raise OracleError(f"O elements {sorted(clash)[:3]} end in several instances of "
                              f"{names[o_levels[-1]]}: their partial sums are never added")
        top.update(store)
    tile_max[names[L - 1]] = {t: words(L - 1, t, tuple(0 for _ in rel_pos[t])) for t in sorted(keeps[L - 1])}
    for t, r in resident.items():  # each instance of the resident level holds what it touches, all run long
        touched: dict[tuple, set] = {inst: set() for inst in instances[r]}
        for tt in steps:
            tb = _contribution(t_loops, tt, dim_pos, D)
            for pe in pes:
                touched[pe[:off[r]]].add(coord_at(terms[t], tuple(a + b for a, b in zip(tb, pe_val[pe]))))
        tile_max[names[r]][t] = max(len(v) for v in touched.values())

    ok = True
    if check_output:
        ref = reference_output(problem, values.get("W", Values(rng)), values["I"])
        ok = ref == top
        if not ok:
            bad = sorted(e for e in set(ref) | set(top) if ref.get(e) != top.get(e))[:5]
            raise OracleError(f"final O differs from the reference at {len(bad)}+ elements, e.g. "
                              + ", ".join(f"{e}: got {top.get(e)} want {ref.get(e)}" for e in bad))

    # ---- cycles, utilization, energy (all from the literal counts)
    compute_cycles = len(steps)
    cyc_even = cyc_max = compute_cycles
    for i, lv in enumerate(arch.levels):
        used = len(instances[i])
        tot_r = sum(acc[names[i]][t]["reads"] for t in tnames)
        tot_w = sum(acc[names[i]][t]["writes"] for t in tnames)
        max_r = max(r for r, _ in inst_acc[i].values())
        max_w = max(w for _, w in inst_acc[i].values())
        # bandwidths as the decimals they were written as, divided exactly (no float rounding)
        if lv.read_bandwidth is not None:
            bw = Fraction(str(lv.read_bandwidth))
            cyc_even = max(cyc_even, math.ceil(Fraction(tot_r, used) / bw))
            cyc_max = max(cyc_max, math.ceil(max_r / bw))
        if lv.write_bandwidth is not None:
            bw = Fraction(str(lv.write_bandwidth))
            cyc_even = max(cyc_even, math.ceil(Fraction(tot_w, used) / bw))
            cyc_max = max(cyc_max, math.ceil(max_w / bw))

    channel_words = {}
    for x, mw in meshes.items():
        used = len(instances[x])
        per = [sum(n for (_, k), n in chan[x].items() if k == ch) for ch in range(len(mw.channels))]
        assert not any(per[k] for k in set(range(len(per))) - set(mw.reported)), "a vault outside the region"
        per = [per[k] for k in mw.reported]
        channel_words[fanout_of[x].name] = [_json_number(w) for w in per]
        bw = arch.levels[x].memory.bandwidth
        if bw is not None:
            bw = Fraction(str(bw))
            cyc_even = max(cyc_even, math.ceil(Fraction(max(per), used) / bw))
            cyc_max = max(cyc_max, math.ceil(max(chan[x].values(), default=0) / bw))

    macs = len(steps) * len(pes)
    energy = macs * arch.mac_pj
    for i, lv in enumerate(arch.levels):
        for t in tnames:
            a = acc[names[i]][t]
            energy += a["reads"] * lv.read_pj + a["writes"] * lv.write_pj
        if lv.fanout is not None:
            energy += net[lv.fanout.name] * lv.fanout.energy_pj
    for x in meshes:
        energy += float(sum(hop[fanout_of[x].name].values()) * fanout_of[x].hop_energy_pj)
        hop[fanout_of[x].name] = {t: _json_number(n) for t, n in hop[fanout_of[x].name].items()}
    static_pj = getattr(arch, "static_pj_per_cycle", 0.0) * cyc_even
    energy += static_pj

    return OracleResult(
        macs=macs,
        accesses=acc,
        network_words=net,
        tiles={n: dict(v) for n, v in tile_max.items() if v},
        compute_cycles=compute_cycles,
        cycles=cyc_even,
        cycles_max_instance=cyc_max,
        utilization=len(pes) / arch.pes,
        energy_pj=energy,
        instance_accesses={names[i]: inst_acc[i] for i in range(L)},
        output_matches_reference=ok,
        hops=hop,
        nodes_used={fanout_of[x].name: len({pe[off[x]:off[x - 1]] for pe in pes}) for x in meshes},
        channel_words=channel_words,
        static_pj=static_pj,
    )


def _json_number(x):
    """Word counts with forwarding's 1/g shares: whole ones as int, the others as float."""
    x = Fraction(x)
    return x.numerator if x.denominator == 1 else x.numerator / x.denominator


# ------------------------------------------------------------------------ comparison

def compare(result, oracle: OracleResult, arch: Arch, problem: Problem) -> list[str]:
    """Every difference between an evaluator Result and the oracle, as readable lines."""
    diffs = []

    def diff(what, got, want):
        if got != want:
            diffs.append(f"{what}: evaluator {got!r} != oracle {want!r}")

    diff("macs", result.macs, oracle.macs)
    for lv in arch.levels:
        for t in problem.tensor_names:
            for kind in ("reads", "writes"):
                got = result.accesses.get(lv.name, {}).get(t, {}).get(kind)
                diff(f"{lv.name}.{t}.{kind}", got, oracle.accesses[lv.name][t][kind])
        diff(f"tiles[{lv.name}]", dict(result.tiles.get(lv.name, {})), oracle.tiles.get(lv.name, {}))
        if lv.fanout is not None:
            diff(f"network[{lv.fanout.name}]", result.network_words.get(lv.fanout.name),
                 oracle.network_words[lv.fanout.name])
    for fan, hops in oracle.hops.items():
        noc = result.noc.get(fan, {})
        diff(f"hops[{fan}]", noc.get("hops"), hops)
        diff(f"nodes_used[{fan}]", noc.get("nodes_used"), oracle.nodes_used[fan])
        diff(f"channel_words[{fan}]", noc.get("channel_words"), oracle.channel_words[fan])
    if set(result.noc) != set(oracle.hops):
        diffs.append(f"mesh fanouts: evaluator {sorted(result.noc)} != oracle {sorted(oracle.hops)}")
    if not math.isclose(result.static_pj, oracle.static_pj, rel_tol=1e-12, abs_tol=1e-9):
        diffs.append(f"static_pj: evaluator {result.static_pj} != oracle {oracle.static_pj}")
    diff("compute_cycles", result.compute_cycles, oracle.compute_cycles)
    diff("cycles", result.cycles, oracle.cycles)
    if not math.isclose(result.utilization, oracle.utilization, rel_tol=1e-12):
        diffs.append(f"utilization: evaluator {result.utilization} != oracle {oracle.utilization}")
    if not math.isclose(result.energy_pj, oracle.energy_pj, rel_tol=1e-9, abs_tol=1e-9):
        diffs.append(f"energy_pj: evaluator {result.energy_pj} != oracle {oracle.energy_pj}")
    return diffs
