"""The heuristic searchers (cpmap.search) against brute force and their own contracts.

The brute force (tests/brute_force.py, shared with tests/test_solver.py) is independent of
cpmap.search: every split of every dim's prime factors over the slots that fits the axes,
every permutation of the loops of each level above the innermost, every bypass choice.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from brute_force import brute_force_mappings

from cpmap.core.arch import Arch, Fanout, Level
from cpmap.core.errors import CpmapError
from cpmap.core.mapping import Mapping
from cpmap.core.problem import conv, fc
from cpmap.cost.evaluator import Evaluator, evaluate
from cpmap.search import (
    SearchError,
    anneal,
    count_mappings,
    exhaustive_search,
    genetic_search,
    iter_mappings,
    make_space,
    random_search,
)
from cpmap.search.space import decode, encode, feasible
from cpmap.search.variation import crossover, mutate, sample
from cpmap.spec import load_arch

ROOT = Path(__file__).resolve().parent.parent

TINY = Arch("tiny", 16, 1.0, (
    Level("RF", frozenset("WIO"), 1.0, 1.0, capacity=12),
    Level("GB", frozenset("IO"), 6.0, 6.0, capacity=96,
          fanout=Fanout("PE", (("X", 2),), multicast=True, reduction=True, energy_pj=2.0)),
    Level("DRAM", frozenset("WIO"), 200.0, 200.0),
))
# two axes, no spatial reduction, a partitioned RF
TINY2 = Arch("tiny2", 16, 1.0, (
    Level("RF", frozenset("WIO"), 1.0, 1.0, partitions=(("W", 4), ("I", 4), ("O", 2))),
    Level("GB", frozenset("WIO"), 6.0, 6.0, capacity=64,
          fanout=Fanout("PE", (("X", 2), ("Y", 3)), multicast=True, reduction=False, energy_pj=2.0)),
    Level("DRAM", frozenset("WIO"), 200.0, 200.0),
))
TINY_LAYERS = [fc("fc", N=2, K=4, C=2), conv("conv", K=2, C=2, P=3, Q=1, R=2, S=1)]
SMALL2 = conv("small2", K=2, C=2, P=3, Q=1, R=1, S=1)

EYERISS = load_arch(ROOT / "specs/eyeriss.yaml")
CONV3 = conv("conv3", K=384, C=256, P=13, Q=13, R=3, S=3)

HEURISTICS = {
    "random": lambda p, a, seed, **kw: random_search(p, a, samples=300, seed=seed, **kw),
    "ga": lambda p, a, seed, **kw: genetic_search(p, a, population=20, generations=15, seed=seed, **kw),
    "anneal": lambda p, a, seed, **kw: anneal(p, a, steps=300, seed=seed, **kw),
}


# ------------------------------------------------------------------------------ brute force

def reduction_ok(problem, arch, m: Mapping) -> bool:
    o = problem.tensor("O").dims
    return all(lv.fanout is None or lv.fanout.reduction or all(d in o for d, _ in lm.spatial_loops())
               for lm, lv in zip(m.levels, arch.levels))


@pytest.fixture(scope="module", params=TINY_LAYERS, ids=lambda p: p.name)
def brute(request):
    """(problem, every mapping of the space, the evaluator's result of each)."""
    problem = request.param
    ev = Evaluator(problem, TINY)
    maps = list(brute_force_mappings(problem, TINY))
    return problem, maps, [ev.evaluate(m) for m in maps]


def best_by(results, key):
    return min((key(r) for r in results if r.valid), default=math.inf)


# ---------------------------------------------------------------------------- the space

def test_count_equals_enumeration_and_brute_force(brute):
    problem, maps, _ = brute
    space = make_space(problem, TINY)
    enumerated = list(iter_mappings(space))
    assert count_mappings(space) == len(enumerated) == len(maps)
    assert set(enumerated) == set(maps)


def test_count_under_restrictions_equals_filtered_brute_force():
    """Two axes, a fanout without reduction, and every restriction kind."""
    problem = SMALL2
    every = list(brute_force_mappings(problem, TINY2))
    cases = [
        ({}, lambda m: True),
        ({"spatial_dims": {(1, "Y"): ["P"]}},
         lambda m: all(d == "P" for ax, loops in m.levels[1].spatial if ax == "Y" for d, _ in loops)),
        ({"keeps": {"GB": ["W", "O"], 0: ["W", "I", "O"]}},
         lambda m: m.levels[1].keeps == {"W", "O"} and m.levels[0].keeps == {"W", "I", "O"}),
        ({"max_factor": {(2, "K"): 1, ("GB", "P"): 1}},
         lambda m: dict(m.levels[2].temporal).get("K", 1) == 1 and dict(m.levels[1].temporal).get("P", 1) == 1),
        ({"min_utilization": 0.5},
         lambda m: math.prod(f for _, f in m.levels[1].spatial_loops()) >= 3),
    ]
    for kwargs, keep in cases:
        space = make_space(problem, TINY2, **kwargs)
        expected = {m for m in every if reduction_ok(problem, TINY2, m) and keep(m)}
        enumerated = list(iter_mappings(space))
        assert len(enumerated) == len(set(enumerated)) == count_mappings(space) == len(expected), kwargs
        assert set(enumerated) == expected, kwargs


def test_capped_count_is_a_lower_bound_above_the_cap():
    space = make_space(CONV3, EYERISS)
    full = count_mappings(space)
    capped = count_mappings(space, cap=10_000)
    assert 10_000 < capped <= full
    restricted = make_space(CONV3, EYERISS, min_utilization=0.5, max_factor={(0, "K"): 4})
    assert 10_000 < count_mappings(restricted, cap=10_000) <= count_mappings(restricted)
    small = make_space(TINY_LAYERS[1], TINY)
    n = count_mappings(small)
    assert count_mappings(small, cap=n) == n


@pytest.mark.parametrize("arch,problem", [(EYERISS, CONV3), (TINY2, SMALL2)], ids=["eyeriss", "tiny2"])
def test_sampled_and_varied_genomes_stay_in_the_space(arch, problem):
    import random

    space = make_space(problem, arch)
    rng = random.Random(5)
    genomes = [sample(space, rng) for _ in range(200)]
    genomes += [mutate(space, g, rng, 3) for g in genomes[:100]]
    genomes += [crossover(space, a, b, rng) for a, b in zip(genomes[:100], genomes[100:200])]
    for g in genomes:
        assert feasible(space, g)
        m = decode(space, g)
        assert m.structural_errors(problem, arch) == []
        assert not any("no spatial reduction" in e or "unrolls" in e for e in evaluate(problem, arch, m).errors)
        assert decode(space, encode(space, m)) == m


# ---------------------------------------------------------------------------- exhaustive

def test_exhaustive_equals_brute_force(brute):
    problem, maps, results = brute
    for objective, key in [("energy", lambda r: r.energy_pj), ("delay", lambda r: r.cycles),
                           ("edp", lambda r: r.energy_pj * r.cycles)]:
        res = exhaustive_search(problem, TINY, objective=objective)
        assert res.stopped_by == "complete"
        assert res.evaluations == len(maps)
        assert res.valid_evaluations == sum(r.valid for r in results)
        assert res.best_cost == best_by(results, key)


def test_exhaustive_refuses_over_the_limit():
    with pytest.raises(SearchError, match=r"conv3 on eyeriss has at least [\d,]+ mappings, over the limit "
                                          r"of 2,000,000") as e:
        exhaustive_search(CONV3, EYERISS)
    assert isinstance(e.value, CpmapError)
    problem = TINY_LAYERS[0]
    n = count_mappings(make_space(problem, TINY))
    with pytest.raises(SearchError, match="over the limit"):
        exhaustive_search(problem, TINY, limit=n - 1)
    assert exhaustive_search(problem, TINY, limit=n, budget=0.05).evaluations <= n


# ---------------------------------------------------------------------------- heuristics

@pytest.mark.parametrize("method", sorted(HEURISTICS))
def test_deterministic_under_a_seed(method):
    a = HEURISTICS[method](CONV3, EYERISS, seed=3)
    b = HEURISTICS[method](CONV3, EYERISS, seed=3)
    assert a.stopped_by == b.stopped_by == "samples"
    assert (a.best_cost, a.evaluations, a.best_mapping) == (b.best_cost, b.evaluations, b.best_mapping)
    assert [h[1:] for h in a.history] == [h[1:] for h in b.history]


def test_deterministic_across_processes():
    """Nothing depends on string hashing (set order) or the process."""
    code = ("from cpmap.core.problem import conv; from cpmap.spec import load_arch; "
            "from cpmap.search import random_search, genetic_search, anneal; "
            "a = load_arch('specs/eyeriss.yaml'); p = conv('c', K=384, C=256, P=13, Q=13, R=3, S=3); "
            "print([(r.best_cost, r.evaluations) for r in (random_search(p, a, samples=200, seed=1), "
            "genetic_search(p, a, population=10, generations=10, seed=1), anneal(p, a, steps=200, seed=1))])")
    outs = []
    for hashseed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hashseed)
        outs.append(subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                                   text=True, check=True).stdout)
    assert outs[0] == outs[1]


@pytest.mark.parametrize("objective", ["energy", "delay", "edp"])
@pytest.mark.parametrize("method", sorted(HEURISTICS))
def test_reported_mapping_reevaluates_valid(method, objective):
    res = HEURISTICS[method](CONV3, EYERISS, seed=0, objective=objective)
    assert res.best_mapping is not None
    again = evaluate(CONV3, EYERISS, res.best_mapping)  # the full, untrusted path
    assert again.valid and res.best_result.valid
    assert (again.energy_pj, again.cycles) == (res.best_result.energy_pj, res.best_result.cycles)
    cost = {"energy": again.energy_pj, "delay": again.cycles, "edp": again.energy_pj * again.cycles}[objective]
    assert res.best_cost == cost
    costs = [h[2] for h in res.history]
    assert costs == sorted(costs, reverse=True) and costs[-1] == cost
    assert 0 < res.valid_evaluations <= res.evaluations


def test_restrictions_hold_in_reported_mappings():
    """A fixed dataflow (C on Y, K on X), fixed bypass and a utilization floor."""
    space = make_space(CONV3, EYERISS, spatial_dims={(1, "Y"): ["C"], (1, "X"): ["K"]}, keeps={1: ["I", "O"]},
                       min_utilization=0.5)
    for method in sorted(HEURISTICS):
        res = HEURISTICS[method](CONV3, EYERISS, seed=0, space=space)
        gb = res.best_mapping.levels[1]
        assert gb.keeps == {"I", "O"}
        assert all(d == {"Y": "C", "X": "K"}[ax] for ax, loops in gb.spatial for d, _ in loops)
        assert math.prod(f for _, f in gb.spatial_loops()) >= 0.5 * EYERISS.pes


def test_heuristics_never_beat_exhaustive_and_reach_it():
    """On the tiny conv, no heuristic goes below the exhaustive optimum, and with these
    budgets each reaches it for seed 0 (settings picked by trying seeds 0-9: GA reached
    the optimum in 9 of 10, random search with 8,000 samples in 9 of 10)."""
    problem = TINY_LAYERS[1]
    best = exhaustive_search(problem, TINY).best_cost
    short = [HEURISTICS[m](problem, TINY, seed=s) for m in HEURISTICS for s in range(3)]
    assert all(r.best_cost >= best for r in short)
    long = [random_search(problem, TINY, samples=8000, seed=0),
            genetic_search(problem, TINY, population=40, generations=60, seed=0),
            anneal(problem, TINY, steps=3000, seed=0)]
    assert [r.best_cost for r in long] == [best] * 3


def test_budgets_are_honoured():
    """Each search stops on its wall-clock budget, after spending it, and not long after (the
    clock is read between evaluations; the slack of 1 s allows for a loaded machine, e.g.
    a second pytest worker, without letting a search that ignores its budget pass)."""
    r = random_search(CONV3, EYERISS, samples=None, budget=0.5)
    g = genetic_search(CONV3, EYERISS, generations=10**6, budget=0.5)
    a = anneal(CONV3, EYERISS, steps=None, budget=0.5)
    e = exhaustive_search(CONV3, EYERISS, limit=10**15, budget=1.0)  # counting (~0.3 s) is in the budget
    for res, budget in ((r, 0.5), (g, 0.5), (a, 0.5), (e, 1.0)):
        assert res.stopped_by == "budget"
        assert budget <= res.seconds < budget + 1.0
        assert res.evaluations > 0
    assert genetic_search(CONV3, EYERISS, max_evaluations=150, population=50).evaluations == 150
    # a tiny space, where most children were seen before and cost no evaluation
    tiny = genetic_search(TINY_LAYERS[0], TINY, population=20, generations=10**6, budget=0.3)
    assert tiny.stopped_by == "budget" and tiny.seconds < 0.3 + 1.0


def test_bad_options_are_search_errors():
    with pytest.raises(SearchError, match="unknown objective"):
        random_search(CONV3, EYERISS, samples=10, objective="area")
    with pytest.raises(SearchError, match="needs samples or a budget"):
        random_search(CONV3, EYERISS, samples=None)
    with pytest.raises(SearchError, match="expected an axis of fanout PE \\(Y, X\\), got .Z."):
        make_space(CONV3, EYERISS, spatial_dims={(1, "Z"): ["K"]})
    with pytest.raises(SearchError, match="expected a level of eyeriss .*, got .L3."):
        make_space(CONV3, EYERISS, keeps={"L3": ["W"]})
    with pytest.raises(SearchError, match="elite"):
        genetic_search(CONV3, EYERISS, population=4, elite=4)
