"""Loop-order classes of the layer model (docs/solver.md, "Loop order").

``inner[j, T]`` literals say which tensor's irrelevant loops run innermost at level ``j``;
they gate the reuse terms of :mod:`.counts`.  Kept apart from :mod:`.model` so each
builder step stays short; it reads and extends the builder's state like the others.
"""

from __future__ import annotations

from ..core.slots import Slot


def add_loop_order(b) -> None:
    """``inner[j, T]``: T's irrelevant loops are innermost at level j; if no literal is
    set (``none``), a loop relevant to every tensor is innermost and no tensor gets
    reuse at j.  A class is only chosen where its tensor has an irrelevant loop, and
    ``none`` only where a loop relevant to all is there or no tensor has an irrelevant
    loop: the order read back then realizes exactly the modelled reuse.  These classes
    hold an optimal order of every level (docs/solver.md, "Loop order"), given
    non-negative energies."""
    m, levels = b.m, b.levels
    fanned = [lv.fanout.energy_pj for lv in levels if lv.fanout is not None]
    if min([lv.read_pj for lv in levels] + [lv.write_pj for lv in levels] + fanned) < 0:
        raise ValueError("the loop-order classes need non-negative per-word energies")
    shared = tuple(d for d in b.all_dims if not any(d in b.irr[t] for t in b.tensors))
    b.inner = {}
    for j in range(1, b.L):
        none = m.new_bool_var(f"inner_{levels[j].name}_none")
        lits = [m.new_bool_var(f"inner_{levels[j].name}_{t}") for t in b.tensors]
        m.add_exactly_one(lits + [none])
        all_ev = b.temporal_exps(shared, j)
        irr_ev = []
        for t, lit in zip(b.tensors, lits):
            b.inner[j, t] = lit
            ev = b.temporal_exps(b.irr[t], j)
            irr_ev += ev
            if not ev:
                m.add(lit == 0)
            else:
                m.add(sum(ev) >= 1).only_enforce_if(lit)
                if not all_ev:
                    m.add(sum(ev) == 0).only_enforce_if(none)
        if all_ev and irr_ev:
            # none: no irrelevant loop, unless a loop relevant to all can go innermost
            big = sum(b.kit.primes[d][p] for t in b.tensors for d in b.irr[t]
                      for p in b.kit.primes[d] if ("e", d, p, Slot(j)) in b.kit.atoms)
            m.add(sum(irr_ev) <= big * sum(all_ev)).only_enforce_if(none)
    b.no_rel = {}
    for t in b.tensors:
        for j in range(b.L):
            ev = b.temporal_exps(b.rel[t], j)
            if not ev:
                b.no_rel[t, j] = True
                continue
            z = m.new_bool_var(f"norel_{t}{j}")
            m.add(sum(ev) == 0).only_enforce_if(z)
            m.add(sum(ev) >= 1).only_enforce_if(z.negated())
            b.no_rel[t, j] = z


def classes_unproved(problem, arch, objective: str, capped: bool) -> str:
    """Why the loop-order classes may miss the best order of some factorization, or "" when
    they provably do not (docs/solver.md, "Loop order").  The argument needs the objective
    affine in each level's ``1 / R``; bandwidth-limited cycles (a finite level or channel
    bandwidth, priced by the delay or edp objective, a static energy or a cycle cap) are a
    maximum of counts, where a partial run of the output's irrelevant loops can beat every
    class.  That needs a negative coefficient, which only the output's first-touch reads in
    a reduction group give: a fanout, and two O-irrelevant dims of size > 1 (a level holds
    one loop per dim, so with one such dim every run is empty or full)."""
    bandwidth = any(lv.read_bandwidth or lv.write_bandwidth or (lv.memory is not None and lv.memory.bandwidth)
                    for lv in arch.levels)
    priced = objective in ("delay", "edp") or capped or arch.static_pj_per_cycle > 0
    output_dims = problem.tensor("O").dims
    reduced = [d for d, n in zip(problem.dims, problem.sizes) if n > 1 and d not in output_dims]
    fanned = any(lv.fanout is not None for lv in arch.levels)
    if bandwidth and priced and fanned and len(reduced) >= 2:
        return (f"with bandwidth-limited cycles in the objective and {', '.join(reduced)} reduced over a fanout, "
                "an order outside the model's loop-order classes can be better (docs/solver.md, \"Loop order\")")
    return ""
