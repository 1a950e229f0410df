"""Random search in the style of Timeloop's random mapper: draw mappings from the space
(:func:`cpmap.search.variation.sample`), evaluate each, keep the best valid one."""

from __future__ import annotations

import random

from ..core.arch import Arch
from ..core.problem import Problem
from .result import SearchResult, Tracker
from .space import SearchError, Space, decode, resolve_space
from .variation import sample


def random_search(problem: Problem, arch: Arch, *, samples: int | None = 10_000, budget: float | None = None,
                  seed: int = 0, objective: str = "energy", constraints=None,
                  space: Space | None = None) -> SearchResult:
    """Evaluate ``samples`` random mappings, or as many as fit in ``budget`` seconds,
    whichever ends first (at least one of them must be given), and return the best valid
    one.  Deterministic for a seed when bounded by ``samples`` alone."""
    if samples is None and budget is None:
        raise SearchError("random search needs samples or a budget")
    if samples is not None and samples < 1:
        raise SearchError(f"random search: samples must be >= 1, got {samples!r}")
    space = resolve_space(problem, arch, constraints, space)
    run = Tracker("random", space, objective, budget)
    rng = random.Random(seed)
    n = 0
    while samples is None or n < samples:
        if run.out_of_time():
            return run.result("budget")
        run.evaluate_mapping(decode(space, sample(space, rng)))
        n += 1
    return run.result("samples")
