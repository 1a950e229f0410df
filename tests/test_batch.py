"""Batch solving (cpmap/network/): dedupe, the on-disk cache and its reuse rules, atomic
writes, resume after an interruption, the process pool and a real Ctrl-C."""

from __future__ import annotations

import copy
import io
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from solvekit import TINY_ARCH, TINY_WORKLOAD, foreground_sigint, tiny_spec, wait_cpu

from cpmap.core.output import atomic_write_text
from cpmap.network.batch import run_batch
from cpmap.network.cache import Cache, default_cache_dir, problem_key
from cpmap.network.pool import available_cores
from cpmap.network.progress import Progress
from cpmap.solve import layer as solver
from cpmap.spec import arch_from_obj
from cpmap.spec.solve import load_solve_spec

ROOT = Path(__file__).resolve().parent.parent


class CountingSolve:
    """solve_layer, counting calls; ``interrupt_at``: raise KeyboardInterrupt on that call
    (1-based), as Ctrl-C between two solves would."""

    def __init__(self, interrupt_at: int | None = None, status: str | None = None, stop: str = "time_limit"):
        self.calls: list[str] = []
        self.interrupt_at, self.status, self.stop = interrupt_at, status, stop

    def __call__(self, problem, arch, options):
        self.calls.append(problem.name)
        if self.interrupt_at == len(self.calls):
            raise KeyboardInterrupt
        sol = solver.solve_layer(problem, arch, options)
        if self.status == "FEASIBLE" and self.stop == "work_limit":  # ran to its work limit, no proof
            sol = replace(sol, status=self.status, stopped_by=self.stop, work=options.work)
        elif self.status == "FEASIBLE":  # as if the search ran to its time limit without a proof
            sol = replace(sol, status=self.status, solve_seconds=max(sol.solve_seconds, options.time_limit),
                          stopped_by=self.stop)
        return sol


def _plan(tmp_path, **solve):
    return load_solve_spec(str(tiny_spec(tmp_path, **solve)))


def _energies(result) -> dict:
    return {o.layer.name: o.solution.best.result.energy_pj for o in result.outcomes}


def test_dedupe_solves_each_unique_problem_once(tmp_path):
    plan = _plan(tmp_path)
    solve = CountingSolve()
    result = run_batch(plan, solve=solve)
    assert solve.calls == ["fc1", "conv1", "pool1", "add1"]  # fc2 is fc1's problem
    assert (result.unique, result.solved, result.cache_hits) == (4, 4, 0)
    fc1, _, fc2, _, _ = result.outcomes
    assert fc2.same_as == "fc1" and fc1.same_as is None and fc2.key == fc1.key
    assert fc2.solution.best.mapping == fc1.solution.best.mapping
    assert [o.layer.name for o in result.outcomes] == ["fc1", "conv1", "fc2", "pool1", "add1"]


def test_dedupe_ignores_names_but_not_shapes(tmp_path):
    wl = copy.deepcopy(TINY_WORKLOAD)
    wl["workload"]["layers"].append({"name": "fc3", "type": "fc", "K": 4, "C": 2, "N": 3})  # other batch
    plan = _plan(tmp_path, workload=wl, layers=["fc1", "fc2", "fc3"])
    solve = CountingSolve()
    run_batch(plan, solve=solve)
    assert solve.calls == ["fc1", "fc3"]


def test_cache_hit_on_rerun_calls_no_solver(tmp_path):
    plan = _plan(tmp_path)
    cache = Cache(tmp_path / "cache")
    first = run_batch(plan, cache=cache, solve=CountingSolve())
    again = CountingSolve()
    second = run_batch(plan, cache=cache, solve=again)
    assert again.calls == []
    assert (second.solved, second.cache_hits) == (0, 4)
    assert all(o.cached for o in second.outcomes)
    assert _energies(second) == _energies(first)
    assert [o.solution.lower_bound for o in second.outcomes] == [o.solution.lower_bound for o in first.outcomes]
    assert len(list((tmp_path / "cache").rglob("*.json"))) == 4
    # --no-cache: solved again
    third = CountingSolve()
    run_batch(plan, cache=None, solve=third)
    assert len(third.calls) == 4


def test_cache_entries_are_reevaluated(tmp_path, capsys):
    """Stored numbers are never trusted: a tampered mapping is re-evaluated and the entry
    dropped (re-solved) when it no longer holds."""
    plan = _plan(tmp_path, layers=["conv1"])
    cache = Cache(tmp_path / "cache")
    run_batch(plan, cache=cache, solve=CountingSolve())
    (path,) = (tmp_path / "cache").rglob("*.json")
    entry = json.loads(path.read_text())
    entry["mappings"][0][0]["temporal"] = {"K": 99}  # factors no longer multiply to the dims
    path.write_text(json.dumps(entry))
    solve = CountingSolve()
    result = run_batch(plan, cache=cache, solve=solve)
    assert solve.calls == ["conv1"] and not result.outcomes[0].cached
    assert "ignoring inconsistent cache entry" in capsys.readouterr().err
    entry = json.loads(path.read_text())  # rewritten by the new solve
    entry["lower_bound"] = 1e12  # a bound above the mapping's energy cannot be right
    path.write_text(json.dumps(entry))
    solve = CountingSolve()
    run_batch(plan, cache=cache, solve=solve)
    assert solve.calls == ["conv1"] and "exceeds the re-evaluated value" in capsys.readouterr().err
    path.write_text("{not json")
    solve = CountingSolve()
    run_batch(plan, cache=cache, solve=solve)
    assert solve.calls == ["conv1"] and "ignoring unreadable cache entry" in capsys.readouterr().err


@pytest.mark.parametrize("status", ["OPTIMAL", "FEASIBLE"])
def test_cache_reuse_rules(tmp_path, status):
    """OPTIMAL answers are reused for any time limit, seed and worker count; FEASIBLE ones
    only for the same seed and workers and a time limit no longer than the cached one."""
    plan = replace(_plan(tmp_path, layers=["conv1"]), workers=1)
    cache = Cache(tmp_path / "cache")
    run_batch(replace(plan, time_limit=5.0), cache=cache, solve=CountingSolve(status=status))

    (path,) = (tmp_path / "cache").rglob("*.json")
    original = path.read_text()

    def reused(**changes) -> bool:
        solve = CountingSolve(status=status)
        run_batch(replace(plan, **changes), cache=cache, solve=solve)
        path.write_text(original)  # a re-solve rewrote the entry: restore it for the next probe
        return not solve.calls

    assert reused(time_limit=5.0) and reused(time_limit=1.0)
    assert reused(time_limit=60.0) == (status == "OPTIMAL")
    assert reused(time_limit=5.0, seed=7) == (status == "OPTIMAL")
    assert reused(time_limit=5.0, workers=2) == (status == "OPTIMAL")
    assert not reused(time_limit=5.0, top_k=3)  # fewer mappings stored than asked for
    # stopped by its time limit, not its work limit: a larger work limit would not help
    assert reused(time_limit=5.0, work_limit=100.0)


@pytest.mark.parametrize("status", ["OPTIMAL", "FEASIBLE"])
def test_cache_reuse_of_a_work_limited_answer(tmp_path, status):
    """An answer the work limit stopped (reproducible) is reused for any longer wall-clock
    limit, but not for a larger work limit or another seed."""
    plan = replace(_plan(tmp_path, layers=["conv1"]), workers=1, time_limit=5.0, work_limit=0.5)
    cache = Cache(tmp_path / "cache")
    run_batch(plan, cache=cache, solve=CountingSolve(status=status, stop="work_limit"))
    (path,) = (tmp_path / "cache").rglob("*.json")
    entry = json.loads(path.read_text())
    assert entry["stopped_by"] == ("work_limit" if status == "FEASIBLE" else "optimal")

    def reused(**changes) -> bool:
        solve = CountingSolve(status=status, stop="work_limit")
        run_batch(replace(plan, **changes), cache=cache, solve=solve)
        return not solve.calls

    assert reused() and reused(time_limit=60.0) and reused(work_limit=0.25)
    assert reused(work_limit=1.0) == (status == "OPTIMAL")
    assert reused(seed=3) == (status == "OPTIMAL")


def test_search_cut_short_is_cached_for_its_real_time(tmp_path):
    """An unproven answer that took 0.5 s of a 5 s limit (its search was stopped) is not
    reused for a 5 s request, only for requests of at most 0.5 s."""
    plan = replace(_plan(tmp_path, layers=["conv1"]), workers=1, time_limit=5.0)
    cache = Cache(tmp_path / "cache")

    def cut_short(problem, arch, options):
        return replace(solver.solve_layer(problem, arch, options), status="FEASIBLE", solve_seconds=0.5)

    run_batch(plan, cache=cache, solve=cut_short)
    (path,) = (tmp_path / "cache").rglob("*.json")
    assert json.loads(path.read_text())["time_limit"] == 0.5
    assert run_batch(plan, cache=cache, solve=CountingSolve()).cache_hits == 0
    (path,) = (tmp_path / "cache").rglob("*.json")
    assert json.loads(path.read_text())["time_limit"] == 5.0  # the full solve replaced it


def test_answer_stopped_by_the_wall_clock_stands_for_its_limit(tmp_path):
    """A FEASIBLE answer that the 5 s wall limit stopped at 4.9 s (limits are honoured
    within 10%) is reused for another 5 s request (a re-run could only repeat the same
    search on a different clock) but not for 6 s."""
    plan = replace(_plan(tmp_path, layers=["conv1"]), workers=1, time_limit=5.0)
    cache = Cache(tmp_path / "cache")

    def stopped(problem, arch, options):
        return replace(solver.solve_layer(problem, arch, options), status="FEASIBLE", solve_seconds=4.9,
                       stopped_by="time_limit")

    run_batch(plan, cache=cache, solve=stopped)
    (path,) = (tmp_path / "cache").rglob("*.json")
    assert json.loads(path.read_text())["time_limit"] == 5.0
    assert run_batch(plan, cache=cache, solve=CountingSolve()).cache_hits == 1
    assert run_batch(replace(plan, time_limit=6.0), cache=cache, solve=CountingSolve()).cache_hits == 0


def test_cache_key_changes_with_what_matters(tmp_path):
    plan = _plan(tmp_path)
    arch, layer = plan.arch, plan.layers[1]
    opts = plan.options(1)
    key = problem_key(layer.problem, arch, opts)
    assert len(key) == 64 and key == problem_key(layer.problem, arch, opts)
    # not the layer name, the arch name, the time limit, seed, workers or top-k
    assert problem_key(replace(layer.problem, name="other"), replace(arch, name="x"),
                       replace(opts, time_limit=1, seed=3, workers=4, top_k=2)) == key
    # the architecture's numbers, the objective, the encoding, the constraints
    cheaper = copy.deepcopy(TINY_ARCH)
    cheaper["architecture"]["levels"][2]["read_energy_pj"] = 100
    assert problem_key(layer.problem, arch_from_obj(cheaper), opts) != key
    assert problem_key(layer.problem, arch, replace(opts, objective="delay")) != key
    assert problem_key(layer.problem, arch, replace(opts, encoding="pwl")) != key
    constrained = replace(plan, constraints=load_solve_spec(str(tiny_spec(
        tmp_path, name="c.yaml", constraints={"keeps": {"RF": ["W"]}}))).constraints)
    assert problem_key(layer.problem, arch, constrained.options(1)) != key
    # 1 and 1.0 are the same energy
    same = copy.deepcopy(TINY_ARCH)
    same["architecture"]["levels"][0]["read_energy_pj"] = 1.0
    assert problem_key(layer.problem, arch_from_obj(same), opts) == key


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("CPMAP_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("CPMAP_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "cpmap"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "cpmap"


def test_atomic_write(tmp_path, monkeypatch):
    path = tmp_path / "d" / "entry.json"
    atomic_write_text(path, "old")
    assert path.read_text() == "old"

    def crash(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        atomic_write_text(path, "new")
    assert path.read_text() == "old"  # the old file is intact ...
    assert [p.name for p in path.parent.iterdir()] == ["entry.json"]  # ... and no temporary file is left


def test_unwritable_cache_is_a_warning(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run_batch(_plan(tmp_path, layers=["fc1", "conv1"]), cache=Cache(blocker / "cache"),
                       solve=CountingSolve())
    assert all(o.has_mapping for o in result.outcomes)
    err = capsys.readouterr().err
    assert err.count("cannot write the cache") == 1


def test_resume_after_interruption(tmp_path):
    plan = _plan(tmp_path)
    cache = Cache(tmp_path / "cache")
    result = run_batch(plan, cache=cache, solve=CountingSolve(interrupt_at=3))  # Ctrl-C during pool1
    assert result.interrupted
    assert [o.status for o in result.outcomes] == ["OPTIMAL", "OPTIMAL", "OPTIMAL", "NOT_RUN", "NOT_RUN"]
    assert len(result.failed) == 2
    rest = CountingSolve()
    resumed = run_batch(plan, cache=cache, solve=rest)
    assert rest.calls == ["pool1", "add1"] and not resumed.interrupted
    assert [o.cached for o in resumed.outcomes] == [True, True, True, False, False]


def test_pool_matches_inline(tmp_path):
    """Two worker processes give the same optimal energies as solving in this process."""
    plan = _plan(tmp_path, layers=["fc1", "conv1", "fc2", "pool1"])
    pooled = run_batch(plan, jobs=2)
    assert (pooled.jobs, pooled.workers) == (2, max(1, available_cores() // 2))
    assert all(o.status == "OPTIMAL" for o in pooled.outcomes)
    assert _energies(pooled) == _energies(run_batch(plan, solve=solver.solve_layer))


def test_progress_line():
    stream = io.StringIO()
    p = Progress(5, enabled=True, stream=stream)
    p.plan(solves=4, jobs=2, time_limit=10)
    assert "0/5 layers" in p.line() and "ETA ~0:20" in p.line()
    sol = solver.LayerSolution("a", "FEASIBLE", None, None, 4.0)
    p.finished(2, sol, solved_now=True)
    assert "2/5 layers" in p.line() and "ETA ~0:08" in p.line() and "2 without mapping" in p.line()
    p.close()
    assert stream.getvalue().startswith("\r") and stream.getvalue().endswith("\r\x1b[K")
    quiet = io.StringIO()
    Progress(3, enabled=False, stream=quiet).plan(1, 1, 1)
    assert quiet.getvalue() == ""


def test_ctrl_c_exits_130_and_rerun_continues(tmp_path):
    """A real SIGINT to the process group (what a terminal's Ctrl-C sends): the finished
    layer is cached, the one in flight stops early and is reported, exit 130, no
    traceback; the re-run takes the finished layer from the cache."""
    # the tiny layers finish too fast to interrupt: AlexNet's fc3 (proved optimal in about a
    # second), then AlexNet's conv2 at batch 16, which one worker proves in about 9 s on the
    # idle 2-core machine (first mapping about 0.2 s after it starts); it is interrupted
    # after 3 CPU seconds of the run (wall seconds depend on the load: 2 s once came before
    # its first mapping in a full CI run, the machine busy)
    workload = tmp_path / "w.yaml"
    workload.write_text("workload:\n  name: w\n  layers:\n    - {name: fc3, type: fc, K: 1000, C: 4096}\n"
                        "    - {name: conv2, type: conv, N: 16, K: 256, C: 96, P: 27, Q: 27, R: 5, S: 5, groups: 2}\n")
    spec = tmp_path / "slow.yaml"
    spec.write_text(f"solve:\n  arch: {ROOT / 'specs/eyeriss.yaml'}\n  workload: {workload}\n  time_limit: 30\n")
    env = {**os.environ, "CPMAP_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "cpmap", "solve", str(spec), "--json", "-q", "--jobs", "1", "--workers", "1",
           "--out", str(tmp_path / "o")]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=foreground_sigint)
    cache_dir = tmp_path / "cache"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not list(cache_dir.rglob("*.json")) and proc.poll() is None:
        time.sleep(0.1)  # wait until fc3 is solved and cached: conv2 is then in flight
    wait_cpu(proc, 3.0)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert "Traceback" not in err, err
    assert proc.returncode == 130, (proc.returncode, err)
    assert "interrupted" in err and "re-run the same command to continue" in err
    data = json.loads(out)
    assert data["total"]["interrupted"] is True
    fc3, conv2 = data["layers"]
    assert fc3["status"] == "OPTIMAL" and not fc3["interrupted"]
    # the solve in flight stopped early and reported its best mapping so far, not cached
    assert conv2["interrupted"] and conv2["status"] == "FEASIBLE" and conv2["mapping"] is not None
    proc = subprocess.run([*cmd[:-2], "--out", str(tmp_path / "o2"), "--work-limit", "0.5"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    fc3 = json.loads(proc.stdout)["layers"][0]
    assert fc3["cached"] is True and fc3["status"] == "OPTIMAL"
