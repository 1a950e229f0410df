"""Drawing and varying points of a mapping space: random sampling, mutation, crossover.

Pure functions of their arguments plus a ``random.Random``, so a seeded searcher is
deterministic; nothing iterates a set while drawing random numbers (set order depends on
string hashing).
"""

from __future__ import annotations

import random

from ..core.factors import prime_list
from .space import Genome, SearchError, Space, feasible

# -------------------------------------------------------------------------------- sampling

def sample(space: Space, rng: random.Random, max_tries: int = 1000) -> Genome:
    """A random feasible genome: each prime factor of each dim, in a random order, goes to
    a uniformly random allowed slot (re-drawn among the slots it still fits if a fanout
    axis is full), the loops of each level above the innermost are shuffled, and each
    level's keep set is drawn uniformly from its choices.  Under a required dataflow, one
    prime factor of each required dim, drawn among those that still fit, goes to its axis
    first.  Draws that break ``max_factor``, ``min_utilization`` or ``min_nodes`` are rejected; after
    ``max_tries`` rejections in a row it raises :class:`SearchError`."""
    if space.empty_reason:
        raise SearchError(f"no mapping satisfies the restrictions: {space.empty_reason}")
    rand = rng.random
    slots, allowed = space.slots, space.allowed
    D, S = len(space.dims), len(slots)
    sizes = [s.size for s in slots]
    spatial = [s.spatial for s in slots]
    rows = [(d, p, allowed[d], len(allowed[d])) for d, p in space.tokens]
    n_tok = len(rows)
    temporal_slot = space.temporal_slot
    keep_choices = space.keep_choices
    required = [(d, s) for d, on in enumerate(space.required) for s in on]
    for _ in range(max_tries):
        fac = [[1] * S for _ in range(D)]
        used = [1] * S  # product of the factors on each fanout axis so far
        todo = list(rows)
        for a in range(n_tok - 1, 0, -1):  # Fisher-Yates on rng.random (faster than shuffle)
            b = int(rand() * (a + 1))
            todo[a], todo[b] = todo[b], todo[a]
        if required and not _place_required(required, todo, fac, used, sizes, rand):
            continue
        for d, p, row, n in todo:
            s = row[int(rand() * n)]
            if spatial[s]:
                u = used[s] * p
                if u > sizes[s]:
                    fits = [t for t in row if not spatial[t] or used[t] * p <= sizes[t]]
                    s = fits[int(rand() * len(fits))]
                    used[s] *= p
                else:
                    used[s] = u
            fac[d][s] *= p
        orders = []
        for i, ts in enumerate(temporal_slot):
            present, absent = [], []
            for d in range(D):
                (present if fac[d][ts] > 1 else absent).append(d)
            if i > 0:
                for a in range(len(present) - 1, 0, -1):
                    b = int(rand() * (a + 1))
                    present[a], present[b] = present[b], present[a]
            orders.append(tuple(present + absent))
        keeps = tuple(c[0] if len(c) == 1 else c[int(rand() * len(c))] for c in keep_choices)
        g = Genome(tuple(map(tuple, fac)), tuple(orders), keeps)
        if not space.restricted or feasible(space, g):
            return g
    raise SearchError(f"no feasible mapping drawn in {max_tries} tries: the restrictions (max_factor, "
                      f"min_utilization {space.min_utilization}{', dataflow' if required else ''}"
                      f"{', min_nodes' if space.min_nodes else ''}) leave too "
                      f"little of the space")


def _place_required(required, todo: list, fac: list[list[int]], used: list[int], sizes: list[int], rand) -> bool:
    """Put one prime factor of each required dim on its axis (taking it out of ``todo``),
    drawn among the dim's factors that still fit; False when one fits nowhere."""
    for d, s in required:
        fits = [k for k, t in enumerate(todo) if t[0] == d and used[s] * t[1] <= sizes[s]]
        if not fits:
            return False
        p = todo.pop(fits[int(rand() * len(fits))])[1]
        used[s] *= p
        fac[d][s] *= p
    return True


# ------------------------------------------------------------------------------- variation

def _axis_used(space: Space, fac, s: int) -> int:
    u = 1
    for row in fac:
        u *= row[s]
    return u


def _move_factor(space: Space, fac: list[list[int]], rng: random.Random) -> bool:
    """Move one prime factor of one dim to another allowed slot where it fits."""
    if not space.tokens:
        return False
    d, p = space.tokens[int(rng.random() * len(space.tokens))]
    row = fac[d]
    on = space.required[d] if space.required else ()
    sources = [s for s in range(len(row)) if row[s] % p == 0 and not (s in on and row[s] == p)]
    if not sources:
        return False  # the dim's only factor > 1 on a required axis stays
    src = sources[int(rng.random() * len(sources))]
    targets = [t for t in space.allowed[d] if t != src and
               (not space.slots[t].spatial or _axis_used(space, fac, t) * p <= space.slots[t].size)]
    if not targets:
        return False
    dst = targets[int(rng.random() * len(targets))]
    row[src] //= p
    row[dst] *= p
    return True


def _swap_loops(space: Space, fac: list[list[int]], orders: list[tuple[int, ...]], rng: random.Random) -> bool:
    """Swap two loops of a level above the innermost that has at least two loops."""
    levels = []
    for i in range(1, space.nlevels):
        ts = space.temporal_slot[i]
        if sum(1 for row in fac if row[ts] > 1) >= 2:
            levels.append(i)
    if not levels:
        return False
    i = levels[int(rng.random() * len(levels))]
    ts = space.temporal_slot[i]
    order = list(orders[i])
    a, b = rng.sample([k for k, d in enumerate(order) if fac[d][ts] > 1], 2)
    order[a], order[b] = order[b], order[a]
    orders[i] = tuple(order)
    return True


def _toggle_keep(space: Space, keeps: list[frozenset[str]], rng: random.Random) -> bool:
    """Toggle one free keep bit of one level."""
    levels = [i for i, free in enumerate(space.keep_free) if free]
    if not levels:
        return False
    i = levels[int(rng.random() * len(levels))]
    free = space.keep_free[i]
    t = free[int(rng.random() * len(free))]
    keeps[i] = keeps[i] - {t} if t in keeps[i] else keeps[i] | {t}
    return True


MOVE_WEIGHTS = (0.5, 0.3, 0.2)
"""Probabilities of a factor move, a loop swap and a keep toggle in :func:`mutate`."""


def mutate(space: Space, g: Genome, rng: random.Random, moves: int = 1) -> Genome:
    """``g`` changed by ``moves`` random elementary moves, each one of (probabilities
    :data:`MOVE_WEIGHTS`): move a prime factor of a dim to another allowed slot where it
    fits, swap two loops of a level above the innermost, toggle one free keep bit.  A move
    that is impossible in ``g`` falls back to the next kind.  Fanout sizes stay respected;
    ``max_factor`` / ``min_utilization`` may not (check :func:`feasible`)."""
    fac = [list(r) for r in g.factors]
    orders = list(g.orders)
    keeps = list(g.keeps)
    ops = (lambda: _move_factor(space, fac, rng), lambda: _swap_loops(space, fac, orders, rng),
           lambda: _toggle_keep(space, keeps, rng))
    for _ in range(moves):
        r = rng.random()
        first = 0 if r < MOVE_WEIGHTS[0] else 1 if r < MOVE_WEIGHTS[0] + MOVE_WEIGHTS[1] else 2
        for k in range(3):
            if ops[(first + k) % 3]():
                break
    return Genome(tuple(map(tuple, fac)), tuple(orders), tuple(keeps))


def repair(space: Space, fac: list[list[int]], rng: random.Random) -> None:
    """Make every fanout axis fit, in place: while an axis unrolls more than its size, move
    one prime factor of a random dim on it to the temporal loops of the same level, a dim
    that keeps a factor > 1 there if the dataflow requires it, when there is one."""
    for s, slot in enumerate(space.slots):
        if not slot.spatial:
            continue
        while _axis_used(space, fac, s) > slot.size:
            on = [d for d in range(len(fac)) if fac[d][s] > 1]
            if space.required:
                spare = [d for d in on if s not in space.required[d] or len(prime_list(fac[d][s])) > 1]
                on = spare or on
            d = on[int(rng.random() * len(on))]
            p = prime_list(fac[d][s])[0]
            fac[d][s] //= p
            fac[d][space.temporal_slot[slot.level]] *= p


def crossover(space: Space, a: Genome, b: Genome, rng: random.Random) -> Genome:
    """Uniform crossover: each dim's factor row, each level's loop order and each level's
    keep set comes from ``a`` or ``b`` with equal probability; fanout axes that then
    overflow are repaired (:func:`repair`).  Factor rows are taken whole, so every dim's
    factors still multiply to its size."""
    fac = [list(ra if rng.random() < 0.5 else rb) for ra, rb in zip(a.factors, b.factors)]
    orders = tuple(oa if rng.random() < 0.5 else ob for oa, ob in zip(a.orders, b.orders))
    keeps = tuple(ka if rng.random() < 0.5 else kb for ka, kb in zip(a.keeps, b.keeps))
    repair(space, fac, rng)
    return Genome(tuple(map(tuple, fac)), orders, keeps)
