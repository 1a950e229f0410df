"""Simulated annealing over the mapping space.

From a random valid mapping, each step evaluates one mutation of the current genome
(:func:`cpmap.search.variation.mutate`, one move) and accepts it if it is valid and not worse,
or if it is worse by a cost ratio ``r`` with probability ``exp(-ln(r) / T)``.  The
temperature falls geometrically from ``t_start`` to ``t_end`` over the steps (or over the
budget when there is no step limit), so it is a relative cost change and scale-free.
"""

from __future__ import annotations

import math
import random
import time

from ..core.arch import Arch
from ..core.problem import Problem
from .result import INVALID, SearchResult, Tracker
from .space import SearchError, Space, feasible, resolve_space
from .variation import mutate, sample


def anneal(problem: Problem, arch: Arch, *, steps: int | None = 10_000, budget: float | None = None,
           t_start: float = 0.05, t_end: float = 0.001, seed: int = 0, objective: str = "energy",
           constraints=None, space: Space | None = None) -> SearchResult:
    """Anneal for ``steps`` evaluations or ``budget`` seconds, whichever ends first (at
    least one must be given).  Drawing the random start also counts as steps.
    Deterministic for a seed when bounded by ``steps`` alone."""
    if steps is None and budget is None:
        raise SearchError("annealing needs steps or a budget")
    if steps is not None and steps < 1:
        raise SearchError(f"annealing: steps must be >= 1, got {steps!r}")
    if not t_start >= t_end > 0:
        raise SearchError("annealing: need t_start >= t_end > 0")
    space = resolve_space(problem, arch, constraints, space)
    run = Tracker("anneal", space, objective, budget)
    rng = random.Random(seed)
    t0 = time.perf_counter()
    cur, cur_key = None, INVALID
    n = 0
    while steps is None or n < steps:
        if run.out_of_time():
            return run.result("budget")
        n += 1
        if cur is None:  # find a valid start
            g = sample(space, rng)
            key = run.evaluate(g)
            if key != INVALID:
                cur, cur_key = g, key
            continue
        frac = n / steps if steps is not None else (time.perf_counter() - t0) / budget
        temp = t_start * (t_end / t_start) ** min(frac, 1.0)
        g = mutate(space, cur, rng, 1)
        if space.restricted and not feasible(space, g):
            continue
        key = run.evaluate(g)
        if key == INVALID:
            continue
        ratio = key[0] / cur_key[0] if cur_key[0] > 0 else math.inf
        if key <= cur_key or rng.random() < math.exp(-math.log(ratio) / temp):
            cur, cur_key = g, key
    return run.result("samples")
