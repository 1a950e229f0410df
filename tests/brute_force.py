"""Every mapping of a tiny layer, enumerated without cpmap.search or the solver.

Each prime factor of every dim goes to every slot (a level's temporal loops or one fanout
axis); splits that overfill an axis are dropped; then every permutation of the loops of
each level above the innermost (the innermost level's order cannot matter: refills count
only loops above a level), every order of each mesh axis's loops (it places the nodes:
docs/cost-model.md section 10) and every bypass choice the architecture allows (the outermost
level keeps everything).  No other rule is applied: capacity and reduction are left to
the evaluator and to the tests.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from functools import cache

from cpmap.core.arch import Arch
from cpmap.core.factors import prime_list
from cpmap.core.mapping import LevelMapping, Mapping
from cpmap.core.problem import Problem
from cpmap.cost.evaluator import Evaluator, Result


def _splits(primes: list[int], slots: list) -> list[dict]:
    """Every assignment of the prime factors to slots, as {slot: factor} (deduplicated)."""
    seen, out = set(), []
    for choice in itertools.product(range(len(slots)), repeat=len(primes)):
        f = [1] * len(slots)
        for p, k in zip(primes, choice):
            f[k] *= p
        if tuple(f) not in seen:
            seen.add(tuple(f))
            out.append({s: v for s, v in zip(slots, f) if v > 1})
    return out


def brute_force_mappings(problem: Problem, arch: Arch, keeps: dict | None = None) -> Iterator[Mapping]:
    """Every mapping whose factors fit the fanout axes; ``keeps`` ({level index: tensors})
    fixes the bypass of those levels (a solve's ``keeps`` constraint)."""
    slots = []
    for i, lv in enumerate(arch.levels):
        slots.append((i, None))
        if lv.fanout is not None:
            slots.extend((i, ax) for ax, _ in lv.fanout.axes)
    per_dim = [[(d, s) for s in _splits(prime_list(n), slots)] for d, n in zip(problem.dims, problem.sizes)]
    keep_choices = []
    for i, lv in enumerate(arch.levels):
        allowed = [t for t in problem.tensor_names if t in lv.keeps]
        if i == len(arch.levels) - 1:
            keep_choices.append([frozenset(problem.tensor_names)])
        elif keeps and i in keeps:
            keep_choices.append([frozenset(keeps[i])])
        else:
            keep_choices.append([frozenset(c) for r in range(len(allowed) + 1)
                                 for c in itertools.combinations(allowed, r)])
    for combo in itertools.product(*per_dim):
        loops = {s: [] for s in slots}
        for d, split in combo:
            for s, f in split.items():
                loops[s].append((d, f))
        if any(math.prod(f for _, f in loops[s]) > arch.levels[s[0]].fanout.axis_size(s[1])
               for s in slots if s[1] is not None):
            continue
        orders = [[tuple(loops[(i, None)])] if i == 0 else list(itertools.permutations(loops[(i, None)]))
                  for i in range(len(arch.levels))]
        # on a mesh the order of an axis's loops decides which node holds which index
        spatial = [list(itertools.product(*(
            [(ax, sl) for sl in (itertools.permutations(loops[(i, ax)]) if lv.fanout.mesh else [loops[(i, ax)]])]
            for ax, _ in lv.fanout.axes))) if lv.fanout else [()] for i, lv in enumerate(arch.levels)]
        for order in itertools.product(*orders):
            for sp in itertools.product(*spatial):
                for keeps in itertools.product(*keep_choices):
                    yield Mapping(tuple(
                        LevelMapping(lv.name, order[i], keeps[i], tuple((ax, tuple(sl)) for ax, sl in sp[i] if sl))
                        for i, lv in enumerate(arch.levels)))


@cache
def valid_space(problem: Problem, arch: Arch) -> tuple[tuple[Result, Mapping], ...]:
    """(Result, Mapping) of every valid mapping of ``problem`` on ``arch``, evaluated once
    per test session: test files that enumerate the same tiny space share it."""
    ev = Evaluator(problem, arch)
    return tuple((r, m) for r, m in ((ev.evaluate(m), m) for m in brute_force_mappings(problem, arch)) if r.valid)
