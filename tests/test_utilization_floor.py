"""The utilization floor (``constraints.min_utilization``) in the CP-SAT model, alone and
together with a required dataflow (as bench/interstellar.py's dataflow study uses them):
the solver's optimum equals brute-force enumeration filtered by used PEs >= ceil(floor x
PEs), counted directly from each mapping's spatial factors, and a floor no mapping meets
is INFEASIBLE."""

from __future__ import annotations

import math

import pytest
from brute_force import brute_force_mappings
from test_dataflow import ARCH, meets

from cpmap.core.constraints import Constraints
from cpmap.core.options import SolveOptions
from cpmap.core.problem import conv, fc
from cpmap.cost.evaluator import Evaluator
from cpmap.solve.layer import solve_layer

PES = 6  # ARCH's 2 x 3 array

PROBLEMS = [
    fc("fc", N=1, K=4, C=2),
    conv("conv", K=2, C=2, P=3, Q=1, R=2, S=1),
    conv("batch", N=2, K=2, C=3, P=2, Q=1, R=1, S=1),
]
# (floor, dataflow of GB or None): 1/6 and 0.5 and 1.0 fall on PE counts, 0.6 between them
FLOORS = [(0.5, None), (0.6, None), (1.0, None), (0.5, "C|K"), (1.0, "C|K"), (1.0, "N|C")]


def used_pes(mapping) -> int:
    return math.prod(f for _, f in mapping.levels[1].spatial_loops())


_ALL: dict = {}


def every(problem):
    if problem.name not in _ALL:
        ev = Evaluator(problem, ARCH)
        maps = list(brute_force_mappings(problem, ARCH))
        _ALL[problem.name] = [(m, r) for m in maps if (r := ev.evaluate(m)).valid]
    return _ALL[problem.name]


@pytest.mark.parametrize("problem", PROBLEMS, ids=[p.name for p in PROBLEMS])
@pytest.mark.parametrize("floor, dataflow", FLOORS, ids=[f"{f}-{d}" for f, d in FLOORS])
def test_solver_optimum_under_the_floor_equals_brute_force(problem, floor, dataflow):
    if dataflow and any(d not in problem.size for side in dataflow.split("|") for d in side.split(",")):
        pytest.skip("the dataflow names a dim the problem lacks")
    need = math.ceil(floor * PES - 1e-9)
    ok = [(m, r) for m, r in every(problem)
          if used_pes(m) >= need and (dataflow is None or meets(m, problem, dataflow, None))]
    cons = Constraints.of(min_utilization=floor, dataflow={"GB": dataflow} if dataflow else None)
    cons.check(ARCH, problem.dims)
    sol = solve_layer(problem, ARCH, SolveOptions(time_limit=60, workers=1, seed=1, constraints=cons))
    if not ok:
        assert sol.status == "INFEASIBLE" and sol.best is None
        return
    assert sol.status == "OPTIMAL"
    assert sol.best.result.energy_pj == pytest.approx(min(r.energy_pj for _, r in ok), rel=1e-12)
    assert used_pes(sol.best.mapping) >= need
    assert sol.best.result.utilization >= floor - 1e-12


def test_the_floor_binds_somewhere():
    """Not every case above is decided by the floor alone: on some problem the unconstrained
    optimum uses fewer PEs than a floor demands, so the floor changes the answer."""
    changed = 0
    for problem in PROBLEMS:
        best = min(every(problem), key=lambda mr: mr[1].energy_pj)
        changed += used_pes(best[0]) < math.ceil(0.6 * PES)
    assert changed >= 1
