"""The mapping space shared by every heuristic searcher.

A :class:`Space` fixes, for one problem on one architecture (and optional restrictions),
which mappings exist; a :class:`Genome` is one point of it:

* **factors** ``factors[d][s]``: the factor of dim ``d`` in *slot* ``s``.  The slots are,
  for each level innermost first, its temporal loops and then one slot per axis of the
  fanout below it (:attr:`Space.slots`).  Each prime factor of a dim sits in exactly one
  slot, so a row is a prime-exponent assignment written as the integers it multiplies
  to (a canonical encoding: the integer determines the exponents), and the factors of
  each dim always multiply to its size.
* **orders** ``orders[i]``: a permutation of every dim index, outer to inner, for level
  ``i``.  Dims with factor 1 at that level are dropped when decoding, so only the
  relative order of the loops present matters.  The innermost level's order cannot change
  any count (refills depend only on loops above a level), so :func:`sample` leaves it
  canonical and :func:`count_mappings` counts one order there.
* **keeps** ``keeps[i]``: the tensors level ``i`` keeps, one of :attr:`Space.keep_choices`.

Rules enforced by construction (:func:`feasible`): a dim may use a fanout axis only if the
restrictions allow it there and, for a fanout without ``reduction``, only if it is relevant
to O; the factors on an axis multiply to at most the axis size; temporal factors respect
``max_factor``; used PEs / PEs is at least ``min_utilization``.  Capacities are the
evaluator's business: a feasible genome may still be an invalid mapping.

Everything here is a pure function of its arguments plus a ``random.Random`` for the
sampling and variation operators, so a seeded searcher is deterministic.  Nothing
iterates a set when drawing random numbers (set order depends on string hashing).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterable
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass

from ..arch import Arch
from ..errors import CpmapError
from ..factors import prime_factors, prime_list
from ..mapping import LevelMapping, Mapping
from ..problem import Problem


class SearchError(CpmapError):
    """A search that cannot run as asked: a space too large to enumerate, restrictions
    that leave no mapping, a bad option."""


@dataclass(frozen=True)
class Slot:
    """Where a factor can go: the temporal loops of ``level`` (``axis`` None) or one axis
    of the fanout below ``level`` (``size`` is the axis size)."""

    level: int
    axis: str | None = None
    size: int = 0

    @property
    def spatial(self) -> bool:
        return self.axis is not None


@dataclass(frozen=True)
class Genome:
    """One mapping in index form (see the module docstring)."""

    factors: tuple[tuple[int, ...], ...]
    """[dim][slot] -> factor."""
    orders: tuple[tuple[int, ...], ...]
    """[level] -> permutation of the dim indices, outer to inner."""
    keeps: tuple[frozenset[str], ...]
    """[level] -> kept tensors."""


@dataclass(frozen=True)
class Space:
    """The mapping space of one problem on one architecture.  Build it with
    :func:`make_space` or :func:`space_for`."""

    problem: Problem
    arch: Arch
    slots: tuple[Slot, ...]
    temporal_slot: tuple[int, ...]
    """[level] -> index of the level's temporal slot."""
    spatial_slots: tuple[tuple[int, ...], ...]
    """[level] -> indices of the fanout-axis slots below the level (empty without fanout)."""
    primes: tuple[tuple[int, ...], ...]
    """[dim] -> prime factors of the dim's size with multiplicity, ascending."""
    tokens: tuple[tuple[int, int], ...]
    """Every (dim, prime) with multiplicity: the things :func:`sample` places."""
    allowed: tuple[tuple[int, ...], ...]
    """[dim] -> slots the dim may use (every temporal slot, the permitted axes)."""
    keep_choices: tuple[tuple[frozenset[str], ...], ...]
    """[level] -> allowed keep sets, in a fixed order."""
    keep_free: tuple[tuple[str, ...], ...]
    """[level] -> tensors whose keep bit is a free choice at that level (sorted)."""
    max_factor: tuple[tuple[int | None, ...], ...]
    """[level][dim] -> largest temporal factor allowed (None: no limit)."""
    min_utilization: float = 0.0
    restricted: bool = False
    """True when a max_factor or min_utilization restriction applies (sampled genomes are
    then checked with :func:`feasible`)."""

    @property
    def dims(self) -> tuple[str, ...]:
        return self.problem.dims

    @property
    def nlevels(self) -> int:
        return len(self.arch.levels)


# ---------------------------------------------------------------------------------- building

def _level_index(arch: Arch, level, what: str) -> int:
    if isinstance(level, str):
        if level not in arch.level_names:
            raise SearchError(f"{what}: unknown level {level!r} (levels are {list(arch.level_names)})")
        return arch.level_index(level)
    if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level < len(arch.levels):
        raise SearchError(f"{what}: level must be a level name or an index 0..{len(arch.levels) - 1}, "
                          f"got {level!r}")
    return level


def make_space(problem: Problem, arch: Arch, *,
               spatial_dims: MappingABC | None = None,
               keeps: MappingABC | None = None,
               min_utilization: float = 0.0,
               max_factor: MappingABC | None = None) -> Space:
    """The mapping space of ``problem`` on ``arch``.

    ``spatial_dims``: {(level, axis): dims allowed on that fanout axis} (e.g. a fixed
    dataflow); axes not listed allow every dim.  ``keeps``: {level: tensors the level keeps,
    exactly} (fixed bypass).  ``min_utilization``: used PEs / PEs lower bound.
    ``max_factor``: {(level, dim): largest temporal factor}.  Levels are indices
    (innermost 0) or names.  The same keys as :class:`cpmap.cpsat.UserConstraints`.
    """
    dims = problem.dims
    dim_index = {d: k for k, d in enumerate(dims)}
    tensors = problem.tensor_names
    L = len(arch.levels)
    o_relevant = problem.tensor("O").dims

    slots: list[Slot] = []
    temporal_slot: list[int] = []
    spatial_slots: list[tuple[int, ...]] = []
    for i, lv in enumerate(arch.levels):
        temporal_slot.append(len(slots))
        slots.append(Slot(i))
        axes = []
        if lv.fanout is not None:
            for ax, n in lv.fanout.axes:
                axes.append(len(slots))
                slots.append(Slot(i, ax, n))
        spatial_slots.append(tuple(axes))

    allowed_on: dict[int, set[str]] = {}
    for key, ds in (spatial_dims or {}).items():
        if not (isinstance(key, tuple) and len(key) == 2):
            raise SearchError(f"spatial_dims: keys are (level, axis), got {key!r}")
        i = _level_index(arch, key[0], "spatial_dims")
        lv = arch.levels[i]
        match = [k for k in spatial_slots[i] if slots[k].axis == key[1]]
        if not match:
            axes = [a for a, _ in lv.fanout.axes] if lv.fanout else []
            raise SearchError(f"spatial_dims: level {lv.name} has no fanout axis {key[1]!r} (axes: {axes})")
        ds = [ds] if isinstance(ds, str) else list(ds)
        unknown = [d for d in ds if d not in dim_index]
        if unknown:
            raise SearchError(f"spatial_dims[{lv.name}, {key[1]}]: unknown dims {unknown} "
                              f"(dims are {list(dims)})")
        allowed_on[match[0]] = set(ds)

    allowed = []
    for d in dims:
        row = []
        for k, s in enumerate(slots):
            if s.spatial:
                fan = arch.levels[s.level].fanout
                if not fan.reduction and d not in o_relevant:
                    continue
                if k in allowed_on and d not in allowed_on[k]:
                    continue
            row.append(k)
        allowed.append(tuple(row))

    fixed: dict[int, frozenset[str]] = {}
    for level, ts in (keeps or {}).items():
        i = _level_index(arch, level, "keeps")
        ts = frozenset([ts] if isinstance(ts, str) else ts)
        unknown = sorted(ts - set(tensors))
        if unknown:
            raise SearchError(f"keeps[{arch.levels[i].name}]: unknown tensors {unknown} "
                              f"(tensors are {list(tensors)})")
        fixed[i] = ts
    keep_choices, keep_free = [], []
    for i, lv in enumerate(arch.levels):
        if i == L - 1:
            choice = fixed.get(i, frozenset(tensors))
            keep_choices.append((choice,))
            keep_free.append(())
        elif i in fixed:
            keep_choices.append((fixed[i],))
            keep_free.append(())
        else:
            free = tuple(t for t in tensors if t in lv.keeps)
            keep_choices.append(tuple(frozenset(c) for r in range(len(free) + 1)
                                      for c in itertools.combinations(free, r)))
            keep_free.append(tuple(sorted(free)))

    mf: list[list[int | None]] = [[None] * len(dims) for _ in range(L)]
    for key, limit in (max_factor or {}).items():
        if not (isinstance(key, tuple) and len(key) == 2):
            raise SearchError(f"max_factor: keys are (level, dim), got {key!r}")
        i = _level_index(arch, key[0], "max_factor")
        if key[1] not in dim_index:
            raise SearchError(f"max_factor: unknown dim {key[1]!r} (dims are {list(dims)})")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise SearchError(f"max_factor[{arch.levels[i].name}, {key[1]}]: expected an integer >= 1, "
                              f"got {limit!r}")
        mf[i][dim_index[key[1]]] = limit
    if not 0.0 <= min_utilization <= 1.0:
        raise SearchError(f"min_utilization must be in [0, 1], got {min_utilization!r}")

    primes = tuple(tuple(prime_list(n)) for n in problem.sizes)
    tokens = tuple((d, p) for d, ps in enumerate(primes) for p in ps)
    return Space(problem, arch, tuple(slots), tuple(temporal_slot), tuple(spatial_slots), primes, tokens,
                 tuple(allowed), tuple(keep_choices), tuple(keep_free),
                 tuple(tuple(row) for row in mf), float(min_utilization),
                 min_utilization > 0 or any(m is not None for row in mf for m in row))


def space_for(problem: Problem, arch: Arch, constraints=None) -> Space:
    """:func:`make_space` from a :class:`cpmap.cpsat.UserConstraints`-like object (read by
    attribute: ``spatial_dims``, ``keeps``, ``min_utilization``, ``max_factor``; missing
    attributes mean no restriction), or from None."""
    if constraints is None:
        return make_space(problem, arch)
    return make_space(problem, arch,
                      spatial_dims=getattr(constraints, "spatial_dims", None) or None,
                      keeps=getattr(constraints, "keeps", None) or None,
                      min_utilization=getattr(constraints, "min_utilization", 0.0) or 0.0,
                      max_factor=getattr(constraints, "max_factor", None) or None)


def resolve_space(problem: Problem, arch: Arch, constraints, space: Space | None) -> Space:
    """``space`` if given (it must be of this problem and architecture), else the space of
    ``problem`` on ``arch`` under ``constraints``."""
    if space is None:
        return space_for(problem, arch, constraints)
    if constraints is not None:
        raise SearchError("give constraints or a prebuilt space, not both")
    if space.problem != problem or space.arch != arch:
        raise SearchError("the given space is of another problem or architecture")
    return space


# ------------------------------------------------------------------------- genome <-> mapping

def decode(space: Space, g: Genome) -> Mapping:
    """The :class:`Mapping` a genome stands for (factor-1 loops dropped)."""
    dims, fac, slots = space.dims, g.factors, space.slots
    levels = []
    for i, lv in enumerate(space.arch.levels):
        ts = space.temporal_slot[i]
        temporal = tuple((dims[d], fac[d][ts]) for d in g.orders[i] if fac[d][ts] > 1)
        spatial = []
        for s in space.spatial_slots[i]:
            loops = tuple((dims[d], fac[d][s]) for d in range(len(dims)) if fac[d][s] > 1)
            if loops:
                spatial.append((slots[s].axis, loops))
        levels.append(LevelMapping(lv.name, temporal, g.keeps[i], tuple(spatial)))
    return Mapping(tuple(levels))


def encode(space: Space, mapping: Mapping) -> Genome:
    """The genome of ``mapping`` (which must be structurally valid for the space's problem
    and architecture).  Dims absent from a level's loops follow its loops in dim order."""
    errs = mapping.structural_errors(space.problem, space.arch)
    if errs:
        raise SearchError("cannot encode the mapping: " + "; ".join(errs))
    dim_index = {d: k for k, d in enumerate(space.dims)}
    D, S = len(space.dims), len(space.slots)
    fac = [[1] * S for _ in range(D)]
    orders = []
    for i, lm in enumerate(mapping.levels):
        ts = space.temporal_slot[i]
        order = []
        for d, f in lm.temporal:
            fac[dim_index[d]][ts] *= f
            order.append(dim_index[d])
        orders.append(tuple(order + [k for k in range(D) if k not in order]))
        by_axis = {space.slots[s].axis: s for s in space.spatial_slots[i]}
        for axis, loops in lm.spatial:
            for d, f in loops:
                fac[dim_index[d]][by_axis[axis]] *= f
    return Genome(tuple(map(tuple, fac)), tuple(orders), tuple(lm.keeps for lm in mapping.levels))


def feasible(space: Space, g: Genome) -> bool:
    """The genome follows the space's rules (see the module docstring).  Capacities are not
    checked: that is the evaluator's job."""
    fac = g.factors
    used_pes = 1
    for s, slot in enumerate(space.slots):
        if slot.spatial:
            u = 1
            for row in fac:
                u *= row[s]
            if u > slot.size:
                return False
            used_pes *= u
    for d, row in enumerate(fac):
        allowed = space.allowed[d]
        for s, f in enumerate(row):
            if f > 1 and s not in allowed:
                return False
    for i, limits in enumerate(space.max_factor):
        ts = space.temporal_slot[i]
        for d, m in enumerate(limits):
            if m is not None and fac[d][ts] > m:
                return False
    if space.min_utilization > 0 and used_pes < space.min_utilization * space.arch.pes - 1e-9:
        return False
    for i, k in enumerate(g.keeps):
        if k not in space.keep_choices[i]:
            return False
    return True


# -------------------------------------------------------------------------------- sampling

def sample(space: Space, rng: random.Random, max_tries: int = 1000) -> Genome:
    """A random feasible genome: each prime factor of each dim, in a random order, goes to
    a uniformly random allowed slot (re-drawn among the slots it still fits if a fanout
    axis is full), the loops of each level above the innermost are shuffled, and each
    level's keep set is drawn uniformly from its choices.  Draws that break ``max_factor``
    or ``min_utilization`` are rejected; after ``max_tries`` rejections in a row it raises
    :class:`SearchError`."""
    rand = rng.random
    slots, allowed = space.slots, space.allowed
    D, S = len(space.dims), len(slots)
    sizes = [s.size for s in slots]
    spatial = [s.spatial for s in slots]
    rows = [(d, p, allowed[d], len(allowed[d])) for d, p in space.tokens]
    n_tok = len(rows)
    temporal_slot = space.temporal_slot
    keep_choices = space.keep_choices
    for _ in range(max_tries):
        fac = [[1] * S for _ in range(D)]
        used = [1] * S  # product of the factors on each fanout axis so far
        todo = list(rows)
        for a in range(n_tok - 1, 0, -1):  # Fisher-Yates on rng.random (faster than shuffle)
            b = int(rand() * (a + 1))
            todo[a], todo[b] = todo[b], todo[a]
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
                      f"min_utilization {space.min_utilization}) leave too little of the space")


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
    sources = [s for s in range(len(row)) if row[s] % p == 0]
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
    one prime factor of a random dim on it to the temporal loops of the same level."""
    for s, slot in enumerate(space.slots):
        if not slot.spatial:
            continue
        while _axis_used(space, fac, s) > slot.size:
            on = [d for d in range(len(fac)) if fac[d][s] > 1]
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
    every temporal factor within ``max_factor``.  Distinct rows, in a fixed order.

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
    extendable = all(any(space.max_factor[i][d] is None or space.max_factor[i][d] >= space.problem.sizes[d]
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
            partial = keeps * sum(m * _orders(n) for (used, n), m in states.items() if math.prod(used) >= need)
            if partial > cap:
                return partial
    return keeps * sum(m * _orders(n) for (used, n), m in states.items() if math.prod(used) >= need)
