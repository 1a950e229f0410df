"""Partitioning by name (issue 12 item 4, docs/specs.md ``partition`` and ``min_nodes``):
the schemes of each layer kind translated by hand, searchers that never leave the
partition, exhaustive search under it equal to the unconstrained enumeration filtered by
an independent check, the CP-SAT floor on nodes against enumeration, `cpmap compare` on a
mesh, and bad input."""

from __future__ import annotations

import dataclasses
import json
import math
import random
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from ortools.sat.python import cp_model
from solvekit import run_cli
from test_mesh_cost import mesh_arch

from cpmap.core.constraints import ConstraintError, Constraints, ResolvedConstraints
from cpmap.core.problem import conv, eltwise, fc, gemm, pool
from cpmap.cost.evaluator import evaluate
from cpmap.search.anneal import anneal
from cpmap.search.counting import count_mappings
from cpmap.search.exhaustive import exhaustive_search, iter_mappings
from cpmap.search.genetic import genetic_search
from cpmap.search.random_search import random_search
from cpmap.search.space import decode, encode, feasible, space_for
from cpmap.search.variation import sample
from cpmap.solve.model import build_model
from cpmap.spec.arch import arch_to_obj

ROOT = Path(__file__).resolve().parent.parent
MESH = mesh_arch()  # RF (64 words) per node of a 2x3 mesh NY x NX below DRAM
ALL = ("N", "G", "K", "C", "P", "Q", "R", "S")


def _allowed(problem, **partition):
    cons = Constraints.of(partition={"DRAM": partition if len(partition) != 1 or "preset" not in partition
                                     else partition["preset"]})
    cons.check(MESH, ALL + ("B", "M", "E"))
    return {ax: set(ds) for (lv, ax), ds in cons.resolve(problem, MESH).spatial_dims.items()}


# ------------------------------------------------------------------ translation by hand

def test_schemes_per_layer_kind():
    c = conv("c", N=2, K=4, C=4, P=3, Q=3, R=3, S=3, groups=2)
    assert _allowed(c, NY=["batch", "fmap"], NX=["output"]) == {"NY": {"N", "P", "Q"}, "NX": {"K", "G"}}
    assert _allowed(c, NY=["input"], NX="fmap") == {"NY": {"C"}, "NX": {"P", "Q"}}
    f = fc("f", N=2, K=3, C=2)
    assert _allowed(f, NY=["fmap"], NX=["input"]) == {"NY": set(), "NX": {"C"}}  # fc has no fmap
    g = gemm("g", B=2, M=3, N=4, K=5)  # O[B,M,N] += I[B,M,K] W[B,K,N]
    assert _allowed(g, NY=["batch", "fmap"], NX=["output", "input"]) == {"NY": {"B", "M"}, "NX": {"N", "K"}}
    p = pool("p", N=2, C=4, P=2, Q=2, R=2, S=2)
    assert _allowed(p, NY=["output", "input"], NX=["fmap"]) == {"NY": {"C"}, "NX": {"P", "Q"}}
    e = eltwise("e", N=2, C=4, P=2, Q=2)
    assert _allowed(e, NY=["batch"], NX=["output"]) == {"NY": {"N"}, "NX": {"C"}}


def test_presets_per_layer_kind():
    c = conv("c", N=2, K=4, C=4, P=3, Q=3, R=3, S=3)
    assert _allowed(c, preset="naive") == {"NY": {"P", "Q"}, "NX": {"P", "Q"}}
    assert _allowed(fc("f", N=2, K=3, C=2), preset="naive") == {"NY": {"K"}, "NX": {"K"}}
    assert _allowed(gemm("g", B=2, M=3, N=4, K=5), preset="naive") == {"NY": {"N"}, "NX": {"N"}}
    assert _allowed(pool("p", C=4, P=2, Q=2, R=2, S=2), preset="naive") == {"NY": {"P", "Q"}, "NX": {"P", "Q"}}
    hybrid = {"N", "P", "Q", "K", "G", "C"}  # never the filter dims R, S
    assert _allowed(c, preset="hybrid") == {"NY": hybrid, "NX": hybrid}
    assert _allowed(eltwise("e", C=4, P=2), preset="hybrid") == {"NY": {"N", "P", "Q", "C"},
                                                                  "NX": {"N", "P", "Q", "C"}}


def test_min_nodes_resolves_to_the_mesh_level_and_round_trips():
    cons = Constraints.of(partition={"DRAM": {"NY": ["batch"]}}, min_nodes=4)
    assert cons.resolve(fc("f", N=2, K=3, C=2), MESH).min_nodes == {1: 4}
    again = Constraints.of(**cons.to_obj())
    assert again == cons
    assert Constraints.of(min_nodes={"DRAM": 3}).resolve(fc("f", K=3, C=2), MESH).min_nodes == {1: 3}


# ------------------------------------------------------------ independent check, enumeration

def _respects(mapping, problem, allowed: dict, floor: int) -> bool:
    """By hand from the mapping: every dim on each mesh axis is allowed there, and the
    product of the mesh factors reaches the floor."""
    dram = mapping.levels[-1]
    nodes = 1
    for axis, loops in dram.spatial:
        for d, f in loops:
            if f > 1 and d not in allowed[axis]:
                return False
            nodes *= f
    return nodes >= floor


CASES = [
    (fc("f", N=2, K=3, C=2), {"NY": ["batch", "input"], "NX": ["output"]}, 4, {"NY": {"N", "C"}, "NX": {"K"}}),
    (fc("f", N=4, K=3, C=2), "naive", 3, {"NY": {"K"}, "NX": {"K"}}),
    (conv("c", N=2, K=2, C=2, P=3, Q=1, R=2), {"NY": ["fmap"], "NX": ["batch", "output"]}, 2,
     {"NY": {"P", "Q"}, "NX": {"N", "K", "G"}}),
    (conv("c", K=2, C=2, P=2, Q=1, R=2), "hybrid", 4, {ax: {"N", "P", "Q", "K", "G", "C"} for ax in ("NY", "NX")}),
]


@pytest.mark.parametrize("problem, part, floor, allowed", CASES)
def test_exhaustive_under_the_constraint_equals_filtered_enumeration(problem, part, floor, allowed):
    cons = Constraints.of(partition={"DRAM": part}, min_nodes=floor)
    free = list(iter_mappings(space_for(problem, MESH)))
    kept = [m for m in free if _respects(m, problem, allowed, floor)]
    under = list(iter_mappings(space_for(problem, MESH, cons)))
    assert 0 < len(kept) < len(free)
    assert sorted(map(repr, under)) == sorted(map(repr, kept))
    assert count_mappings(space_for(problem, MESH, cons)) == len(kept)
    best = min(r.energy_pj for r in (evaluate(problem, MESH, m) for m in kept) if r.valid)
    assert exhaustive_search(problem, MESH, constraints=cons).best_result.energy_pj == pytest.approx(best)


SCHEME_LISTS = st.lists(st.sampled_from(("batch", "fmap", "output", "input")), min_size=1, max_size=3, unique=True)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(ny=SCHEME_LISTS, nx=SCHEME_LISTS, floor=st.integers(1, 6), seed=st.integers(0, 99),
       which=st.integers(0, 2))
def test_searchers_never_leave_the_partition(ny, nx, floor, seed, which):
    problem = [fc("f", N=2, K=3, C=2), conv("c", N=2, K=2, C=2, P=3, Q=1, R=2), gemm("g", B=2, M=3, N=2, K=2)][which]
    cons = Constraints.of(partition={"DRAM": {"NY": ny, "NX": nx}}, min_nodes=floor)
    res = cons.resolve(problem, MESH)
    allowed = {ax: ds for (_, ax), ds in res.spatial_dims.items()}
    space = space_for(problem, MESH, cons)
    if count_mappings(space) == 0:
        return  # nothing to find (e.g. fmap only on an fc layer with a floor above 1)
    for search in (random_search(problem, MESH, samples=40, seed=seed, constraints=cons),
                   genetic_search(problem, MESH, population=8, generations=3, seed=seed, constraints=cons),
                   anneal(problem, MESH, steps=40, chains=2, seed=seed, constraints=cons)):
        if search.best_mapping is not None:
            assert _respects(search.best_mapping, problem, allowed, floor)
            assert feasible(space, encode(space, search.best_mapping))


@settings(max_examples=2000, derandomize=True, deadline=None)
@given(ny=SCHEME_LISTS, nx=SCHEME_LISTS, floor=st.integers(1, 6), seed=st.integers(0, 2**31 - 1),
       which=st.integers(0, 2))
def test_sampled_genomes_stay_in_the_partition(ny, nx, floor, seed, which):
    """What every searcher starts from and mutates into (``sample``, ``feasible``):
    the independent check agrees with ``feasible`` on every drawn genome."""
    problem = [fc("f", N=2, K=3, C=2), conv("c", N=2, K=2, C=2, P=3, Q=1, R=2), gemm("g", B=2, M=3, N=2, K=2)][which]
    cons = Constraints.of(partition={"DRAM": {"NY": ny, "NX": nx}}, min_nodes=floor)
    allowed = {ax: ds for (_, ax), ds in cons.resolve(problem, MESH).spatial_dims.items()}
    free, space = space_for(problem, MESH), space_for(problem, MESH, cons)
    rng = random.Random(seed)
    g = sample(free, rng)
    assert feasible(space, g) == _respects(decode(free, g), problem, allowed, floor)
    if count_mappings(space):
        assert _respects(decode(space, sample(space, rng, max_tries=5000)), problem, allowed, floor)


# --------------------------------------------------------------------- CP-SAT floor on nodes

@pytest.mark.parametrize("floor", [1, 2, 3, 4, 5, 6])
def test_model_min_nodes_against_enumeration(floor):
    """The model's floor (cpmap/solve/nodes.py) on a 2x3 flat fanout (the model does not
    price mesh hops yet, so the floor is checked where it does): its optimum equals the
    best energy of the enumerated mappings that use >= floor children."""
    from cpmap.core.arch import Arch, Fanout

    arch = Arch("flat", 16, 1.0, (MESH.levels[0], dataclasses.replace(
        MESH.levels[1], fanout=Fanout("NoC", (("NY", 2), ("NX", 3))), memory=None)))
    problem = fc("f", N=2, K=3, C=2)
    energies = [evaluate(problem, arch, m) for m in iter_mappings(space_for(problem, arch))]
    used = [math.prod(f for _, loops in m.levels[-1].spatial for _, f in loops)
            for m in iter_mappings(space_for(problem, arch))]
    best = min(r.energy_pj for r, u in zip(energies, used) if r.valid and u >= floor)
    lm = build_model(problem, arch, constraints=ResolvedConstraints(min_nodes={1: floor}))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    assert solver.Solve(lm.model) == cp_model.OPTIMAL
    assert solver.ObjectiveValue() / lm.scale + lm.constant_pj == pytest.approx(best, rel=1e-9)
    nodes = math.prod(lm.factor(solver.Value, d, s) for d in problem.dims for s in lm.slots if s.spatial)
    assert nodes >= floor


# ------------------------------------------------------------------ CLI: compare and bad input

WL = {"workload": {"name": "w", "batch": 2, "layers": [
    {"name": "fc1", "type": "fc", "K": 3, "C": 2},
    {"name": "conv1", "type": "conv", "K": 2, "C": 2, "P": 3, "Q": 1, "R": 2}]}}


def _spec(tmp_path, constraints):
    (tmp_path / "arch.yaml").write_text(yaml.safe_dump(arch_to_obj(MESH), sort_keys=False))
    (tmp_path / "wl.yaml").write_text(yaml.safe_dump(WL, sort_keys=False))
    spec = tmp_path / "run.yaml"
    spec.write_text(yaml.safe_dump({"solve": {"arch": "arch.yaml", "workload": "wl.yaml",
                                              "constraints": constraints}}, sort_keys=False))
    return spec


_cli = run_cli  # in-process (tests/solvekit.py); test_bad_input covers the process boundary


def test_compare_on_a_mesh_respects_the_partition(tmp_path):
    spec = _spec(tmp_path, {"partition": {"DRAM": {"NY": ["batch"], "NX": ["output", "fmap"]}}, "min_nodes": 4})
    run = _cli("compare", spec, "--methods", "random,exhaustive", "--samples", "300", "--out", tmp_path / "o",
               "--json", "-q")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    allowed = {"fc1": {"NY": {"N"}, "NX": {"K"}}, "conv1": {"NY": {"N"}, "NX": {"K", "G", "P", "Q"}}}
    seen = 0
    for lay in data["layers"]:
        for row in lay["methods"]:
            dram = next(lv for lv in row["mapping"]["mapping"] if lv["level"] == "DRAM")
            axes = dram.get("spatial", {})
            for ax, loops in axes.items():
                assert set(loops) <= allowed[lay["name"]][ax], (lay["name"], row["method"], axes)
            assert math.prod(f for loops in axes.values() for f in loops.values()) >= 4
            seen += 1
    assert seen == 4


BAD = [
    ({"partition": {"GLB": "naive"}}, "solve.constraints.partition.GLB: expected a level with a mesh fanout"),
    ({"partition": {"RF": "naive"}}, "partition.RF: expected a level with a mesh fanout of mesh-example (DRAM)"),
    ({"partition": {"DRAM": {"NZ": ["batch"]}}}, "partition.DRAM.NZ: expected an axis of mesh NoC (NY, NX)"),
    ({"partition": {"DRAM": {"NY": ["batch", "channels"]}}},
     "partition.DRAM.NY[1]: expected a partitioning scheme (batch, fmap, output, input), got 'channels'"),
    ({"partition": {"DRAM": "smart"}}, "partition.DRAM: expected a preset (naive, hybrid)"),
    ({"partition": {"DRAM": {"NY": []}}}, "partition.DRAM.NY: expected a non-empty list of schemes"),
    ({"partition": {"DRAM": "naive"}, "spatial": {"DRAM": {"NY": ["K"]}}},
     "partition.DRAM: expected partition or spatial/dataflow"),
    ({"min_nodes": 7}, "min_nodes: expected a number of nodes from 1 to 6, got 7"),
    ({"min_nodes": 0}, "min_nodes: expected a positive integer"),
    ({"min_nodes": {"RF": 2}}, "min_nodes.RF: expected a level with a mesh fanout"),
]


@pytest.mark.parametrize("constraints, message", BAD)
def test_bad_input_is_one_line_exit_2(tmp_path, constraints, message):
    run = _cli("check", _spec(tmp_path, constraints))
    assert run.returncode == 2, run.stdout + run.stderr
    assert message in run.stderr and "run.yaml" in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_min_nodes_on_a_flat_architecture_is_refused():
    flat = dataclasses.replace(MESH, levels=(MESH.levels[0], dataclasses.replace(
        MESH.levels[1], fanout=dataclasses.replace(MESH.levels[1].fanout, topology="flat", hop_energy_pj=0.0),
        memory=None)))
    with pytest.raises(ConstraintError, match="expected .* naming a level with a mesh fanout"):
        Constraints.of(min_nodes=2).check(flat, ("N", "K", "C"))


def test_a_level_with_a_flat_fanout_is_not_a_mesh():
    from cpmap.spec.arch import load_arch

    arch = load_arch(str(ROOT / "specs" / "nnd-4x4.yaml"))  # GBUF's fanout is the flat PE array
    with pytest.raises(ConstraintError, match=r"partition.GBUF: expected a level with a mesh fanout of nnd-4x4 "
                                              r"\(DRAM\), got 'GBUF'"):
        Constraints.of(partition={"GBUF": {"Y": ["fmap"]}}).check(arch, ALL)
    with pytest.raises(ConstraintError, match="min_nodes.GBUF: expected a level with a mesh fanout"):
        Constraints.of(min_nodes={"GBUF": 4}).check(arch, ALL)
