"""Lazy bound refinement of a pipelined schedule (docs/pipeline.md, "Refinement"): a first
pass at a short CP-SAT work limit leaves layer problems unproved, the refinement rounds
solve just the selected ones again at 4x and 16x the limits, and the schedule and the
network bound then meet the brute-force optimum.  Work limits are deterministic (CP-SAT
deterministic time with one worker), so what each round proves does not depend on the
machine's load; the wall-clock limit is only a guard."""

from __future__ import annotations

import dataclasses

import pytest
from solvekit import tiny_spec
from test_pipeline import NET, brute_force_network, tiny_arch_yaml

from cpmap.core.pipeline import REFINE_FACTOR, PipelineOptions
from cpmap.network.pipeline import run_pipeline
from cpmap.network.refine import merged, refinable
from cpmap.spec.solve import load_solve_spec

WORK = 0.0006
"""Deterministic seconds per layer in the first pass: some problems of the net find no mapping
in it; at 4x two of the four selected problems are proved, at 16x the rest (measured with
the one-worker prime-table model: WORK 0.0005 proves one at 4x, 0.0008 all four)."""
GUARD = 120.0
"""Wall-clock seconds per layer: far beyond these proofs, so the work limits decide."""


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    d = tmp_path_factory.mktemp("refine")
    return load_solve_spec(tiny_spec(d, arch=tiny_arch_yaml(), workload=NET, workers=1, time_limit=GUARD,
                                     work_limit=WORK))


def _statuses(result):
    return {s.status for c in result.candidates for s in c.solutions if s is not None}


def test_without_refinement_the_short_limit_leaves_no_schedule(plan):
    r = run_pipeline(plan, PipelineOptions("temporal", 3, None, (1, 2), refine_rounds=0), jobs=1)
    assert r.refinements == ()
    assert "UNKNOWN" in _statuses(r)  # a layer alone without a mapping: no schedule
    assert r.schedule == () and r.gap is None


def test_refinement_proves_the_selected_problems_and_meets_brute_force(plan):
    r = run_pipeline(plan, PipelineOptions("temporal", 3, None, (1, 2), gap_target=0.0, refine_rounds=3), jobs=1)
    rounds = r.refinements
    assert [x.round for x in rounds] == [1, 2]  # the third is not needed: the gap closed
    # round 1 (no schedule yet): every selected unproved problem at 4x; round 2: those still
    # unproved at 4x, at 16x, and only as many as the gap needs
    assert [x.factor for x in rounds] == [REFINE_FACTOR, REFINE_FACTOR ** 2]
    assert rounds[0].gap_before is None and rounds[0].gap_after > 0 and rounds[0].proved < rounds[0].problems
    assert rounds[1].proved == rounds[1].problems < rounds[0].problems
    assert rounds[1].gap_after == pytest.approx(0.0, abs=1e-12)
    best_e, _ = brute_force_network(plan)
    assert r.energy_pj == pytest.approx(best_e, rel=1e-12)
    assert r.bound <= best_e * (1 + 1e-12)
    for c in r.schedule + r.bound_selection:  # the selections' layers are all proved now
        assert all(s.status == "OPTIMAL" for s in c.solutions)
    # lazily: some candidate outside both selections is still unproved
    chosen = {id(c) for c in r.schedule + r.bound_selection}
    assert any(refinable(s) for c in r.candidates if id(c) not in chosen for s in c.solutions)


def test_refinement_stops_at_the_gap_target(plan):
    r = run_pipeline(plan, PipelineOptions("temporal", 3, None, (1, 2), gap_target=0.99, refine_rounds=3), jobs=1)
    # round 1 gives a schedule, whose gap is below 99%: no second round
    assert len(r.refinements) == 1 and r.gap is not None and r.gap <= 0.99
    assert r.bound <= brute_force_network(plan)[0] * (1 + 1e-12)


def _sol(plan, status, value_pj, bound, work):
    """A layer answer with a hand-set status, bound and (through a scaled energy) value."""
    from cpmap.core.options import SolveOptions
    from cpmap.solve.layer import solve_layer

    lay = plan.layers[3]  # f2
    base = solve_layer(lay.problem, plan.arch, SolveOptions(time_limit=GUARD, workers=1))
    res = dataclasses.replace(base.best.result, energy_pj=value_pj)
    best = dataclasses.replace(base.best, result=res)
    return dataclasses.replace(base, status=status, best=best, lower_bound=bound, alternatives=(best,), work=work,
                               stopped_by="work_limit" if status == "FEASIBLE" else "optimal")


def test_merged_keeps_the_better_mapping_and_the_larger_bound(plan):
    a = _sol(plan, "FEASIBLE", 100.0, 60.0, 1.0)
    b = _sol(plan, "FEASIBLE", 90.0, 50.0, 4.0)
    m = merged(a, b)
    assert (m.value, m.lower_bound, m.status, m.work) == (90.0, 60.0, "FEASIBLE", 5.0)
    assert merged(b, a).value == 90.0 and merged(b, a).lower_bound == 60.0
    proved = _sol(plan, "OPTIMAL", 95.0, 95.0, 2.0)
    assert merged(a, proved) is proved and merged(proved, b) is proved
    assert merged(None, a) is a and merged(a, None) is a
    assert refinable(a) and not refinable(proved)
    assert not refinable(dataclasses.replace(a, stopped_by="interrupted"))


def test_spec_reads_the_refinement_options(tmp_path):
    from cpmap.spec.solve import load_solve_spec as load

    got = load(tiny_spec(tmp_path, pipeline={"mode": "temporal", "gap_target": 0.05, "refine_rounds": 0})).pipeline
    assert (got.gap_target, got.refine_rounds) == (0.05, 0)
    default = load(tiny_spec(tmp_path, name="b.yaml", pipeline={"mode": "temporal"})).pipeline
    assert (default.gap_target, default.refine_rounds) == (0.01, 2)


@pytest.mark.parametrize("pipeline, message", [
    ({"mode": "temporal", "gap_target": 1}, "solve.pipeline.gap_target: expected a gap fraction in [0, 1)"),
    ({"mode": "temporal", "gap_target": -0.1}, "solve.pipeline.gap_target: expected a gap fraction in [0, 1)"),
    ({"mode": "temporal", "refine_rounds": -1}, "solve.pipeline.refine_rounds: expected an integer >= 0"),
    ({"mode": "temporal", "refine_rounds": 1.5}, "solve.pipeline.refine_rounds: expected an integer >= 0"),
])
def test_bad_refinement_options_are_one_line_errors(tmp_path, capsys, monkeypatch, pipeline, message):
    from cpmap.cli import main

    monkeypatch.setenv("CPMAP_CACHE", str(tmp_path / "cache"))
    assert main(["solve", str(tiny_spec(tmp_path, pipeline=pipeline)), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "run.yaml" in err and "\n" not in err


def test_cli_reports_the_refinement_rounds(tmp_path, capsys, monkeypatch):
    import json

    from cpmap.cli import main

    monkeypatch.setenv("CPMAP_CACHE", str(tmp_path / "cache"))
    spec = tiny_spec(tmp_path, arch=tiny_arch_yaml(), workload=NET, workers=1, time_limit=GUARD, work_limit=WORK,
                     pipeline={"mode": "temporal", "max_degree": 3, "batch_groups": [1, 2], "gap_target": 0})
    assert main(["solve", str(spec), "-q", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "refinement 1:" in out and "refinement 2:" in out and "refinement 3:" not in out
    # again from the cache: the refined answers are stored under the same keys and answer
    # the first pass's shorter limits, so nothing is solved or refined now
    assert main(["solve", str(spec), "--json", "-q", "--jobs", "1"]) == 0
    t = json.loads(capsys.readouterr().out)["total"]
    assert t["refinements"] == [] and t["solved"] == 0 and t["gap"] == pytest.approx(0.0, abs=1e-12)


def test_refinement_on_a_node_array_keeps_the_bound_below_brute_force(tmp_path):
    """The chain of tests/test_pipeline_nodes.py on a 2x1 mesh (moves between partitions
    priced) at 0.0015 det s a layer: some problems unproved, some without a mapping (no
    schedule); one round at 4x proves the selections' problems.  The bound stays below the
    brute-force optimum (layer optima by enumeration, moves of the run's mappings by a
    literal walk), which is below the schedule's energy."""
    from test_pipeline_nodes import ARCH as NODE_ARCH
    from test_pipeline_nodes import NET as NODE_NET
    from test_pipeline_nodes import brute_force

    from cpmap.spec.arch import arch_to_obj

    plan = load_solve_spec(tiny_spec(tmp_path, arch=arch_to_obj(NODE_ARCH), workload=NODE_NET, workers=1,
                                     time_limit=GUARD, work_limit=0.0015))
    first = run_pipeline(plan, PipelineOptions("temporal", 3, None, (1, 2), refine_rounds=0), jobs=1)
    assert first.schedule == () and {"FEASIBLE", "UNKNOWN"} <= _statuses(first)
    r = run_pipeline(plan, PipelineOptions("temporal", 3, None, (1, 2), gap_target=0.0, refine_rounds=1), jobs=1)
    assert len(r.refinements) == 1 and r.refinements[0].proved == r.refinements[0].problems >= 1
    for c in r.schedule + r.bound_selection:
        assert all(s.status == "OPTIMAL" for s in c.solutions)
    want = brute_force(plan, r)
    assert r.bound <= want * (1 + 1e-12) and want <= r.energy_pj * (1 + 1e-12)
    # the schedule's layers proved: its bound sum is its layers' energy, so the bound ILP's
    # optimum (at most that sum) leaves at least the moves, which the bound counts as 0
    moves = sum(c.exchange_pj for c in r.schedule)
    assert r.energy_pj - r.bound >= moves * (1 - 1e-9)


def test_to_refine_takes_the_largest_shortfalls_the_excess_needs(plan):
    from types import SimpleNamespace

    from cpmap.core.problem import fc
    from cpmap.network.refine import to_refine

    a, b, c, d = (fc(n, K=1, C=k) for n, k in (("a", 1), ("b", 2), ("c", 3), ("d", 4)))
    feas = {p: _sol(plan, "FEASIBLE", 100.0, 100.0 - short, 1.0) for p, short in ((a, 1.0), (b, 10.0), (c, 3.0))}
    none = dataclasses.replace(feas[a], status="UNKNOWN", best=None, alternatives=(), lower_bound=None,
                               stopped_by="interrupted")
    proved = _sol(plan, "OPTIMAL", 50.0, 50.0, 1.0)

    def cand(groups, problems, sols):
        keys = tuple((p, None) for p in problems)  # on the whole array (no node region)
        return SimpleNamespace(variant=SimpleNamespace(groups=groups, problems=problems, solve_keys=lambda: keys),
                               solutions=sols)

    def on_array(*ps):
        return [(p, None) for p in ps]

    # shortfalls (groups x (value - bound)): a 1, b 2 x 10 = 20, c 3, d none; b also in a
    # 1-group candidate (10): the larger counts
    sel = (cand(1, (a, b), (feas[a], feas[b])), cand(2, (b, c), (feas[b], feas[c])), cand(1, (d,), (proved,)))
    assert to_refine(sel, 15.0) == on_array(b)
    assert to_refine(sel, 21.0) == on_array(b, c)
    assert to_refine(sel, 1000.0) == to_refine(sel) == on_array(b, c, a)  # all, when they add up to less
    assert to_refine(sel + (cand(1, (d,), (none,)),), 1.0) == on_array(b)  # cut by Ctrl-C: not refinable
    stuck = dataclasses.replace(none, stopped_by="work_limit")
    assert to_refine(sel + (cand(1, (d,), (stuck,)),), 1.0) == on_array(d)  # no mapping: first, unbounded
