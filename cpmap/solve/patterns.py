"""Pattern bounds: a redundant lower bound on each tensor's traffic energy that holds
whatever its keep literals turn out to be (issue 11 item 5, docs/solver.md).

In the layer model every access-count term is gated by a literal built from the keep
(bypass) literals; while a keep literal is unfixed, each gated term relaxes to zero and
the bound of the objective misses the traffic of every alternative.  Here, per tensor
``T`` and per *pattern* ``P`` (an assignment of the free literals its terms' gates are
built from, at most :data:`MAX_LEAVES` of them), ``E(T, P)`` is the energy of ``T``'s
counts with ``P`` fixed: a linear expression of the *ungated* terms, whose lower bounds
propagate from the exponents.  Then

    w(T, P) >= E(T, P)                   always (``w`` is at most its upper bound otherwise)
    w(T, P) <= E(T, P)                   if P holds
    w(T, P) = upper bound of E(T, P)     if P does not hold
    m(T) = min over P of w(T, P)
    the count energy (reads, writes, network words) >= sum over T of m(T)

Exactly one pattern holds, and under it the counts of ``T`` are exactly ``E(T, P)``, so
every solution of the model satisfies these: they remove no mapping and change no
optimum (tests/test_patterns.py checks both against exhaustive enumeration).  What they
add is propagation: ``m(T)`` is at least the least lower bound of ``E(T, P)`` over the
patterns still possible, where the gated counts alone give zero.
"""

from __future__ import annotations

import itertools
import math

from .kit import INT64_SAFE

ENABLED = False
"""Off: measured without a consistent gain (docs/performance.md, "What proves the hard layers");
``bench/hard_layers.py`` and the tests switch it on."""

MAX_LEAVES = 4
"""A tensor whose gates depend on more free literals gets no pattern bound (2^4 patterns)."""


def leaves(kit, lit, out: dict) -> bool:
    """Collect the free literals (by variable index) ``lit`` is built from through
    :meth:`ModelKit.conj` / :meth:`ModelKit.disj`; False if it is none of those."""
    if isinstance(lit, bool):
        return True
    idx = lit.index if lit.index >= 0 else -lit.index - 1
    if idx in kit.parts:
        return all(leaves(kit, p, out) for p in kit.parts[idx][1])
    out.setdefault(idx, lit if lit.index >= 0 else lit.negated())
    return True


def holds(kit, lit, values: dict) -> bool:
    """The value of ``lit`` when the free literals take ``values`` (index -> bool)."""
    if isinstance(lit, bool):
        return lit
    neg = lit.index < 0
    idx = -lit.index - 1 if neg else lit.index
    if idx in kit.parts:
        op, parts = kit.parts[idx]
        v = (all if op == "and" else any)(holds(kit, p, values) for p in parts)
    else:
        v = values[idx]
    return v != neg


def word_pj(level, kind: str, scale: int) -> int:
    """Energy per word of count ``kind`` at ``level`` in model units, as the objective
    weighs it (0: not a read, write or network count)."""
    pj = {"reads": level.read_pj, "writes": level.write_pj,
          "net": level.fanout.energy_pj if level.fanout is not None else 0}.get(kind, 0)
    return math.floor(pj * scale + 1e-9)


def add_pattern_bounds(b, scale: int, count_energy) -> None:
    """Add the constraints of the module docstring to builder ``b`` (after its counts):
    ``count_energy`` is the objective's sum of reads, writes and network words weighed by
    their energies scaled by ``scale``."""
    if not ENABLED:
        return
    kit, m = b.kit, b.m
    mins = []
    for t in b.tensors:
        mine = [(c, sign, term, lit) for owner, kind, level, sign, term, lit in b.count_terms
                if owner == t and (c := word_pj(b.levels[level], kind, scale))]
        free: dict = {}
        if not mine or not all(leaves(kit, lit, free) for *_, lit in mine) or not free or len(free) > MAX_LEAVES:
            continue
        hi = sum(c * term.ub for c, sign, term, _ in mine if sign > 0)
        lo = -sum(c * term.ub for c, sign, term, _ in mine if sign < 0)
        if hi - lo >= INT64_SAFE:
            continue
        idx, lits = list(free), list(free.values())
        ws = []
        for values in itertools.product((False, True), repeat=len(idx)):
            assign = dict(zip(idx, values))
            expr = sum(sign * c * term.expr for c, sign, term, lit in mine if holds(kit, lit, assign))
            pat = kit.conj([lit if v else lit.negated() for lit, v in zip(lits, values)], f"pat_{t}")
            w = m.new_int_var(lo, hi, kit.name(f"patE_{t}"))
            m.add(w >= expr)
            m.add(w <= expr).only_enforce_if(pat)
            m.add(w == hi).only_enforce_if(kit.neg(pat))
            ws.append(w)
        mn = m.new_int_var(lo, hi, kit.name(f"patmin_{t}"))
        m.add_min_equality(mn, ws)
        mins.append(mn)
    if mins:
        m.add(count_energy >= sum(mins))
