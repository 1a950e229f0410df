"""`cpmap solve SPEC.yaml`: output schema, written mappings, flag overrides, exit codes.

Every spec here is the tiny architecture and workload of tests/solvekit.py (each layer
proves optimal in well under a second); the cache lives in tmp_path."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from solvekit import TINY_ARCH, TINY_WORKLOAD, tiny_spec, write

from cpmap.cli import main
from cpmap.spec import load_any
from cpmap.spec.solve import load_solve_spec

ROOT = Path(__file__).resolve().parent.parent

LAYER_FIELDS = {"name", "type", "status", "reason", "objective", "value", "lower_bound", "energy_pj",
                "lower_bound_pj", "gap", "cycles", "utilization", "macs", "solve_seconds", "cached", "same_as",
                "interrupted", "energy_by_level", "network_energy_pj", "mac_energy_pj", "mapping", "result", "top",
                "stopped_by", "work"}
TOTAL_FIELDS = {"layers", "unique_problems", "solved", "cached", "with_mapping", "complete", "interrupted",
                "statuses", "objective", "energy_pj", "lower_bound_pj", "gap", "worst_gap", "cycles", "macs",
                "energy_by_level", "network_energy_pj", "mac_energy_pj", "solve_seconds", "wall_seconds",
                "time_limit", "work_limit", "seed", "jobs", "workers", "workload", "arch", "encoding"}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CPMAP_CACHE", str(tmp_path / "cache"))


def _solve_json(capsys, *args) -> tuple[int, dict, str]:
    code = main(["solve", *map(str, args), "--json", "-q"])
    out, err = capsys.readouterr()
    return code, json.loads(out), err  # json.loads fails unless stdout is exactly one JSON document


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    """One solve of the whole tiny workload: (directory, exit code, JSON, stderr)."""
    tmp = tmp_path_factory.mktemp("solved")
    spec = tiny_spec(tmp, output="report")
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        mp.setenv("CPMAP_CACHE", str(tmp / "cache"))
        code = main(["solve", str(spec), "--json", "-q"])
    return tmp, code, json.loads(out.getvalue()), err.getvalue()


def test_json_schema(solved):
    _, code, data, err = solved
    assert code == 0, err
    assert set(data) == {"layers", "total"}
    assert [lay["name"] for lay in data["layers"]] == ["fc1", "conv1", "fc2", "pool1", "add1"]
    for lay in data["layers"]:
        assert set(lay) == LAYER_FIELDS
        assert lay["status"] == "OPTIMAL" and lay["gap"] == 0.0
        assert lay["stopped_by"] == "optimal" and lay["work"] > 0
        assert lay["lower_bound_pj"] <= lay["energy_pj"] * (1 + 1e-9)
        assert lay["mapping"]["layer"] == lay["name"] and lay["mapping"]["mapping"][0]["level"] == "DRAM"
        assert lay["result"]["valid"] and lay["result"]["energy_pj"] == lay["energy_pj"]
        assert sum(lay["energy_by_level"].values()) + sum(lay["network_energy_pj"].values()) \
            + lay["mac_energy_pj"] == pytest.approx(lay["energy_pj"])
        assert [t["rank"] for t in lay["top"]] == list(range(1, len(lay["top"]) + 1))
    total = data["total"]
    assert set(total) == TOTAL_FIELDS
    assert total["energy_pj"] == pytest.approx(sum(lay["energy_pj"] for lay in data["layers"]))
    assert total["lower_bound_pj"] == pytest.approx(sum(lay["lower_bound_pj"] for lay in data["layers"]))
    assert total["cycles"] == sum(lay["cycles"] for lay in data["layers"])
    assert (total["layers"], total["unique_problems"], total["complete"], total["gap"]) == (5, 4, True, 0.0)
    assert data["layers"][2]["same_as"] == "fc1"  # fc2 is fc1's problem


def test_written_mappings_reevaluate(solved, capsys):
    """Every mapping file the solve writes, and every JSON 'mapping' dumped to a file, is
    accepted by `cpmap evaluate --mapping` and costs the reported energy."""
    tmp, _, data, _ = solved
    for lay in data["layers"]:
        dumped = write(tmp / f"{lay['name']}.json.yaml", lay["mapping"])
        for mapping_file in (tmp / "report" / "mappings" / f"{lay['name']}.yaml", dumped):
            assert main(["evaluate", "--arch", str(tmp / "arch.yaml"), "--workload",
                         str(tmp / "wl.yaml"), "--mapping", str(mapping_file), "--json"]) == 0
            assert json.loads(capsys.readouterr().out)["energy_pj"] == lay["energy_pj"]


def test_report_directory(solved):
    tmp, _, data, _ = solved
    out = tmp / "report"
    assert json.loads((out / "result.json").read_text()) == data
    rows = (out / "layers.csv").read_text().splitlines()
    assert rows[0].startswith("layer,type,status") and "energy_DRAM_pj" in rows[0] and len(rows) == 6
    assert "energy_network_PE_pj" in rows[0]
    assert "| conv1 | conv | OPTIMAL |" in (out / "summary.md").read_text()
    assert (out / "energy.png").read_bytes()[:4] == b"\x89PNG"
    assert "layer conv1 (conv) on tiny: valid" in (out / "evaluations" / "conv1.txt").read_text()


def test_flags_override_spec(tmp_path, capsys):
    spec = tiny_spec(tmp_path, layers=["fc1"], objective="energy", time_limit=7, seed=1, output="a")
    code, data, _ = _solve_json(capsys, spec, "--layers", "conv1,pool1", "--objective", "delay",
                                "--time-limit", "3", "--work-limit", "0.75", "--seed", "5", "--workers", "1", "--top", "2",
                                "--batch", "4", "--out", tmp_path / "b", "--jobs", "1")
    assert code == 0
    total = data["total"]
    assert [lay["name"] for lay in data["layers"]] == ["conv1", "pool1"]
    assert (total["objective"], total["time_limit"], total["seed"], total["workers"]) == ("delay", 3.0, 5, 1)
    assert total["work_limit"] == 0.75
    conv1 = data["layers"][0]
    assert conv1["objective"] == "delay" and conv1["value"] == conv1["cycles"]
    assert conv1["macs"] == 4 * 2 * 2 * 3 * 2  # batch 4 instead of the workload's 2
    assert 1 <= len(conv1["top"]) <= 2
    assert (tmp_path / "b" / "result.json").exists() and not (tmp_path / "a").exists()
    # without flags the spec's values hold
    code, data, _ = _solve_json(capsys, spec)
    assert [lay["name"] for lay in data["layers"]] == ["fc1"]
    assert (data["total"]["objective"], data["total"]["time_limit"], data["total"]["seed"]) == ("energy", 7.0, 1)
    assert data["total"]["work_limit"] == pytest.approx(4.9)  # 0.7 x the time limit
    assert data["layers"][0]["macs"] == 2 * 4 * 2


def test_constraints_are_obeyed(tmp_path, capsys):
    spec = tiny_spec(tmp_path, layers=["conv1"], constraints={
        "spatial": {"GB": {"X": ["K"]}}, "keeps": {"RF": ["W", "O"], "GB": ["I"]},
        "max_factor": {"RF": {"P": 1}}})
    code, data, _ = _solve_json(capsys, spec)
    assert code == 0
    levels = {lv["level"]: lv for lv in data["layers"][0]["mapping"]["mapping"]}
    assert levels["RF"]["keeps"] == ["W", "O"] and levels["GB"]["keeps"] == ["I"]
    assert set(levels["GB"].get("spatial", {}).get("X", {})) <= {"K"}
    assert "P" not in levels["RF"]["temporal"]


def test_infeasible_constraint_exits_1(tmp_path, capsys):
    """An RF of 2 words cannot keep W, I and O (3 one-word tiles): INFEASIBLE with a reason."""
    arch = yaml.safe_load(yaml.safe_dump(TINY_ARCH))
    arch["architecture"]["levels"][0]["capacity"] = 2
    spec = tiny_spec(tmp_path, arch=arch, layers=["fc1", "conv1"], constraints={"keeps": {"RF": ["W", "I", "O"]}})
    code, data, err = _solve_json(capsys, spec)
    assert code == 1
    for lay in data["layers"]:
        assert lay["status"] == "INFEASIBLE" and lay["mapping"] is None and lay["energy_pj"] is None
        assert "RF" in lay["reason"] and "capacity 2" in lay["reason"]
    assert data["total"]["complete"] is False and data["total"]["with_mapping"] == 0
    assert "2 of 2 layers have no mapping: fc1 (INFEASIBLE: level RF must keep" in err
    code = main(["solve", str(spec), "-q"])  # the text report says it too
    out = capsys.readouterr().out
    assert code == 1 and "== fc1 (fc): INFEASIBLE" in out and "no mapping: level RF must keep" in out


def test_text_output_subprocess(tmp_path):
    """The real command line: text report, files, exit code, no traceback."""
    spec = tiny_spec(tmp_path, layers=["conv1", "fc1", "fc2"])
    env = {**os.environ, "CPMAP_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-m", "cpmap", "solve", str(spec), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, cwd=ROOT, timeout=60, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "\r" not in proc.stderr  # no progress bar: stderr is no terminal
    out = proc.stdout
    assert "== conv1 (conv): OPTIMAL in " in out and "gap 0.00%" in out
    assert "== fc2 (fc): OPTIMAL (same problem as fc1)" in out
    assert f"mapping ({tmp_path / 'o' / 'mappings' / 'conv1.yaml'}):" in out
    assert "    layer: conv1" in out and "- level: DRAM" in out
    assert "Summary" in out and "3/3 mapped" in out and f"report: {tmp_path / 'o'}/" in out


def test_user_errors_exit_2(tmp_path, capsys):
    spec = tiny_spec(tmp_path)
    for args, message in [
        (["--layers", "conv9"], ("--layers: expected a layer of workload tinynet (fc1, conv1, fc2, pool1, add1), "
                              "got 'conv9' (did you mean 'conv1'?)")),
        (["--objective", "speed"], "--objective: expected one of energy | delay | edp | pareto, got 'speed'"),
        (["--encoding", "fast"], "--encoding: expected one of exact | pwl"),
        (["--time-limit", "0"], "argument --time-limit: expected a number > 0, got '0'"),
        (["--jobs", "x"], "argument --jobs: expected an integer > 0, got 'x'"),
        (["--seed", "-1"], "argument --seed: expected an integer from 0 to 2147483647"),
    ]:
        assert main(["solve", str(spec), "-q", *args]) == 2, args
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err
    assert main(["solve", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml: cannot read file" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["conv-small-solve.yaml", "alexnet-eyeriss.yaml"])
def test_bundled_solve_specs_load(name):
    plan = load_solve_spec(str(ROOT / "specs/examples" / name))
    assert plan.arch.name == "eyeriss" and plan.objective == "energy" and plan.layers
    assert plan.output == f"cpmap-out/{name[:-5]}"
    kind, obj = load_any(str(ROOT / "specs/examples" / name))  # `cpmap check` knows solve specs
    assert kind == "solve" and obj.workload.name == plan.workload.name


def test_docs_solve_example_loads(tmp_path):
    """docs/specs.md's solve spec example (written for specs/examples/) stays valid."""
    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "docs/specs.md").read_text(), re.DOTALL)
    (obj,) = [o for o in map(yaml.safe_load, blocks) if "solve" in o]
    for key in ("arch", "workload"):
        obj["solve"][key] = str(ROOT / "specs/examples" / obj["solve"][key])
    plan = load_solve_spec(str(write(tmp_path / "docs.yaml", obj)))
    assert [lay.name for lay in plan.layers] == ["conv"] and plan.top_k == 1 and plan.workers == 2
    assert plan.constraints.to_obj() == obj["solve"]["constraints"]


def test_conv_small_constraints_resolve():
    plan = load_solve_spec(str(ROOT / "specs/examples/conv-small-solve.yaml"))
    uc = plan.user_constraints(plan.layers[0].problem)
    assert uc.spatial_dims == {(1, "Y"): frozenset("RC"), (1, "X"): frozenset("PQ")}
    assert uc.keeps == {0: frozenset("WIO"), 1: frozenset("IO")} and uc.min_utilization == 0.5
    assert uc.required_dims == {(1, "Y"): ("R",), (1, "X"): ("P",)}


def test_tiny_workload_is_what_the_tests_assume():
    assert [lay["name"] for lay in TINY_WORKLOAD["workload"]["layers"]] == ["fc1", "conv1", "fc2", "pool1", "add1"]
