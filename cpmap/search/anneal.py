"""Simulated annealing over the mapping space, as independent chains evaluated together.

Each chain starts from a random valid mapping; each step evaluates one mutation of its
current genome (:func:`cpmap.search.variation.mutate`, one move) and accepts it if it is
valid and not worse, or if it is worse by a cost ratio ``r`` with probability
``exp(-ln(r) / T)``.  The temperature falls geometrically from ``t_start`` to ``t_end``
over the chain's steps (or over the budget when there is no step limit), so it is a
relative cost change and scale-free.

The chains share the step budget and advance in lockstep: one step of every chain is one
batch evaluation (:mod:`cpmap.cost.batch`).  Annealing is sequential within a chain, so
independent chains are what batches without waste; proposing several mutations of one
chain at once and keeping the first accepted one was measured no faster than one at a
time (bench/search.py: most proposals follow an accepted one and are thrown away).  With one chain this is the
classic one-proposal-per-step annealer, evaluated by the scalar evaluator.
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

MAX_CHAINS = 64
MIN_CHAIN_STEPS = 300


def default_chains(steps: int | None) -> int:
    """``steps // MIN_CHAIN_STEPS`` chains, at least 1 and at most :data:`MAX_CHAINS`
    (:data:`MAX_CHAINS` with a budget and no step limit); measured by
    bench/anneal_chains.py (docs/performance.md)."""
    return MAX_CHAINS if steps is None else max(1, min(MAX_CHAINS, steps // MIN_CHAIN_STEPS))


def anneal(problem: Problem, arch: Arch, *, steps: int | None = 10_000, budget: float | None = None,
           t_start: float = 0.05, t_end: float = 0.001, chains: int | None = None, seed: int = 0,
           objective: str = "energy", constraints=None, space: Space | None = None) -> SearchResult:
    """Anneal for ``steps`` steps over all chains, or ``budget`` seconds, whichever ends
    first (at least one must be given).  Drawing a chain's random start also counts as
    steps.  ``chains``: independent chains (default :func:`default_chains`; 1 is the
    classic single-chain annealer).  Deterministic for a seed when bounded by ``steps`` alone."""
    if steps is None and budget is None:
        raise SearchError("annealing needs steps or a budget")
    if steps is not None and steps < 1:
        raise SearchError(f"annealing: steps must be >= 1, got {steps!r}")
    if not t_start >= t_end > 0:
        raise SearchError("annealing: need t_start >= t_end > 0")
    if chains is None:
        chains = default_chains(steps)
    if chains < 1 or (steps is not None and chains > steps):
        raise SearchError(f"annealing: chains must be in [1, steps], got {chains!r}")
    space = resolve_space(problem, arch, constraints, space)
    run = Tracker("anneal", space, objective, budget)
    rng = random.Random(seed)
    # chain c takes steps // chains steps, the first steps % chains chains one more
    lengths = None if steps is None else [steps // chains + (c < steps % chains) for c in range(chains)]
    evaluate = (lambda gs: [run.evaluate(g) for g in gs]) if chains == 1 else run.evaluate_genomes
    cur, keys = [None] * chains, [INVALID] * chains
    t0 = time.perf_counter()
    n = 0  # steps taken by the longest chains
    while lengths is None or n < lengths[0]:
        if run.out_of_time():
            return run.result("budget")
        n += 1
        live = range(chains) if lengths is None else [c for c in range(chains) if n <= lengths[c]]
        frac = (time.perf_counter() - t0) / budget if lengths is None else None
        proposals = []
        for c in live:  # a random start until the chain has a valid one, else a mutation
            g = sample(space, rng) if cur[c] is None else mutate(space, cur[c], rng, 1)
            if cur[c] is None or not space.restricted or feasible(space, g):
                proposals.append((c, g))
        for (c, g), key in zip(proposals, evaluate([g for _, g in proposals])):
            if key == INVALID:
                continue
            if cur[c] is None:
                cur[c], keys[c] = g, key
                continue
            temp = t_start * (t_end / t_start) ** min(frac if frac is not None else n / lengths[c], 1.0)
            ratio = key[0] / keys[c][0] if keys[c][0] > 0 else math.inf
            if key <= keys[c] or rng.random() < math.exp(-math.log(ratio) / temp):
                cur[c], keys[c] = g, key
    return run.result("samples")
