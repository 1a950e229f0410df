"""The energy-delay front of one layer by an epsilon-constraint sweep over cycles
(``cpmap solve --objective pareto``; docs/solver.md, "Pareto fronts").

The two single-objective optima bound the front: the least cycles (with the least energy
among those mappings) and the least energy (with the fewest cycles among those).  Between
them, each point minimizes energy subject to cycles <= a cap; caps are spaced
geometrically.  Cycles are the evaluator's, bandwidth stalls included (the model holds them
exactly, :mod:`cpmap.solve.cycles`).  Every point is the evaluator's re-score of the
solver's best mapping with the solver's certified lower bound of energy *under that cap*
(OPTIMAL: gap 0; else the gap is reported).  Dominated points are dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..core.arch import Arch
from ..core.options import SolveOptions
from ..core.problem import Problem
from .layer import LayerSolution, solve_layer

DEFAULT_POINTS = 6


@dataclass(frozen=True)
class ParetoPoint:
    """One point: the best mapping with at most ``cap`` cycles."""

    cap: int | None
    solution: LayerSolution

    @property
    def energy_pj(self) -> float:
        return self.solution.best.result.energy_pj

    @property
    def compute_cycles(self) -> int:
        return self.solution.best.result.compute_cycles

    @property
    def cycles(self) -> int:
        return self.solution.best.result.cycles


@dataclass(frozen=True)
class ParetoFront:
    """``points`` non-dominated, by increasing cycles; ``knee`` indexes the point nearest
    the ideal corner (least normalized cycles + energy); the two optima as solved."""

    name: str
    points: tuple[ParetoPoint, ...]
    energy_optimum: LayerSolution
    delay_optimum: LayerSolution
    knee: int | None
    reason: str = ""


def caps_between(lo: int, hi: int, n: int) -> list[int]:
    """``n`` cycle caps from ``lo`` to below ``hi``, geometrically spaced, distinct."""
    if hi <= lo or n < 1:
        return []
    caps = [round(lo * (hi / lo) ** (k / n)) for k in range(n)]
    return sorted({c for c in caps if lo <= c < hi})


def non_dominated(points: list[ParetoPoint]) -> list[ParetoPoint]:
    """Points no other point beats in both cycles and energy, by increasing cycles (ties:
    the lower energy)."""
    out: list[ParetoPoint] = []
    for p in sorted(points, key=lambda p: (p.cycles, p.energy_pj)):
        if not out or p.energy_pj < out[-1].energy_pj:
            out.append(p)
    return out


def knee_index(points: list[ParetoPoint]) -> int | None:
    """The point of least x + y with cycles and energy each scaled to [0, 1] over the front
    (the one farthest below the line between the two extremes)."""
    if not points:
        return None
    c = [p.cycles for p in points]
    e = [p.energy_pj for p in points]
    dc, de = (max(c) - min(c)) or 1, (max(e) - min(e)) or 1
    return min(range(len(points)), key=lambda k: (c[k] - min(c)) / dc + (e[k] - min(e)) / de)


def pareto_front(problem: Problem, arch: Arch, options: SolveOptions, points: int = DEFAULT_POINTS) -> ParetoFront:
    """The front of ``problem`` on ``arch``: 2 + up to ``points`` solves of ``options``'
    time limit each."""
    energy = solve_layer(problem, arch, replace(options, objective="energy", top_k=1))
    delay = solve_layer(problem, arch, replace(options, objective="delay", top_k=1))
    if energy.best is None or delay.best is None:
        reason = (energy.reason or delay.reason) or "no mapping found"
        return ParetoFront(problem.name, (), energy, delay, None, reason)
    lo, hi = delay.best.result.cycles, energy.best.result.cycles
    found = [ParetoPoint(None, energy)]
    for cap in caps_between(lo, hi, max(1, points)):
        sol = solve_layer(problem, arch, replace(options, objective="energy", top_k=1), max_cycles=cap)
        if sol.best is not None:
            found.append(ParetoPoint(cap, sol))
    if not any(p.cycles <= lo for p in found):
        found.append(ParetoPoint(lo, delay))  # the delay optimum (energy tie-broken) if no capped solve matched it
    front = non_dominated(found)
    return ParetoFront(problem.name, tuple(front), energy, delay, knee_index(front))


def certified(point: ParetoPoint) -> bool:
    """Whether the point's energy is proved optimal under its cap."""
    gap = point.solution.gap
    return point.solution.status == "OPTIMAL" and gap is not None and math.isclose(gap, 0.0, abs_tol=1e-9) \
        if point.solution.objective == "energy" else point.solution.status == "OPTIMAL"
