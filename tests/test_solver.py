"""The CP-SAT mapper against exhaustive enumeration under the evaluator.

The enumerator below walks the whole mapping space of tiny layers: every split of every
dim's prime factors over the temporal and spatial slots, every allowed bypass choice and
*every permutation* of the loops of each level above the innermost (the innermost level's
order cannot matter: refills count only loops above a level).  The solver models order by
one "innermost irrelevant class" per level; agreeing with this enumeration on every layer
shows that choice loses nothing.
"""

from __future__ import annotations

import itertools
import math

import pytest
from ortools.sat.python import cp_model

from cpmap.arch import Arch, Fanout, Level
from cpmap.cpsat import build_model
from cpmap.evaluator import Evaluator
from cpmap.factors import prime_list
from cpmap.mapping import LevelMapping, Mapping
from cpmap.problem import conv, fc, gemm
from cpmap.solver import SolveOptions, mapping_from_solution, solve_layer

ARCH = Arch("tiny", 16, 1.0, (
    Level("RF", frozenset("WIO"), 1.0, 1.0, capacity=12),
    Level("GB", frozenset("IO"), 6.0, 6.0, capacity=96,
          fanout=Fanout("PE", (("X", 2),), multicast=True, reduction=True, energy_pj=2.0)),
    Level("DRAM", frozenset("WIO"), 200.0, 200.0),
))

LAYERS = [
    fc("fc", N=2, K=4, C=2),
    conv("conv", K=2, C=2, P=3, Q=1, R=2, S=1),
    conv("stride2", K=2, C=2, P=2, Q=1, R=1, S=1, stride=2),
    conv("depthwise", K=2, C=2, P=4, Q=1, R=3, S=1, groups=2),
    conv("batch", N=2, K=2, C=3, P=2, Q=1, R=1, S=1),
    gemm("gemm", M=2, N=4, K=2, B=2),
]


def _splits(primes: list[int], slots: list) -> list[dict]:
    """Every assignment of the prime factors to slots, as {slot: factor} (deduplicated)."""
    seen = set()
    out = []
    for choice in itertools.product(range(len(slots)), repeat=len(primes)):
        f = [1] * len(slots)
        for p, k in zip(primes, choice):
            f[k] *= p
        key = tuple(f)
        if key not in seen:
            seen.add(key)
            out.append({s: v for s, v in zip(slots, f) if v > 1})
    return out


def exhaustive_best(problem, arch) -> float:
    ev = Evaluator(problem, arch)
    slots = []
    for i, lv in enumerate(arch.levels):
        slots.append((i, None))
        if lv.fanout is not None:
            slots.extend((i, ax) for ax, _ in lv.fanout.axes)
    per_dim = []
    for d, size in zip(problem.dims, problem.sizes):
        per_dim.append([(d, s) for s in _splits(prime_list(size), slots)])
    keep_choices = []
    for i, lv in enumerate(arch.levels):
        allowed = [t for t in problem.tensor_names if t in lv.keeps]
        if i == len(arch.levels) - 1:
            keep_choices.append([frozenset(problem.tensor_names)])
        else:
            keep_choices.append([frozenset(c) for r in range(len(allowed) + 1)
                                 for c in itertools.combinations(allowed, r)])
    best = math.inf
    for combo in itertools.product(*per_dim):
        loops = {s: [] for s in slots}
        for d, split in combo:
            for s, f in split.items():
                loops[s].append((d, f))
        if any(math.prod(f for _, f in loops[s]) > arch.levels[s[0]].fanout.axis_size(s[1])
               for s in slots if s[1] is not None):
            continue
        orders = [[tuple(loops[(i, None)])] if i == 0 else list(itertools.permutations(loops[(i, None)]))
                  for i in range(len(arch.levels))]
        for order in itertools.product(*orders):
            for keeps in itertools.product(*keep_choices):
                levels = []
                for i, lv in enumerate(arch.levels):
                    spatial = tuple((ax, tuple(loops[(i, ax)])) for ax, _ in (lv.fanout.axes if lv.fanout else ())
                                    if loops[(i, ax)])
                    levels.append(LevelMapping(lv.name, order[i], keeps[i], spatial))
                r = ev.evaluate(Mapping(tuple(levels)))
                if r.valid and r.energy_pj < best:
                    best = r.energy_pj
    return best


@pytest.mark.parametrize("problem", LAYERS, ids=lambda p: p.name)
def test_solver_optimum_equals_exhaustive(problem):
    truth = exhaustive_best(problem, ARCH)
    sol = solve_layer(problem, ARCH, SolveOptions(time_limit=60, workers=2, seed=1))
    assert sol.status == "OPTIMAL"
    assert sol.best.result.valid
    assert sol.best.result.energy_pj == pytest.approx(truth, rel=1e-12)
    assert sol.lower_bound_pj <= truth * (1 + 1e-12)
    assert sol.gap == pytest.approx(0.0, abs=1e-9)


def test_model_energy_equals_evaluator_on_every_solution():
    """Every intermediate solution's model objective equals the evaluator's energy of the
    mapping read back from it: the model and the evaluator count the same accesses."""
    problem = conv("mid", K=8, C=4, P=6, Q=6, R=3, S=3)
    arch = Arch("mid", 16, 1.0, (
        Level("RF", frozenset("WIO"), 1.0, 1.0, capacity=32),
        Level("GB", frozenset("WIO"), 6.0, 6.0, capacity=512,
              fanout=Fanout("PE", (("X", 4), ("Y", 2)), True, True, 2.0)),
        Level("DRAM", frozenset("WIO"), 200.0, 200.0),
    ))
    lm = build_model(problem, arch)
    ev = Evaluator(problem, arch)
    seen = []

    class Check(cp_model.CpSolverSolutionCallback):
        def on_solution_callback(self):
            mapping = mapping_from_solution(lm, problem, arch, self.value)
            result = ev.evaluate(mapping)
            seen.append((self.objective_value / lm.scale + lm.constant_pj, result.energy_pj, result.valid))

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = 5
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 3
    solver.solve(lm.model, Check())
    assert seen, "the solver found no solution in 5 s"
    for model_pj, eval_pj, valid in seen:
        assert valid
        assert model_pj == pytest.approx(eval_pj, rel=1e-12)
