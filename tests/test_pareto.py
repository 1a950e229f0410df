"""Pareto fronts (cpmap/solve/pareto.py, `cpmap solve --objective pareto`): every point is
the energy optimum under its cycle cap (the evaluator's cycles, bandwidth stalls included;
checked against exhaustive enumeration on tiny layers, with and without bandwidth limits),
the ends are the two single-objective optima, the knee and the helpers by hand, and the
command's files."""

from __future__ import annotations

import json

import pytest
import test_bandwidth as bandwidth_tests
from brute_force import valid_space
from solvekit import owed_status

from cpmap.cli import main
from cpmap.core.arch import Arch, Fanout, Level
from cpmap.core.options import SolveOptions
from cpmap.core.problem import fc
from cpmap.solve.pareto import ParetoPoint, caps_between, knee_index, non_dominated, pareto_front

ARCH = Arch("tiny4", 16, 1.0, (
    Level("RF", frozenset("WIO"), 1.0, 1.0, capacity=12),
    Level("GB", frozenset("WIO"), 6.0, 6.0, capacity=96, fanout=Fanout("PE", (("X", 4),), energy_pj=2.0)),
    Level("DRAM", frozenset("WIO"), 200.0, 200.0)))
# the same with finite bandwidths on every level (decimals among them): stalls move the front;
# test_bandwidth's layers on its architecture, so the enumerated spaces are shared
BW_ARCH, LAYERS = bandwidth_tests.BW_ARCH, bandwidth_tests.LAYERS


def exhaustive(problem, arch):
    return [(r.cycles, r.energy_pj) for r, _ in valid_space(problem, arch)]


@pytest.mark.parametrize("arch", [ARCH, BW_ARCH], ids=lambda a: a.name)
@pytest.mark.parametrize("problem", LAYERS, ids=lambda p: p.name)
def test_every_point_is_the_energy_optimum_under_its_cap(problem, arch):
    space = exhaustive(problem, arch)
    front = pareto_front(problem, arch, SolveOptions(time_limit=10, workers=1), points=6)
    assert front.points
    for p in front.points:
        assert owed_status(p.solution, problem, arch, capped=p.cap is not None)
        assert p.solution.gap == 0 or p.solution.status == "FEASIBLE"
        cap = p.cap if p.cap is not None else max(c for c, _ in space)
        assert p.cycles <= cap
        assert p.energy_pj == pytest.approx(min(e for c, e in space if c <= cap))
        # on the true front: nothing in the space is cheaper at no more cycles
        assert not any(e < p.energy_pj - 1e-9 and c <= p.cycles for c, e in space)
    assert front.points[0].cycles == min(c for c, _ in space)
    assert front.points[-1].energy_pj == pytest.approx(min(e for _, e in space))
    cycles = [p.cycles for p in front.points]
    energies = [p.energy_pj for p in front.points]
    assert cycles == sorted(cycles) and energies == sorted(energies, reverse=True)
    assert len(set(cycles)) == len(cycles) and len(front.points) >= 2


class _Sol:
    def __init__(self, c, e):
        self.best = type("B", (), {"result": type("R", (), {"compute_cycles": c, "energy_pj": e, "cycles": c})})


def pts(*ce):
    return [ParetoPoint(None, _Sol(c, e)) for c, e in ce]


def test_helpers_by_hand():
    # caps from 10 to below 1000 in 4 geometric steps: 10, 31.6 -> 32, 100, 316
    assert caps_between(10, 1000, 4) == [10, 32, 100, 316]
    assert caps_between(50, 50, 4) == [] and caps_between(10, 12, 5) == [10, 11]
    front = non_dominated(pts((4, 100.0), (8, 90.0), (8, 95.0), (6, 120.0), (16, 60.0), (32, 60.0)))
    assert [(p.cycles, p.energy_pj) for p in front] == [(4, 100.0), (8, 90.0), (16, 60.0)]
    # scaled to [0, 1]: (0, 1), (1/3, 0.75), (1, 0): x + y = 1, 1.083, 1 -> ties go to the first
    assert knee_index(front) == 0
    bent = non_dominated(pts((4, 100.0), (5, 62.0), (16, 60.0)))  # (1/12, 0.05): a sharp knee
    assert knee_index(bent) == 1


def test_cli_pareto_writes_the_front_and_a_plot(tmp_path, capsys):
    (tmp_path / "a.yaml").write_text(
        "architecture: {name: a, word_bits: 16, mac_energy_pj: 1, levels: [{name: RF, capacity: 12,"
        " keeps: [W, I, O], read_energy_pj: 1, write_energy_pj: 1}, {name: GB, capacity: 96, keeps: [W, I, O],"
        " read_energy_pj: 6, write_energy_pj: 6, fanout: {name: PE, axes: {X: 4}, energy_pj_per_word: 2}},"
        " {name: DRAM, keeps: [W, I, O], read_energy_pj: 200, write_energy_pj: 200}]}\n")
    (tmp_path / "w.yaml").write_text("workload: {name: w, layers: [{name: fc, type: fc, N: 2, K: 4, C: 4},"
                                     " {name: fc_again, type: fc, N: 2, K: 4, C: 4}]}\n")
    (tmp_path / "s.yaml").write_text("solve: {arch: a.yaml, workload: w.yaml, objective: pareto, time_limit: 5,"
                                     " workers: 1}\n")
    assert main(["solve", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "out"), "-q"]) == 0
    text = capsys.readouterr().out
    assert "fc_again: same layer as an earlier one, same front" in text and "* " in text
    data = json.loads((tmp_path / "out" / "pareto.json").read_text())
    want = pareto_front(fc("fc", N=2, K=4, C=4), ARCH, SolveOptions(time_limit=5, workers=1))
    assert [p["energy_pj"] for p in data["layers"][0]["points"]] == [p.energy_pj for p in want.points]
    assert (tmp_path / "out" / "pareto-fc.png").stat().st_size > 1000
    assert main(["compare", str(tmp_path / "s.yaml")]) == 2
    assert "objective pareto is for cpmap solve" in capsys.readouterr().err
    assert main(["solve", str(tmp_path / "s.yaml"), "--objective", "fastest"]) == 2
    assert "pareto" in capsys.readouterr().err
