"""Pareto fronts of every selected layer of a solve plan (``cpmap solve --objective
pareto``): identical layers swept once, one after another, progress on stderr, Ctrl-C
keeps the layers that finished."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

from ..core.options import DEFAULT_WORKERS
from ..core.workload import Layer
from ..solve.pareto import DEFAULT_POINTS, ParetoFront, pareto_front
from ..spec.solve import SolvePlan


@dataclass(frozen=True)
class ParetoRun:
    plan: SolvePlan
    fronts: tuple[tuple[Layer, ParetoFront], ...]
    """(layer, front) in the plan's order; a layer identical to an earlier one shares its front."""
    interrupted: bool
    wall_seconds: float


def run_pareto(plan: SolvePlan, points: int = DEFAULT_POINTS, progress: bool = False) -> ParetoRun:
    start = time.perf_counter()
    options = plan.options(plan.workers or DEFAULT_WORKERS)
    by_key: dict[tuple, ParetoFront] = {}
    out: list[tuple[Layer, ParetoFront]] = []
    interrupted = False
    try:
        for n, lay in enumerate(plan.layers, 1):
            key = lay.problem.key()
            if key not in by_key:
                if progress:
                    print(f"pareto: layer {n}/{len(plan.layers)} {lay.name} ...", file=sys.stderr, flush=True)
                by_key[key] = pareto_front(lay.problem, plan.arch, options, points)
            out.append((lay, by_key[key]))
    except KeyboardInterrupt:
        interrupted = True
    return ParetoRun(plan, tuple(out), interrupted, time.perf_counter() - start)
