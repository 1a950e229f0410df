"""CP-SAT search parameters and monomial encoding of the layer model (docs/performance.md,
"Avenues" and "Prime tables").

Measured in CP-SAT deterministic time and CPU seconds (``bench/avenues.py``,
``bench/hard_layers.py``; one worker).  On the per-dim model (products of per-dim tables,
tangent cuts) the hardest layers proved at a fraction of the work without the LP
(``linearization_level`` 0): its LP was weak where the search is hard (gated counts relax
to zero when a bypass literal is fractional) while every node paid for thousands of cuts
and product linearizations.  On the prime-table model the one worker now gets by default,
the LP is cheap and CP-SAT's default (level 1) proves them in about half the work of level 0.
Parameters change neither the model nor its optimum, only how CP-SAT searches.
"""

from __future__ import annotations

ONE_WORKER = {"linearization_level": 0}
"""Parameters for a single-worker solve of the per-dim model (products and tangent cuts:
``pwl``).  Several workers run CP-SAT's own portfolio, which already interleaves LP and
no-LP subsolvers; it is left as it is."""

PRIME_TABLES = {"cp_model_probing_level": 1, "max_presolve_iterations": 1}
"""Parameters for a single-worker solve of the prime-table model (:func:`model_encoding`),
LP on (CP-SAT's default level 1: small here, no cuts and no product linearizations, and the
tables' literal encoding gives it a useful relaxation).  Presolve probes every literal of
the tables' encodings, deriving some 10^5 binary clauses per round (AlexNet conv1: three
rounds of 0.25 s); one round at the lighter probing level halves small layers' time and
still helps the hardest (docs/performance.md, "Prime tables")."""


def tune(params, workers: int, prime_tables: bool = False) -> None:
    """Set the layer model's search parameters on CP-SAT ``params`` for ``workers``
    (``prime_tables``: the model was built with them)."""
    if workers == 1:
        for name, value in (PRIME_TABLES if prime_tables else ONE_WORKER).items():
            setattr(params, name, value)


def model_encoding(workers: int, encoding: str) -> dict:
    """How to encode the layer model's monomials for a search with ``workers`` (keyword
    arguments of :func:`~cpmap.solve.model.build_model`).  For one worker, one table per
    monomial over its per-prime exponent sums, which CP-SAT encodes with literals: it
    propagates exactly where a product of per-dim tables only propagates bounds, and its LP
    relaxation is cheap and useful where the products' was neither; the tangent cuts
    only cost time there (docs/performance.md, "Prime tables": the hardest benchmark layers
    prove in a third of the wall time).  Several workers keep the per-dim products and the
    cuts (not measured with tables); ``pwl`` needs its cuts (they are its objective)."""
    if workers == 1 and encoding == "exact":
        return {"tangent_cuts": False, "prime_tables": True}
    return {}
