"""A genetic algorithm in the style of GAMMA (Kao and Krishna, ICCAD 2020).

Genome (:class:`cpmap.search.space.Genome`): the factor of every dim in every slot (the
temporal loops of each level and each fanout axis, so the spatial dims are part of the
factors), the loop order of each level and the bypass bits.  Each generation keeps the
``elite`` best genomes, and fills the rest of the population with children of two parents
picked by tournament: uniform crossover (whole factor rows per dim, whole orders and keep
sets per level) with probability ``crossover_rate``, then with probability
``mutation_rate`` one to ``mutation_moves`` random moves (move a prime factor, swap two
loops, toggle a keep bit); a child equal to a genome already in the next population is
mutated again (up to :data:`DUPLICATE_TRIES` moves) to keep the population diverse.
Invalid mappings rank last.  A genome already evaluated is not evaluated again (the
memory holds up to :data:`CACHE_SIZE` genomes).  Each generation (and the random first
one) is evaluated as one batch by the batch evaluator; the answer is the one a
one-by-one evaluation gives, since building a generation does not look at its own costs.
"""

from __future__ import annotations

import random

from ..core.arch import Arch
from ..core.problem import Problem
from .result import SearchResult, Tracker
from .space import Genome, SearchError, Space, feasible, resolve_space
from .variation import crossover, mutate, sample

DUPLICATE_TRIES = 5
CACHE_SIZE = 200_000
"""Genomes whose fitness is remembered; the memory is cleared when a generation would
overfill it."""


def genetic_search(problem: Problem, arch: Arch, *, population: int = 100, generations: int = 50,
                   crossover_rate: float = 0.9, mutation_rate: float = 0.7, mutation_moves: int = 3,
                   elite: int = 4, tournament: int = 3, max_evaluations: int | None = None,
                   budget: float | None = None, seed: int = 0, objective: str = "energy", constraints=None,
                   space: Space | None = None) -> SearchResult:
    """Run ``generations`` generations of ``population`` genomes (the first is random), or
    stop earlier at ``max_evaluations`` evaluator calls or after ``budget`` seconds.
    Deterministic for a seed when not stopped by the budget."""
    if population < 2:
        raise SearchError(f"genetic search: population must be >= 2, got {population}")
    if generations < 0:
        raise SearchError(f"genetic search: generations must be >= 0, got {generations}")
    if not 0 <= elite < population:
        raise SearchError(f"genetic search: elite must be in [0, population), got {elite}")
    if tournament < 1 or mutation_moves < 1:
        raise SearchError("genetic search: tournament and mutation_moves must be >= 1")
    if not (0 <= crossover_rate <= 1 and 0 <= mutation_rate <= 1):
        raise SearchError("genetic search: crossover_rate and mutation_rate must be in [0, 1]")
    space = resolve_space(problem, arch, constraints, space)
    run = Tracker("ga", space, objective, budget)
    rng = random.Random(seed)
    seen: dict[Genome, tuple[float, float]] = {}

    class Stop(Exception):
        pass

    def fitness(genomes: list[Genome]) -> list[tuple[float, float]]:
        """Keys of ``genomes``: remembered ones from memory, the others (each once) from
        one batch evaluation; stops like a one-by-one evaluation would, at the first
        genome over the budget or the evaluation limit."""
        fresh = list(dict.fromkeys(g for g in genomes if g not in seen))
        if fresh and run.out_of_time():
            raise Stop("budget")
        if max_evaluations is not None and run.evaluations + len(fresh) > max_evaluations:
            run.evaluate_genomes(fresh[:max_evaluations - run.evaluations])
            raise Stop("samples")
        scored = dict(zip(fresh, run.evaluate_genomes(fresh)))
        keys = [seen[g] if g in seen else scored[g] for g in genomes]
        if len(seen) + len(scored) > CACHE_SIZE:  # bound the memory of long runs
            seen.clear()
        seen.update(scored)
        return keys

    def pick(pop: list[tuple[tuple[float, float], Genome]]) -> Genome:
        best = pop[int(rng.random() * len(pop))]
        for _ in range(tournament - 1):
            other = pop[int(rng.random() * len(pop))]
            if other[0] < best[0]:
                best = other
        return best[1]

    try:
        first = [sample(space, rng) for _ in range(population)]
        pop = list(zip(fitness(first), first))
        for _ in range(generations):
            if run.out_of_time():  # also when every child is a genome seen before
                raise Stop("budget")
            pop.sort(key=lambda kg: kg[0])  # stable: ties keep their order
            elites = pop[:elite]
            members = {g for _, g in elites}
            children: list[Genome] = []
            while len(elites) + len(children) < population:
                a = pick(pop)
                child = crossover(space, a, pick(pop), rng) if rng.random() < crossover_rate else a
                if rng.random() < mutation_rate:
                    child = mutate(space, child, rng, 1 + int(rng.random() * mutation_moves))
                for _ in range(DUPLICATE_TRIES):  # keep the population diverse
                    if child not in members:
                        break
                    child = mutate(space, child, rng, 1)
                if space.restricted and not feasible(space, child):
                    child = sample(space, rng)
                members.add(child)
                children.append(child)
            pop = elites + list(zip(fitness(children), children))
    except Stop as stop:
        return run.result(str(stop))
    return run.result("samples")
