"""Inter-layer pipelining: the segment ILP over a network (docs/pipeline.md).

:func:`run_pipeline` lists the candidate (segment, variant)s (:mod:`.segments`), solves every
layer problem they need through the batch machinery (:func:`~.batch.run_batch`: identical
(layer, residency, batch share) problems once, cached, in parallel jobs), and picks one
variant per segment with a Pyomo model solved by HiGHS (:func:`segment_ilp`):

* a binary ``x[v]`` per candidate; every layer covered exactly once;
* objective: the sum of the candidates' costs (energy in pJ, or delay in cycles), each
  ``groups x`` the sum of its layers' evaluated values under the variant's residency
  (plus its moves between node partitions or regions), or for a spatial variant's delay
  the pipelined :func:`segment_delay`;
* optionally the schedule's delay at most ``(1 + time_overhead)`` x layer-by-layer's.

The **network lower bound** is the same ILP on the layers' certified lower bounds
(:func:`layer_bound`: the solver's bound or the compulsory floor, the larger), without the
delay cap (dropping a constraint only lowers a minimum): every schedule of the space costs at
least the sum of its layers' bounds, which is at least that ILP's optimum.  A spatial
variant's bound adds the floor of its moves between regions
(:func:`~.exchange.region_move_floor`), which every pair of mappings pays.

While the certified gap is above ``options.gap_target``, the unproved layer problems of the
two ILPs' selections are solved again with longer limits (:mod:`.refine`) and both ILPs
rebuilt, at most ``options.refine_rounds`` times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..core.arch import Arch
from ..core.errors import CpmapError
from ..core.options import SolveOptions
from ..core.pipeline import PipelineOptions
from ..core.problem import Problem
from ..core.region import on_region
from ..core.workload import Layer, Workload
from ..cost.floor import compulsory_floor
from ..solve.layer import LayerSolution
from ..spec.solve import SolvePlan
from .batch import BatchResult, run_batches
from .cache import Cache
from .exchange import exchange_pj, region_exchange_pj, region_move_floor
from .progress import Progress
from .refine import Refinement, refine
from .segments import Variant, variants

ILP_SOLVER = "highs"
"""Pyomo's HiGHS interface (highspy), asked for exact optima (both MIP gaps 0)."""


@dataclass(frozen=True)
class Candidate:
    """A variant with its layers' solutions.  ``energy_pj``, ``cycles`` and ``value`` are
    None unless every layer has a mapping; ``bound`` is in the objective's unit (each layer's
    :func:`layer_bound`); ``infeasible``: some layer is proven to have
    no mapping (its resident data cannot fit)."""

    variant: Variant
    solutions: tuple[LayerSolution | None, ...]
    energy_pj: float | None
    cycles: int | None
    value: float | None
    bound: float
    infeasible: bool
    exchange_pj: float = 0.0
    """Of ``energy_pj``: the intermediates' moves between node partitions (:mod:`.exchange`)."""


@dataclass(frozen=True)
class PipelineResult:
    """The chosen schedule and its certificates.  ``gap`` = (value - bound) / value of the
    schedule in the objective's unit; ``baseline_*``: layer-by-layer (every layer alone)."""

    options: PipelineOptions
    objective: str
    candidates: tuple[Candidate, ...]
    schedule: tuple[Candidate, ...]
    energy_pj: float | None
    cycles: int | None
    value: float | None
    bound: float | None
    baseline_energy_pj: float | None
    baseline_cycles: int | None
    batch: BatchResult
    bound_selection: tuple[Candidate, ...] = ()
    """The candidates the bound ILP selects (its optimum is ``bound``)."""
    refinements: tuple[Refinement, ...] = ()
    """The rounds of lazy bound refinement (:mod:`.refine`), in order."""

    @property
    def gap(self) -> float | None:
        if self.value is None or self.bound is None:
            return None
        return max(0.0, (self.value - self.bound) / self.value) if self.value > 0 else 0.0

    @property
    def gain(self) -> float | None:
        """Energy saved over layer-by-layer, as a fraction of layer-by-layer's."""
        if self.energy_pj is None or not self.baseline_energy_pj:
            return None
        return 1.0 - self.energy_pj / self.baseline_energy_pj


def segment_ilp(layers: tuple[str, ...], covers: list[tuple[str, ...]], costs: list[float],
                delays: list[float] | None = None, max_delay: float | None = None):
    """The segment selection model: a Pyomo ``ConcreteModel`` with a binary ``x[v]`` per
    candidate ``v`` (covering the layer names ``covers[v]``), each layer covered once, the
    sum of ``costs`` minimized and, with ``max_delay``, the sum of ``delays`` capped."""
    import pyomo.environ as pe

    m = pe.ConcreteModel(name="segments")
    m.V = pe.RangeSet(0, len(costs) - 1) if costs else pe.Set(initialize=[])
    m.x = pe.Var(m.V, domain=pe.Binary)
    by_layer: dict[str, list[int]] = {name: [] for name in layers}
    for v, names in enumerate(covers):
        for n in names:
            by_layer[n].append(v)
    m.cover = pe.Constraint(list(layers), rule=lambda m, n: sum(m.x[v] for v in by_layer[n]) == 1)
    if max_delay is not None:
        m.delay = pe.Constraint(expr=sum(delays[v] * m.x[v] for v in m.V) <= max_delay)
    m.cost = pe.Objective(expr=sum(costs[v] * m.x[v] for v in m.V), sense=pe.minimize)
    return m


def solve_ilp(model) -> list[int] | None:
    """The chosen candidates of an optimal solution (HiGHS, gaps 0), None if infeasible."""
    import pyomo.environ as pe
    from pyomo.opt import TerminationCondition

    res = pe.SolverFactory(ILP_SOLVER).solve(model, options={"mip_rel_gap": 0.0, "mip_abs_gap": 0.0,
                                                              "random_seed": 0}, load_solutions=False)
    cond = res.solver.termination_condition
    if cond == TerminationCondition.infeasible:
        return None
    if cond != TerminationCondition.optimal:
        raise RuntimeError(f"the segment ILP ended with {cond}")
    model.solutions.load_from(res)
    return [v for v in model.V if pe.value(model.x[v]) > 0.5]


def _tag(p: Problem) -> str:
    res = ",".join(f"{t}@{lv}" for t, lv in p.resident)
    return f"{p.name}[{res or 'DRAM'}; N={p.size.get('N', '-')}]"


def _solve_problems(plan: SolvePlan, keys: list, jobs, cache, progress) -> tuple[dict, BatchResult]:
    """The layer problems ``keys`` ((problem, node region or None) pairs, :meth:`Variant.solve_keys`),
    once each, through the batch runner (one plan per node region, all in one pool);
    {(problem, region or None): solution}."""
    unique = list(dict.fromkeys(keys))
    by_region: dict = {}
    for p, r in unique:
        by_region.setdefault(r, []).append(p)
    plans = []
    for r, probs in by_region.items():
        layers = tuple(Layer(_tag(p) + (f" on {r.label}" if r else ""), p) for p in probs)
        wl = Workload(plan.workload.name, layers, plan.workload.inputs)
        plans.append(replace(plan, workload=wl, layers=layers, arch=on_region(plan.arch, r) if r else plan.arch))
    total = sum(len(ps) for ps in by_region.values())
    batches = run_batches(plans, jobs=jobs, cache=cache, progress=Progress(total, enabled=progress))
    sols = {(p, r): o.solution for (r, probs), b in zip(by_region.items(), batches) for p, o in zip(probs, b.outcomes)}
    first = batches[0]
    batch = replace(first, plan=plan, outcomes=tuple(o for b in batches for o in b.outcomes),
                    unique=sum(b.unique for b in batches), solved=sum(b.solved for b in batches),
                    cache_hits=sum(b.cache_hits for b in batches),
                    interrupted=any(b.interrupted for b in batches))
    return sols, batch


def layer_bound(problem: Problem, arch: Arch, solution: LayerSolution | None, objective: str) -> float:
    """A certified lower bound of ``problem``'s ``objective`` (pJ or cycles) over every
    mapping: the larger of the solver's bound (when it has one) and the compulsory floor
    (resident tensors left out), so a layer the solver did not prove still bounds its
    candidate by its DRAM traffic -- a batch-grouped segment's weights, read once per group."""
    floor = compulsory_floor(problem, arch)
    least = floor.energy_pj if objective == "energy" else float(floor.cycles)
    solver = solution.lower_bound if solution is not None else None
    return least if solver is None else max(least, solver)


def segment_delay(stages: list, groups: int, spatial: bool):
    """A segment's delay from its layers' per-group times: one after another ``groups``
    times (temporal), or pipelined over the regions (spatial): the first group through
    every stage, then one group out per slowest stage (fill, steady state, drain)."""
    if spatial:
        return sum(stages) + (groups - 1) * max(stages)
    return groups * sum(stages)


def _candidate(v: Variant, sols: dict, objective: str, arch: Arch) -> Candidate:
    ss = tuple(sols.get(key) for key in v.solve_keys())
    infeasible = any(s is not None and s.status == "INFEASIBLE" for s in ss)
    bounds = [layer_bound(p, v.arch_of(k, arch), s, objective) for k, (p, s) in enumerate(zip(v.problems, ss))]
    if objective == "delay":
        bound = segment_delay(bounds, v.groups, v.spatial)
    else:
        floor = region_move_floor(v.problems, arch, v.buffer, v.regions) if v.spatial else 0.0
        bound = v.groups * (math.fsum(bounds) + floor)
    if infeasible or any(s is None or s.best is None for s in ss):
        return Candidate(v, ss, None, None, None, bound, infeasible)
    maps = tuple(s.best.mapping for s in ss)
    if v.spatial:
        moves = v.groups * region_exchange_pj(v.problems, maps, arch, v.buffer, v.regions)
    else:
        moves = v.groups * exchange_pj(v.problems, maps, arch, v.buffer)
    energy = v.groups * sum(s.best.result.energy_pj for s in ss) + moves
    cycles = segment_delay([s.best.result.cycles for s in ss], v.groups, v.spatial)
    return Candidate(v, ss, energy, cycles, energy if objective == "energy" else float(cycles), bound, False, moves)


def run_pipeline(plan: SolvePlan, options: PipelineOptions, *, jobs: int | None = None,
                 cache: Cache | None = None, progress: bool = False) -> PipelineResult:
    """Schedule ``plan``'s layers (see the module docstring).  The objective is the plan's
    (energy or delay; EDP is not a sum over layers and is refused).  ``progress``: the batch
    runner's progress line on stderr."""
    if plan.objective not in ("energy", "delay"):
        raise CpmapError(f"pipeline: objective {plan.objective!r} is not a sum over layers; use energy or delay")
    degree = options.max_degree if options.mode != "none" else 1
    vs = variants(plan.layers, plan.arch, degree, options.batch_groups, f"{plan.file}: solve.pipeline.mode",
                  options.mode, options.regions)
    sols, batch = _solve_problems(plan, [k for v in vs for k in v.solve_keys()], jobs, cache, progress)
    result = _schedule(plan, options, vs, sols, batch)

    def solve(sub: SolvePlan, keys: list) -> tuple[dict, BatchResult]:
        return _solve_problems(sub, keys, jobs, cache, progress)

    return refine(result, sols, plan, options, solve, lambda answers, b: _schedule(plan, options, vs, answers, b))


def _schedule(plan: SolvePlan, options: PipelineOptions, vs: list[Variant], sols: dict,
              batch: BatchResult) -> PipelineResult:
    """The candidates from the layer answers ``sols``, the schedule (value ILP) and the
    network bound (bound ILP)."""
    objective = plan.objective
    cands = tuple(_candidate(v, sols, objective, plan.arch) for v in vs)
    names = tuple(lay.name for lay in plan.layers)
    base = [c for c in cands if len(c.variant.layers) == 1]
    complete = all(c.value is not None for c in base)
    base_e = sum(c.energy_pj for c in base) if complete else None
    base_c = sum(c.cycles for c in base) if complete else None
    usable = [c for c in cands if c.value is not None]
    chosen: list[Candidate] = []
    if complete:
        cap = None if options.time_overhead is None else (1 + options.time_overhead) * base_c
        model = segment_ilp(names, [c.variant.layers for c in usable], [c.value for c in usable],
                            [float(c.cycles) for c in usable], cap)
        picked = solve_ilp(model)
        chosen = [usable[v] for v in picked] if picked is not None else []
    possible = [c for c in cands if not c.infeasible]
    lb_pick = solve_ilp(segment_ilp(names, [c.variant.layers for c in possible], [c.bound for c in possible]))
    bound = sum(possible[v].bound for v in lb_pick) if lb_pick is not None else None
    order = {n: k for k, n in enumerate(names)}
    chosen.sort(key=lambda c: order[c.variant.layers[0]])
    value = math.fsum(c.value for c in chosen) if chosen else None
    energy = math.fsum(c.energy_pj for c in chosen) if chosen else None
    cycles = sum(c.cycles for c in chosen) if chosen else None
    return PipelineResult(options, objective, cands, tuple(chosen), energy, cycles, value, bound, base_e, base_c,
                          batch, tuple(possible[v] for v in lb_pick or ()))


@dataclass(frozen=True)
class FrontPoint:
    """One energy-delay Pareto point over the candidates: the schedule and its totals."""

    energy_pj: float
    cycles: int
    schedule: tuple[Candidate, ...]


def energy_delay_front(result: PipelineResult, max_points: int = 50) -> list[FrontPoint]:
    """The energy-delay Pareto front of the schedules made of ``result``'s solved candidates
    (each layer's mapping as solved), least energy first, by the epsilon constraint: the
    least energy under a delay cap, then the least delay at that energy (so the point is
    not dominated), then the cap just below that delay (cycles are integers), until no
    schedule is left or ``max_points`` are found."""
    usable = [c for c in result.candidates if c.value is not None]
    if not usable or not result.schedule:
        return []
    names = tuple(n for c in result.schedule for n in c.variant.layers)
    covers = [c.variant.layers for c in usable]
    energies = [c.energy_pj for c in usable]
    cycles = [float(c.cycles) for c in usable]
    points: list[FrontPoint] = []
    cap = None
    while len(points) < max_points:
        least = solve_ilp(segment_ilp(names, covers, energies, cycles, cap))
        if least is None:
            break
        e_cap = math.fsum(energies[v] for v in least)
        fastest = solve_ilp(segment_ilp(names, covers, cycles, energies, e_cap * (1 + 1e-12) + 1e-9))
        pick = tuple(usable[v] for v in fastest)
        delay = sum(c.cycles for c in pick)
        points.append(FrontPoint(math.fsum(c.energy_pj for c in pick), delay, pick))
        cap = delay - 1
    return points


def pipeline_workload(workload: Workload, arch: Arch, pipeline: PipelineOptions,
                      options: SolveOptions | None = None, *, jobs: int | None = None,
                      cache: Cache | None = None) -> PipelineResult:
    """Schedule every layer of ``workload`` on ``arch`` with ``pipeline`` (the Python form of
    ``cpmap solve`` with a ``pipeline:``); ``options`` (default :class:`SolveOptions`) apply
    to every layer solve."""
    plan = SolvePlan.of(workload, arch, options or SolveOptions())
    return run_pipeline(plan, pipeline, jobs=jobs, cache=cache)
