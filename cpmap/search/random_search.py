"""Random search in the style of Timeloop's random mapper: draw mappings from the space
(:func:`cpmap.search.variation.sample`), evaluate each, keep the best valid one.  Draws are
evaluated :data:`BATCH` at a time by the batch evaluator; the answer is the one a
one-by-one evaluation gives (the draws do not depend on the costs)."""

from __future__ import annotations

import random

from ..core.arch import Arch
from ..core.problem import Problem
from .result import SearchResult, Tracker
from .space import SearchError, Space, resolve_space
from .variation import sample

BATCH = 512
"""Draws per batch evaluation (large enough to amortize numpy's per-call cost, small
enough that a budget is checked often: a few ms per batch)."""


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
        batch = []
        for _ in range(BATCH if samples is None else min(BATCH, samples - n)):
            batch.append(sample(space, rng))
            if run.out_of_time():
                break
        run.evaluate_genomes(batch)
        n += len(batch)
    return run.result("samples")
