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


def forward_literals(b) -> dict:
    """{(mesh level, input tensor): BoolVar} for every mesh fanout that allows forwarding."""
    out = {}
    for j in b.meshes:
        if b.levels[j].fanout.forwarding:
            for t in b.tensors:
                if t != "O":
                    out[j, t] = b.m.new_bool_var(b.kit.name(f"fwd{j}{t}"))
    return out


def share_variants(counts, t: str, shared: dict) -> list[tuple[dict, object]]:
    """[(sharing factor per fanout, literal)]: the terms of ``t`` are added once per
    variant, gated by its literal (True: one variant, as without forwarding)."""
    variants = [(shared, True)]
    for (j, u), f in counts.fwd.items():
        if u != t or counts.levels[j].fanout.multicast:
            continue
        variants = [(v, counts.kit.conj([lit, counts.kit.neg(f)], f"nofwd_{t}{j}")) for v, lit in variants] + \
                   [(v | {j: counts.sp_rel[t, j]}, counts.kit.conj([lit, f], f"fwd_{t}{j}")) for v, lit in variants]
    return variants


def crosses(counts, t: str, lo: int, hi: int) -> bool:
    """Whether words moving between levels ``lo`` and ``hi`` (lo < hi) cross a mesh that
    may forward ``t`` without multicast (so their counts have variants)."""
    return any(u == t and lo < j <= hi and not counts.levels[j].fanout.multicast for j, u in counts.fwd)


def forward_scale(plans: list, tensors: tuple[str, ...], loads: bool) -> tuple[int, bool]:
    """(scale, exact): the lcm of the denominators of the forwarded fills' links (and
    channel loads when the channels have a bandwidth) over every entry's plan, capped."""
    scale = 1
    for plan in plans:
        for t in tensors:
            tr = plan.fill[t]
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
