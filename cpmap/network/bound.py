"""Certified lower bounds of every layer and the network, and other tools' claims against
them (``cpmap bound``; docs/interop.md section 3).

Per layer: the solver's certified lower bound of energy (the ``energy`` objective's bound)
and of cycles (the ``delay`` objective's bound, of the evaluator's cycles: compute cycles
or, where slower, bandwidth-limited ones), beside the compulsory-traffic floor
(:mod:`cpmap.cost.floor`).  The network's bounds are the sums (layers run one after
another, each at least its own bound).  A claim below a bound is impossible under the
stated cost model; the margin says by how much.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..cost.floor import Floor, compulsory_floor
from ..spec.claims import NETWORK, Claim
from ..spec.solve import SolvePlan
from .batch import BatchResult, run_batch
from .cache import Cache
from .progress import Progress

TOLERANCE = 1e-9
"""Relative slack before a claim counts as below a bound (float rounding of pJ sums)."""


@dataclass(frozen=True)
class Verdict:
    """A claim against a bound: ``impossible`` when it is below, by ``margin`` = (bound -
    claim) / bound; None fields when there is no claim or no bound."""

    claim: float | None
    bound: float | None
    impossible: bool | None
    margin: float | None


def judge(claim: float | None, bound: float | None) -> Verdict:
    if claim is None or bound is None:
        return Verdict(claim, bound, None, None)
    below = claim < bound * (1 - TOLERANCE)
    return Verdict(claim, bound, below, (bound - claim) / bound if bound > 0 else 0.0)


@dataclass(frozen=True)
class LayerBound:
    name: str
    macs: int
    floor: Floor
    energy_status: str
    energy_bound: float | None
    energy_best: float | None
    cycles_status: str
    cycles_bound: float | None
    cycles_best: float | None
    energy: Verdict
    cycles: Verdict


@dataclass(frozen=True)
class BoundReport:
    layers: tuple[LayerBound, ...]
    network: LayerBound
    interrupted: bool


def _solved(plan: SolvePlan, objective: str, jobs, cache, quiet: bool) -> BatchResult:
    p = replace(plan, objective=objective, top_k=1)
    return run_batch(p, jobs=jobs, cache=cache, progress=Progress(len(p.layers), enabled=not quiet))


def run_bounds(plan: SolvePlan, claims: dict[str, Claim], *, jobs: int | None = None,
               cache: Cache | None = None, quiet: bool = True) -> BoundReport:
    """Bounds of every selected layer of ``plan`` and of their sum, with ``claims`` judged."""
    energy = _solved(plan, "energy", jobs, cache, quiet)
    cycles = _solved(plan, "delay", jobs, cache, quiet) if not energy.interrupted else None
    rows = []
    for k, lay in enumerate(plan.layers):
        e = energy.outcomes[k].solution
        c = cycles.outcomes[k].solution if cycles is not None else None
        claim = claims.get(lay.name, Claim(lay.name, None, None))
        rows.append(LayerBound(
            lay.name, lay.problem.macs, compulsory_floor(lay.problem, plan.arch),
            e.status if e else "UNKNOWN", e.lower_bound if e else None, e.value if e else None,
            c.status if c else "UNKNOWN", c.lower_bound if c else None, c.value if c else None,
            judge(claim.energy_pj, e.lower_bound if e else None),
            judge(claim.cycles, c.lower_bound if c else None)))
    return BoundReport(tuple(rows), _network(rows, claims.get(NETWORK)),
                       energy.interrupted or (cycles is not None and cycles.interrupted))


def _sum(values) -> float | None:
    values = list(values)
    return None if any(v is None for v in values) else sum(values)


def _network(rows: list[LayerBound], claim: Claim | None) -> LayerBound:
    floor = Floor(sum(r.floor.energy_pj for r in rows), sum(r.floor.dram_words for r in rows),
                  sum(r.floor.cycles for r in rows))
    e_bound, c_bound = _sum(r.energy_bound for r in rows), _sum(r.cycles_bound for r in rows)
    proved = {r.energy_status for r in rows} == {"OPTIMAL"}
    return LayerBound(
        NETWORK, sum(r.macs for r in rows), floor, "OPTIMAL" if proved else "bound", e_bound,
        _sum(r.energy_best for r in rows), "OPTIMAL" if {r.cycles_status for r in rows} == {"OPTIMAL"} else "bound",
        c_bound, _sum(r.cycles_best for r in rows),
        judge(claim.energy_pj if claim else None, e_bound), judge(claim.cycles if claim else None, c_bound))
