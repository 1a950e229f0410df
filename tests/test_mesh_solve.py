"""Until the CP-SAT model prices mesh hops and static energy, solving on an architecture
with either is refused with a one-line error naming the field (exit 2), instead of a
certified bound that is not the evaluator's (docs/cost-model.md section 10)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_mesh_cost import PROBLEM, mesh_arch, workload_to_obj_one

from cpmap.core.arch import Arch, Fanout, Level
from cpmap.core.errors import CpmapError
from cpmap.solve.layer import solve_layer
from cpmap.spec.arch import arch_to_obj

ROOT = Path(__file__).resolve().parent.parent


def static_only_arch():
    rf = mesh_arch().levels[0]
    return Arch("static", 16, 1.0, (rf, Level("DRAM", frozenset("WIO"), 200.0, 200.0,
                                              fanout=Fanout("F", (("x", 2),)))), static_pj_per_cycle=3.0)


@pytest.mark.parametrize("arch, field", [(mesh_arch(), "architecture.levels[1].fanout.topology"),
                                         (static_only_arch(), "architecture.static_energy_pj_per_cycle")])
def test_solve_layer_refuses(arch, field):
    with pytest.raises(CpmapError, match="does not model") as err:
        solve_layer(PROBLEM, arch)
    assert field in str(err.value) and "\n" not in str(err.value)


def _files(tmp_path, arch):
    (tmp_path / "arch.yaml").write_text(yaml.safe_dump(arch_to_obj(arch), sort_keys=False))
    (tmp_path / "work.yaml").write_text(yaml.safe_dump(workload_to_obj_one(), sort_keys=False))
    spec = tmp_path / "solve.yaml"
    spec.write_text(yaml.safe_dump({"solve": {"arch": "arch.yaml", "workload": "work.yaml", "time_limit": 5}}))
    return spec


def _run(*args):
    return subprocess.run([sys.executable, "-m", "cpmap", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=240)


@pytest.mark.parametrize("extra", [[], ["--objective", "pareto"]])
def test_cli_solve_refuses_a_mesh(tmp_path, extra):
    spec = _files(tmp_path, mesh_arch())
    proc = _run("solve", spec, "--out", tmp_path / "out", "--no-cache", *extra)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "fanout.topology" in lines[0] and "does not model mesh NoC hops" in lines[0]


def test_cli_compare_refuses_cpsat_but_runs_searchers(tmp_path):
    spec = _files(tmp_path, mesh_arch())
    proc = _run("compare", spec, "--methods", "cpsat,random", "--out", tmp_path / "c1")
    assert proc.returncode == 2 and "does not model mesh NoC hops" in proc.stderr, proc.stderr
    ok = _run("compare", spec, "--methods", "random", "--samples", "50", "--out", tmp_path / "c2", "-q")
    assert ok.returncode == 0, ok.stderr
