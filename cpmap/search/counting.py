"""Counting a mapping space exactly, and the factor splits exhaustive search walks."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterable

from ..core.factors import prime_factors
from .space import Genome, SearchError, Space
from .variation import sample

# ------------------------------------------------------------------------------- counting

def _compositions(k: int, n: int) -> Iterable[tuple[int, ...]]:
    """Every way to write k as an ordered sum of n non-negative integers."""
    for bars in itertools.combinations(range(k + n - 1), n - 1):
        prev, out = -1, []
        for b in bars:
            out.append(b - prev - 1)
            prev = b
        out.append(k + n - 1 - prev - 1)
        yield tuple(out)


def dim_splits(space: Space, d: int, spatial: tuple[int, ...] | None = None) -> list[tuple[int, ...]]:
    """Every factor row of dim ``d`` the space allows on its own: each prime's exponent
    split over the dim's allowed slots, with every axis factor at most the axis size and
    every temporal factor within ``max_factor`` and a factor > 1 on every axis a required
    dataflow puts the dim on.  Distinct rows, in a fixed order.

    With ``spatial`` (a factor row; only its fanout-axis entries are read), only the rows
    with exactly those axis factors: the rest of the dim split over the temporal slots."""
    S = len(space.slots)
    limit = [s.size if s.spatial else None for s in space.slots]
    for i, ts in enumerate(space.temporal_slot):
        limit[ts] = space.max_factor[i][d]
    if spatial is None:
        free, start, size = space.allowed[d], (1,) * S, space.problem.sizes[d]
    else:
        free = space.temporal_slot
        start = tuple(f if slot.spatial else 1 for f, slot in zip(spatial, space.slots))
        size = space.problem.sizes[d] // math.prod(start)
    rows = [start]
    for p, k in prime_factors(size).items():
        new = []
        for row in rows:
            for comp in _compositions(k, len(free)):
                r = list(row)
                for s, e in zip(free, comp):
                    if e:
                        r[s] *= p ** e
                if all(limit[s] is None or r[s] <= limit[s] for s in free):
                    new.append(tuple(r))
        rows = new
    if space.required and spatial is None:
        rows = [r for r in rows if all(r[s] > 1 for s in space.required[d])]
    return rows


def keep_count(space: Space) -> int:
    """Number of bypass combinations."""
    return math.prod(len(c) for c in space.keep_choices)


def _orders(n: tuple[int, ...]) -> int:
    """Loop orders of levels holding n[i] loops each."""
    return math.prod(math.factorial(k) for k in n)


def _count_with_spatial(space: Space, g: Genome) -> int:
    """Mappings of the space with exactly the fanout-axis factors of ``g`` (a feasible
    genome; they fix axis fit and utilization)."""
    upper = space.temporal_slot[1:]
    states = {(0,) * len(upper): 1}
    for d in range(len(space.dims)):
        effects: dict[tuple, int] = {}
        for row in dim_splits(space, d, g.factors[d]):
            key = tuple(int(row[ts] > 1) for ts in upper)
            effects[key] = effects.get(key, 0) + 1
        new: dict[tuple, int] = {}
        for n, m in states.items():
            for present, c in effects.items():
                key = tuple(a + b for a, b in zip(n, present))
                new[key] = new.get(key, 0) + m * c
        states = new
    return keep_count(space) * sum(m * _orders(n) for n, m in states.items())


def _sampled_lower_bound(space: Space, cap: int, draws: int = 32) -> int:
    """A quick lower bound of the space's size: the mappings sharing the fanout-axis
    factors of one of a few sampled genomes (disjoint sets for distinct axis factors).
    Stops once above ``cap``."""
    rng = random.Random(0)
    seen: set[tuple] = set()
    total = 0
    for _ in range(draws):
        try:
            g = sample(space, rng, max_tries=100)
        except SearchError:
            break
        key = tuple(row[s] for row in g.factors for s, slot in enumerate(space.slots) if slot.spatial)
        if key in seen:
            continue
        seen.add(key)
        total += _count_with_spatial(space, g)
        if total > cap:
            break
    return total


def count_mappings(space: Space, cap: int | None = None) -> int:
    """Number of distinct mappings in the space: factor splits that fit the fanout axes
    (and the restrictions), times every order of each level's loops above the innermost,
    times every bypass choice.  This is exactly what :func:`cpmap.search.exhaustive`
    enumerates.  Dynamic programming over dims; the state is the product on each fanout
    axis and the number of loops at each level above the innermost.

    With ``cap``, counting may stop early once the count is sure to exceed ``cap`` and then
    returns some number greater than ``cap`` (a lower bound of the count)."""
    spatial = [s for s, slot in enumerate(space.slots) if slot.spatial]
    sizes = [space.slots[s].size for s in spatial]
    upper = space.temporal_slot[1:]  # levels whose order counts
    keeps = keep_count(space)
    need = space.min_utilization * space.arch.pes - 1e-9
    dims = sorted(range(len(space.dims)), key=lambda d: len(space.primes[d]))
    # Early stop: if every dim can put all of its size in one temporal slot, a state whose
    # axes already meet min_utilization extends to at least one complete mapping, and
    # extending never lowers the number of orders; so the partial count of such states is
    # a lower bound of the final count.
    # A required dataflow breaks that argument: a state may leave a later dim no room.
    extendable = not space.required and all(
        any(space.max_factor[i][d] is None or space.max_factor[i][d] >= space.problem.sizes[d]
            for i in range(space.nlevels)) for d in range(len(space.dims)))
    # For pruning states that cannot reach min_utilization: the product of the primes the
    # dims still to place could put on each axis.
    rest = [[1] * len(spatial) for _ in range(len(dims) + 1)]
    for k in range(len(dims) - 1, -1, -1):
        d = dims[k]
        rest[k] = [r * (math.prod(space.primes[d]) if s in space.allowed[d] else 1)
                   for r, s in zip(rest[k + 1], spatial)]

    if cap is not None and space.restricted:
        lower = _sampled_lower_bound(space, cap)
        if lower > cap:
            return lower

    floors = [([spatial.index(s) for s in mesh], n) for mesh, n in space.min_nodes]

    def done(used: tuple) -> bool:  # meets min_utilization and min_nodes
        return math.prod(used) >= need and all(math.prod(used[k] for k in ks) >= n for ks, n in floors)

    states: dict[tuple, int] = {((1,) * len(spatial), (0,) * len(upper)): 1}
    for k, d in enumerate(dims):
        effects: dict[tuple, int] = {}
        for row in dim_splits(space, d):
            key = (tuple(row[s] for s in spatial), tuple(int(row[ts] > 1) for ts in upper))
            effects[key] = effects.get(key, 0) + 1
        new: dict[tuple, int] = {}
        for (used, n), m in states.items():
            for (f, present), c in effects.items():
                u = tuple(a * b for a, b in zip(used, f))
                if any(x > y for x, y in zip(u, sizes)):
                    continue
                if need > 0 and math.prod(min(y, x * r) for x, y, r in zip(u, sizes, rest[k + 1])) < need:
                    continue  # cannot reach min_utilization any more
                key = (u, tuple(a + b for a, b in zip(n, present)))
                new[key] = new.get(key, 0) + m * c
        states = new
        if cap is not None and extendable:
            partial = keeps * sum(m * _orders(n) for (used, n), m in states.items() if done(used))
            if partial > cap:
                return partial
    return keeps * sum(m * _orders(n) for (used, n), m in states.items() if done(used))
