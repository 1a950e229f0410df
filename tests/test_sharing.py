"""Buffer sharing (TANGRAM) on a mesh fanout (docs/cost-model.md section 10, "Buffer
sharing"; docs/solver.md, "Access forwarding and buffer sharing"): the worked example
counted by hand, the capacity rule, and the solver's optimum against exhaustive
enumeration of every mapping and every choice of forwarded and shared tensors.  The oracle
comparison is in tests/test_mesh_oracle.py."""

from __future__ import annotations

import itertools
import random
import subprocess
import sys
from dataclasses import replace
from fractions import Fraction

import pytest
import yaml
from brute_force import brute_force_mappings
from ortools.sat.python import cp_model
from solvekit import owed_status, solver_meets_enumeration
from test_bandwidth import fix
from test_forward import ROOT, two_level
from test_mesh_cost import MAPPING, PROBLEM, mesh_arch, workload_to_obj_one
from test_mesh_solve import _fix_entry

from cpmap.core.arch import Arch, MeshMemory
from cpmap.core.mapping import Mapping
from cpmap.core.options import SolveOptions
from cpmap.core.problem import conv, fc
from cpmap.cost.evaluator import Evaluator, evaluate
from cpmap.solve.layer import mapping_from_solution, solve_layer
from cpmap.solve.model import build_model
from cpmap.spec.arch import arch_to_obj
from cpmap.spec.mapping import mapping_to_obj


def sharing(arch: Arch, *, multicast: bool | None = None, forwarding: bool = False) -> Arch:
    levels = list(arch.levels)
    for j, lv in enumerate(levels):
        if lv.fanout is not None and lv.fanout.mesh:
            fan = replace(lv.fanout, sharing=True, forwarding=forwarding or lv.fanout.forwarding)
            levels[j] = replace(lv, fanout=fan if multicast is None else replace(fan, multicast=multicast))
    return replace(arch, levels=tuple(levels))


def shared(mapping: Mapping, j: int, tensors: str, forward: str = "") -> Mapping:
    levels = list(mapping.levels)
    levels[j] = replace(levels[j], share=frozenset(tensors), forward=frozenset(forward))
    return Mapping(tuple(levels))


def test_worked_example_by_hand():
    """Section 10's example with I shared across each row (g = 3).  Fills: each node
    fetches 1/3 of the row's 2 words from its nearest channel: 0 + 1 + 0 links per row, so
    2/3 links per word of a node's tile, 2 words: 4/3 word-hops.  Reads: every node reads
    I 2 times (12 MAC reads / 6 nodes), each word at distance 0, 1 or 2 along the row, a
    third of the words at each member: (0+1+2) + (1+0+1) + (2+1+0) = 8 per row, 16 in
    all, / 3 x 2 words = 32/3.  I's word-hops 4/3 + 32/3 = 12 (multicast: 8); RF writes of
    I 12 / 3 = 4; RF holds ceil(2/3) = 1 word of I."""
    arch = sharing(mesh_arch())
    r = evaluate(PROBLEM, arch, shared(MAPPING, 1, "I"))
    assert r.valid
    noc = r.noc["NoC"]
    assert noc["hops"] == {"W": 2, "I": 12, "O": 8}
    assert noc["share"] == ["I"]
    assert r.accesses["RF"]["I"] == {"reads": 12, "writes": 4}
    assert r.accesses["DRAM"]["I"]["reads"] == 4
    assert noc["channel_words"] == [float(Fraction(22, 3)), float(Fraction(11, 3)), float(Fraction(10, 3)),
                                    float(Fraction(5, 3))]
    assert r.cycles == 4
    assert r.energy_pj == pytest.approx(3466 - 8 + 10 * (12 - 8))


def test_capacity_holds_a_share_of_the_tile():
    """RF of 5 words: W 1 + I 2 + O 2 fits exactly; with 4 words only sharing I (1 word per
    node) fits, and the error without it names the overflow."""
    small = sharing(mesh_arch())
    small = replace(small, levels=(replace(small.levels[0], capacity=4), small.levels[1]))
    plain = evaluate(PROBLEM, small, MAPPING)
    assert not plain.valid and "over by 1" in plain.errors[0]
    assert evaluate(PROBLEM, small, shared(MAPPING, 1, "I")).valid


def test_sharing_errors():
    errs = shared(MAPPING, 1, "I").structural_errors(PROBLEM, mesh_arch())
    assert errs == ["DRAM.share: level DRAM has no mesh fanout with sharing: true"]
    both = sharing(mesh_arch(), forwarding=True)
    errs = shared(MAPPING, 1, "I", forward="I").structural_errors(PROBLEM, both)
    assert errs == ["DRAM.share: ['I'] also in forward; a tensor is forwarded or shared, not both"]
    bypass = Mapping((replace(MAPPING.levels[0], keeps=frozenset("WO")), shared(MAPPING, 1, "I").levels[1]))
    r = evaluate(PROBLEM, sharing(mesh_arch()), bypass)
    assert not r.valid and "DRAM.share: I is shared across NoC but RF does not keep it" in r.errors


def with_choices(problem, arch):
    """Every mapping of tests/brute_force.py with every input forwarded, shared or neither
    on each mesh, as the architecture allows."""
    meshes = [j for j, lv in enumerate(arch.levels) if lv.fanout is not None and lv.fanout.mesh]
    inputs = [t for t in problem.tensor_names if t != "O"]
    for m in brute_force_mappings(problem, arch):
        per_mesh = []
        for j in meshes:
            fan = arch.levels[j].fanout
            modes = [""] + (["f"] if fan.forwarding else []) + (["s"] if fan.sharing else [])
            per_mesh.append([(j, dict(zip(inputs, c))) for c in itertools.product(modes, repeat=len(inputs))])
        for choice in itertools.product(*per_mesh):
            levels = list(m.levels)
            for j, modes in choice:
                levels[j] = replace(levels[j], forward=frozenset(t for t, x in modes.items() if x == "f"),
                                    share=frozenset(t for t, x in modes.items() if x == "s"))
            yield Mapping(tuple(levels))


CASES = {
    "worked-2x3": (PROBLEM, sharing(mesh_arch(static=60.0), forwarding=True)),
    "worked-2x3-rf5": (PROBLEM, sharing(replace(mesh_arch(static=60.0), levels=(
        replace(mesh_arch().levels[0], capacity=5), mesh_arch().levels[1])))),
    "per-node-unicast": (PROBLEM, sharing(mesh_arch(MeshMemory("per_node", (), 1), static=60.0), multicast=False,
                                          forwarding=True)),
    "fc-2x2-rf4": (fc("fc4", N=2, K=2, C=4), sharing(two_level(2, 2, MeshMemory("corners"), 40.0, rf=4))),
    "conv-3x1-unicast": (conv("conv", K=1, C=2, P=3, Q=1, R=2, S=1),
                         sharing(two_level(3, 1, MeshMemory("corners", (), 1.5), 30.0, multicast=False, hop=1.0,
                                           rf=6))),
}
_SPACE: dict = {}


def space(name):
    if name not in _SPACE:
        problem, arch = CASES[name]
        ev = Evaluator(problem, arch)
        _SPACE[name] = [(r, m) for r, m in ((ev.evaluate(m), m) for m in with_choices(problem, arch)) if r.valid]
    return _SPACE[name]


@pytest.mark.parametrize("name", list(CASES))
def test_energy_optimum_is_the_exhaustive_optimum(name):
    problem, arch = CASES[name]
    truth = min(r.energy_pj for r, _ in space(name))
    sol = solve_layer(problem, arch, SolveOptions(time_limit=60, workers=1))
    assert sol.lower_bound <= truth * (1 + 1e-12)
    assert owed_status(sol, problem, arch) and sol.value == pytest.approx(truth, rel=1e-12)


def test_sharing_decides_some_optima():
    """Sharing is strictly better than every mapping without it in some case (capacity or
    fewer writes pay for the remote reads)."""
    better = 0
    for name in CASES:
        results = space(name)
        truth = min(r.energy_pj for r, _ in results)
        plain = min(r.energy_pj for r, m in results if not any(lm.share for lm in m.levels))
        better += plain > truth * (1 + 1e-12)
    assert better >= 1


def test_random_sharing_meshes_against_exhaustive_enumeration():
    """20 random tiny cases (2x1, 2x2, 3x1 meshes; corners or per-node memory; multicast on
    or off; forwarding too or not; small RFs; channel bandwidths; static energy)."""
    rng = random.Random(23)
    checked = 0
    while checked < 20:
        rows, cols = rng.choice([(2, 1), (2, 2), (3, 1)])
        arch = sharing(two_level(rows, cols, MeshMemory(rng.choice(["corners", "per_node"]), (),
                                                        rng.choice([None, 1, 2])),
                                 rng.choice([5.0, 50.0]), multicast=rng.random() < 0.5,
                                 hop=rng.choice([1.0, 3.0, 10.0]), rf=rng.choice([3, 4, 6, 8]),
                                 dram=rng.choice([20.0, 200.0])), forwarding=rng.random() < 0.5)
        problem = rng.choice([fc("f", N=rng.choice([1, 2, 3]), K=rng.choice([1, 2]), C=rng.choice([2, 3])),
                              conv("c", K=2, C=2, P=2, Q=1, R=2, S=1)])
        checked += solver_meets_enumeration(problem, arch, with_choices(problem, arch))


@pytest.mark.parametrize("name", list(CASES))
def test_model_energy_equals_the_evaluators_at_sampled_points(name):
    """Pointwise: for 24 random valid mappings (factors, bypass, mesh order, forwarded and
    shared tensors fixed; loop-order classes enumerated), half of them sharing, the
    model's energy and cycles equal the evaluator's for the mapping read back."""
    problem, arch = CASES[name]
    rng = random.Random(9)
    with_share = [m for _, m in space(name) if m.levels[-1].share]
    pool = rng.sample(with_share, min(12, len(with_share)))
    pool += rng.sample([m for _, m in space(name)], 12)
    ev = Evaluator(problem, arch)
    seen = 0
    for mapping in pool:
        lm = build_model(problem, arch, "energy", break_symmetry=False)
        fix(lm, mapping)
        _fix_entry(lm, mapping)
        for key, lits in zip(("forward", "share"), lm.forward):
            for (j, t), lit in lits.items():
                lm.model.add(lit == (t in getattr(mapping.levels[j], key)))
        lm.model.clear_objective()
        points = []

        class Collect(cp_model.CpSolverSolutionCallback):
            def on_solution_callback(self, lm=lm, points=points):
                got = mapping_from_solution(lm, problem, arch, self.value)
                points.append((got, self.value(lm.energy) / lm.scale + lm.constant_pj,
                               self.value(lm.evaluator_cycles()), ev.evaluate(got)))

        solver = cp_model.CpSolver()
        solver.parameters.enumerate_all_solutions = True
        solver.parameters.num_workers = 1
        assert solver.solve(lm.model, Collect()) == cp_model.OPTIMAL
        for got, pj, cycles, r in points:
            assert got.levels[-1].share == mapping.levels[-1].share
            assert r.valid and pj == pytest.approx(r.energy_pj, rel=1e-12) and cycles == r.cycles
        seen += len(points)
    assert seen >= 24 and with_share


def test_evaluate_reports_sharing(tmp_path):
    arch = sharing(mesh_arch())
    obj = arch_to_obj(arch)
    assert obj["architecture"]["levels"][1]["fanout"]["sharing"] is True
    (tmp_path / "arch.yaml").write_text(yaml.safe_dump(obj, sort_keys=False))
    (tmp_path / "work.yaml").write_text(yaml.safe_dump(workload_to_obj_one(), sort_keys=False))
    mapping = shared(MAPPING, 1, "I")
    assert mapping_to_obj(mapping)[0]["share"] == ["I"]
    (tmp_path / "map.yaml").write_text(yaml.safe_dump(mapping_to_obj(mapping), sort_keys=False))
    proc = subprocess.run([sys.executable, "-m", "cpmap", "evaluate", "--arch", str(tmp_path / "arch.yaml"),
                           "--workload", str(tmp_path / "work.yaml"), "--mapping", str(tmp_path / "map.yaml")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "NoC shared: I" in proc.stdout and "3,498.00" in proc.stdout
