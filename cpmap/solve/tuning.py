"""CP-SAT search parameters for the layer model (docs/performance.md, "Avenues").

Measured in CP-SAT deterministic time with ``bench/avenues.py`` (one worker): without
the LP relaxation (``linearization_level`` 0) the hardest benchmark layers prove
optimality at a fraction of the work.  The LP of this model is weak exactly where the
search is hard (gated counts relax to zero when a bypass literal is fractional) while
every node pays for it (thousands of tangent cuts and product linearizations); with the
LP off, the single worker spends its work on propagation and search instead, and the
bound comes from propagating the counts' bounds through the products to the objective.
Parameters change neither the model nor its optimum, only how CP-SAT searches.
"""

from __future__ import annotations

ONE_WORKER = {"linearization_level": 0}
"""Parameters for a single-worker solve.  Several workers run CP-SAT's own portfolio,
which already interleaves LP and no-LP subsolvers; it is left as it is."""


def tune(params, workers: int) -> None:
    """Set the layer model's search parameters on CP-SAT ``params`` for ``workers``."""
    if workers == 1:
        for name, value in ONE_WORKER.items():
            setattr(params, name, value)
