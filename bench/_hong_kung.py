"""A red-blue-pebble (Hong-Kung) lower bound on a layer's DRAM traffic, for bench/avenues.py.

Not used by the solver: measured as a candidate cut (issue 11 item 5) and found below the
compulsory traffic on every benchmark layer (docs/performance.md, "Avenues").  The argument:

* The mapping's execution is a red-blue pebble game whose fast memory is all on-chip
  storage, ``S`` = the capacities of every level below DRAM times their instances, plus
  4 words per PE for operands and partial sums in flight.  Every DRAM read or write the
  evaluator counts is one load or store (a multicast read is one load, its copies sit in
  on-chip storage).
* Cut the execution into segments of ``X`` loads and stores.  The W, I and O words a
  segment's MACs touch were on chip at its start (<= S), loaded in it, or (partial sums
  started in it) are on chip at its end (<= S) or stored in it: a + b + c <= 2S + X.
* MACs of a segment <= sqrt(n_fix * a * b * c) <= sqrt(n_fix) * ((2S + X) / 3) ** 1.5:
  fix one dim of each sliding-window axis (the smaller; n_fix the product of their
  sizes); for each fixed value the remaining MACs form a Loomis-Whitney set (every other
  dim is in two or three tensors), and Cauchy-Schwarz over the fixed values costs
  sqrt(n_fix).
* So with ceil(Q / X) segments, Q >= X * (MACs / B(X) - 1) for every X > 0.
"""

from __future__ import annotations

import math


def onchip_words(arch) -> int:
    """Words of storage below the outermost level, over all instances, plus 4 per PE."""
    total = 0
    for i, lv in enumerate(arch.levels[:-1]):
        inst = math.prod(up.fanout.size for up in arch.levels[i + 1:] if up.fanout is not None)
        words = lv.capacity if lv.capacity is not None else sum(w for _, w in lv.partitions)
        total += inst * words
    return total + 4 * arch.pes


def fixed_window_product(problem) -> int | None:
    """n_fix, or None when the argument does not apply (not W, I, O; a dim in fewer than
    two tensors; a window dim in no plain axis)."""
    if tuple(sorted(problem.tensor_names)) != ("I", "O", "W"):
        return None
    size = dict(zip(problem.dims, problem.sizes))
    plain, fixed, n_fix = {}, set(), 1
    for t in problem.tensors:
        for ax in t.axes:
            if len(ax.terms) == 1:
                plain.setdefault(ax.terms[0][0], set()).add(t.name)
            else:
                (d0, _), (d1, _) = ax.terms
                d = d0 if size[d0] <= size[d1] else d1
                fixed.add(d)
                n_fix *= size[d]
    inside = {d: {t.name for t in problem.tensors for ax in t.axes for e, _ in ax.terms if e == d}
              for d in problem.dims if size[d] > 1}
    for d, ts in inside.items():
        if d in fixed and not plain.get(d):
            return None
        if d not in fixed and len(ts) < 2:
            return None
    return n_fix


def dram_traffic_bound(problem, arch) -> int | None:
    """The Hong-Kung lower bound on DRAM reads + writes (words), or None."""
    n_fix = fixed_window_product(problem)
    if n_fix is None:
        return None
    S, M = onchip_words(arch), problem.macs
    best = 0.0
    for k in range(-40, 81):
        X = S * 2 ** (k / 8)
        best = max(best, X * (M / (math.sqrt(n_fix) * ((2 * S + X) / 3) ** 1.5) - 1))
    return math.floor(best)
