"""Design-space sweeps: every network of a sweep file solved on every design point
(``cpmap sweep``; docs/sweep.md).

Grid mode solves all points x networks as one batch (:func:`.batch.run_batches`), so a
layer problem that recurs across points or networks is solved once, answers are cached and
reused by a re-run, and Ctrl-C keeps what finished.

Prune mode (energy objective) certifies the best design without solving every point at
the full time limit:

1. every point is solved with a short time limit (``bound_time_limit``); each layer's
   lower bound is the larger of the solver's certified bound and the compulsory-traffic
   floor (:mod:`cpmap.cost.floor`), so a point's bound -- the sum over its layers -- is a
   valid lower bound of the energy of every mapping of every network on that point; the
   best energy found is the incumbent;
2. points are taken in increasing order of that bound and solved at the full time limit;
   a point whose bound exceeds the incumbent cannot hold a design better than the
   incumbent, and neither can any later one (their bounds are larger): they are pruned.

The best design's certified gap is its energy against the smallest bound over all points
(pruned ones included), i.e. against every design of the space.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..cost.floor import compulsory_floor
from ..spec.sweep import SweepSpec
from ..spec.sweep_grid import DesignPoint
from .batch import BatchResult, run_batches
from .cache import Cache
from .engine import Engine
from .progress import Progress

PRUNE_TOLERANCE = 1e-9
"""Relative slack: a point is pruned only when its bound exceeds the incumbent by more
than float rounding could explain (ties are solved, not pruned)."""
DEFAULT_BOUND_SHARE = 0.1
"""Default short time limit of prune mode's first pass, as a share of the time limit."""


@dataclass(frozen=True)
class PointResult:
    """One design point's totals over every network.  ``state``: ``solved`` (every layer
    has a mapping), ``incomplete`` (some layer has none: INFEASIBLE, UNKNOWN, ERROR),
    ``interrupted``, ``pruned`` (prune mode: its bound exceeds the best energy found, so it
    was only solved with the short limit).  Energies pJ, cycles summed over the layers
    (run one after another), ``edp`` = energy x cycles of the whole workload set;
    ``lower_bound``: certified, in the objective's unit (None for edp: a network's EDP is
    not the sum of its layers'); ``gap`` = (value - lower_bound) / value;
    ``worst_gap``: the largest layer gap."""

    point: DesignPoint
    batches: tuple[BatchResult, ...]
    state: str
    energy_pj: float | None
    cycles: int | None
    edp: float | None
    value: float | None
    lower_bound: float | None
    gap: float | None
    worst_gap: float | None
    energy_by_level: dict = field(default_factory=dict)
    statuses: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Certificate:
    """Prune mode's verdict: the best design, the smallest lower bound over every point
    (``space_bound_pj``) and the gap between them; ``proved`` when that gap is zero."""

    best: str | None
    best_energy_pj: float | None
    space_bound_pj: float | None
    gap: float | None
    solved: int
    pruned: int
    bound_time_limit: float
    bounds: tuple[tuple[str, float], ...]
    """(point, its lower bound in pJ) in the order the points were considered."""


@dataclass(frozen=True)
class SweepRun:
    spec: SweepSpec
    points: tuple[PointResult, ...]
    unique: int
    solved: int
    cached: int
    layer_solves: int
    interrupted: bool
    wall_seconds: float
    certificate: Certificate | None = None


def summarize(point: DesignPoint, batches: tuple[BatchResult, ...], objective: str, state: str = "") -> PointResult:
    """The totals of one point from its networks' batch results."""
    outcomes = [o for b in batches for o in b.outcomes]
    statuses: dict = {}
    for o in outcomes:
        statuses[o.status] = statuses.get(o.status, 0) + 1
    interrupted = any(b.interrupted for b in batches) and any(o.solution is None or o.interrupted for o in outcomes)
    if not state:
        state = "interrupted" if interrupted else "solved" if all(o.has_mapping for o in outcomes) else "incomplete"
    gaps = [o.solution.gap for o in outcomes if o.solution is not None and o.solution.gap is not None]
    worst = max(gaps) if gaps else None
    if not all(o.has_mapping for o in outcomes):
        return PointResult(point, batches, state, None, None, None, None, None, None, worst, {}, statuses)
    results = [o.solution.best.result for o in outcomes]
    energy = sum(r.energy_pj for r in results)
    cycles = sum(r.cycles for r in results)
    value = {"energy": energy, "delay": float(cycles), "edp": energy * cycles}[objective]
    bounds = [o.solution.lower_bound for o in outcomes]
    bound = sum(bounds) if objective != "edp" and all(b is not None for b in bounds) else None
    gap = None if bound is None else (max(0.0, (value - bound) / value) if value > 0 else 0.0)
    return PointResult(point, batches, state, energy, cycles, energy * cycles, value, bound, gap, worst,
                       _by_level(point, results), statuses)


def _by_level(point: DesignPoint, results) -> dict:
    """pJ per level (outer to inner), per fanout network and MAC, summed over the layers."""
    out: dict = {lv: 0.0 for lv in reversed(point.arch.level_names)}
    for r in results:
        bd = r.energy_breakdown
        for lv in point.arch.level_names:
            out[lv] += sum(bd.get(lv, {}).values())
        for f, pj in bd.get("network", {}).items():
            out[f"network {f}"] = out.get(f"network {f}", 0.0) + pj
        out["MAC"] = out.get("MAC", 0.0) + bd.get("mac", 0.0)
    return out


def point_bound_pj(batches: tuple[BatchResult, ...]) -> float:
    """A certified lower bound of the point's total energy: per layer the larger of the
    solver's energy bound (when it has one) and the compulsory floor; infinite when a
    layer is proved INFEASIBLE (no mapping exists on this point)."""
    total = 0.0
    for b in batches:
        for o in b.outcomes:
            if o.status == "INFEASIBLE":
                return math.inf
            floor = compulsory_floor(o.layer.problem, b.plan.arch).energy_pj
            solver = o.solution.lower_bound_pj if o.solution is not None and not o.interrupted else None
            total += max(floor, solver) if solver is not None else floor
    return total


def _run(spec: SweepSpec, points, *, jobs, cache, engine, progress: bool, solve=None) -> dict:
    """Solve ``points`` x networks as one batch: {point index: batch results}."""
    plans = [(p.index, plan) for p in points for plan in spec.plans(p)]
    bar = Progress(sum(len(plan.layers) for _, plan in plans), enabled=progress)
    results = run_batches([plan for _, plan in plans], jobs=jobs, cache=cache, progress=bar, engine=engine,
                          solve=solve)
    out: dict = {}
    for (index, _), res in zip(plans, results):
        out.setdefault(index, []).append(res)
    return {k: tuple(v) for k, v in out.items()}


def run_sweep(spec: SweepSpec, *, jobs: int | None = None, cache: Cache | None = None,
              engine: Engine | None = None, progress: bool = False, prune: bool = False,
              bound_time_limit: float | None = None, prune_round: int = 1, solve=None) -> SweepRun:
    """Solve every network on every design point (or, with ``prune``, only as many as it
    takes to certify the best design for energy; module docstring; ``prune_round``: points
    solved at the full limit together, for parallel jobs or a cluster).  ``engine``: where the
    layer solves run (None: local processes); ``solve``: a per-problem solver run in this
    process instead (tests, as :func:`.batch.run_batch`'s)."""
    import time

    start = time.perf_counter()
    if prune:
        if spec.objective != "energy":
            raise ValueError("pruning certifies the best design for energy; the sweep's objective is "
                             f"{spec.objective}")
        run = {"jobs": jobs, "cache": cache, "engine": engine, "progress": progress, "solve": solve}
        points, batches, cert, interrupted = _pruned(spec, run, bound_time_limit,
                                                     prune_round)
    else:
        batches = _run(spec, spec.points, jobs=jobs, cache=cache, engine=engine, progress=progress, solve=solve)
        points = tuple(summarize(p, batches[p.index], spec.objective) for p in spec.points)
        cert, interrupted = None, any(b.interrupted for bs in batches.values() for b in bs)
    return SweepRun(spec, points, *_counts(batches), interrupted, time.perf_counter() - start, cert)


def _counts(batches: dict) -> tuple[int, int, int, int]:
    """(unique problems, solved in this run, taken from the cache, layer solves) over the
    final batches of every point."""
    seen: dict = {}
    layers = 0
    for bs in batches.values():
        for b in bs:
            for o in b.outcomes:
                layers += 1
                if o.solution is not None:
                    seen.setdefault(o.key, o.cached)
    return len(seen), sum(1 for c in seen.values() if not c), sum(1 for c in seen.values() if c), layers


def _pruned(spec: SweepSpec, how: dict, bound_time_limit: float | None, round_points: int):
    short_limit = bound_time_limit or spec.time_limit * DEFAULT_BOUND_SHARE
    short = _run(spec.with_time_limit(short_limit), spec.points, **how)
    if any(b.interrupted for bs in short.values() for b in bs):
        pts = tuple(summarize(p, short[p.index], spec.objective, "interrupted") for p in spec.points)
        return pts, short, None, True
    bounds = {p.index: point_bound_pj(short[p.index]) for p in spec.points}
    summaries = {p.index: summarize(p, short[p.index], "energy") for p in spec.points}
    incumbent = min((s.energy_pj for s in summaries.values() if s.energy_pj is not None), default=math.inf)
    order = sorted(spec.points, key=lambda p: (bounds[p.index], p.index))
    final, states, interrupted, k = dict(short), {}, False, 0
    while k < len(order):
        group = []  # up to round_points points to solve at the full limit together
        while k < len(order) and len(group) < max(1, round_points):
            p, k = order[k], k + 1
            if interrupted or bounds[p.index] > incumbent * (1 + PRUNE_TOLERANCE):
                states[p.index] = "interrupted" if interrupted else "pruned"
            elif all(o.status in ("OPTIMAL", "INFEASIBLE") for b in short[p.index] for o in b.outcomes):
                incumbent = min(incumbent, _energy(summaries[p.index]))  # proved: no longer search
            else:
                group.append(p)
        if not group:
            continue
        full = _run(spec, group, **how)
        interrupted = any(b.interrupted for bs in full.values() for b in bs)
        for p in group:
            if interrupted:
                states[p.index] = "interrupted"
                continue
            bounds[p.index] = max(bounds[p.index], point_bound_pj(full[p.index]))
            # the longer search reports its design unless the short one found a better one:
            # the incumbent that pruned other points must be a reported design
            e_short, e_full = summaries[p.index].energy_pj, summarize(p, full[p.index], "energy").energy_pj
            if e_full is not None and (e_short is None or e_full <= e_short):
                final[p.index] = full[p.index]
                summaries[p.index] = summarize(p, full[p.index], "energy")
            incumbent = min(incumbent, _energy(summaries[p.index]))
    points = tuple(summarize(p, final[p.index], "energy", states.get(p.index, "")) for p in spec.points)
    return points, final, _certificate(points, bounds, order, short_limit, interrupted), interrupted


def _energy(r: PointResult) -> float:
    return math.inf if r.energy_pj is None else r.energy_pj


def _certificate(points: tuple[PointResult, ...], bounds: dict, order, short_limit: float,
                 interrupted: bool) -> Certificate:
    solved = [r for r in points if r.state == "solved"]
    # a pruned point's short solve is a real design too (never better than the incumbent)
    designs = [r for r in points if r.state in ("solved", "pruned") and r.energy_pj is not None]
    best = min(designs, key=lambda r: (r.energy_pj, r.point.index), default=None)
    space = min(bounds.values()) if bounds else None
    if space is not None and math.isinf(space):
        space = None
    gap = None
    if best is not None and space is not None and not interrupted:
        gap = max(0.0, (best.energy_pj - space) / best.energy_pj) if best.energy_pj > 0 else 0.0
    return Certificate(best.point.name if best else None, best.energy_pj if best else None, space, gap,
                       len(solved), sum(1 for r in points if r.state == "pruned"), short_limit,
                       tuple((p.name, bounds[p.index]) for p in order))


def proxy(r: PointResult) -> float:
    """The cost axis of the Pareto front: the area proxy when the sweep has an area model,
    else the on-chip capacity in bytes."""
    return r.point.area_mm2 if r.point.area_mm2 is not None else float(r.point.onchip_bytes)


def best_points(points: tuple[PointResult, ...]) -> dict:
    """{objective: the point with the least total energy, cycles or EDP} among the points
    with every layer mapped (ties: the first point)."""
    done = [r for r in points if r.energy_pj is not None]
    if not done:
        return {}
    return {"energy": min(done, key=lambda r: (r.energy_pj, r.point.index)),
            "delay": min(done, key=lambda r: (r.cycles, r.point.index)),
            "edp": min(done, key=lambda r: (r.edp, r.point.index))}


def design_front(points: tuple[PointResult, ...]) -> tuple[PointResult, ...]:
    """The points no other point beats in both energy and :func:`proxy` (strictly in one,
    at least as good in the other), by increasing proxy."""
    done = sorted((r for r in points if r.energy_pj is not None), key=lambda r: (proxy(r), r.energy_pj, r.point.index))
    front: list[PointResult] = []
    for r in done:
        if not front or r.energy_pj < front[-1].energy_pj:
            front.append(r)
    return tuple(front)
