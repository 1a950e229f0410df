"""Exhaustive enumeration of small mapping spaces.

Walks every mapping :func:`cpmap.search.counting.count_mappings` counts: every split of every
dim's prime factors over the temporal loops and fanout axes that fits the axes (and the
restrictions), every permutation of the loops of each level above the innermost (the
innermost level's order cannot change any count), every bypass choice.  It counts first
and refuses spaces larger than ``limit`` (default :data:`DEFAULT_LIMIT`, about three
minutes at the evaluator's ~12,000 evaluations per second).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

from ..core.arch import Arch
from ..core.mapping import LevelMapping, Mapping
from ..core.problem import Problem
from .counting import count_mappings, dim_splits
from .result import SearchResult, Tracker
from .space import SearchError, Space, resolve_space

DEFAULT_LIMIT = 2_000_000
"""Largest space :func:`exhaustive_search` enumerates unless told otherwise."""


def _factor_rows(space: Space) -> Iterator[tuple[tuple[int, ...], ...]]:
    """Every combination of per-dim factor rows whose fanout axes fit (and that meets
    min_utilization and min_nodes), in a fixed order."""
    spatial = [s for s, slot in enumerate(space.slots) if slot.spatial]
    sizes = {s: space.slots[s].size for s in spatial}
    splits = [dim_splits(space, d) for d in range(len(space.dims))]
    need = space.min_utilization * space.arch.pes - 1e-9
    D = len(splits)
    chosen: list[tuple[int, ...]] = []

    def walk(d: int, used: dict[int, int]) -> Iterator[tuple[tuple[int, ...], ...]]:
        if d == D:
            if (space.min_utilization <= 0 or math.prod(used.values()) >= need) and all(
                    math.prod(used[s] for s in mesh) >= n for mesh, n in space.min_nodes):
                yield tuple(chosen)
            return
        for row in splits[d]:
            nxt = {s: used[s] * row[s] for s in spatial}
            if any(nxt[s] > sizes[s] for s in spatial):
                continue
            chosen.append(row)
            yield from walk(d + 1, nxt)
            chosen.pop()

    yield from walk(0, dict.fromkeys(spatial, 1))


def iter_mappings(space: Space) -> Iterator[Mapping]:
    """Every mapping of the space, each once, in a fixed order."""
    dims, arch = space.dims, space.arch
    D = len(dims)
    for fac in _factor_rows(space):
        per_level = []
        for i, lv in enumerate(arch.levels):
            ts = space.temporal_slot[i]
            present = [d for d in range(D) if fac[d][ts] > 1]
            spatial = []
            for s in space.spatial_slots[i]:
                loops = tuple((dims[d], fac[d][s]) for d in range(D) if fac[d][s] > 1)
                if loops:
                    spatial.append((space.slots[s].axis, loops))
            spatial = tuple(spatial)
            orders = [present] if i == 0 else itertools.permutations(present)
            per_level.append([LevelMapping(lv.name, tuple((dims[d], fac[d][ts]) for d in order), keeps, spatial)
                              for order in orders for keeps in space.keep_choices[i]])
        for levels in itertools.product(*per_level):
            yield Mapping(levels)


def exhaustive_search(problem: Problem, arch: Arch, *, limit: int = DEFAULT_LIMIT, budget: float | None = None,
                      objective: str = "energy", constraints=None, space: Space | None = None) -> SearchResult:
    """Evaluate every mapping of the space and return the best valid one (the first found
    among equals).  Raises :class:`SearchError` without evaluating anything when the space
    has more than ``limit`` mappings.  With ``budget``, stops after that many seconds
    (``stopped_by`` "budget": the answer is then not known optimal); the budget includes
    the count, which is not interrupted (under a second on the bundled layers)."""
    space = resolve_space(problem, arch, constraints, space)
    run = Tracker("exhaustive", space, objective, budget)  # the clock includes the count
    n = count_mappings(space, cap=limit)
    if n > limit:
        raise SearchError(
            f"exhaustive search: the mapping space of {problem.name} on {arch.name} has at least {n:,} "
            f"mappings, over the limit of {limit:,}; raise the limit, restrict the space, or use "
            f"random or ga")
    for mapping in iter_mappings(space):
        if run.out_of_time():
            return run.result("budget")
        run.evaluate_mapping(mapping)
    return run.result("complete")
