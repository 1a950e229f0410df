"""Batch evaluation: the exact evaluator's counts for many mappings at once, with numpy.

The formulas are those of :mod:`cpmap.cost.evaluator` (docs/cost-model.md), vectorized over
a batch of ``B`` mappings; ``tests/test_batch_eval.py`` checks that every count, energy,
cycle count, tile and validity bit equals the scalar evaluator's on random problems,
architectures and mappings.  The scalar evaluator stays the ground truth: searchers rank
with this path and re-score what they report with the scalar one.

Mappings come as plain arrays in index form (no search objects; :mod:`cpmap.search`
converts its genomes):

* ``factors`` int ``(B, D, S)``: the factor of dim ``d`` (``problem.dims`` order) in slot
  ``s`` (:func:`cpmap.core.slots.slots_of` order: per level, innermost first, its temporal
  loops, then one slot per axis of the fanout below it);
* ``orders`` int ``(B, L, D)``: per level a permutation of the dim indices, outer to
  inner (dims whose factor at that level is 1 are ignored);
* ``keeps`` bool ``(B, L, T)``: level ``i`` keeps tensor ``problem.tensor_names[t]``.

Only the default counting mode is implemented, not the evaluator's ``compat="timeloop"``
(docs/cost-model.md section 8): the searchers rank and report in the default mode.
Counts are int64 and bandwidth cycles exact integer ceilings (:func:`bandwidth_cycles_array`),
equal to the scalar evaluator's Python integers while every count stays below 2**53:
:class:`BatchEvaluator` refuses problems of ``MACS_LIMIT`` MACs or more (every count is at
most a few times the MACs).  Energies are summed in the scalar evaluator's order, so
they are bit-identical.

Where new per-transfer terms go (e.g. mesh hop counts, issue 12): every word that crosses
a fanout is counted at one of two lines, ``net[j] += ...`` in :meth:`BatchEvaluator._traffic`
(tile fills, write-backs and read-backs between a child level and its parent) and in
:meth:`BatchEvaluator._mac_traffic` (MAC operands and O updates).  There the words per
child of fanout ``j`` are known per tensor (axis 0) and mapping (axis 1), together with
the sharing factor ``below`` of the fanouts under ``j`` and ``nest["irr"]`` (the unrolled
factors over dims irrelevant to each tensor, i.e. the multicast pattern); a term that
depends on the transfer (e.g. words x mesh hops of the tensor's destinations) is
accumulated next to ``net`` and priced in :meth:`BatchEvaluator._result` next to
``network_pj``, in the order the scalar evaluator adds it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.arch import Arch, bandwidth_cycles, bandwidth_ratio
from ..core.factors import divisors
from ..core.problem import Problem, window_extent
from ..core.slots import slots_of

MACS_LIMIT = 2**47
"""Problems with this many MACs or more are refused: counts (a small multiple of the MACs)
must stay exact in float64 for the bandwidth cycles and energies to equal the scalar
evaluator's."""


def bandwidth_cycles_array(words: np.ndarray, instances: np.ndarray, bandwidth: float) -> np.ndarray:
    """:func:`~cpmap.core.arch.bandwidth_cycles` elementwise (cycles, int64): in int64 where
    ``words * q`` and ``instances * p`` fit (bandwidth p / q), else in Python integers
    (OverflowError if some cycle count itself passes int64: the spec refuses bandwidths below
    1e-6 words per cycle, :data:`cpmap.spec.fields.MIN_BANDWIDTH`)."""
    p, q = bandwidth_ratio(bandwidth)
    if q * int(words.max(initial=0)) < 2**62 and p * int(instances.max(initial=1)) < 2**62:
        return -((-words * q) // (instances * p))
    return np.array([bandwidth_cycles(int(w), int(u), bandwidth) for w, u in zip(words, instances)],
                    dtype=np.int64)


@dataclass(frozen=True)
class BatchResult:
    """The costs of ``B`` mappings, index ``b`` for mapping ``b``.  ``L`` levels
    (innermost first) and ``T`` tensors (``problem.tensor_names`` order)."""

    valid: np.ndarray
    """(B,) bool: the mapping breaks no resource rule (the scalar ``Result.valid``)."""
    energy_pj: np.ndarray
    """(B,) float64, pJ."""
    cycles: np.ndarray
    """(B,) int64: compute cycles or the slowest bandwidth-limited level."""
    compute_cycles: np.ndarray
    """(B,) int64."""
    utilization: np.ndarray
    """(B,) float64: used PEs / PEs."""
    reads: np.ndarray
    """(B, L, T) int64 words, totals over instances."""
    writes: np.ndarray
    """(B, L, T) int64 words."""
    network_words: np.ndarray
    """(B, L) int64: words crossing the fanout below level ``j`` (0 where none)."""
    tiles: np.ndarray
    """(B, L, T) int64 words per instance, for every tensor (the scalar ``Result.tiles``
    lists only the kept ones)."""
    level_pj: np.ndarray
    """(B, L, T) float64: access energy per level and tensor (pJ)."""
    network_pj: np.ndarray
    """(B, L) float64: energy of each fanout's words (pJ)."""

    def __len__(self) -> int:
        return len(self.valid)


class BatchEvaluator:
    """Evaluates batches of mappings of one problem on one architecture (the scalar
    counterpart is :class:`cpmap.cost.evaluator.Evaluator`).  Internally every array has
    the batch as its last, contiguous axis, so that the reductions over the few levels,
    dims and tensors are elementwise operations over the batch."""

    def __init__(self, problem: Problem, arch: Arch):
        if problem.macs >= MACS_LIMIT:
            raise ValueError(f"batch evaluation: {problem.name} has {problem.macs:,} MACs, at or over the "
                             f"exact-count limit {MACS_LIMIT:,}; use the scalar evaluator")
        if arch.beyond_flat:
            raise ValueError(f"batch evaluation: {arch.name} has mesh hops or static energy, which the batch "
                             "path does not price yet; use the scalar evaluator")
        if problem.resident:  # docs/cost-model.md section 11 is the scalar evaluator's alone
            raise ValueError(f"batch evaluation: {problem.name} has resident tensors; use the scalar evaluator")
        self.problem, self.arch = problem, arch
        slots = slots_of(arch)
        L, D = len(arch.levels), len(problem.dims)
        self.L, self.D, self.S, self.T = L, D, len(slots), len(problem.tensors)
        self.sizes = np.array(problem.sizes, dtype=np.int64)
        self.macs = problem.macs
        self.o = problem.tensor_names.index("O")
        self.is_o = np.array([t == "O" for t in problem.tensor_names])[:, None]  # (T, 1)
        self.temporal_slot = [k for k, s in enumerate(slots) if not s.spatial]
        self.spatial_slots = [[k for k, s in enumerate(slots) if s.spatial and s.level == i] for i in range(L)]
        self.axis_slots = [k for k, s in enumerate(slots) if s.spatial]
        self.axis_sizes = np.array([s.size for s in slots if s.spatial], dtype=np.int64)[:, None]
        di = {d: k for k, d in enumerate(problem.dims)}
        self.rel = np.array([[d in t.dims for d in problem.dims] for t in problem.tensors])  # (T, D)
        self.rel_dims = [np.flatnonzero(row) for row in self.rel]
        self.irr_dims = [np.flatnonzero(~row) for row in self.rel]
        self.axes = [[self._axis(a, di) for a in t.axes] for t in problem.tensors]
        fanouts = [lv.fanout for lv in arch.levels]
        self.shares = [[f is not None and (f.multicast or t == "O") for f in fanouts]
                       for t in problem.tensor_names]  # does a fanout share tensor t's words
        self.no_reduction = [j for j, f in enumerate(fanouts) if f is not None and not f.reduction]
        self.fanned = [j for j, f in enumerate(fanouts) if f is not None]
        self.allowed = np.array([[t in lv.keeps for t in problem.tensor_names] for lv in arch.levels])
        self.partitions = [None if lv.partitions is None else
                           np.array([lv.partition(t) if t in lv.keeps else 0 for t in problem.tensor_names])[:, None]
                           for lv in arch.levels]

    def _axis(self, axis, di: dict) -> tuple:
        """(d0, None) for a single-dim axis; (d0, d1, at0, at1, table) for a window axis,
        where ``table[at0[e0], at1[e1]]`` is the window extent at dim extents ``e0``,
        ``e1``, tabulated over the divisors of the two dims' sizes (the only extents a
        mapping can give) with :func:`cpmap.core.problem.window_extent`."""
        if len(axis.terms) == 1:
            return (di[axis.terms[0][0]], None)
        (n0, c0), (n1, c1) = axis.terms
        d0, d1 = di[n0], di[n1]
        div0, div1 = divisors(self.problem.sizes[d0]), divisors(self.problem.sizes[d1])
        at0 = np.zeros(div0[-1] + 1, dtype=np.int64)
        at1 = np.zeros(div1[-1] + 1, dtype=np.int64)
        at0[div0] = np.arange(len(div0))
        at1[div1] = np.arange(len(div1))
        table = np.array([[window_extent(c0, c1, p, r) for r in div1] for p in div0], dtype=np.int64)
        return (d0, d1, at0, at1, table)

    # ------------------------------------------------------------------------------ entry

    def evaluate(self, factors, orders, keeps, *, check: bool = True) -> BatchResult:
        """The costs of the mappings given as arrays (module docstring).  ``check=False``
        skips the structural check (shapes, factors >= 1 multiplying to the dims, orders
        permutations): only for arrays built to be structurally valid, such as a
        searcher's genomes; a malformed batch then gives garbage or an IndexError."""
        factors = np.asarray(factors, dtype=np.int64)
        orders = np.asarray(orders, dtype=np.int64)
        keeps = np.asarray(keeps, dtype=bool)
        if check:
            self._check(factors, orders, keeps)
        f = np.ascontiguousarray(factors.transpose(2, 1, 0))  # (S, D, B)
        kept = np.ascontiguousarray(keeps.transpose(2, 1, 0))  # (T, L, B)
        nest = self._nest(f, np.ascontiguousarray(orders.transpose(1, 2, 0)))
        reads = np.zeros((self.T, self.L, f.shape[2]), dtype=np.int64)
        writes = np.zeros_like(reads)
        net = np.zeros((self.L, f.shape[2]), dtype=np.int64)
        self._traffic(nest, kept, reads, writes, net)
        return self._result(nest, kept, reads, writes, net)

    def _check(self, factors, orders, keeps) -> None:
        B = len(factors)
        want = {"factors": (B, self.D, self.S), "orders": (B, self.L, self.D), "keeps": (B, self.L, self.T)}
        for name, arr in (("factors", factors), ("orders", orders), ("keeps", keeps)):
            if arr.shape != want[name]:
                raise ValueError(f"batch evaluation: {name} must have shape {want[name]} "
                                 f"(batch, ...), got {arr.shape}")
        if (factors < 1).any():
            raise ValueError("batch evaluation: factors must be >= 1")
        bad = np.flatnonzero((factors.prod(axis=2) != self.sizes).any(axis=1))
        if len(bad):
            raise ValueError(f"batch evaluation: the factors of mapping {bad[0]} do not multiply to the "
                             f"dims {dict(zip(self.problem.dims, self.problem.sizes))}")
        if (np.sort(orders, axis=2) != np.arange(self.D)).any():
            raise ValueError("batch evaluation: every level's order must be a permutation of the dim indices")

    # ------------------------------------------------------------------------ the loops

    def _nest(self, f: np.ndarray, orders: np.ndarray) -> dict:
        """What follows from the loops alone (evaluator ``_nest``): extents, tiles, used
        instances, sharing factors, tile versions and distinct tiles; per level (L, B)
        or per tensor and level (T, L, B)."""
        L, B = self.L, f.shape[2]
        ext = np.empty((L, self.D, B), dtype=np.int64)  # tile extents
        spf = np.ones((L, self.D, B), dtype=np.int64)  # spatial factor per level and dim
        cur = None
        for i, ss in enumerate(self.spatial_slots):
            for k in ss:
                spf[i] *= f[k]
            cur = f[self.temporal_slot[i]] * spf[i] if cur is None else cur * f[self.temporal_slot[i]] * spf[i]
            ext[i] = cur
        fan = spf.prod(axis=1)  # (L, B) used children of each fanout
        used = np.ones((L, B), dtype=np.int64)
        for i in range(L - 2, -1, -1):
            used[i] = used[i + 1] * fan[i + 1]
        irr = np.stack([spf[:, dims].prod(axis=1) for dims in self.irr_dims])  # (T, L, B)
        share = np.where(np.array(self.shares)[:, :, None], irr, 1)
        tf = f[self.temporal_slot]  # (L, D, B) temporal factors
        tiles = np.ones((self.T, L, B), dtype=np.int64)
        for t, axes in enumerate(self.axes):
            for axis in axes:
                if axis[1] is None:
                    tiles[t] *= ext[:, axis[0]]
                else:
                    d0, d1, at0, at1, table = axis
                    tiles[t] *= table[at0[ext[:, d0]], at1[ext[:, d1]]]
        F, U = self._versions(tf, orders)
        return {"used": used, "irr": irr, "share": share, "tiles": tiles, "F": F, "U": U,
                "axis_fan": f[self.axis_slots].prod(axis=1), "compute_cycles": tf.reshape(-1, B).prod(axis=0)}

    def _versions(self, tf: np.ndarray, orders: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(F, U), each (T, L, B): tile versions and distinct tiles (docs/cost-model.md,
        "Refills"; evaluator ``_versions``).  Per level j, with its loops inner to outer:
        ``inner`` = product of the loops inside its innermost loop relevant to the tensor
        (of factor > 1; all its loops when it has none), ``has`` = it has such a loop.
        Above level i the reuse is the product of the ``inner`` of levels i+1, i+2, ... up
        to the first level with a relevant loop; F = product of all loops above / reuse,
        U = product of the relevant loops above."""
        L, B = self.L, tf.shape[2]
        tf, inward = tf[1:], orders[1:, ::-1]  # level 0 is above no level
        loops = np.take_along_axis(tf, inward, axis=1)  # (L-1, D, B) inner to outer
        eff = self.rel[:, inward] & (loops > 1)  # (T, L-1, D, B)
        before = np.logical_and.accumulate(~eff, axis=2)  # loops inside the first relevant one
        inner = np.where(before, loops, 1).prod(axis=2)  # (T, L-1, B)
        has = ~before[:, :, -1]
        tot = tf.prod(axis=1)  # (L-1, B)
        urel = np.stack([tf[:, dims].prod(axis=1) for dims in self.rel_dims])  # (T, L-1, B)
        F = np.ones((self.T, L, B), dtype=np.int64)
        U = np.ones_like(F)
        above, reuse, u = tot[L - 2], inner[:, L - 2], urel[:, L - 2]  # the outermost level
        for i in range(L - 2, -1, -1):  # grow the nest above level i outward-in
            F[:, i] = above // reuse
            U[:, i] = u
            if i:  # level i becomes the innermost level of the nest above level i - 1
                above = above * tot[i - 1]
                reuse = np.where(has[:, i - 1], inner[:, i - 1], inner[:, i - 1] * reuse)
                u = u * urel[:, i - 1]
        return F, U

    # ------------------------------------------------------------------------- traffic

    def _traffic(self, nest: dict, kept, reads, writes, net) -> None:
        """Every access count and network word (evaluator ``_count_tensor``), in place:
        W and I fills, O write-backs and read-backs between each kept level and its
        parent, then MAC operand reads and O updates at the innermost keeper."""
        L, is_o = self.L, self.is_o
        used, share, tiles, F, U = nest["used"], nest["share"], nest["tiles"], nest["F"], nest["U"]
        counted = kept[:, L - 1]  # (T, B): a tensor the outermost level drops is not counted
        # g[:, i] = share over the fanouts between level i and its parent (levels i+1..p)
        g = np.ones_like(share)
        for i in range(L - 2, -1, -1):
            g[:, i] = share[:, i + 1] * np.where(kept[:, i + 1], 1, g[:, i + 1])
        sent = used * F * tiles
        back = np.where(is_o[:, :, None], used * (F - U) * tiles // g, 0)
        up = sent // g
        for i in range(L - 1):
            active = kept[:, i] & counted
            writes[:, i] += active * np.where(is_o, back[:, i], sent[:, i])
            parent_r = active * np.where(is_o, back[:, i], up[:, i])
            parent_w = active * is_o * up[:, i]
            open_ = np.ones_like(active)  # no keeper yet between level i and level j
            below = np.ones_like(sent[:, i])
            for j in range(i + 1, L):
                net[j] += (open_ * active * (sent[:, i] // below + back[:, i])).sum(axis=0)
                below = below * share[:, j]
                at = open_ & kept[:, j]  # j is the parent
                reads[:, j] += at * parent_r
                writes[:, j] += at * parent_w
                open_ = open_ & ~kept[:, j]
        self._mac_traffic(share, kept, counted, sent - back, reads, writes, net)

    def _mac_traffic(self, share, kept, counted, fresh, reads, writes, net) -> None:
        """MAC operand reads and O updates at the innermost keeper k and their network
        words, in place.  ``fresh[:, k]``: O element-versions at k that start from zero."""
        macs, is_o = self.macs, self.is_o
        open_ = counted.copy()  # no keeper below level j yet
        below = np.ones_like(fresh[:, 0])  # share of the fanouts of levels 1..j-1
        for j in range(self.L):
            if j:
                net[j] += (open_ * (macs // below)).sum(axis=0)
                below = below * share[:, j]
            at = open_ & kept[:, j]  # j is the innermost keeper
            accesses = macs // below
            reads[:, j] += at * np.where(is_o, accesses - fresh[:, j], accesses)
            writes[:, j] += at * is_o * accesses
            open_ = open_ & ~kept[:, j]

    # -------------------------------------------------------------------------- result

    def _result(self, nest: dict, kept, reads, writes, net) -> BatchResult:
        """Energy (summed in the scalar evaluator's order), cycles and validity."""
        L, B = self.L, reads.shape[2]
        used = nest["used"]
        level_pj = np.empty((self.T, L, B))
        total = np.zeros(B)
        cycles = nest["compute_cycles"].copy()
        for i, lv in enumerate(self.arch.levels):
            level_pj[:, i] = reads[:, i] * lv.read_pj + writes[:, i] * lv.write_pj
            lsum = level_pj[0, i]
            for t in range(1, self.T):
                lsum = lsum + level_pj[t, i]
            total = total + lsum
            for count, bw in ((reads, lv.read_bandwidth), (writes, lv.write_bandwidth)):
                if bw is not None:
                    cycles = np.maximum(cycles, bandwidth_cycles_array(count[:, i].sum(axis=0), used[i], bw))
        network_pj = np.zeros((L, B))
        net_sum = None
        for j in self.fanned:
            network_pj[j] = net[j] * self.arch.levels[j].fanout.energy_pj
            net_sum = network_pj[j] if net_sum is None else net_sum + network_pj[j]
        macs_pj = self.macs * self.arch.mac_pj
        total = total + (macs_pj if net_sum is None else macs_pj + net_sum)
        unfanned = [j for j in range(L) if j not in self.fanned]
        net[unfanned] = 0  # words "crossing" a level without a fanout are not reported
        return BatchResult(
            valid=self._valid(nest, kept), energy_pj=total, cycles=cycles,
            compute_cycles=nest["compute_cycles"], utilization=used[0] / self.arch.pes,
            reads=reads.transpose(2, 1, 0), writes=writes.transpose(2, 1, 0), network_words=net.T,
            tiles=nest["tiles"].transpose(2, 1, 0), level_pj=level_pj.transpose(2, 1, 0),
            network_pj=network_pj.T)

    def _valid(self, nest: dict, kept) -> np.ndarray:
        """The scalar evaluator's ``_validate`` rules, as one bit per mapping."""
        ok = (nest["axis_fan"] <= self.axis_sizes).all(axis=0)
        ok &= ~(kept & ~self.allowed.T[:, :, None]).any(axis=(0, 1))
        for j in self.no_reduction:
            ok &= nest["irr"][self.o, j] <= 1
        ok &= kept[:, self.L - 1].all(axis=0)
        tiles = nest["tiles"]
        for i, lv in enumerate(self.arch.levels[:-1]):
            words = kept[:, i] * tiles[:, i]
            if lv.capacity is not None:
                ok &= words.sum(axis=0) <= lv.capacity
            else:
                ok &= (words <= self.partitions[i]).all(axis=0)
        return ok
