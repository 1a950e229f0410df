"""Heuristic searchers over the same mapping space and evaluator as the CP-SAT mapper.

* :func:`random_search`: Timeloop-style random mapper (samples or wall budget).
* :func:`genetic_search`: GAMMA-style genetic algorithm.
* :func:`exhaustive_search`: every mapping of small spaces; refuses spaces larger than
  a limit (:data:`DEFAULT_LIMIT`).
* :func:`anneal`: simulated annealing.

Each returns a :class:`SearchResult` whose best mapping the evaluator validated.  The
space itself (slots, genomes) is :mod:`cpmap.search.space`, its sampling and variation
:mod:`cpmap.search.variation`, its size :mod:`cpmap.search.counting`.
"""

from .anneal import anneal
from .counting import count_mappings
from .exhaustive import DEFAULT_LIMIT, exhaustive_search, iter_mappings
from .genetic import genetic_search
from .random_search import random_search
from .result import SearchResult
from .space import Genome, SearchError, Space, make_space, space_for

SEARCHERS = {
    "random": random_search,
    "ga": genetic_search,
    "exhaustive": exhaustive_search,
    "anneal": anneal,
}
"""Method name -> searcher (the names ``cpmap compare --methods`` uses)."""

__all__ = [
    "DEFAULT_LIMIT", "SEARCHERS", "Genome", "SearchError", "SearchResult", "Space", "anneal",
    "count_mappings", "exhaustive_search", "genetic_search", "iter_mappings", "make_space", "random_search",
    "space_for",
]
