"""Access forwarding (TANGRAM) on a mesh fanout (docs/cost-model.md section 10, "Access
forwarding"; docs/solver.md, "Access forwarding"): the section's worked example counted by
hand, the solver's optimum against exhaustive enumeration of every mapping and every
choice of forwarded tensors, the model's energy equal to the evaluator's pointwise, and
the spec fields.  The oracle comparison is in tests/test_mesh_oracle.py."""

from __future__ import annotations

import itertools
import random
import subprocess
import sys
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest
import yaml
from brute_force import brute_force_mappings
from ortools.sat.python import cp_model
from solvekit import owed_status, solver_meets_enumeration
from test_bandwidth import fix
from test_mesh_cost import MAPPING, PROBLEM, mesh_arch, workload_to_obj_one
from test_mesh_solve import _fix_entry

from cpmap.core.arch import Arch, Fanout, Level, MeshMemory
from cpmap.core.mapping import Mapping
from cpmap.core.options import SolveOptions
from cpmap.core.problem import conv, fc
from cpmap.cost.evaluator import Evaluator, evaluate
from cpmap.solve.layer import mapping_from_solution, solve_layer
from cpmap.solve.model import build_model
from cpmap.spec.arch import arch_to_obj
from cpmap.spec.mapping import mapping_from_obj, mapping_to_obj

ROOT = Path(__file__).resolve().parent.parent


def forwarding(arch: Arch, *, multicast: bool | None = None) -> Arch:
    """``arch`` with access forwarding allowed on its mesh (and multicast set if given)."""
    levels = list(arch.levels)
    for j, lv in enumerate(levels):
        if lv.fanout is not None and lv.fanout.mesh:
            fan = replace(lv.fanout, forwarding=True)
            levels[j] = replace(lv, fanout=fan if multicast is None else replace(fan, multicast=multicast))
    return replace(arch, levels=tuple(levels))


def forwarded(mapping: Mapping, j: int, tensors: str) -> Mapping:
    levels = list(mapping.levels)
    levels[j] = replace(levels[j], forward=frozenset(tensors))
    return Mapping(tuple(levels))


def test_worked_example_by_hand():
    """Section 10's example (fc N=2, K=3, C=2; C on the 2 rows, K on the 3 columns of a 2x3
    mesh, corner memory, channel bandwidth 2) with I forwarded.  I's group is a row (K
    is irrelevant to I): g = 3.  Row 0: (0,0) fetches from TL (0 hops), (0,1) from TL
    (1 hop; TL and TR tie, TL is first), (0,2) from TR (0 hops); each share's tree spans
    the row: 2 links each.  So 0+1+0 + 3x2 = 7 links per word per node, row 1 likewise
    (BL, BL, BR): 14 / 3 links per word of a node's tile; a node's I tile is N x C = 2
    words: 28/3 word-hops (multicast: 8)."""
    arch = forwarding(mesh_arch())
    r = evaluate(PROBLEM, arch, forwarded(MAPPING, 1, "I"))
    assert r.valid
    noc = r.noc["NoC"]
    assert noc["hops"] == {"W": 2, "I": float(Fraction(28, 3)), "O": 8}
    # I moved: TL served 2 of row 0's 3 shares (2/3 word each of 2 words), TR 1, BL 2, BR 1
    # (multicast had sent 2 words from TL and 2 from BL): [8 - 2 + 4/3, 3 + 2/3, 4 - 2 + 4/3, 1 + 2/3]
    assert noc["channel_words"] == [float(Fraction(22, 3)), float(Fraction(11, 3)), float(Fraction(10, 3)),
                                    float(Fraction(5, 3))]
    assert noc["forward"] == ["I"]
    assert r.cycles == 4  # ceil(22/3 words / 2 words per cycle)
    assert noc["energy_pj"] == pytest.approx(10 * (2 + 28 / 3 + 8))
    assert r.energy_pj == pytest.approx(3466 - 80 + 280 / 3)
    # multicast: DRAM reads of I are 4 either way; without multicast forwarding divides them by 3
    unicast = forwarding(mesh_arch(), multicast=False)
    assert evaluate(PROBLEM, unicast, MAPPING).accesses["DRAM"]["I"]["reads"] == 12
    assert evaluate(PROBLEM, unicast, forwarded(MAPPING, 1, "I")).accesses["DRAM"]["I"]["reads"] == 4


def test_per_node_memory_fetches_from_its_own_vault():
    """With a vault under every node a share travels 0 hops to its fetcher, then the row's
    tree: 3 x 2 links per row, 2 rows, / 3, x 2 words = 8; every channel serves 2/3 word."""
    arch = forwarding(mesh_arch(MeshMemory("per_node", (), 2)))
    noc = evaluate(PROBLEM, arch, forwarded(MAPPING, 1, "I")).noc["NoC"]
    assert noc["hops"]["I"] == 8
    plain = evaluate(PROBLEM, arch, MAPPING).noc["NoC"]
    i_words = [a - b for a, b in zip(noc["channel_words"], plain["channel_words"])]
    # multicast served each row's 2 words from its first node (every root's tree has 2 links:
    # the first channel wins the tie)
    assert i_words == pytest.approx([2 / 3 - 2, 2 / 3, 2 / 3] * 2)


def test_forwarding_needs_the_arch_and_an_input(tmp_path):
    with pytest.raises(ValueError, match="forwarding needs topology mesh"):
        Fanout("PE", (("X", 2),), forwarding=True)
    errs = forwarded(MAPPING, 1, "I").structural_errors(PROBLEM, mesh_arch())
    assert errs == ["DRAM.forward: level DRAM has no mesh fanout with forwarding: true"]
    errs = forwarded(MAPPING, 1, "O").structural_errors(PROBLEM, forwarding(mesh_arch()))
    assert errs == ["DRAM.forward: expected input tensors of the layer (I, W), got ['O']"]
    # the CLI: a one-line error, exit 2
    (tmp_path / "arch.yaml").write_text(yaml.safe_dump(arch_to_obj(mesh_arch()), sort_keys=False))
    (tmp_path / "work.yaml").write_text(yaml.safe_dump(workload_to_obj_one(), sort_keys=False))
    (tmp_path / "map.yaml").write_text(yaml.safe_dump(mapping_to_obj(forwarded(MAPPING, 1, "I")), sort_keys=False))
    proc = subprocess.run([sys.executable, "-m", "cpmap", "evaluate", "--arch", str(tmp_path / "arch.yaml"),
                           "--workload", str(tmp_path / "work.yaml"), "--mapping", str(tmp_path / "map.yaml")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "forwarding: true" in proc.stderr and "Traceback" not in proc.stderr


def test_yaml_round_trip_and_report(tmp_path):
    arch = forwarding(mesh_arch())
    obj = arch_to_obj(arch)
    assert obj["architecture"]["levels"][1]["fanout"]["forwarding"] is True
    (tmp_path / "arch.yaml").write_text(yaml.safe_dump(obj, sort_keys=False))
    (tmp_path / "work.yaml").write_text(yaml.safe_dump(workload_to_obj_one(), sort_keys=False))
    mapping = forwarded(MAPPING, 1, "I")
    assert mapping_to_obj(mapping)[0]["forward"] == ["I"]
    (tmp_path / "map.yaml").write_text(yaml.safe_dump(mapping_to_obj(mapping), sort_keys=False))
    proc = subprocess.run([sys.executable, "-m", "cpmap", "evaluate", "--arch", str(tmp_path / "arch.yaml"),
                           "--workload", str(tmp_path / "work.yaml"), "--mapping", str(tmp_path / "map.yaml")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "NoC forwarded: I" in proc.stdout
    assert "93.33" in proc.stdout  # I's 28/3 word-hops x 10 pJ


# ----------------------------------------------------------------- the solver

def two_level(rows, cols, memory, static, *, multicast=True, hop=10.0, rf=64, dram=200.0):
    return Arch(f"fwd{rows}x{cols}", 16, 1.0, (
        Level("RF", frozenset("WIO"), read_pj=1.0, write_pj=1.0, capacity=rf),
        Level("DRAM", frozenset("WIO"), read_pj=dram, write_pj=200.0,
              fanout=Fanout("NoC", (("NY", rows), ("NX", cols)), multicast=multicast, topology="mesh",
                            hop_energy_pj=hop, forwarding=True), memory=memory)), static_pj_per_cycle=static)


CASES = {
    "worked-2x3": (PROBLEM, forwarding(mesh_arch(static=60.0))),
    "worked-2x3-unicast": (PROBLEM, forwarding(mesh_arch(static=60.0), multicast=False)),
    "per-node-2x3-bw": (PROBLEM, forwarding(mesh_arch(MeshMemory("per_node", (), 1), static=60.0))),
    "fc-2x2-unicast": (fc("fc4", N=2, K=2, C=4), two_level(2, 2, MeshMemory("corners"), 40.0, multicast=False)),
    "conv-2x2-bw": (conv("conv", K=2, C=2, P=2, Q=1, R=2, S=1), two_level(2, 2, MeshMemory("corners", (), 1), 25.0)),
    "fc-3x1-unicast": (fc("fc3", N=3, K=1, C=2), two_level(3, 1, MeshMemory("corners", (), 1.5), 30.0,
                                                          multicast=False, hop=3.0)),
}
_SPACE: dict = {}


def with_forward_choices(problem, arch):
    """Every mapping of tests/brute_force.py with every subset of the inputs forwarded on
    each mesh that allows it."""
    meshes = [j for j, lv in enumerate(arch.levels) if lv.fanout is not None and lv.fanout.forwarding]
    inputs = [t for t in problem.tensor_names if t != "O"]
    subsets = [frozenset(c) for n in range(len(inputs) + 1) for c in itertools.combinations(inputs, n)]
    for m in brute_force_mappings(problem, arch):
        for choice in itertools.product(subsets, repeat=len(meshes)):
            levels = list(m.levels)
            for j, fwd in zip(meshes, choice):
                levels[j] = replace(levels[j], forward=fwd)
            yield Mapping(tuple(levels))


def space(name):
    if name not in _SPACE:
        problem, arch = CASES[name]
        ev = Evaluator(problem, arch)
        _SPACE[name] = [(r, m) for r, m in ((ev.evaluate(m), m) for m in with_forward_choices(problem, arch))
                        if r.valid]
    return _SPACE[name]


@pytest.mark.parametrize("name", list(CASES))
def test_energy_optimum_is_the_exhaustive_optimum(name):
    problem, arch = CASES[name]
    truth = min(r.energy_pj for r, _ in space(name))
    sol = solve_layer(problem, arch, SolveOptions(time_limit=60, workers=1))
    assert sol.lower_bound <= truth * (1 + 1e-12)
    assert owed_status(sol, problem, arch) and sol.value == pytest.approx(truth, rel=1e-12)


def test_forwarding_decides_some_optima():
    """The cases exercise the option: on the unicast meshes every optimum forwards (DRAM
    reads / g), and on some case the best mapping without forwarding is worse; on some
    multicast mesh an optimum forwards (only hops and channel loads change there)."""
    worse, mcast_fwd = 0, 0
    for name, (_, arch) in CASES.items():
        results = space(name)
        truth = min(r.energy_pj for r, _ in results)
        plain = min(r.energy_pj for r, m in results if not m.levels[-1].forward)
        worse += plain > truth * (1 + 1e-12)
        best_fwd = [m for r, m in results if r.energy_pj <= truth * (1 + 1e-12)]
        if arch.levels[-1].fanout.multicast:
            mcast_fwd += all(m.levels[-1].forward for m in best_fwd)
    assert worse >= 3 and mcast_fwd >= 1


@pytest.mark.parametrize("name", list(CASES))
def test_model_energy_equals_the_evaluators_at_sampled_points(name):
    """Pointwise: for 30 random valid mappings (factors, bypass, mesh order and forwarded
    tensors fixed, loop-order classes enumerated) the model's energy and cycles equal the
    evaluator's for the mapping read back, which forwards the same tensors; some of them
    have fractional word-hops or channel words (the 1/g shares)."""
    problem, arch = CASES[name]
    rng = random.Random(5)
    pool = [m for r, m in space(name) if m.levels[-1].forward] + [m for _, m in space(name)]
    ev = Evaluator(problem, arch)
    seen = fractional = 0
    for mapping in rng.sample(pool[:200], 15) + rng.sample(pool, 15):
        for objective in ("energy", "delay"):
            lm = build_model(problem, arch, objective, break_symmetry=False)
            fix(lm, mapping)
            _fix_entry(lm, mapping)
            for (j, t), f in lm.forward[0].items():
                lm.model.add(f == (t in mapping.levels[j].forward))
            lm.model.clear_objective()
            points = []

            class Collect(cp_model.CpSolverSolutionCallback):
                def on_solution_callback(self):
                    got = mapping_from_solution(lm, problem, arch, self.value)
                    assert all(got.levels[j].forward == mapping.levels[j].forward for j, _ in lm.forward[0])
                    points.append((self.value(lm.energy) / lm.scale + lm.constant_pj,
                                   self.value(lm.evaluator_cycles()), ev.evaluate(got)))

            solver = cp_model.CpSolver()
            solver.parameters.enumerate_all_solutions = True
            solver.parameters.num_workers = 1
            assert solver.solve(lm.model, Collect()) == cp_model.OPTIMAL
            for pj, cycles, r in points:
                assert r.valid and pj == pytest.approx(r.energy_pj, rel=1e-12) and cycles == r.cycles
                noc = r.noc["NoC"]
                fractional += any(isinstance(h, float) for h in [*noc["hops"].values(), *noc["channel_words"]])
            seen += len(points)
    assert seen >= 60
    # on the 2x2 meshes every node is a channel and the shares come out whole
    assert fractional > 0 or name in ("fc-2x2-unicast", "conv-2x2-bw")


def test_random_forwarding_meshes_against_exhaustive_enumeration():
    """30 random tiny cases (2x1, 2x2, 3x1 meshes; corners or per-node memory; multicast on
    or off; channel bandwidths; static energy) with forwarding allowed: the optimum over
    every mapping and forwarded set is the solver's, and the bound is never above it."""
    rng = random.Random(17)
    checked = 0
    while checked < 30:
        rows, cols = rng.choice([(2, 1), (2, 2), (3, 1)])
        arch = two_level(rows, cols, MeshMemory(rng.choice(["corners", "per_node"]), (), rng.choice([None, 1, 2])),
                         rng.choice([5.0, 50.0]), multicast=rng.random() < 0.5, hop=rng.choice([1.0, 3.0, 10.0]),
                         rf=rng.choice([4, 8, 16]), dram=rng.choice([20.0, 200.0]))
        problem = rng.choice([fc("f", N=rng.choice([1, 2, 3]), K=rng.choice([1, 2]), C=rng.choice([2, 3])),
                              conv("c", K=2, C=2, P=2, Q=1, R=2, S=1)])
        checked += solver_meets_enumeration(problem, arch, with_forward_choices(problem, arch))


def test_cli_solve_reports_forwarding(tmp_path):
    """`cpmap solve` on the unicast example: the optimum forwards (DRAM reads / g), the
    mapping written forwards the same tensors and its evaluation says so."""
    problem, arch = CASES["worked-2x3-unicast"]
    truth = min(space("worked-2x3-unicast"), key=lambda rm: rm[0].energy_pj)
    (tmp_path / "arch.yaml").write_text(yaml.safe_dump(arch_to_obj(arch), sort_keys=False))
    (tmp_path / "work.yaml").write_text(yaml.safe_dump(workload_to_obj_one(), sort_keys=False))
    spec = tmp_path / "solve.yaml"
    spec.write_text(yaml.safe_dump({"solve": {"arch": "arch.yaml", "workload": "work.yaml", "time_limit": 60}}))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "cpmap", "solve", str(spec), "--out", str(out), "--no-cache",
                           "--workers", "1"], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert "OPTIMAL" in proc.stdout
    plain = min(r.energy_pj for r, m in space("worked-2x3-unicast") if not m.levels[-1].forward)
    assert plain > truth[0].energy_pj  # so every optimum forwards something
    written = mapping_from_obj(yaml.safe_load(next((out / "mappings").iterdir()).read_text()), problem, arch)
    assert written.levels[-1].forward
    assert evaluate(problem, arch, written).energy_pj == pytest.approx(truth[0].energy_pj, rel=1e-12)
    report = next((out / "evaluations").iterdir()).read_text()
    assert "NoC forwarded: " in report


def test_capped_scale_is_a_certified_relaxation(monkeypatch):
    """Past MAX_SCALE the 1/g fractions are rounded down: at every solution the objective
    is at most the evaluator's energy (below it somewhere), the bound stays at or below
    the exhaustive optimum, and OPTIMAL still needs a certified gap."""
    from cpmap.solve import forward

    monkeypatch.setattr(forward, "MAX_SCALE", 1)
    problem, arch = CASES["worked-2x3"]
    truth = min(r.energy_pj for r, _ in space("worked-2x3"))
    lm = build_model(problem, arch)
    ev = Evaluator(problem, arch)
    seen = []

    class Check(cp_model.CpSolverSolutionCallback):
        def on_solution_callback(self):
            r = ev.evaluate(mapping_from_solution(lm, problem, arch, self.value))
            seen.append((self.objective_value / lm.scale + lm.constant_pj, r))

    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.enumerate_all_solutions = False
    assert solver.solve(lm.model, Check()) == cp_model.OPTIMAL
    assert seen and all(r.valid and pj <= r.energy_pj * (1 + 1e-12) for pj, r in seen)
    # the rounding shows where a fractional forwarding is priced: fix I forwarded on the example
    lm2 = build_model(problem, arch, break_symmetry=False)
    fix(lm2, MAPPING)
    _fix_entry(lm2, MAPPING)
    lm2.model.add(lm2.forward[0][1, "I"] == 1)
    lm2.model.add(lm2.forward[0][1, "W"] == 0)
    solver.solve(lm2.model)
    r = ev.evaluate(forwarded(MAPPING, 1, "I"))
    assert solver.objective_value / lm2.scale + lm2.constant_pj < r.energy_pj
    sol = solve_layer(problem, arch, SolveOptions(time_limit=60, workers=1))
    assert sol.lower_bound <= truth * (1 + 1e-12) and sol.value >= truth * (1 - 1e-12)
    assert (sol.status == "OPTIMAL") == (sol.gap <= 1e-3)
