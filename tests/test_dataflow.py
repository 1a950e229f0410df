"""Required dataflows (``constraints.dataflow``): the CP-SAT optimum, exhaustive search and
the mapping count under a dataflow against brute-force enumeration filtered by an
independent check of the dataflow; the searchers' operators never leave it; INFEASIBLE
layers say why; `cpmap compare` applies it to every method.

The filter :func:`meets` reads the mappings themselves (a listed dim of size > 1 has a
factor > 1 on its axis; the axis carries only the listed dims, or the ``spatial`` list
when one is given for it), not cpmap's resolved constraints.
"""

from __future__ import annotations

import json
import random

import pytest
from brute_force import brute_force_mappings
from hypothesis import given, settings
from hypothesis import strategies as st
from solvekit import tiny_spec
from strategies import FAMILIES, DrawChooser, gen_arch, gen_problem

from cpmap.cli import main
from cpmap.core.arch import Arch, Fanout, Level
from cpmap.core.constraints import Constraints
from cpmap.core.options import SolveOptions
from cpmap.core.problem import conv, fc, gemm
from cpmap.cost.evaluator import Evaluator
from cpmap.search import SearchError, anneal, count_mappings, exhaustive_search, genetic_search, random_search
from cpmap.search.space import decode, feasible, make_space, space_for
from cpmap.search.variation import crossover, mutate, sample
from cpmap.solve.layer import solve_layer
from cpmap.solve.model import build_model

# a 2 x 3 PE array below a 96-word GB that may keep I and O
ARCH = Arch("tiny2d", 16, 1.0, (
    Level("RF", frozenset("WIO"), 1.0, 1.0, capacity=12),
    Level("GB", frozenset("IO"), 6.0, 6.0, capacity=96,
          fanout=Fanout("PE", (("X", 2), ("Y", 3)), multicast=True, reduction=True, energy_pj=2.0)),
    Level("DRAM", frozenset("WIO"), 200.0, 200.0),
))

# (problem, dataflow of GB, spatial of GB or None)
CASES = [
    (fc("fc", N=1, K=4, C=2), "C|K", None),                                        # C on X, K (2 of 4) on Y
    (conv("conv", K=2, C=2, P=3, Q=1, R=2, S=1), {"X": ["R"], "Y": ["P"]}, None),  # row stationary
    (gemm("gemm", M=2, N=3, K=2, B=1), {"X": ["K"], "Y": ["N"]}, None),
    (conv("depthwise", K=2, C=2, P=3, Q=1, R=2, S=1, groups=2), {"X": ["G"]}, None),  # Y left free
    (conv("size1", K=2, C=2, P=3, Q=1, R=1, S=1), {"X": ["Q", "K"]}, None),       # Q is 1: only K required
    (conv("maymust", K=2, C=2, P=3, Q=1, R=2, S=1), {"Y": ["P"]}, {"Y": ["P", "C"], "X": ["C", "K"]}),
    (conv("wide", K=4, C=3, P=2, Q=1, R=2, S=1), "R|C", {"X": ["R", "K"]}),          # K may join R on X
    (conv("batch", N=2, K=2, C=3, P=2, Q=1, R=1, S=1), "N|C", None),
]


def meets(mapping, problem, dataflow, spatial) -> bool:
    """The GB level of ``mapping`` carries ``dataflow`` ({axis: dims} or "X-dims|Y-dims")."""
    if isinstance(dataflow, str):
        dataflow = dict(zip(("X", "Y"), ([d for d in side.split(",")] for side in dataflow.split("|"))))
    loops = {ax: dict(ls) for ax, ls in mapping.levels[1].spatial}
    for ax, ds in dataflow.items():
        on = loops.get(ax, {})
        if any(problem.size[d] > 1 and on.get(d, 1) == 1 for d in ds if d in problem.size):
            return False
        allowed = (spatial or {}).get(ax, ds)
        if any(f > 1 and d not in allowed for d, f in on.items()):
            return False
    for ax, ds in (spatial or {}).items():
        if any(f > 1 and d not in ds for d, f in loops.get(ax, {}).items()):
            return False
    return True


_CACHE: dict = {}


def filtered(problem, dataflow, spatial):
    """(every mapping of the space meeting the dataflow, their evaluator results)."""
    key = (problem.name, str(dataflow), str(spatial))
    if key not in _CACHE:
        ev = Evaluator(problem, ARCH)
        maps = [m for m in brute_force_mappings(problem, ARCH) if meets(m, problem, dataflow, spatial)]
        _CACHE[key] = maps, [ev.evaluate(m) for m in maps]
    return _CACHE[key]


def constraints(dataflow, spatial) -> Constraints:
    return Constraints.of(dataflow={"GB": dataflow}, spatial={"GB": spatial} if spatial else None)


@pytest.mark.parametrize("problem, dataflow, spatial", CASES, ids=[c[0].name for c in CASES])
def test_solver_and_exhaustive_equal_filtered_brute_force(problem, dataflow, spatial):
    maps, results = filtered(problem, dataflow, spatial)
    valid = [r for r in results if r.valid]
    assert valid, "every case has a mapping meeting its dataflow"
    truth = min(r.energy_pj for r in valid)
    cons = constraints(dataflow, spatial)
    cons.check(ARCH, problem.dims)
    sol = solve_layer(problem, ARCH, SolveOptions(time_limit=60, workers=1, seed=1, constraints=cons))
    assert sol.status == "OPTIMAL"
    assert sol.best.result.energy_pj == pytest.approx(truth, rel=1e-12)
    assert meets(sol.best.mapping, problem, dataflow, spatial)
    space = space_for(problem, ARCH, cons)
    assert count_mappings(space) == len(maps)
    ex = exhaustive_search(problem, ARCH, constraints=cons)
    assert ex.evaluations == len(maps) and ex.best_cost == truth
    assert meets(ex.best_mapping, problem, dataflow, spatial)


def test_required_dataflow_changes_the_optimum():
    """Not a vacuous restriction: the unconstrained optimum of the conv case breaks it."""
    problem, dataflow, spatial = CASES[1]
    free = solve_layer(problem, ARCH, SolveOptions(time_limit=60, workers=1, seed=1))
    assert not meets(free.best.mapping, problem, dataflow, spatial)
    _, results = filtered(problem, dataflow, spatial)
    assert free.best.result.energy_pj < min(r.energy_pj for r in results if r.valid)


def test_model_adds_only_the_dataflow_constraints():
    """The dataflow adds one linear constraint per required (dim, axis) to the model of the
    same may-lists, and nothing else (the unconstrained model is untouched: see
    tests/test_model_identity.py)."""
    problem = conv("conv", K=4, C=2, P=3, Q=1, R=2, S=1)
    cons = constraints({"X": ["R"], "Y": ["P", "K"]}, None).resolve(problem, ARCH)
    plain = build_model(problem, ARCH, "energy", type(cons)(spatial_dims=cons.spatial_dims)).model.Proto()
    with_df = build_model(problem, ARCH, "energy", cons).model.Proto()
    assert [str(v) for v in with_df.variables] == [str(v) for v in plain.variables]
    base = [str(c) for c in plain.constraints]
    extra = [c for c in with_df.constraints if str(c) not in base]
    assert len(with_df.constraints) == len(base) + 3 == len(base) + len(extra)
    assert all(list(c.linear.domain)[0] == 1 and list(c.linear.coeffs) == [1] * len(c.linear.coeffs)
               for c in extra)
    assert str(with_df.objective) == str(plain.objective)


# ---------------------------------------------------------------- infeasible, with a reason

TWO_FANOUTS = Arch("two", 16, 1.0, (
    Level("RF", frozenset("WIO"), 1.0, 1.0, capacity=64),
    Level("L1", frozenset("WIO"), 2.0, 2.0, capacity=512, fanout=Fanout("A", (("x", 4),), True, True, 1.0)),
    Level("L2", frozenset("WIO"), 6.0, 6.0, capacity=4096, fanout=Fanout("B", (("y", 4),), True, False, 1.0)),
    Level("DRAM", frozenset("WIO"), 200.0, 200.0),
))


@pytest.mark.parametrize("problem, arch, dataflow, reason", [
    (conv("c", K=2, C=2, P=3, Q=1, R=2), ARCH, {"GB": {"X": ["K", "C"]}},
     "the dataflow requires a factor > 1 of K, C on axis X of fanout PE (below GB), of size 2, but their "
     "smallest factors > 1 need K 2 x C 2 = 4"),
    (fc("f", K=2, C=4), TWO_FANOUTS, {"L1": {"x": ["K"]}, "L2": {"y": ["K"]}},
     "the dataflow (K on axis x below L1; K on axis y below L2) needs a prime factor of each required dim on "
     "each of its axes"),
    (fc("f", K=2, C=4), TWO_FANOUTS, {"L2": {"y": ["C"]}},
     "the dataflow requires C on axis y of fanout B (below L2), which has no spatial reduction, and C is "
     "summed into the outputs"),
], ids=["overfull-axis", "too-few-factors", "no-reduction"])
def test_infeasible_dataflow_says_why(problem, arch, dataflow, reason):
    cons = Constraints.of(dataflow=dataflow)
    cons.check(arch, problem.dims)
    sol = solve_layer(problem, arch, SolveOptions(time_limit=10, workers=1, constraints=cons))
    assert sol.status == "INFEASIBLE" and sol.best is None
    assert sol.reason.startswith(reason), sol.reason
    space = space_for(problem, arch, cons)
    assert space.empty_reason == sol.reason and count_mappings(space) == 0
    with pytest.raises(SearchError, match="no mapping satisfies the restrictions: the dataflow"):
        sample(space, random.Random(0))


def test_feasible_across_two_fanouts():
    """K 4 has two prime factors: one for each fanout's axis."""
    problem = fc("f", K=4, C=4)
    cons = Constraints.of(dataflow={"L1": {"x": ["K"]}, "L2": {"y": ["K"]}})
    sol = solve_layer(problem, TWO_FANOUTS, SolveOptions(time_limit=10, workers=1, constraints=cons))
    assert sol.status == "OPTIMAL"
    by_level = {lm.level: dict(lm.spatial) for lm in sol.best.mapping.levels}
    assert by_level["L1"]["x"] == (("K", 2),) and by_level["L2"]["y"] == (("K", 2),)


# ------------------------------------------------------------- the searchers' operators

@st.composite
def dataflow_cases(draw):
    """A random layer and hierarchy, and a dataflow on one of its fanouts: 1-2 distinct
    dims per axis (a random subset of the axes), sometimes with a larger may-list."""
    c = DrawChooser(draw)
    problem = gen_problem(c, c.choice(FAMILIES))
    arch = gen_arch(c)
    fanned = [lv for lv in arch.levels if lv.fanout is not None]
    lv = c.choice(fanned)
    dims = c.permutation(problem.dims)
    df, sp = {}, {}
    for ax, _ in lv.fanout.axes:
        if not dims or (df and c.bool()):
            continue
        take = [dims.pop() for _ in range(min(len(dims), c.int(1, 2)))]
        df[ax] = take
        if dims and c.int(0, 3) == 0:
            sp[ax] = take + [dims[-1]]
    return problem, arch, Constraints.of(dataflow={lv.name: df}, spatial={lv.name: sp} if sp else None), lv.name


def meets_resolved(space, mapping, level_name, cons) -> bool:
    """The dataflow read from ``cons`` by name, checked on ``mapping``'s level."""
    lm = next(lm for lm in mapping.levels if lm.level == level_name)
    loops = {ax: dict(ls) for ax, ls in lm.spatial}
    may = {ax: ds for lv, ax, ds in cons.spatial if lv == level_name}
    for _, ax, ds in cons.dataflow:
        on = loops.get(ax, {})
        if any(space.problem.size.get(d, 1) > 1 and on.get(d, 1) == 1 for d in ds):
            return False
        if any(f > 1 and d not in may.get(ax, ds) for d, f in on.items()):
            return False
    return True


@settings(max_examples=2000, derandomize=True, deadline=None)
@given(dataflow_cases(), st.integers(0, 2**31))
def test_operators_stay_in_the_dataflow(case, seed):
    """sample, mutate and crossover only produce genomes meeting the dataflow; the space is
    empty (count 0) exactly when dataflow_conflict gives a reason."""
    problem, arch, cons, level_name = case
    cons.check(arch, problem.dims)
    space = space_for(problem, arch, cons)
    rng = random.Random(seed)
    if space.empty_reason:
        assert count_mappings(space) == 0
        with pytest.raises(SearchError):
            sample(space, rng)
        return
    assert count_mappings(space, cap=10**6) > 0
    a, b = sample(space, rng), sample(space, rng)
    for g in (a, b, mutate(space, a, rng, 1), mutate(space, b, rng, 4)):
        assert feasible(space, g) and meets_resolved(space, decode(space, g), level_name, cons)
    # crossover's repair may have to take a required factor off an overfull axis: such a
    # child is not feasible, and the searchers check (GA resamples it, annealing rejects)
    child = crossover(space, a, b, rng)
    assert feasible(space, child) == meets_resolved(space, decode(space, child), level_name, cons)


@pytest.mark.parametrize("problem, dataflow, spatial", CASES[:3], ids=[c[0].name for c in CASES[:3]])
def test_searchers_report_mappings_meeting_the_dataflow(problem, dataflow, spatial):
    cons = constraints(dataflow, spatial)
    for res in (random_search(problem, ARCH, samples=300, seed=0, constraints=cons),
                genetic_search(problem, ARCH, population=12, generations=8, seed=0, constraints=cons),
                anneal(problem, ARCH, steps=300, seed=0, constraints=cons)):
        assert res.best_mapping is not None and meets(res.best_mapping, problem, dataflow, spatial)


def test_make_space_takes_both_forms_and_checks_names():
    problem = conv("c", K=2, C=2, P=3, Q=1, R=2)
    by_index = make_space(problem, ARCH, dataflow={(1, "X"): ["R"], ("GB", "Y"): "P"})
    by_text = make_space(problem, ARCH, dataflow={"GB": "R|P"})
    assert by_index == by_text and count_mappings(by_index) == len(filtered(*CASES[1])[0])
    with pytest.raises(SearchError, match="constraints.dataflow.GB.Z: expected an axis of fanout PE"):
        make_space(problem, ARCH, dataflow={("GB", "Z"): ["R"]})
    with pytest.raises(SearchError, match="dataflow: level must be a level name or an index 0..2, got 7"):
        make_space(problem, ARCH, dataflow={7: "R|P"})


# ----------------------------------------------------------------------- spec and compare

def test_compare_applies_the_dataflow_to_every_method(tmp_path, capsys):
    arch = {"architecture": {"name": "tiny2d", "word_bits": 16, "mac_energy_pj": 1.0, "levels": [
        {"name": "RF", "capacity": 12, "keeps": ["W", "I", "O"], "read_energy_pj": 1, "write_energy_pj": 1},
        {"name": "GB", "capacity": 96, "keeps": ["I", "O"], "read_energy_pj": 6, "write_energy_pj": 6,
         "fanout": {"name": "PE", "axes": {"X": 2, "Y": 3}, "energy_pj_per_word": 2}},
        {"name": "DRAM", "keeps": ["W", "I", "O"], "read_energy_pj": 200, "write_energy_pj": 200}]}}
    spec = tiny_spec(tmp_path, arch=arch, layers=["fc1", "conv1"], constraints={"dataflow": {"GB": "C|K"}})
    code = main(["compare", str(spec), "--methods", "cpsat,random,ga,anneal,exhaustive", "--samples", "400",
                 "--generations", "6", "--population", "12", "--steps", "400", "--exhaustive-limit", "200000",
                 "--out", str(tmp_path / "o"), "--json", "-q"])
    out, err = capsys.readouterr()
    assert code == 0, err
    for layer in json.loads(out)["layers"]:
        cpsat = next(r for r in layer["methods"] if r["method"] == "cpsat")
        for row in layer["methods"]:
            gb = next(lv for lv in row["mapping"]["mapping"] if lv["level"] == "GB")
            assert set(gb["spatial"]["X"]) == {"C"} and set(gb["spatial"]["Y"]) == {"K"}, row["method"]
            assert row["best_cost"] >= cpsat["best_cost"] * (1 - 1e-9), row["method"]
        ex = next(r for r in layer["methods"] if r["method"] == "exhaustive")
        assert ex["status"] == "optimal" and ex["best_cost"] == pytest.approx(cpsat["best_cost"], rel=1e-12)


def test_shorthand_and_named_forms_are_the_same(tmp_path):
    from cpmap.spec.solve import load_solve_spec

    problem = conv("c", K=2, C=2, P=3, Q=1, R=2)
    a = load_solve_spec(str(tiny_spec(tmp_path, name="a.yaml", constraints={"dataflow": {"GB": "C,K"}})))
    b = load_solve_spec(str(tiny_spec(tmp_path, name="b.yaml", constraints={"dataflow": {"GB": {"X": ["C", "K"]}}})))
    assert a.constraints.resolve(problem, a.arch) == b.constraints.resolve(problem, b.arch)
    assert a.constraints.resolve(problem, a.arch).required_dims == {(1, "X"): ("K", "C")}
    assert a.constraints.to_obj() == {"dataflow": {"GB": "C,K"}}
    assert Constraints.of(**b.constraints.to_obj()) == b.constraints


def test_readme_example_is_row_stationary():
    """specs/examples/conv-small-solve.yaml (README's main example) proves an optimum with
    R on Y and P on X; without its dataflow (may-lists only) the optimum, no worse, puts
    no R on the array, as the spec's comment says."""
    from dataclasses import replace
    from pathlib import Path

    from cpmap.spec.solve import load_solve_spec

    plan = load_solve_spec(str(Path(__file__).resolve().parent.parent / "specs/examples/conv-small-solve.yaml"))
    problem = plan.layers[0].problem
    sols = [solve_layer(problem, plan.arch, replace(plan.options(1), constraints=cons, time_limit=30))
            for cons in (plan.constraints, replace(plan.constraints, dataflow=()))]
    for sol in sols:
        assert sol.status == "OPTIMAL" and sol.best.result.valid
    rs, free = ({ax: dict(ls) for ax, ls in sol.best.mapping.levels[1].spatial} for sol in sols)
    assert rs["Y"]["R"] == 3 and rs["X"]["P"] > 1 and set(rs["Y"]) <= {"R", "C"} and set(rs["X"]) <= {"P", "Q"}
    assert "R" not in free.get("Y", {})
    assert sols[1].best.result.energy_pj <= sols[0].best.result.energy_pj
