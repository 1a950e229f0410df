"""Inter-layer pipelining (docs/pipeline.md): the segment rule, the segment ILP against
brute force over every segmentation, variant and mapping, the network bound, and that the
ILP is a Pyomo model solved by HiGHS."""

from __future__ import annotations

import dataclasses
import itertools

import pyomo.environ as pe
import pytest
from solvekit import TINY_ARCH, tiny_spec
from test_residency import TINY, enumerated_optimum

from cpmap.core.errors import CpmapError
from cpmap.core.pipeline import PipelineOptions
from cpmap.core.residency import with_resident
from cpmap.network import pipeline as pipeline_mod
from cpmap.network.pipeline import run_pipeline, segment_ilp, solve_ilp
from cpmap.core.options import SolveOptions
from cpmap.network.segments import buffer_level, resident_fits, segments, variants
from cpmap.solve.layer import solve_layer
from cpmap.spec.arch import arch_from_obj
from cpmap.spec.solve import load_solve_spec

# c1 -> p1 -> f1 -> f2, and a1 = f2 + f1 (a residual add): f1 has two consumers
NET = {"workload": {"name": "branchy", "batch": 2, "inputs": ["x"], "layers": [
    {"name": "c1", "type": "conv", "K": 2, "C": 1, "P": 2, "Q": 1, "R": 2},
    {"name": "p1", "type": "pool", "C": 2, "P": 2, "Q": 1, "R": 1, "S": 1},
    {"name": "f1", "type": "fc", "K": 2, "C": 4},
    {"name": "f2", "type": "fc", "K": 2, "C": 2},
    {"name": "a1", "type": "eltwise", "C": 2, "inputs": ["f2", "f1"]},
]}}
# by hand from the rule: a later layer reads only its predecessor, an inner layer's output
# has no other reader.  f1 -> f2 is not a link (a1 also reads f1); a1 reads two layers.
SEGMENTS = {("c1",), ("c1", "p1"), ("c1", "p1", "f1"), ("p1",), ("p1", "f1"), ("f1",), ("f2",), ("a1",)}


def tiny_arch_yaml():
    arch = dataclasses.replace(TINY, name="tiny")
    return {"architecture": {"name": "tiny", "word_bits": 16, "mac_energy_pj": 1.0, "levels": [
        {"name": lv.name, "keeps": sorted(lv.keeps), "read_energy_pj": lv.read_pj, "write_energy_pj": lv.write_pj,
         **({"capacity": lv.capacity} if lv.capacity else {}),
         **({"fanout": {"name": lv.fanout.name, "axes": dict(lv.fanout.axes),
                        "energy_pj_per_word": lv.fanout.energy_pj}} if lv.fanout else {})}
        for lv in arch.levels]}}


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    d = tmp_path_factory.mktemp("pipe")
    return load_solve_spec(tiny_spec(d, arch=tiny_arch_yaml(), workload=NET, workers=1))


def test_segments_follow_the_rule(plan):
    got = {tuple(plan.layers[k].name for k in seg) for seg in segments(plan.layers, 3)}
    assert got == SEGMENTS
    got2 = {tuple(plan.layers[k].name for k in seg) for seg in segments(plan.layers, 2)}
    assert got2 == {s for s in SEGMENTS if len(s) <= 2}


def test_variants_carry_residency_and_batch_share(plan):
    vs = {(v.layers, v.groups): v for v in variants(plan.layers, plan.arch, 3, (1, 2, 3))}
    v = vs[("c1", "p1", "f1"), 2]
    assert [p.resident for p in v.problems] == [(("O", "GB"),), (("I", "GB"), ("O", "GB")), (("I", "GB"),)]
    assert [p.size["N"] for p in v.problems] == [1, 1, 1]
    assert (("c1", "p1"), 3) not in vs  # 3 groups do not divide the batch of 2
    assert (("c1",), 2) not in vs  # a layer alone runs in one group
    assert buffer_level(plan.arch) == "GB"


def _selections(cands):
    """Every set of candidates covering each layer once (brute force over the selections)."""
    names = {n for c in cands for n in c.variant.layers}
    for r in range(1, len(names) + 1):
        for combo in itertools.combinations(cands, r):
            covered = [n for c in combo for n in c.variant.layers]
            if sorted(covered) == sorted(names):
                yield combo


def brute_force_network(plan, allowed=SEGMENTS, groups=(1, 2)):
    """(least energy, least delay) over every segmentation into ``allowed``, every number of
    batch groups per multi-layer segment and every mapping of every layer (exhaustive
    enumeration with the evaluator; no solver, no ILP)."""
    names = [lay.name for lay in plan.layers]
    probs = {lay.name: lay.problem for lay in plan.layers}
    memo = {}

    def cost(seg, g):
        total_e = total_c = 0
        for k, n in enumerate(seg):
            p = probs[n]
            if g > 1:
                p = dataclasses.replace(p, sizes=tuple(s // g if d == "N" else s for d, s in zip(p.dims, p.sizes)))
            res = ({"I": "GB"} if k > 0 else {}) | ({"O": "GB"} if k < len(seg) - 1 else {})
            p = with_resident(p, res)
            if p not in memo:
                memo[p] = enumerated_optimum(p, plan.arch)
            e, c = memo[p]
            if e is None:
                return None
            total_e, total_c = total_e + g * e, total_c + g * c
        return total_e, total_c

    best_e = best_c = None
    for cuts in itertools.product((0, 1), repeat=len(names) - 1):
        segs, cur = [], [names[0]]
        for n, cut in zip(names[1:], cuts):
            if cut:
                segs.append(tuple(cur))
                cur = []
            cur.append(n)
        segs.append(tuple(cur))
        if not all(s in allowed for s in segs):
            continue
        for gs in itertools.product(*[(1,) if len(s) == 1 else groups for s in segs]):
            costs = [cost(s, g) for s, g in zip(segs, gs)]
            if any(c is None for c in costs):
                continue
            e, c = sum(x[0] for x in costs), sum(x[1] for x in costs)
            best_e = e if best_e is None else min(best_e, e)
            best_c = c if best_c is None else min(best_c, c)
    return best_e, best_c


@pytest.fixture(scope="module")
def brute(plan):
    return brute_force_network(plan)


@pytest.fixture(scope="module")
def energy_run(plan):
    return run_pipeline(plan, PipelineOptions("temporal", 3, None, (1, 2)), jobs=1)


def test_ilp_energy_equals_brute_force(energy_run, brute):
    r = energy_run
    assert r.energy_pj == pytest.approx(brute[0], rel=1e-12)
    assert r.bound <= brute[0] * (1 + 1e-12)  # the bound never exceeds the optimum
    assert r.gap is not None and r.gap <= 1e-9  # every layer proven optimal: the bound closes
    assert r.energy_pj < r.baseline_energy_pj  # pipelining pays on this net
    assert sorted(n for c in r.schedule for n in c.variant.layers) == sorted(lay for lay in
                                                                             ("c1", "p1", "f1", "f2", "a1"))


def test_ilp_delay_equals_brute_force(plan, brute):
    r = run_pipeline(dataclasses.replace(plan, objective="delay"), PipelineOptions("temporal", 3, None, (1, 2)),
                     jobs=1)
    assert r.cycles == brute[1]
    assert r.bound <= brute[1]


@pytest.mark.parametrize("overhead", [0.0, 0.5, 1.0])
def test_time_overhead_caps_the_delay(energy_run, overhead):
    # brute force over every selection of the candidates' solved (energy, cycles)
    r = energy_run
    cands = [c for c in r.candidates if c.value is not None]
    cap = (1 + overhead) * r.baseline_cycles
    want = min(sum(c.energy_pj for c in s) for s in _selections(cands) if sum(c.cycles for c in s) <= cap)
    names = tuple(lay for lay in ("c1", "p1", "f1", "f2", "a1"))
    model = segment_ilp(names, [c.variant.layers for c in cands], [c.energy_pj for c in cands],
                        [float(c.cycles) for c in cands], cap)
    picked = solve_ilp(model)
    assert sum(cands[v].energy_pj for v in picked) == pytest.approx(want, rel=1e-12)
    assert sum(cands[v].cycles for v in picked) <= cap


def test_layer_by_layer_mode_is_every_layer_alone(plan, energy_run):
    r = run_pipeline(plan, PipelineOptions("none"), jobs=1)
    assert [c.variant.layers for c in r.schedule] == [(n,) for n in ("c1", "p1", "f1", "f2", "a1")]
    assert r.energy_pj == pytest.approx(energy_run.baseline_energy_pj, rel=1e-12)
    assert r.gain == pytest.approx(0.0, abs=1e-12)


def test_the_ilp_is_a_pyomo_model_solved_by_highs(monkeypatch):
    from pyomo.contrib.solver.solvers.highs import Highs

    made = []
    real = pe.SolverFactory

    def spy(name, *a, **k):
        s = real(name, *a, **k)
        made.append(s)
        return s

    monkeypatch.setattr(pe, "SolverFactory", spy)
    model = segment_ilp(("a", "b"), [("a",), ("b",), ("a", "b")], [3.0, 4.0, 5.0])
    assert isinstance(model, pe.ConcreteModel)
    assert solve_ilp(model) == [2]
    assert len(made) == 1 and isinstance(made[0], Highs)
    assert pipeline_mod.ILP_SOLVER == "highs"


def test_an_infeasible_ilp_says_so():
    model = segment_ilp(("a",), [("a",)], [1.0], [10.0], 5.0)
    assert solve_ilp(model) is None


def test_spatial_needs_a_node_array(plan):
    assert PipelineOptions("spatial").mode == "spatial" and PipelineOptions("both").mode == "both"
    for mode in ("spatial", "both"):
        with pytest.raises(CpmapError, match="spatial pipelining needs a node array"):
            variants(plan.layers, plan.arch, 3, (1,), "run.yaml: solve.pipeline.mode", mode)


def test_no_buffer_for_intermediates_is_a_clear_error():
    obj = {"architecture": {**TINY_ARCH["architecture"]}}
    obj["architecture"]["levels"] = [dict(lv) for lv in TINY_ARCH["architecture"]["levels"]]
    obj["architecture"]["levels"][1]["keeps"] = ["W", "I"]  # GB may not keep O
    obj["architecture"]["levels"][0]["keeps"] = ["W", "I"]
    with pytest.raises(CpmapError, match="intermediates cannot stay on chip"):
        buffer_level(arch_from_obj(obj, "a.yaml"))


def test_energy_delay_front_equals_brute_force(energy_run):
    from cpmap.network.pipeline import energy_delay_front

    cands = [c for c in energy_run.candidates if c.value is not None]
    pts = {(sum(c.energy_pj for c in s), sum(c.cycles for c in s)) for s in _selections(cands)}
    want = sorted((e, d) for e, d in pts if not any(e2 <= e and d2 <= d and (e2, d2) != (e, d) for e2, d2 in pts))
    got = [(p.energy_pj, p.cycles) for p in energy_delay_front(energy_run)]
    assert len(got) == len(want)
    for (ge, gd), (we, wd) in zip(got, want):
        assert gd == wd and ge == pytest.approx(we, rel=1e-12)


def test_energy_delay_front_on_a_hand_made_trade_off():
    # a and b alone: 10 pJ and 2 cycles each -> (20, 4); a+b in one group (12, 8); a+b in two
    # groups (11, 20).  Every point is a trade-off: the front is all three, least energy first.
    from cpmap.core.problem import fc
    from cpmap.network.pipeline import Candidate, PipelineResult, energy_delay_front
    from cpmap.network.segments import Variant

    p = fc("x", K=1, C=1)

    def cand(layers, groups, e, d):
        return Candidate(Variant(layers, groups, (p,) * len(layers), None), (), e, d, e, 0.0, False)

    cands = (cand(("a",), 1, 10.0, 2), cand(("b",), 1, 10.0, 2), cand(("a", "b"), 1, 12.0, 8),
             cand(("a", "b"), 2, 11.0, 20))
    r = PipelineResult(PipelineOptions("temporal"), "energy", cands, cands[2:3], 12.0, 8, 12.0, 0.0, 20.0, 4,
                       None)
    assert [(pt.energy_pj, pt.cycles) for pt in energy_delay_front(r)] == [(11.0, 20), (12.0, 8), (20.0, 4)]


CHAIN = {"workload": {"name": "chain", "batch": 2, "inputs": ["x"], "layers": [
    {"name": "f1", "type": "fc", "K": 4, "C": 2},
    {"name": "f2", "type": "fc", "K": 4, "C": 4},
    {"name": "f3", "type": "fc", "K": 2, "C": 4},
    {"name": "e3", "type": "eltwise", "C": 2, "E": 1},
]}}


def test_chain_with_a_small_buffer_equals_brute_force(tmp_path):
    # GB of 12 words: f2 with its input and output resident at batch 2 (8 + 8 words) cannot
    # fit, so no 1-group segment has f2 inside (not listed, not in the bound); at batch
    # share 1 it fits.  Every run of the chain is a segment.
    arch = tiny_arch_yaml()
    arch["architecture"]["levels"][1]["capacity"] = 12
    plan = load_solve_spec(tiny_spec(tmp_path, arch=arch, workload=CHAIN, workers=1))
    r = run_pipeline(plan, PipelineOptions("temporal", 4, None, (1, 2)), jobs=1)
    listed = {(c.variant.layers, c.variant.groups) for c in r.candidates}
    assert (("f1", "f2", "f3"), 1) not in listed and (("f1", "f2", "f3", "e3"), 1) not in listed
    assert (("f1", "f2", "f3"), 2) in listed and (("f1", "f2"), 1) in listed
    assert not any(c.infeasible for c in r.candidates)
    # the filter is sound: the dropped layer problem is proven infeasible by its solve
    f2 = with_resident(plan.layers[1].problem, {"I": "GB", "O": "GB"})
    assert not resident_fits(f2, plan.arch)
    assert solve_layer(f2, plan.arch, SolveOptions(time_limit=10, workers=1)).status == "INFEASIBLE"
    names = ["f1", "f2", "f3", "e3"]
    runs = {tuple(names[a:b]) for a in range(4) for b in range(a + 1, 5)}
    best_e, _ = brute_force_network(plan, runs)
    assert r.energy_pj == pytest.approx(best_e, rel=1e-12)
    assert r.bound <= best_e * (1 + 1e-12)


def test_an_unproved_layer_is_bounded_by_its_floor(energy_run, plan):
    # f1 (fc K=2, C=4, N=2) reading its input resident in GB (candidate p1+f1, one group): by hand,
    # 16 MACs x 1 pJ + W 8 words read from DRAM x 200 + O 4 words written x 200 = 2,416 pJ (I is on chip)
    cand = next(c for c in energy_run.candidates if c.variant.layers == ("p1", "f1") and c.variant.groups == 1)
    problem, sol = cand.variant.problems[1], cand.solutions[1]
    assert problem.resident == (("I", "GB"),)
    assert pipeline_mod.layer_bound(problem, plan.arch, None, "energy") == 2_416.0
    unproved = dataclasses.replace(sol, status="FEASIBLE", lower_bound=0.0)
    assert pipeline_mod.layer_bound(problem, plan.arch, unproved, "energy") == 2_416.0
    # proved: the solver's bound (the optimum, 2,572 pJ in docs/pipeline.md) is the larger
    assert sol.status == "OPTIMAL" and sol.lower_bound == pytest.approx(2_572.0)
    assert pipeline_mod.layer_bound(problem, plan.arch, sol, "energy") == sol.lower_bound
    # cycles: 16 MACs over 2 PEs at least
    assert pipeline_mod.layer_bound(problem, plan.arch, None, "delay") == 8.0
