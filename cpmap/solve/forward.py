"""Access forwarding in the layer model (docs/solver.md, "Access forwarding";
docs/cost-model.md section 10).

A mesh fanout with ``forwarding: true`` gives every input tensor ``t`` one literal
``fwd[j, t]``: the mapping fetches ``t`` across mesh ``j`` by access forwarding.  It acts
in two places, both exact:

* **Counts.**  On a mesh that does not multicast, forwarding makes the parent read a
  shared tile once per group of nodes that need it, as a multicast would: every count
  term whose words cross mesh ``j`` is added twice, with the mesh's sharing factor of a
  multicast (the relevant spatial factors) gated by ``fwd`` and without it gated by
  ``not fwd`` (:func:`share_variants`).  On a multicasting mesh the counts do not change.
* **Hops and channel loads.**  The forwarded fill of an entry costs ``X_e / g_e`` links
  per word per node (:func:`cpmap.cost.noc.mesh_plan` with ``forward``), a fraction.  The
  mesh's hop and load values are all multiplied by ``scale``, the least common multiple
  of those denominators (:func:`forward_scale`), so they are integers; the objective's
  scale K is multiplied by the lcm of every mesh's ``scale`` and each mesh's hop
  coefficient is ``hop pJ * K / scale``: exact.  A forwarded fill's links are
  ``sum(entry literal * links) + sum(y_e * (forwarded links - links))`` with ``y_e`` =
  entry literal AND ``fwd`` (:func:`entry_and`), linear.

A scale above :data:`MAX_SCALE` (denominators with primes 11, 13, ...) is capped and the
fractions rounded down: a relaxation, never above the evaluator (``exact`` False).
"""

from __future__ import annotations

import math

MAX_SCALE = 5040
"""lcm(1..10): every forwarding group of up to 10 nodes, and 12, 14, 15, 16, 18, ...; a
larger lcm is capped here (a relaxation) to keep the scaled objective inside int64."""


def share_variants(counts, t: str, shared: dict) -> list[tuple[dict, object, frozenset]]:
    """[(sharing factor per fanout, literal, meshes whose child writes and network words
    are divided by g)]: the terms of ``t`` are added once per variant, gated by its literal
    (one variant, True, as without the options).  Per mesh: neither option; forwarding
    (counts change only without multicast); buffer sharing (the nodes' writes / g, and the
    parent's reads / g as a multicast's)."""
    variants = [(shared, True, frozenset())]
    kit = counts.kit
    for j in sorted({j for j, u in (*counts.fwd, *counts.share) if u == t}):
        mcast = counts.levels[j].fanout.multicast
        f = counts.fwd.get((j, t)) if not mcast else None
        s = counts.share.get((j, t))
        if f is None and s is None:
            continue
        alts = [(kit.conj([kit.neg(x) for x in (f, s) if x is not None], f"plain_{t}{j}"), False, False)]
        alts += [(f, True, False)] if f is not None else []
        alts += [(s, not mcast, True)] if s is not None else []
        variants = [(v | ({j: counts.sp_rel[t, j]} if like_mcast else {}), kit.conj([lit, a], f"opt_{t}{j}"),
                     div | ({j} if divide else set()))
                    for v, lit, div in variants for a, like_mcast, divide in alts]
    return variants


def crosses(counts, t: str, lo: int, hi: int) -> bool:
    """Whether words moving between levels ``lo`` and ``hi`` (lo < hi) cross a mesh whose
    options change the counts of ``t`` (so their terms have variants)."""
    return any(u == t and lo < j <= hi and (not counts.levels[j].fanout.multicast or (j, u) in counts.share)
               for j, u in (*counts.fwd, *counts.share))


def forward_scale(traffic: list, loads: bool) -> tuple[int, bool]:
    """(scale, exact): the lcm of the denominators of the links (and channel loads when the
    channels have a bandwidth) of the forwarded and shared transfers of every entry, capped."""
    scale = 1
    for tr in traffic:
        for x in (tr.links, *(tr.per_channel if loads else ())):
            scale = math.lcm(scale, x.denominator)
    if scale > MAX_SCALE:
        return MAX_SCALE, False
    return scale, True


def scaled(x, scale: int) -> int:
    """floor(x * scale): exact when scale is a multiple of x's denominator."""
    return math.floor(x * scale)


def entry_and(b, lits: list, f) -> list:
    """y_e = entry literal e AND ``f`` (exactly one entry literal is true)."""
    ys = [b.m.new_bool_var(b.kit.name("fwdentry")) for _ in lits]
    for y, lit in zip(ys, lits):
        b.m.add_implication(y, lit)
    b.m.add(sum(ys) == f)
    return ys
