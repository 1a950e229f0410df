"""Resident tensors in the CP-SAT model (docs/cost-model.md section 11).

A resident tensor is kept at its level and at no level above, so that level is its backing
store (its parent-less top keeper: the counts stop there).  Its "tile" there is the whole
tensor, a constant, or, with fanouts above the level (a per-node buffer of a mesh), one
instance's share: the tile over every slot but those fanouts', under the rules of
:func:`~cpmap.core.residency.resident_mapping_errors` in exponent form.
"""

from __future__ import annotations

from ..core.errors import CpmapError
from ..core.residency import resident_levels
from .monomial import Mono


def add_residency(b) -> None:
    """Keeps, backing store and tile of every resident tensor of builder ``b``."""
    for t, r in resident_levels(b.problem, b.arch).items():
        fixed = b.cons.keeps.get(r)
        if fixed is not None and t not in fixed:
            raise CpmapError(f"constraints.keeps.{b.levels[r].name}: {t} is resident in "
                             f"{b.levels[r].name}, so the level must keep it")
        b.keep[r, t] = True
        for j in range(r + 1, b.L):
            b.keep[j, t] = False
        b.top[t] = r
        if not any(lv.fanout is not None for lv in b.levels[r + 1:]):
            b.S[t, r] = Mono(b.problem.tensor_words(t))
            continue
        tensor = next(x for x in b.problem.tensors if x.name == t)
        b.S[t, r] = b.tile_mono(tensor, r, lambda s, r=r: not (s.spatial and s.level > r), f"share{r}")
        _share_rules(b, tensor, r)


def _share_rules(b, tensor, r: int) -> None:
    """No O-irrelevant factor on a fanout above ``r`` for a resident O; a window dim
    unrolled by such a fanout has no temporal factor at that fanout's level or above."""
    kit, m = b.kit, b.m
    window_dims = [d for d in b.all_dims if any(len(ax.terms) == 2 and d in dict(ax.terms) for ax in tensor.axes)]
    for s in b.slots:
        if not (s.spatial and s.level > r):
            continue
        for d in b.all_dims:
            evs = [kit.atoms["e", d, p, s] for p in kit.primes[d] if ("e", d, p, s) in kit.atoms]
            if not evs:
                continue
            if tensor.name == "O" and d not in tensor.dims:
                m.add(sum(evs) == 0)
            elif d in window_dims:
                above = [kit.atoms["e", d, p, u] for u in b.slots if not u.spatial and u.level >= s.level
                         for p in kit.primes[d] if ("e", d, p, u) in kit.atoms]
                if not above:
                    continue
                split = m.new_bool_var(kit.name(f"split_{d}{s.level}{s.axis}"))
                m.add(sum(evs) >= 1).only_enforce_if(split)
                m.add(sum(evs) == 0).only_enforce_if(split.Not())
                m.add(sum(above) == 0).only_enforce_if(split)
