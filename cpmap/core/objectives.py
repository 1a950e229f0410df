"""What a mapping is scored by: the one definition of each objective's value.

Results are read by attribute (``energy_pj`` in pJ, ``cycles``), so any evaluator result
works here without this module importing the evaluator.
"""

from __future__ import annotations

OBJECTIVES = ("energy", "delay", "edp")
"""energy: ``energy_pj`` (pJ); delay: ``cycles``; edp: ``energy_pj * cycles`` (pJ x cycles)."""

PARETO = "pareto"
"""Not one objective but the energy-delay front of each layer (``cpmap solve --objective
pareto``, :mod:`cpmap.solve.pareto`): accepted by solve specs, never by SolveOptions."""

ENCODINGS = ("exact", "pwl")
"""How the CP-SAT model encodes the energy objective (docs/solver.md)."""

SECONDARY = {"energy": "delay", "delay": "energy", "edp": "energy"}
"""The measure that breaks ties between equal values of each objective."""

UNITS = {"energy": "pJ", "delay": "cycles", "edp": "pJ x cycles"}


def objective_value(result, objective: str) -> float:
    """The value of ``objective`` for an evaluator result (pJ, cycles or pJ x cycles); for
    a batch result (:class:`cpmap.cost.batch.BatchResult`, numpy arrays) one value per
    mapping, computed the same way elementwise."""
    if objective == "energy":
        return result.energy_pj
    if objective == "delay":
        return result.cycles * 1.0  # float(cycles), also elementwise
    if objective == "edp":
        return result.energy_pj * result.cycles
    raise ValueError(f"unknown objective {objective!r}; expected one of {', '.join(OBJECTIVES)}")


def objective_key(result, objective: str) -> tuple[float, float]:
    """(value, tie-break) of a result, lower is better: the objective's value, then the
    :data:`SECONDARY` measure's."""
    return (objective_value(result, objective), objective_value(result, SECONDARY[objective]))
