"""The batch evaluator (cpmap/cost/batch.py) against the scalar evaluator, the ground truth.

* property test: random problems (conv with stride, dilation and groups, depthwise, fc,
  gemm, pool, eltwise), random architectures (2-5 levels, shared capacities or
  partitions, bandwidths, 1-3 fanout levels of one or two axes, with and without
  multicast and reduction) and batches of 1-4 random mappings, valid and invalid
  (capacity or partition overflow, an overfull fanout axis, O-irrelevant dims across a
  fanout without reduction, a kept tensor the level must bypass, an outermost level that
  drops a tensor): every access count, network word, tile, energy (per level and tensor,
  per fanout, total), cycle count, utilization and validity bit equals the scalar
  evaluator's, floats exactly (both sum in the same order; half of the architectures
  have energies like 0.1 pJ whose sums round, so another order would show).  6 families x 350
  derandomized examples = 2,100 batches per run;
* the searchers' batch path (Tracker.evaluate_genomes) gives the keys, counts, best
  mapping and trace of one-by-one scalar evaluation, and refuses to report a mapping the
  scalar evaluator disagrees on; annealing's chains are deterministic and report only
  valid mappings;
* malformed arrays are ValueErrors.
"""

from __future__ import annotations

import math
import random
from dataclasses import replace

import numpy as np
import pytest
from batchkit import as_result_dict, mapping_arrays, scalar_dict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import FAMILIES, DrawChooser, RandomChooser, gen_arch, gen_mapping, gen_problem

from cpmap.core.arch import Arch, Level
from cpmap.core.mapping import LevelMapping, Mapping
from cpmap.core.problem import conv, fc
from cpmap.cost.batch import MACS_LIMIT, BatchEvaluator
from cpmap.cost.evaluator import Evaluator, evaluate
from cpmap.search import SearchError, anneal, make_space
from cpmap.search.anneal import default_chains
from cpmap.search.result import Tracker
from cpmap.search.variation import mutate, sample
from cpmap.spec import load_arch

PROPERTY = settings(max_examples=350, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ---------------------------------------------------------------------------- mappings

def break_mapping(c, problem, arch, m: Mapping) -> Mapping:
    """``m`` or, half of the time, a structurally valid variant that breaks a resource
    rule (the factors still multiply to the dims)."""
    kind = c.int(0, 7)
    levels = list(m.levels)
    L = len(levels)
    if kind == 0:  # move a temporal loop onto a fanout axis, whatever its size
        fanned = [i for i, lv in enumerate(arch.levels) if lv.fanout is not None]
        loops = [(i, d, f) for i, lm in enumerate(levels) for d, f in lm.temporal if f > 1]
        if loops:
            src, d, f = c.choice(loops)
            i = c.choice(fanned)
            axis = c.choice([a for a, _ in arch.levels[i].fanout.axes])
            s = levels[src]
            levels[src] = LevelMapping(s.level, tuple(x for x in s.temporal if x[0] != d), s.keeps, s.spatial)
            t = levels[i]
            spatial = dict(t.spatial)
            row = dict(spatial.get(axis, ()))
            row[d] = row.get(d, 1) * f
            spatial[axis] = tuple(row.items())
            levels[i] = LevelMapping(t.level, t.temporal, t.keeps, tuple(spatial.items()))
    elif kind == 1:  # keep a tensor the level must bypass
        i = c.int(0, L - 2)
        extra = [t for t in problem.tensor_names if t not in arch.levels[i].keeps]
        if extra:
            lm = levels[i]
            levels[i] = LevelMapping(lm.level, lm.temporal, lm.keeps | {c.choice(extra)}, lm.spatial)
    elif kind == 2:  # the outermost level drops a tensor
        lm = levels[-1]
        drop = c.choice(problem.tensor_names)
        levels[-1] = LevelMapping(lm.level, lm.temporal, lm.keeps - {drop}, lm.spatial)
    return Mapping(tuple(levels))


ROUNDING_ENERGIES = (0.1, 0.3, 1 / 3, 2.7, 6.1, 199.9, 1e-3)
"""pJ values that are not sums of powers of two, so that float sums round and a
different summation order would show."""


def inexact_energies(c, arch: Arch) -> Arch:
    """``arch`` with every energy drawn from :data:`ROUNDING_ENERGIES`."""
    levels = []
    for lv in arch.levels:
        fanout = lv.fanout and replace(lv.fanout, energy_pj=c.choice(ROUNDING_ENERGIES))
        levels.append(replace(lv, read_pj=c.choice(ROUNDING_ENERGIES), write_pj=c.choice(ROUNDING_ENERGIES),
                              fanout=fanout))
    return replace(arch, mac_pj=c.choice(ROUNDING_ENERGIES), levels=tuple(levels))


def gen_mappings(c, problem, arch) -> list[Mapping]:
    return [break_mapping(c, problem, arch, gen_mapping(c, problem, arch, allow_invalid_reduction=c.bool()))
            for _ in range(c.int(1, 4))]


@st.composite
def batches(draw, family: str):
    """(problem, arch, 1-4 mappings of it).  The problem is drawn by hypothesis
    (shrinkable); the architecture and mappings from a drawn seed, since drawing their
    ~100 choices one by one through hypothesis took 80% of the test's time."""
    problem = gen_problem(DrawChooser(draw), family)
    c = RandomChooser(random.Random(draw(st.integers(0, 2**32 - 1))))
    arch = gen_arch(c, max_levels=5, max_fanouts=3)
    if c.bool():
        arch = inexact_energies(c, arch)
    return problem, arch, gen_mappings(c, problem, arch)


def assert_batch_equals_scalar(problem, arch, mappings):
    scalar = Evaluator(problem, arch)
    arrays = mapping_arrays(problem, arch, mappings)
    batch = BatchEvaluator(problem, arch).evaluate(*arrays)
    assert len(batch) == len(mappings)
    for b, m in enumerate(mappings):
        want = scalar_dict(scalar.evaluate(m))
        got = as_result_dict(problem, arch, batch, arrays[2], b)
        assert got == want, f"mapping {b} of {len(mappings)}: {m}\narch={arch}\nproblem={problem}"


@pytest.mark.parametrize("family", FAMILIES)
def test_batch_equals_scalar_evaluator(family):
    @PROPERTY
    @given(batches(family))
    def run(case):
        assert_batch_equals_scalar(*case)

    run()


def test_the_property_covers_invalid_mappings_of_every_kind():
    """The generator above reaches every validity rule (so equal validity bits mean
    something): counted over 600 random draws of 1-4 mappings."""
    c = RandomChooser(random.Random(0))
    seen = {"valid": 0, "capacity": 0, "partition": 0, "unrolls": 0, "reduction": 0, "bypass": 0,
            "outermost": 0}
    for k in range(600):
        problem = gen_problem(c, FAMILIES[k % len(FAMILIES)])
        arch = gen_arch(c, max_levels=5, max_fanouts=3)
        for m in gen_mappings(c, problem, arch):
            r = Evaluator(problem, arch).evaluate(m)
            seen["valid"] += r.valid
            for e in r.errors:
                for key, text in (("capacity", "> capacity"), ("partition", "> partition"), ("unrolls", "unrolls"),
                                  ("reduction", "no spatial reduction"), ("bypass", "must bypass"),
                                  ("outermost", "outermost level must keep")):
                    seen[key] += text in e
    assert all(n >= 10 for n in seen.values()), seen


# ----------------------------------------------------------------------- searchers' side

EYERISS = load_arch("specs/eyeriss.yaml")
CONV3 = conv("conv3", K=384, C=256, P=13, Q=13, R=3, S=3)
TINY = Arch("tiny", 16, 1.0, (
    Level("RF", frozenset("WIO"), 1.0, 1.0, partitions=(("W", 4), ("I", 4), ("O", 2)), read_bandwidth=2),
    Level("GB", frozenset("WIO"), 6.0, 6.0, capacity=64, write_bandwidth=1.5),
    Level("DRAM", frozenset("WIO"), 200.0, 200.0, read_bandwidth=0.5),
))


@pytest.mark.parametrize("objective", ["energy", "delay", "edp"])
@pytest.mark.parametrize("problem,arch", [(CONV3, EYERISS), (fc("fc", N=2, K=6, C=4), TINY)], ids=["conv3", "tiny"])
def test_tracker_batches_equal_one_by_one_scalar_evaluation(problem, arch, objective):
    space = make_space(problem, arch)
    rng = random.Random(1)
    genomes = [sample(space, rng) for _ in range(300)]
    genomes += [mutate(space, g, rng, 2) for g in genomes]  # neighbours: many equal costs
    one, batched = (Tracker("t", space, objective, None) for _ in range(2))
    want = [one.evaluate(g) for g in genomes]
    got, start = [], 0
    while start < len(genomes):  # uneven batches, down to a single genome
        n = rng.randint(1, 90)
        got += batched.evaluate_genomes(genomes[start:start + n])
        start += n
    assert got == want
    assert any(k[0] == math.inf for k in want) and any(k[0] < math.inf for k in want)
    assert (batched.evaluations, batched.valid, batched.best_key) == (one.evaluations, one.valid, one.best_key)
    assert batched.best_mapping == one.best_mapping and batched.best_result == one.best_result
    assert [h[1:] for h in batched.history] == [h[1:] for h in one.history]


def test_tracker_refuses_a_best_the_scalar_evaluator_disagrees_with():
    space = make_space(CONV3, EYERISS)
    run = Tracker("t", space, "energy", None)
    honest = run.batch.evaluate

    def off_by_a_little(*arrays, check=True):
        res = honest(*arrays, check=check)
        return type(res)(**{**res.__dict__, "energy_pj": res.energy_pj * (1 - 1e-12)})

    run.batch.evaluate = off_by_a_little
    rng = random.Random(0)
    with pytest.raises(RuntimeError, match="a bug"):
        run.evaluate_genomes([sample(space, rng) for _ in range(50)])


def test_annealing_chains_are_deterministic_count_steps_and_report_valid_mappings():
    steps = 64 * 40
    runs = [anneal(CONV3, EYERISS, steps=steps, chains=64, seed=s, objective="edp") for s in (7, 7, 8)]
    a, b, c = runs
    assert (a.best_cost, a.best_mapping) == (b.best_cost, b.best_mapping)
    assert [h[1:] for h in a.history] == [h[1:] for h in b.history]
    assert a.best_mapping != c.best_mapping  # the seed matters
    for r in runs:  # unrestricted: every step is one evaluation
        assert r.evaluations == steps and r.stopped_by == "samples"
        again = evaluate(CONV3, EYERISS, r.best_mapping)
        assert again.valid and r.best_cost == again.energy_pj * again.cycles
    assert default_chains(steps) == 8 and default_chains(299) == 1 and default_chains(None) == 64
    with pytest.raises(SearchError, match="chains must be in"):
        anneal(CONV3, EYERISS, steps=10, chains=11)


# ----------------------------------------------------------------------------- bad input

def test_malformed_arrays_are_value_errors():
    problem = fc("fc", N=1, K=4, C=2)
    ev = BatchEvaluator(problem, TINY)
    m = Mapping((LevelMapping("RF", (("K", 2),), frozenset("WIO")), LevelMapping("GB", (("K", 2), ("C", 2)), frozenset()),
                 LevelMapping("DRAM", (), frozenset("WIO"))))
    f, o, k = mapping_arrays(problem, TINY, [m])
    assert ev.evaluate(f, o, k).valid.tolist() == [True]
    with pytest.raises(ValueError, match=r"factors must have shape \(1, 3, 3\)"):
        ev.evaluate(f[:, :2], o, k)
    bad = f.copy()
    bad[0, 1, 0] = 4  # K's factors multiply to 8
    with pytest.raises(ValueError, match="factors of mapping 0 do not multiply to the dims"):
        ev.evaluate(bad, o, k)
    with pytest.raises(ValueError, match=">= 1"):
        ev.evaluate(-f, o, k)
    with pytest.raises(ValueError, match="permutation"):
        ev.evaluate(f, np.zeros_like(o), k)
    with pytest.raises(ValueError, match="keeps must have shape"):
        ev.evaluate(f, o, k[:, :2])


def test_problems_too_large_for_exact_counts_are_refused():
    huge = fc("huge", N=2**20, K=2**14, C=2**13)  # 2**47 MACs
    assert huge.macs == MACS_LIMIT
    with pytest.raises(ValueError, match="exact-count limit"):
        BatchEvaluator(huge, TINY)
    BatchEvaluator(fc("big", N=2**20, K=2**14, C=2**13 - 1), TINY)  # just under: accepted
    # the searchers then evaluate one genome at a time with the evaluator
    space = make_space(huge, TINY)
    run, one = Tracker("t", space, "energy", None), Tracker("t", space, "energy", None)
    assert run.batch is None
    rng = random.Random(0)
    genomes = [sample(space, rng) for _ in range(5)]
    assert run.evaluate_genomes(genomes) == [one.evaluate(g) for g in genomes]
