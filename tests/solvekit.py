"""Tiny architecture, workload and solve spec for the `cpmap solve` and batch tests:
every layer solves to proven optimality in well under a second; and a solve whose every
solution is checked against the evaluator."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from ortools.sat.python import cp_model
from pytest import approx

from cpmap.cli import main
from cpmap.core.mapping import Mapping
from cpmap.cost.evaluator import Evaluator, Result
from cpmap.solve.layer import mapping_from_solution

ROOT = Path(__file__).resolve().parent.parent
TINY_ARCH = {"architecture": {"name": "tiny", "word_bits": 16, "mac_energy_pj": 1.0, "levels": [
    {"name": "RF", "capacity": 12, "keeps": ["W", "I", "O"], "read_energy_pj": 1, "write_energy_pj": 1},
    {"name": "GB", "capacity": 96, "keeps": ["I", "O"], "read_energy_pj": 6, "write_energy_pj": 6,
     "fanout": {"name": "PE", "axes": {"X": 2}, "energy_pj_per_word": 2}},
    {"name": "DRAM", "keeps": ["W", "I", "O"], "read_energy_pj": 200, "write_energy_pj": 200},
]}}

# fc1 and fc2 are the same problem (dedupe); pool1 and add1 have no weights
TINY_WORKLOAD = {"workload": {"name": "tinynet", "batch": 2, "inputs": ["x"], "layers": [
    {"name": "fc1", "type": "fc", "K": 4, "C": 2},
    {"name": "conv1", "type": "conv", "K": 2, "C": 2, "P": 3, "Q": 1, "R": 2},
    {"name": "fc2", "type": "fc", "K": 4, "C": 2},
    {"name": "pool1", "type": "pool", "C": 2, "P": 2, "Q": 1, "R": 2, "S": 1},
    {"name": "add1", "type": "eltwise", "C": 2, "P": 2, "inputs": ["pool1", "x"]},
]}}


def write(path: Path, obj) -> Path:
    path.write_text(obj if isinstance(obj, str) else yaml.safe_dump(obj, sort_keys=False))
    return path


def tiny_spec(tmp_path: Path, arch=None, workload=None, name: str = "run.yaml", **solve) -> Path:
    """Write arch.yaml, wl.yaml and a solve spec (fields ``solve``) into tmp_path; the
    report goes to tmp_path/out unless ``output`` is given."""
    write(tmp_path / "arch.yaml", arch or TINY_ARCH)
    write(tmp_path / "wl.yaml", workload or TINY_WORKLOAD)
    body = {"arch": "arch.yaml", "workload": "wl.yaml", "time_limit": 10, "output": "out", **solve}
    return write(tmp_path / name, {"solve": body})


def owed_status(sol, problem, arch, capped: bool = False) -> bool:
    """Whether ``sol`` (which found the true optimum) has the status the solver owes it:
    OPTIMAL; or, where the loop-order classes are not proved complete
    (:func:`cpmap.solve.order.classes_unproved`), OPTIMAL only if the mapping meets the
    compulsory floor, else FEASIBLE saying why."""
    from cpmap.solve.order import classes_unproved

    if not classes_unproved(problem, arch, sol.objective, capped):
        return sol.status == "OPTIMAL"
    if sol.gap is not None and sol.gap <= 1e-3:
        return sol.status == "OPTIMAL"
    return sol.status == "FEASIBLE" and "loop-order classes" in sol.reason


def exact_bound(sol, truth) -> bool:
    """An OPTIMAL solve's bound is the optimum; any other's is at most it."""
    return sol.lower_bound == truth if sol.status == "OPTIMAL" else sol.lower_bound <= truth * (1 + 1e-12)


@dataclass(frozen=True)
class Found:
    """One solution CP-SAT reported: its objective as CP-SAT has it (unscaled), the values
    of the expressions asked for, the mapping read back and the evaluator's Result of it."""

    objective: float
    values: tuple
    mapping: Mapping
    result: Result


def solve_and_evaluate(lm, problem, arch, *, read=(), work: float | None = None, seed: int | None = None,
                       every: bool = False) -> tuple[int, list[Found]]:
    """Solve ``lm`` (a :func:`build_model` result) on one worker and evaluate every solution
    it reports: (CP-SAT status, [Found]).  ``work``: deterministic-time limit (seconds, the
    same on any machine); ``seed``: CP-SAT's random seed; ``every``: enumerate all solutions."""
    ev = Evaluator(problem, arch)
    found: list[Found] = []

    class Collect(cp_model.CpSolverSolutionCallback):
        def on_solution_callback(self):
            mapping = mapping_from_solution(lm, problem, arch, self.value)
            found.append(Found(self.objective_value, tuple(self.value(e) for e in read), mapping,
                               ev.evaluate(mapping)))

    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.enumerate_all_solutions = every
    if work is not None:
        solver.parameters.max_deterministic_time = work
    if seed is not None:
        solver.parameters.random_seed = seed
    return solver.solve(lm.model, Collect()), found


def model_pj(lm, energy: float) -> float:
    """The model's energy in pJ from its scaled integer energy (objective or ``lm.energy``)."""
    return energy / lm.scale + lm.constant_pj


def run_cli(*args, process: bool = False) -> subprocess.CompletedProcess:
    """``cpmap ARGS`` (each made a string): in this process, stdout and stderr captured (an
    exception fails the test, as a traceback would), or with ``process=True`` as ``python -m
    cpmap`` for the tests of exit codes and stderr across the process boundary (a child
    process costs about half a second of CPU in imports)."""
    argv = [str(a) for a in args]
    if process:
        proc = subprocess.run([sys.executable, "-m", "cpmap", *argv], check=False, capture_output=True, text=True,
                              cwd=ROOT, timeout=240)
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return subprocess.CompletedProcess(["cpmap", *argv], code, out.getvalue(), err.getvalue())


def foreground_sigint() -> None:
    """``preexec_fn`` of a child a test sends Ctrl-C to: SIGINT back to its default, as for a
    terminal's foreground job.  A shell starts background jobs (a CI runner's ``cmd &``,
    ``nohup``) with SIGINT ignored, every child inherits that, and Python then keeps
    ignoring it: the child would never see the test's Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def group_cpu_seconds(pgid: int) -> float:
    """CPU seconds (user + system) spent so far by the live processes of process group
    ``pgid`` (a child started with ``start_new_session`` and its pool workers), from
    /proc/PID/stat."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        if int(fields[2]) == pgid:  # after the name: state, ppid, pgrp, ... utime (11), stime (12)
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_cpu(proc: subprocess.Popen, seconds: float, timeout: float = 300) -> None:
    """Wait until ``proc``'s process group has spent ``seconds`` more CPU seconds than now
    (or it ended): on a loaded machine a solve gets through the same work in more wall
    seconds, so a test that must interrupt a solve after its first mapping and before its
    proof counts CPU seconds, not wall seconds."""
    start = group_cpu_seconds(proc.pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None and group_cpu_seconds(proc.pid) - start < seconds:
        time.sleep(0.05)


def solver_meets_enumeration(problem, arch, mappings) -> bool:
    """Solve ``problem`` (one worker) and assert against the least evaluator energy over
    ``mappings`` (every mapping of its space): the bound never above it, the value equal to
    it, the status the one owed (:func:`owed_status`).  False, without solving, when no
    mapping is valid."""
    from cpmap.core.options import SolveOptions
    from cpmap.solve.layer import solve_layer

    ev = Evaluator(problem, arch)
    results = [r for r in (ev.evaluate(m) for m in mappings) if r.valid]
    if not results:
        return False
    truth = min(r.energy_pj for r in results)
    sol = solve_layer(problem, arch, SolveOptions(time_limit=60, workers=1))
    assert sol.lower_bound <= truth * (1 + 1e-12), (arch, problem)
    assert owed_status(sol, problem, arch) and sol.value == approx(truth, rel=1e-12), (arch, problem)
    return True


@contextlib.contextmanager
def switched(module, enabled: bool):
    """``module.ENABLED`` set to ``enabled`` inside the block, and back to what it was after
    (not to a fixed value: a switch left changed would leak into later tests of the
    same pytest worker)."""
    before = module.ENABLED
    module.ENABLED = enabled
    try:
        yield
    finally:
        module.ENABLED = before


def pinned_optimum(lm, mapping, pin):
    """The model's optimum (rounded objective) with ``mapping``'s factors and bypass fixed by
    ``pin`` (its loop order left free); the status name when not OPTIMAL; None when the
    model cannot express the mapping."""
    if not pin(lm, mapping):
        return None
    s = cp_model.CpSolver()
    s.parameters.num_workers = 1
    st = s.solve(lm.model)
    return round(s.objective_value) if st == cp_model.OPTIMAL else s.status_name(st)
