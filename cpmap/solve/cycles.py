"""The evaluator's cycles in the layer model: compute cycles or, where slower, the
bandwidth-limited cycles of a level (docs/cost-model.md section 4).

A level with a read (write) bandwidth of ``p / q`` words per cycle per instance (the
decimal as written, :func:`~cpmap.core.arch.bandwidth_ratio`) needs
``B = ceil(R * q / (used * p))`` cycles, ``R`` its reads (writes) summed over tensors and
instances (the model's count variables) and ``used`` its instances (the product of the
spatial factors above it).  The model holds ``B`` exactly by two linear inequalities on
``B * used``, a product variable where ``used`` is not constant:

    B * used * p >= R * q   and   B * used * p <= R * q + used * p - 1.

A memory channel of a mesh (docs/cost-model.md section 10) is held the same way, its
words the channel load of :mod:`.mesh` at the channel bandwidth.
Then ``cycles = max(compute cycles, every B)`` (one max equality), equal to the
evaluator's cycles at every solution.  Where int64 forbids the exact form (layers near
1e16 MACs, bandwidths with many decimals) a relaxation is kept instead: the bandwidth
rounded up to fewer decimals, or ``used`` at its upper bound.  It never exceeds the
evaluator's cycles, and :class:`BandwidthCycles` says it is not exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..core.arch import Arch, bandwidth_ratio
from .kit import INT64_SAFE
from .monomial import Term, prod


@dataclass(frozen=True)
class BandwidthCycles:
    """The cycles expression of a model, its upper bound, and whether it equals the
    evaluator's cycles at every solution (else it is a lower bound of them)."""

    expr: object
    ub: int
    exact: bool


def has_bandwidth(arch: Arch) -> bool:
    """Whether some level limits its reads or writes, or a mesh's memory channels their
    words (else cycles = compute cycles)."""
    return any(lv.read_bandwidth is not None or lv.write_bandwidth is not None
               or (lv.memory is not None and lv.memory.bandwidth is not None) for lv in arch.levels)


def attach_cycles(builder, layer_model, compute: Term) -> BandwidthCycles:
    """Set ``layer_model``'s cycles to the evaluator's and return them: compute cycles
    without bandwidth limits; else the bandwidth-limited cycles are added now (delay,
    edp) or on first use (energy: :meth:`~cpmap.solve.model.LayerModel.evaluator_cycles`,
    so that an energy model without caps or tie-break stays as it was)."""
    if not has_bandwidth(builder.arch):
        return BandwidthCycles(compute.expr, builder.problem.macs, True)
    if layer_model.objective == "energy":
        layer_model.cycles = None
        layer_model.add_cycles = lambda: add_bandwidth_cycles(builder, compute)
        return BandwidthCycles(None, 0, True)
    cycles = add_bandwidth_cycles(builder, compute)
    layer_model.cycles, layer_model.cycles_exact = cycles.expr, cycles.exact
    return cycles


def add_bandwidth_cycles(builder, compute: Term) -> BandwidthCycles:
    """Add the bandwidth-limited cycles of every level to ``builder``'s model (after its
    counts) and return ``max(compute cycles, those)``."""
    exact, limits, mesh = True, [], builder.mesh
    for i, lv in enumerate(builder.levels):
        for kind, bandwidth in (("reads", lv.read_bandwidth), ("writes", lv.write_bandwidth)):
            if bandwidth is None:
                continue
            level = _level_cycles(builder, i, kind, bandwidth)
            if level is not None:
                limits.append(level[:2])
                exact = exact and level[2]
        for k, (words, words_hi) in enumerate(mesh.loads.get(i, ())):
            # a memory channel of a mesh (docs/cost-model.md section 10): its words at its bandwidth
            level = _rate_cycles(builder, i, f"ch{k}_", words, words_hi, lv.memory.bandwidth, mesh.scale_of[i])
            if level is not None:
                limits.append(level[:2])
                exact = exact and level[2]
    if not mesh.exact and any(lv.memory is not None and lv.memory.bandwidth is not None for lv in builder.levels):
        exact = False  # a relaxed mesh (too many spatial entries) has no channel limits
    if not limits:
        return BandwidthCycles(compute.expr, compute.ub, exact)
    ub = max([compute.ub] + [hi for _, hi in limits])
    cycles = builder.m.new_int_var(1, ub, builder.kit.name("cycles_bw"))
    builder.m.add_max_equality(cycles, [compute.expr] + [b for b, _ in limits])
    return BandwidthCycles(cycles, ub, exact)


def _count(builder, kind: str, i: int):
    """(level i's reads or writes summed over tensors, an upper bound of the sum)."""
    total, hi = 0, 0
    for t in builder.tensors:
        c = builder.counts.get((kind, i, t), 0)
        total += c
        hi += c if isinstance(c, int) else builder.his[kind, i, t]
    return total, hi


def _fraction_within(p: int, q: int, words_hi: int, used_hi: int) -> tuple[int, int, bool] | None:
    """(p', q', exact): p' / q' >= p / q, equal where possible, with the constraints'
    magnitudes ``words_hi * q' + used_hi * p'`` inside int64; None if none fits."""
    k = q
    while True:
        pk = -(-p * k // q)  # ceil(p * k / q): the bandwidth rounded up, so B rounds down
        if words_hi * k + used_hi * pk < INT64_SAFE:
            return pk, k, pk * q == p * k
        if k == 1:
            return None
        k = max(1, k // 10)


def _level_cycles(builder, i: int, kind: str, bandwidth: float) -> tuple | None:
    """(B, upper bound of B, exact) for level i's reads or writes; None when B can never
    exceed the compute cycles (>= 1) or cannot be held in int64."""
    words, words_hi = _count(builder, kind, i)
    return _rate_cycles(builder, i, kind, words, words_hi, bandwidth)


def _rate_cycles(builder, i: int, kind: str, words, words_hi: int, bandwidth: float, scale: int = 1) -> tuple | None:
    """(B, upper bound of B, exact) for ``words`` / ``scale`` (total over level i's
    instances; a mesh's channel words are in 1/scale words, :mod:`.forward`) moved at
    ``bandwidth`` words per cycle per instance; None as for :func:`_level_cycles`."""
    kit, m = builder.kit, builder.m
    p, q = bandwidth_ratio(bandwidth)
    p *= scale
    if words_hi * q <= p:
        return None  # B <= 1 for every mapping
    used, used_hi = _instances(builder, i)
    fit = _fraction_within(p, q, words_hi, used_hi)
    if fit is None:
        return None
    p, q, exact = fit
    b_hi = -(-words_hi * q // p)
    if isinstance(used, int) or b_hi * used_hi >= INT64_SAFE:
        # constant instances, or a product past int64: used at its upper bound (a relaxation)
        exact = exact and isinstance(used, int)
        per = used_hi * p  # B * per is B * used * p
        b_hi = -(-words_hi * q // per)
        b = m.new_int_var(0, b_hi, kit.name(f"bw_{kind}{i}"))
        m.add(per * b >= q * words)
        m.add(per * b <= q * words + per - 1)
        return b, b_hi, exact
    b = m.new_int_var(0, b_hi, kit.name(f"bw_{kind}{i}"))
    z = m.new_int_var(0, (words_hi * q + used_hi * p) // p, kit.name(f"bwused_{kind}{i}"))
    m.add_multiplication_equality(z, [b, used])
    m.add(p * z >= q * words)
    m.add(p * z <= q * words + p * used - 1)
    return b, b_hi, exact


def _instances(builder, i: int) -> tuple:
    """(used instances of level i, an upper bound): an int, or an IntVar bounded by the
    fanout sizes above i (tighter than the monomial's bound, for the int64 checks)."""
    used = builder.kit.term(prod(builder.sp_all[j] for j in range(i + 1, builder.L)), f"used_{i}")
    if used.is_const:
        return used.const, used.const
    hi = min(used.ub, math.prod(lv.fanout.size for lv in builder.levels[i + 1:] if lv.fanout is not None))
    u = builder.m.new_int_var(1, hi, builder.kit.name(f"used_{i}"))
    builder.m.add(u == used.expr)
    return u, hi
