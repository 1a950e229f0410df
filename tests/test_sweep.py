"""Design sweeps (``cpmap sweep``, docs/sweep.md): the sweep file's validation, the energy
table's interpolation, per-point energies against independent single-layer solves, pruning
against the full grid, resume from the cache, and the dask engine on a loopback cluster."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from solvekit import foreground_sigint, wait_cpu

from cpmap.cli import main
from cpmap.core.energy_table import INTERSTELLAR_TABLE_IV
from cpmap.core.options import SolveOptions
from cpmap.network.cache import Cache
from cpmap.network.sweep import best_points, design_front, run_sweep
from cpmap.solve import layer as solver
from cpmap.spec.arch import load_arch
from cpmap.spec.sweep import load_sweep_spec

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "specs" / "interstellar.yaml"
# a small conv layer (4 output, 4 input channels, 4 x 4 outputs, 3 x 3 filters) twice: CP-SAT
# proves its optimum in a few seconds, so answers do not depend on the machine's load
TINY = {"workload": {"name": "tiny", "layers": [
    {"name": "conv", "type": "conv", "K": 4, "C": 4, "P": 4, "Q": 4, "R": 3, "S": 3},
    {"name": "conv_copy", "type": "conv", "K": 4, "C": 4, "P": 4, "Q": 4, "R": 3, "S": 3}]}}
TIME_LIMIT = 10.0


def _sweep(tmp_path: Path, vary: dict | None = None, **fields) -> Path:
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    body = {"arch": str(BASE), "workloads": [{"workload": "tiny.yaml"}],
            "vary": vary if vary is not None else {"capacity": {"RF": ["16 B", "64 B"], "GBUF": ["32 KiB", "64 KiB"]}},
            "time_limit": TIME_LIMIT, "output": str(tmp_path / "out")} | fields
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({"sweep": body}, sort_keys=False))
    return path


# --------------------------------------------------------------------------- the energy table


def test_table_iv_at_its_sizes():
    rf = {16: 0.03, 32: 0.06, 64: 0.12, 128: 0.24, 256: 0.48, 512: 0.96}
    sram = {32: 6, 64: 9, 128: 13.5, 256: 20.25, 512: 30.375}
    for size, pj in rf.items():
        assert INTERSTELLAR_TABLE_IV.energy_pj(size) == pj
    for kib, pj in sram.items():
        assert INTERSTELLAR_TABLE_IV.energy_pj(kib * 1024) == pj


def test_table_iv_between_its_sizes_is_a_power_law():
    t = INTERSTELLAR_TABLE_IV
    # register files: energy proportional to size, so the power law is exact linear
    assert t.energy_pj(48) == pytest.approx(0.09, rel=1e-12)
    assert t.energy_pj(24) == pytest.approx(0.045, rel=1e-12)
    assert t.energy_pj(384) == pytest.approx(0.72, rel=1e-12)
    # SRAM: at the geometric mean of two neighbouring sizes, the geometric mean of their energies
    for (s0, e0), (s1, e1) in zip(t.segments[1], t.segments[1][1:]):
        mid = math.sqrt(s0 * s1)
        assert t.energy_pj(mid) == pytest.approx(math.sqrt(e0 * e1), rel=1e-12)
    # log-linear in between: 96 KiB is log2(1.5) of the way from 64 to 128 KiB
    frac = math.log2(1.5)
    assert t.energy_pj(96 * 1024) == pytest.approx(math.exp((1 - frac) * math.log(9) + frac * math.log(13.5)))
    # and monotone over every whole byte count of the RF segment
    values = [t.energy_pj(s) for s in range(16, 513)]
    assert values == sorted(values)


@settings(max_examples=2000, derandomize=True, deadline=None)
@given(st.integers(16, 512), st.integers(32 * 1024, 512 * 1024))
def test_table_iv_interpolation_is_the_tables_own_law(rf_bytes, sram_bytes):
    """Table IV is geometric: register files cost 0.03 pJ x size / 16 B, SRAMs 6 pJ x 1.5 per
    doubling from 32 KB.  A power law between neighbouring rows reproduces both laws at
    every size, which checks the interpolation against closed forms it does not use."""
    t = INTERSTELLAR_TABLE_IV
    assert t.energy_pj(rf_bytes) == pytest.approx(0.03 * rf_bytes / 16, rel=1e-12)
    assert t.energy_pj(sram_bytes) == pytest.approx(6.0 * 1.5 ** math.log2(sram_bytes / (32 * 1024)), rel=1e-12)


@pytest.mark.parametrize("size", [8, 15, 513, 1024, 16 * 1024, 32 * 1024 - 1, 512 * 1024 + 1, 1 << 20])
def test_table_iv_refuses_sizes_outside_it(size):
    with pytest.raises(ValueError, match="outside energy table interstellar"):
        INTERSTELLAR_TABLE_IV.energy_pj(size)


# --------------------------------------------------------------------------- the sweep file


BAD = [
    ({"vary": {}}, "sweep.vary: expected at least one of"),
    ({"vary": {"capacity": {"DRAM": ["1 KiB"]}}}, "sweep.vary.capacity.DRAM: expected a level of interstellar"),
    ({"vary": {"capacity": {"RF": ["8 B"]}}}, "sweep.vary.capacity.RF[0]: expected a size inside the energy table"),
    ({"vary": {"capacity": {"RF": ["1 KiB"]}}}, "outside energy table interstellar"),
    ({"vary": {"capacity": {"RF": ["lots"]}}}, "sweep.vary.capacity.RF[0]: expected a size like"),
    ({"vary": {"capacity": {"RF": ["16 B", "16 B"]}}}, "sweep.vary.capacity.RF[1]: expected each size once"),
    ({"vary": {"capacity": {"RF": {"from": "16 B", "to": "64 B"}}}}, "expected exactly one of factor"),
    ({"vary": {"capacity": {"RF": {"from": "64 B", "to": "16 B", "factor": 2}}}}, "sweep.vary.capacity.RF.to"),
    ({"vary": {"fanout": {"PEs": [{"Y": 4}]}}}, "sweep.vary.fanout.PEs: expected a fanout of interstellar (PE)"),
    ({"vary": {"nodes": [2, 2]}}, "sweep.vary.nodes: expected each node count once"),
    ({"vary": {"nodes": [0]}}, "sweep.vary.nodes[0]: expected a positive integer"),
    ({"vary": {"extra_level": {"name": "RF", "sizes": ["16 B"]}}}, "sweep.vary.extra_level.name: expected a new name"),
    ({"vary": {"extra_level": {"name": "R0", "inside": "X", "sizes": ["16 B"]}}}, "sweep.vary.extra_level.inside"),
    ({"vary": {"capacity": {"RF": ["16 B"]}}, "energy_table": "cacti"}, "sweep.energy_table: expected one of"),
    ({"vary": {"capacity": {"RF": ["16 B"]}}, "energy_table": {"word_bits": 16, "rows": [["32 B", 1], ["16 B", 2]]}},
     "sweep.energy_table.rows[1][0]: expected sizes in increasing order"),
    ({"vary": {"capacity": {"RF": ["16 B"]}}, "area": {"mm2_per_kib": {"RF": 0.1}}},
     "sweep.area.mm2_per_kib: expected an entry for every on-chip level, missing GBUF"),
    ({"vary": {"capacity": {"RF": ["16 B"]}}, "area": {"mm2_per_kib": {"RF": 0.1, "GBUF": 0.1, "GBUFF": 1}}},
     "sweep.area.mm2_per_kib.GBUFF: expected an on-chip level (RF, GBUF)"),
    ({"workloads": []}, "sweep.workloads: expected a list of workloads"),
    ({"workloads": [{"workload": "nope.yaml"}]}, "sweep.workloads[0].workload: expected an existing workload file"),
    ({"workloads": [{"workload": "tiny.yaml", "layers": ["conv9"]}]}, "sweep.workloads[0].layers[0]: expected a layer"),
    ({"workloads": [{"workload": "tiny.yaml", "constraints": {"keeps": {"RF0": ["W"]}}}]},
     "sweep.workloads[0].constraints.keeps"),
    ({"time_limit": 0}, "sweep.time_limit: expected a number of seconds > 0"),
    ({"work_limit": -1}, "sweep.work_limit: expected a number of seconds > 0"),
    ({"objective": "area"}, "sweep.objective: expected one of energy | delay | edp"),
    ({"colour": "red"}, "sweep.colour: unknown key"),
]


@pytest.mark.parametrize("fields, message", BAD)
def test_bad_sweep_files_exit_2_naming_file_and_field(tmp_path, capsys, fields, message):
    path = _sweep(tmp_path, **fields) if "vary" not in fields else _sweep(tmp_path, fields.pop("vary"), **fields)
    assert main(["sweep", str(path), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"cpmap: error: {path}: ") and message in err and err.count("\n") == 1, err


def test_work_limit_reaches_every_plan_and_shrinks_in_the_bounding_pass(tmp_path):
    spec = load_sweep_spec(str(_sweep(tmp_path, work_limit=4)))
    assert {p.work_limit for pt in spec.points for p in spec.plans(pt)} == {4.0}
    assert spec.with_time_limit(1.5).work_limit == 1.5 and spec.with_time_limit(9).work_limit == 4.0
    assert load_sweep_spec(str(_sweep(tmp_path)), {"work_limit": 2}).work_limit == 2.0
    assert load_sweep_spec(str(_sweep(tmp_path))).work_limit is None


def test_derived_architectures(tmp_path):
    vary = {"capacity": {"GBUF": {"from": "32 KiB", "to": "128 KiB", "factor": 2}},
            "fanout": {"PE": [{"Y": 16, "X": 16}, {"Y": 8, "X": 4}]}, "nodes": {"counts": [1, 4], "energy_pj_per_word": 2},
            "extra_level": {"name": "RF0", "inside": "RF", "sizes": [None, "32 B"]}}
    spec = load_sweep_spec(str(_sweep(tmp_path, vary, area={"mm2_per_kib": {"RF": 0.5, "RF0": 0.5, "GBUF": 0.1},
                                                             "mm2_per_pe": 0.01})))
    assert spec.parameters == ("GBUF", "PE", "nodes", "RF0")
    assert len(spec.points) == 3 * 2 * 2 * 2
    p = spec.points[-1]  # the last of each: 128 KiB, 8 x 4 PEs, 4 nodes, RF0 32 B inside RF
    assert p.params == ("128 KiB", "Y8xX4", "4", "32 B")
    assert p.arch.level_names == ("RF0", "RF", "GBUF", "DRAM")  # RF0 inside RF: innermost
    rf0, gbuf, dram = p.arch.levels[0], p.arch.levels[2], p.arch.levels[3]
    assert (rf0.capacity, rf0.read_pj, rf0.write_pj) == (16, 0.06, 0.06)  # 32 B = 16 words, Table IV
    assert (gbuf.capacity, gbuf.read_pj, gbuf.fanout.axes) == (65536, 13.5, (("Y", 8), ("X", 4)))
    assert (dram.fanout.size, dram.fanout.energy_pj) == (4, 2)
    # on chip: per node (the base's 64 B RF + 32 B RF0) x 32 PEs + 128 KiB, times 4 nodes
    assert p.onchip_bytes == 4 * (32 * (64 + 32) + 128 * 1024)
    assert p.area_mm2 == pytest.approx(4 * (32 * 96 / 1024 * 0.5 + 128 * 0.1) + 0.01 * 4 * 32)
    assert spec.points[0].arch == replace(load_arch(str(BASE)), levels=(
        load_arch(str(BASE)).levels[0], replace(load_arch(str(BASE)).levels[1], capacity=16384, read_pj=6.0,
                                                 write_pj=6.0), load_arch(str(BASE)).levels[2]))


# --------------------------------------------------------------------------- solving


def test_point_energies_equal_single_layer_solves(tmp_path):
    spec = load_sweep_spec(str(_sweep(tmp_path)))
    run = run_sweep(spec, cache=None, jobs=2)
    assert run.unique == 4 and run.layer_solves == 8  # the copied layer is solved once per point
    base = load_arch(str(BASE))
    rf_pj = {"16 B": 0.03, "64 B": 0.12}  # Table IV, by hand
    gbuf_pj = {"32 KiB": 6.0, "64 KiB": 9.0}
    problem = spec.networks[0].layers[0].problem
    options = SolveOptions(time_limit=TIME_LIMIT, workers=1, seed=0)
    for r in run.points:
        rf, gbuf = r.point.params
        words = {"16 B": 8, "64 B": 32}[rf], {"32 KiB": 16384, "64 KiB": 32768}[gbuf]
        arch = replace(base, levels=(
            replace(base.levels[0], capacity=words[0], read_pj=rf_pj[rf], write_pj=rf_pj[rf]),
            replace(base.levels[1], capacity=words[1], read_pj=gbuf_pj[gbuf], write_pj=gbuf_pj[gbuf]),
            base.levels[2]))
        assert arch == r.point.arch
        alone = solver.solve_layer(problem, arch, options)
        assert alone.status == "OPTIMAL" and r.statuses == {"OPTIMAL": 2}
        assert r.energy_pj == pytest.approx(2 * alone.best.result.energy_pj, rel=1e-12)
        assert r.cycles == 2 * alone.best.result.cycles
        assert r.lower_bound == pytest.approx(2 * alone.lower_bound, rel=1e-12)
        assert r.edp == pytest.approx(r.energy_pj * r.cycles)
    best = best_points(run.points)
    assert best["energy"].energy_pj == min(r.energy_pj for r in run.points)
    front = design_front(run.points)
    for r in run.points:  # nothing beats a front point in both energy and capacity
        assert r in front or any(f.energy_pj <= r.energy_pj and f.point.onchip_bytes <= r.point.onchip_bytes
                                 for f in front)


def test_pruning_never_skips_the_best_point(tmp_path):
    vary = {"capacity": {"RF": ["16 B", "128 B", "512 B"], "GBUF": ["32 KiB", "512 KiB"]}}
    spec = load_sweep_spec(str(_sweep(tmp_path, vary)))
    cache = Cache(tmp_path / "cache")
    full = run_sweep(spec, cache=cache, jobs=2)
    assert {s for r in full.points for s in r.statuses} == {"OPTIMAL"}
    best_full = min(r.energy_pj for r in full.points)
    by_name = {r.point.name: r for r in full.points}
    # exact bounds (every answer proved, taken from the cache): every point worse than the
    # best is pruned, the best point's own bound closes the gap
    exact = run_sweep(spec, cache=cache, prune=True, bound_time_limit=TIME_LIMIT).certificate
    assert exact.pruned == sum(r.energy_pj > best_full * (1 + 1e-9) for r in full.points) > 0
    assert exact.best_energy_pj == best_full and exact.gap == pytest.approx(0.0, abs=1e-9)
    # short, unproven bounds from an empty cache, full solves in rounds of 2 points: whatever
    # is pruned, the best is found
    pruned = run_sweep(spec, cache=None, jobs=2, prune=True, bound_time_limit=0.2, prune_round=2)
    cert = pruned.certificate
    assert cert.best_energy_pj == pytest.approx(best_full, rel=1e-9)
    assert cert.solved + cert.pruned == len(spec.points)
    bounds = dict(cert.bounds)
    for r in pruned.points:
        # every bound is a certified lower bound of the proved optimum at that point
        assert bounds[r.point.name] <= by_name[r.point.name].energy_pj * (1 + 1e-9)
        if r.state == "pruned":
            assert by_name[r.point.name].energy_pj >= cert.best_energy_pj * (1 - 1e-9)
    assert cert.space_bound_pj <= best_full * (1 + 1e-9)
    assert cert.gap == pytest.approx((cert.best_energy_pj - cert.space_bound_pj) / cert.best_energy_pj)
    # exact bounds in rounds of 3 points: the same best
    rounds = run_sweep(spec, cache=cache, prune=True, bound_time_limit=TIME_LIMIT, prune_round=3).certificate
    assert rounds.best_energy_pj == best_full and rounds.solved + rounds.pruned == len(spec.points)


class _Interrupting:
    """solve_layer in this process; raises KeyboardInterrupt (as Ctrl-C would) at call
    ``at``, and counts the calls."""

    def __init__(self, at: int | None = None):
        self.at, self.calls = at, 0

    def __call__(self, problem, arch, options):
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        return solver.solve_layer(problem, arch, options)


def test_resume_after_interruption_reuses_the_cache(tmp_path):
    spec = load_sweep_spec(str(_sweep(tmp_path)))
    cache = Cache(tmp_path / "cache")
    first = run_sweep(spec, cache=cache, solve=_Interrupting(at=3))
    assert first.interrupted and sum(r.state == "solved" for r in first.points) == 2
    assert {r.state for r in first.points[2:]} == {"interrupted"}
    again = _Interrupting()
    second = run_sweep(spec, cache=cache, solve=again)
    assert not second.interrupted and again.calls == 2 and second.cached == 2 and second.solved == 2
    fresh = run_sweep(spec, cache=None)
    assert [r.energy_pj for r in second.points] == [r.energy_pj for r in fresh.points]


def test_cli_writes_the_report(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CPMAP_CACHE", str(tmp_path / "cache"))
    path = _sweep(tmp_path, {"capacity": {"RF": ["16 B", "64 B"]}})
    assert main(["sweep", str(path), "-q", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    out = tmp_path / "out"
    assert json.loads((out / "sweep.json").read_text())["points"] == data["points"]
    rows = (out / "points.csv").read_text().splitlines()
    assert rows[0].startswith("point,RF,onchip_bytes,area_mm2,pes,state,energy_pj") and len(rows) == 3
    assert sorted(p.name for p in (out / "archs").iterdir()) == ["p000.yaml", "p001.yaml"]
    assert load_arch(str(out / "archs" / "p001.yaml")).levels[0].capacity == 32
    assert (out / "pareto.png").stat().st_size > 0 and (out / "breakdown.png").stat().st_size > 0
    assert set(data["best"]) == {"energy", "delay", "edp"} and data["pareto"]


# --------------------------------------------------------------------------- the dask engine


def test_dask_engine_on_a_loopback_cluster_matches_the_local_engine(tmp_path, capsys):
    pytest.importorskip("distributed", reason="the dask extra is not installed: pip install -e '.[dask]'")
    from distributed import LocalCluster

    from cpmap.network.engine import DaskEngine

    spec = load_sweep_spec(str(_sweep(tmp_path, {"capacity": {"RF": ["16 B", "64 B"]}})))
    local = run_sweep(spec, cache=None, jobs=2)
    # loopback only: the scheduler and the workers bind to 127.0.0.1
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", scheduler_port=0,
                      dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        remote = run_sweep(spec, cache=None, engine=DaskEngine(address))
        assert main(["sweep", str(_sweep(tmp_path, {"capacity": {"RF": ["16 B", "64 B"]}})), "-q", "--no-cache",
                     "--json", "--engine", "dask", "--engine-address", address]) == 0
        cli = json.loads(capsys.readouterr().out)
    for a, b in zip(local.points, remote.points):
        assert (a.energy_pj, a.cycles, a.lower_bound) == (b.energy_pj, b.cycles, b.lower_bound)
        for ba, bb in zip(a.batches, b.batches):
            assert [o.solution.best.mapping for o in ba.outcomes] == [o.solution.best.mapping for o in bb.outcomes]
    assert [p["energy_pj"] for p in cli["points"]] == [r.energy_pj for r in local.points]


def test_engine_flags_are_checked(tmp_path, capsys):
    path = _sweep(tmp_path, {"capacity": {"RF": ["16 B"]}})
    assert main(["sweep", str(path), "--engine", "dask"]) == 2
    assert "--engine dask: expected --engine-address" in capsys.readouterr().err
    assert main(["sweep", str(path), "--engine", "spark"]) == 2
    assert "--engine: expected one of local, dask" in capsys.readouterr().err
    assert main(["sweep", str(path), "--engine-address", "tcp://127.0.0.1:1"]) == 2
    assert "expected only with --engine dask" in capsys.readouterr().err
    for bad in ("foo:bar", "tcp://127.0.0.1", "tcp://127.0.0.1:99999", "http://127.0.0.1:8786"):
        assert main(["sweep", str(path), "--engine", "dask", "--engine-address", bad]) == 2
        assert "--engine-address: expected a scheduler address like tcp://" in capsys.readouterr().err


def test_ctrl_c_exits_130_and_rerun_continues(tmp_path):
    """A real SIGINT to the process group of `cpmap sweep`: exit 130 without a traceback,
    the report of what finished is written, and the re-run takes the finished solves from
    the cache.  AlexNet's fc3 is proved in about a second; "conv2" (VGG-16 conv3_1's shape at
    batch 16: AlexNet conv2's proves within 3 CPU seconds since the prime tables) is not
    proved within seconds, so it is in flight when the signal arrives (as in tests/test_batch.py)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    (tmp_path / "w.yaml").write_text(
        "workload:\n  name: w\n  layers:\n    - {name: fc3, type: fc, K: 1000, C: 4096}\n"
        "    - {name: conv2, type: conv, N: 16, K: 256, C: 128, P: 56, Q: 56, R: 3, S: 3}\n")
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"sweep": {"arch": str(BASE), "workloads": [{"workload": "w.yaml"}],
                                              "vary": {"capacity": {"RF": ["32 B", "64 B"]}}, "time_limit": 30}}))
    env = {**os.environ, "CPMAP_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "cpmap", "sweep", str(spec), "--json", "-q", "--jobs", "1", "--out",
           str(tmp_path / "o")]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=foreground_sigint)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not list((tmp_path / "cache").rglob("*.json")) and proc.poll() is None:
        time.sleep(0.1)
    wait_cpu(proc, 3.0)  # CPU seconds: conv2 has a mapping and no proof yet, whatever the load
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert "Traceback" not in err, err
    assert proc.returncode == 130, (proc.returncode, err)
    assert "re-run the same command to continue" in err
    data = json.loads(out)
    assert data["total"]["interrupted"] is True and data["points"][0]["state"] == "interrupted"
    assert json.loads((tmp_path / "o" / "sweep.json").read_text())["total"]["interrupted"] is True
    first = data["points"][0]["networks"][0]["layers"][0]
    assert first["name"] == "fc3" and first["status"] == "OPTIMAL" and not first["interrupted"]
    # conv2 again, stopped by 0.5 deterministic s (what --time-limit 1 implied) rather than
    # by 1 wall s, in which a loaded machine found it no mapping (exit 1)
    again = subprocess.run([*cmd, "--work-limit", "0.5"], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=300, check=False)
    assert again.returncode == 0, again.stderr
    fc3 = json.loads(again.stdout)["points"][0]["networks"][0]["layers"][0]
    assert fc3["cached"] is True and fc3["status"] == "OPTIMAL"


@settings(max_examples=2000, derandomize=True, deadline=None)
@given(st.integers(1, 256), st.integers(1, 1 << 18), st.integers(1, 32), st.integers(1, 32), st.integers(1, 8),
       st.one_of(st.none(), st.integers(1, 64)), st.sampled_from(["RF", "GBUF", "DRAM"]))
def test_onchip_bytes_and_area_count_every_instance(rf, gbuf, y, x, nodes, extra, inside):
    """On-chip bytes and the area proxy against a count by role: the RF (and an extra level
    inside it or inside GBUF) has one instance per PE of every node (``Arch.pes``), GBUF one
    per node, an extra level inside DRAM one per node too."""
    from cpmap.spec.sweep_grid import AreaModel, ExtraLevel, SizeChoice, Vary, build_points

    base = load_arch(str(BASE))
    vary = Vary(capacity=(("RF", (SizeChoice(rf, "rf", 1.0, 1.0),)), ("GBUF", (SizeChoice(gbuf, "g", 2.0, 2.0),))),
                fanout=(("PE", ((("Y", y), ("X", x)),)),), nodes=(nodes,),
                extra_level=ExtraLevel("R0", inside, frozenset("WIO"),
                                       (None if extra is None else SizeChoice(extra, "e", 0.5, 0.5),)))
    area = AreaModel((("RF", 0.25), ("R0", 0.5), ("GBUF", 0.125)), mm2_per_pe=0.01)
    (point,), _ = build_points(base, vary, None, area)
    pes = point.arch.pes
    assert pes == y * x * nodes
    extra_instances = 0 if extra is None else (pes if inside in ("RF", "GBUF") else nodes)
    words = rf * pes + gbuf * nodes + (extra or 0) * extra_instances
    assert point.onchip_bytes == words * 2  # 16-bit words
    kib = {"RF": rf * pes * 2 / 1024, "GBUF": gbuf * nodes * 2 / 1024, "R0": (extra or 0) * extra_instances * 2 / 1024}
    expected = 0.25 * kib["RF"] + 0.125 * kib["GBUF"] + 0.5 * kib["R0"] + 0.01 * pes
    assert point.area_mm2 == pytest.approx(expected, rel=1e-12)
