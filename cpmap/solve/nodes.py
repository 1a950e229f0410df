"""The ``min_nodes`` floor of a mesh fanout in the CP-SAT model (docs/specs.md,
``constraints.min_nodes``): the product of the factors on the mesh's axes is at least
the floor, log-linearized exactly as the utilization floor (:data:`LOG_SCALE`)."""

from __future__ import annotations

import math

from .kit import LOG_SCALE


def add_min_nodes(builder) -> None:
    """For each (level, nodes) of ``builder.cons.min_nodes``: the log of the used nodes is
    at least the log of the floor, with the same rounding slack as the utilization floor
    (each term's coefficient is rounded, 16 per term covers it and stays below the gap to
    the next smaller integer product)."""
    for level, nodes in builder.cons.min_nodes.items():
        terms = [cv for s in builder.slots if s.spatial and s.level == level for cv in builder.log_terms.get(s, [])]
        if nodes > 1:
            builder.m.add(sum(c * v for c, v in terms) >= round(math.log(nodes) * LOG_SCALE) - 16 * len(terms) - 1)
