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
  any count (refills depend only on loops above a level), so :func:`~cpmap.search.variation.sample` leaves it
  canonical and :func:`~cpmap.search.counting.count_mappings` counts one order there.
* **keeps** ``keeps[i]``: the tensors level ``i`` keeps, one of :attr:`Space.keep_choices`.

Rules enforced by construction (:func:`feasible`): a dim may use a fanout axis only if the
restrictions allow it there and, for a fanout without ``reduction``, only if it is relevant
to O; the factors on an axis multiply to at most the axis size; temporal factors respect
``max_factor``; used PEs / PEs is at least ``min_utilization``; a dim a required dataflow
puts on an axis has a factor > 1 there.  Capacities are the
evaluator's business: a feasible genome may still be an invalid mapping.

Everything here is a pure function of its arguments plus a ``random.Random`` for the
sampling and variation operators, so a seeded searcher is deterministic.  Nothing
iterates a set when drawing random numbers (set order depends on string hashing).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass

from ..core.arch import Arch
from ..core.constraints import ConstraintError, Constraints, dataflow_conflict, dataflow_entries
from ..core.errors import CpmapError
from ..core.factors import prime_list
from ..core.mapping import LevelMapping, Mapping
from ..core.problem import Problem
from ..core.slots import Slot, slots_of


class SearchError(CpmapError):
    """A search that cannot run as asked: a space too large to enumerate, restrictions
    that leave no mapping, a bad option."""


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
    """True when a max_factor, min_utilization or dataflow restriction applies (genomes
    are then checked with :func:`feasible`)."""
    required: tuple[tuple[int, ...], ...] = ()
    """[dim] -> fanout-axis slots where the dim must have a factor > 1 (a required
    dataflow); empty when there is none."""
    empty_reason: str = ""
    """Why the space has no mapping, when the required dataflow alone rules every one out
    (:func:`cpmap.core.constraints.dataflow_conflict`)."""
    min_nodes: tuple[tuple[tuple[int, ...], int], ...] = ()
    """(a mesh level's spatial slots, nodes the product of their factors reaches at
    least): the ``min_nodes`` constraint."""

    @property
    def dims(self) -> tuple[str, ...]:
        return self.problem.dims

    @property
    def nlevels(self) -> int:
        return len(self.arch.levels)


# ---------------------------------------------------------------------------------- building

def make_space(problem: Problem, arch: Arch, *,
               spatial_dims: MappingABC | None = None,
               keeps: MappingABC | None = None,
               min_utilization: float = 0.0,
               max_factor: MappingABC | None = None,
               dataflow: MappingABC | None = None) -> Space:
    """The mapping space of ``problem`` on ``arch`` under restrictions given as keywords.

    ``spatial_dims``: {(level, axis): dims allowed on that fanout axis} (e.g. a fixed
    dataflow); axes not listed allow every dim.  ``keeps``: {level: tensors the level keeps,
    exactly} (fixed bypass).  ``min_utilization``: used PEs / PEs lower bound.
    ``max_factor``: {(level, dim): largest temporal factor}.  ``dataflow``: {(level, axis):
    dims that axis must carry} or {level: "C|K"} (docs/specs.md).  Levels are indices
    (innermost 0) or names.  The names are checked against ``problem`` and ``arch`` by
    :meth:`cpmap.core.constraints.Constraints.check` (a :class:`SearchError` here)."""
    spatial, fixed, limits = [], [], []
    for key, ds in (spatial_dims or {}).items():
        lv, ax = _pair(key, "spatial_dims", "(level, axis)")
        spatial.append((_level_name(arch, lv, "spatial_dims"), ax, tuple([ds] if isinstance(ds, str) else ds)))
    for lv, ts in (keeps or {}).items():
        fixed.append((_level_name(arch, lv, "keeps"), frozenset([ts] if isinstance(ts, str) else ts)))
    for key, limit in (max_factor or {}).items():
        lv, d = _pair(key, "max_factor", "(level, dim)")
        limits.append((_level_name(arch, lv, "max_factor"), d, limit))
    required = []
    for key, ds in (dataflow or {}).items():
        if isinstance(ds, str) and not isinstance(key, tuple):
            required.extend(dataflow_entries(_level_name(arch, key, "dataflow"), ds))
            continue
        lv, ax = _pair(key, "dataflow", "(level, axis) or a level with a 'C|K' value")
        required.extend(dataflow_entries(_level_name(arch, lv, "dataflow"), {ax: ds}))
    constraints = Constraints(tuple(spatial), tuple(fixed), float(min_utilization), tuple(limits), tuple(required))
    try:
        constraints.check(arch, problem.dims, f"layer {problem.name}")
    except ConstraintError as e:
        raise SearchError(str(e)) from None
    return space_for(problem, arch, constraints)


def _pair(key, what: str, form: str) -> tuple:
    if not (isinstance(key, tuple) and len(key) == 2):
        raise SearchError(f"{what}: keys are {form}, got {key!r}")
    return key


def _level_name(arch: Arch, level, what: str) -> str:
    """A level given by name or by index (innermost 0), as its name."""
    if isinstance(level, str):
        return level
    if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level < len(arch.levels):
        raise SearchError(f"{what}: level must be a level name or an index 0..{len(arch.levels) - 1}, "
                          f"got {level!r}")
    return arch.level_names[level]


def space_for(problem: Problem, arch: Arch, constraints: Constraints | None = None) -> Space:
    """The mapping space of ``problem`` on ``arch`` under ``constraints`` (by name, already
    checked, as a solve spec gives them; dims the layer does not have are dropped)."""
    cons = (constraints or Constraints()).resolve(problem, arch)
    slots = slots_of(arch)
    temporal_slot = tuple(k for k, s in enumerate(slots) if not s.spatial)
    spatial_slots = tuple(tuple(k for k, s in enumerate(slots) if s.spatial and s.level == i)
                          for i in range(len(arch.levels)))
    o_relevant = problem.tensor("O").dims
    allowed = []
    for d in problem.dims:
        row = []
        for k, s in enumerate(slots):
            if s.spatial:
                if not arch.levels[s.level].fanout.reduction and d not in o_relevant:
                    continue
                ok = cons.spatial_dims.get((s.level, s.axis))
                if ok is not None and d not in ok:
                    continue
            row.append(k)
        allowed.append(tuple(row))
    keep_choices, keep_free = _keep_choices(problem, arch, cons.keeps)
    dim_index = {d: k for k, d in enumerate(problem.dims)}
    mf: list[list[int | None]] = [[None] * len(problem.dims) for _ in arch.levels]
    for (i, d), limit in cons.max_factor.items():
        mf[i][dim_index[d]] = limit
    primes = tuple(tuple(prime_list(n)) for n in problem.sizes)
    tokens = tuple((d, p) for d, ps in enumerate(primes) for p in ps)
    required = tuple(tuple(k for k, s in enumerate(slots) if d in cons.required_dims.get((s.level, s.axis), ()))
                     for d in problem.dims) if cons.required_dims else ()
    min_nodes = tuple((spatial_slots[i], n) for i, n in cons.min_nodes.items())
    return Space(problem, arch, slots, temporal_slot, spatial_slots, primes, tokens, tuple(allowed),
                 keep_choices, keep_free, tuple(tuple(row) for row in mf), cons.min_utilization,
                 cons.min_utilization > 0 or any(m is not None for row in mf for m in row) or bool(required)
                 or bool(min_nodes), required, dataflow_conflict(problem, arch, cons), min_nodes)


def _keep_choices(problem: Problem, arch: Arch, fixed: dict) -> tuple[tuple, tuple]:
    """Per level: the allowed keep sets (in a fixed order) and the tensors whose keep bit
    is free."""
    choices, free = [], []
    for i, lv in enumerate(arch.levels):
        if i == len(arch.levels) - 1:
            choices.append((frozenset(problem.tensor_names),))
            free.append(())
        elif i in fixed:
            choices.append((fixed[i],))
            free.append(())
        else:
            ts = tuple(t for t in problem.tensor_names if t in lv.keeps)
            choices.append(tuple(frozenset(c) for r in range(len(ts) + 1) for c in itertools.combinations(ts, r)))
            free.append(tuple(sorted(ts)))
    return tuple(choices), tuple(free)


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
    for d, on in enumerate(space.required):
        if any(fac[d][s] == 1 for s in on):
            return False
    for mesh_slots, n in space.min_nodes:
        if math.prod(row[s] for row in fac for s in mesh_slots) < n:
            return False
    for i, k in enumerate(g.keeps):
        if k not in space.keep_choices[i]:
            return False
    return True
