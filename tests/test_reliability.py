"""Concurrency, interruption, full disks and determinism, with real `cpmap` processes
and real signals (issue 15, items 4 and 5; docs/batch.md, "Reliability").

After any of these the cache holds only complete entries that load and re-evaluate
(:meth:`Cache.load`), a re-run solves nothing that had finished, and no report file is
half-written."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from solvekit import TINY_ARCH, write

from cpmap.network.cache import Cache, problem_key
from cpmap.spec.solve import load_solve_spec

ROOT = Path(__file__).resolve().parent.parent
TIMINGS = {"solve_seconds", "wall_seconds"}
"""The only fields of result.json that may differ between identical runs."""


def fc_layers(sizes: list[tuple[int, int]], prefix: str = "fc") -> list[dict]:
    return [{"name": f"{prefix}{k}x{c}", "type": "fc", "K": k, "C": c} for k, c in sizes]


def network(tmp_path: Path, name: str, layers: list[dict], **solve) -> Path:
    """A solve spec for ``layers`` on the tiny architecture (each proves optimal in a
    fraction of a second); the report goes to ``<name>-out``.  The work limit (CP-SAT
    deterministic time) is what would stop a search, not the far larger wall-clock
    limit, so that answers do not depend on the machine's load."""
    write(tmp_path / "arch.yaml", TINY_ARCH)
    write(tmp_path / f"{name}-wl.yaml", {"workload": {"name": name, "batch": 1, "inputs": ["x"], "layers": layers}})
    body = {"arch": "arch.yaml", "workload": f"{name}-wl.yaml", "time_limit": 120, "work_limit": 10, "workers": 1,
            "output": f"{name}-out", **solve}
    return write(tmp_path / f"{name}.yaml", {"solve": body})


def cpmap_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "cpmap", *args]


def env_with(cache: Path, **extra: str) -> dict:
    return {**os.environ, "CPMAP_CACHE": str(cache), **extra}


def run_cpmap(*args: str, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(cpmap_cmd(*args), cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def entries(cache: Path) -> list[Path]:
    """The cache's entry files (temporary files of writes in progress start with '.')."""
    return sorted(p for p in cache.rglob("*.json") if not p.name.startswith("."))


def assert_cache_verified(cache: Path, specs: list[Path]) -> int:
    """Every entry parses and is the verified answer of a layer of one of ``specs``
    (Cache.load re-evaluates the stored mappings and returns None for anything
    inconsistent).  Returns the number of entries."""
    store = Cache(cache)
    found = {p.stem: p for p in entries(cache)}
    for spec in specs:
        plan = load_solve_spec(str(spec))
        options = plan.options(1)
        for lay in plan.layers:
            key = problem_key(lay.problem, plan.arch, options)
            if key in found:
                json.loads(found[key].read_text())  # complete JSON
                assert store.load(key, lay.problem, plan.arch, options) is not None, found[key]
                found.pop(key)
    assert not found, f"entries of no layer: {sorted(found)}"
    return len(entries(cache))


def assert_report_complete(out: Path) -> None:
    """Every report file that exists is whole: JSON and YAML parse, the CSV has a row per
    layer of result.json (when both exist), and no empty files."""
    if not out.exists():
        return
    for path in out.rglob("*"):
        if path.is_dir() or path.name.startswith("."):
            continue
        assert path.stat().st_size > 0, path
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".yaml":
            assert yaml.safe_load(path.read_text())["mapping"]
        elif path.suffix == ".png":
            data = path.read_bytes()
            assert data.startswith(b"\x89PNG") and data.endswith(b"IEND\xaeB`\x82"), path
        elif path.suffix == ".md":
            assert path.read_text().endswith("\n"), path
    if (out / "layers.csv").exists() and (out / "result.json").exists():
        rows = list(csv.DictReader((out / "layers.csv").open()))
        assert len(rows) >= 1
        assert all(r["status"] for r in rows)


# --------------------------------------------------------------------------- concurrency


def test_two_processes_share_one_cache(tmp_path):
    """Two `cpmap solve` at once on networks sharing three problems: both succeed, the
    cache holds exactly the union of their problems, each entry verified, and re-runs of
    both solve nothing."""
    shared = [(4, 2), (6, 2), (8, 2)]
    a = network(tmp_path, "a", fc_layers(shared + [(3, 2), (5, 2)]))
    b = network(tmp_path, "b", fc_layers(shared + [(7, 2), (9, 2)], prefix="dense"))  # other names, same problems
    cache = tmp_path / "cache"
    env = env_with(cache)
    procs = [subprocess.Popen(cpmap_cmd("solve", str(s), "-q", "--jobs", "2"), cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for s in (a, b)]
    errs = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    assert all("Traceback" not in e and "warning" not in e for e in errs), errs
    assert assert_cache_verified(cache, [a, b]) == 7  # 3 shared + 2 + 2
    assert not [p for p in cache.rglob("*") if p.name.startswith(".")], "temporary files left behind"
    for spec, name in ((a, "a"), (b, "b")):
        assert run_cpmap("solve", str(spec), "-q", env=env).returncode == 0
        total = json.loads((tmp_path / f"{name}-out" / "result.json").read_text())["total"]
        assert (total["solved"], total["cached"]) == (0, 5)


# --------------------------------------------------------------------------- SIGKILL


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 120) -> bool:
    """SIGKILL the process group of ``proc`` as soon as ``ready()``; False if it ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if ready():
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            return True
        time.sleep(0.005)
    return False


def test_sigkill_mid_run_keeps_finished_layers(tmp_path):
    """SIGKILL (no handler runs) while layers are being solved and cached: the entries
    written are complete and verified, and the re-run solves only the rest."""
    spec = network(tmp_path, "net", fc_layers([(k, 2) for k in range(3, 15)]))
    cache = tmp_path / "cache"
    proc = subprocess.Popen(cpmap_cmd("solve", str(spec), "-q", "--jobs", "1"), cwd=ROOT, env=env_with(cache),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    assert _kill_when(proc, lambda: len(entries(cache)) >= 3), "the run ended before it could be killed"
    finished = assert_cache_verified(cache, [spec])
    assert 3 <= finished < 12
    assert not (tmp_path / "net-out" / "result.json").exists()
    rerun = run_cpmap("solve", str(spec), "-q", "--jobs", "1", env=env_with(cache))
    assert rerun.returncode == 0, rerun.stderr
    total = json.loads((tmp_path / "net-out" / "result.json").read_text())["total"]
    assert total["cached"] >= finished and total["solved"] == 12 - total["cached"]
    assert assert_cache_verified(cache, [spec]) == 12


@pytest.mark.parametrize("delay", [0.0, 0.1])
def test_sigkill_while_writing_the_report(tmp_path, delay):
    """SIGKILL at several moments after the report directory appears (every layer comes
    from the cache, so the run is mostly report writing): every report file that exists
    is whole, and the next run writes the full report."""
    spec = network(tmp_path, "net", fc_layers([(k, 2) for k in range(3, 9)])
                   + fc_layers([(k, 2) for k in range(3, 9)], prefix="copy"))
    cache = tmp_path / "cache"
    assert run_cpmap("solve", str(spec), "-q", "--out", str(tmp_path / "warm"), env=env_with(cache)).returncode == 0
    out = tmp_path / "net-out"
    proc = subprocess.Popen(cpmap_cmd("solve", str(spec), "-q"), cwd=ROOT, env=env_with(cache),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    appeared: list[float] = []

    def ready() -> bool:
        if not appeared and out.exists():
            appeared.append(time.monotonic())
        return bool(appeared) and time.monotonic() - appeared[0] >= delay

    killed = _kill_when(proc, ready)
    assert_report_complete(out)
    assert killed or (out / "summary.md").exists()
    assert run_cpmap("solve", str(spec), "-q", env=env_with(cache)).returncode == 0
    assert_report_complete(out)
    data = json.loads((out / "result.json").read_text())
    assert len(data["layers"]) == 12 and len(list((out / "mappings").glob("*.yaml"))) == 12
    assert not [p for p in out.rglob(".*")], "temporary files left behind"


# --------------------------------------------------------------------------- full disk


@contextlib.contextmanager
def small_tmpfs(path: Path, size_kib: int):
    """A tmpfs of ``size_kib`` mounted at ``path`` (root only); skips the test where
    mounting is not allowed."""
    path.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(path)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip() or proc.returncode})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(disk: Path, leave_bytes: int) -> None:
    """Fill ``disk`` up to ``leave_bytes`` of free space."""
    st = os.statvfs(disk)
    free = st.f_bavail * st.f_frsize
    with (disk / "filler").open("wb") as fh, contextlib.suppress(OSError):
        fh.write(b"\0" * max(0, free - leave_bytes))


def test_full_disk_during_cache_writes(tmp_path):
    """The cache on a tmpfs with room for a few entries: the solve still succeeds and
    reports every layer, warns once, leaves only complete entries and no temporary
    files; once there is room again the re-run solves only what was not stored."""
    spec = network(tmp_path, "net", fc_layers([(k, 2) for k in range(3, 11)]))
    with small_tmpfs(tmp_path / "disk", 256) as disk:
        cache = disk / "cache"
        _fill(disk, 3 * 4096)  # tmpfs allocates in pages: about three entries fit
        proc = run_cpmap("solve", str(spec), "-q", "--jobs", "1", env=env_with(cache))
        assert proc.returncode == 0, proc.stderr
        warnings = [ln for ln in proc.stderr.splitlines() if "cannot write the cache" in ln]
        assert len(warnings) == 1 and "No space left on device" in warnings[0], proc.stderr
        total = json.loads((tmp_path / "net-out" / "result.json").read_text())["total"]
        assert total["with_mapping"] == 8
        stored = assert_cache_verified(cache, [spec]) if cache.exists() else 0
        assert stored < 8
        assert not [p for p in disk.rglob(".*")], "temporary files left behind"
        (disk / "filler").unlink()
        proc = run_cpmap("solve", str(spec), "-q", "--jobs", "1", env=env_with(cache))
        assert proc.returncode == 0 and "cannot write" not in proc.stderr, proc.stderr
        total = json.loads((tmp_path / "net-out" / "result.json").read_text())["total"]
        assert (total["cached"], total["solved"]) == (stored, 8 - stored)
        assert assert_cache_verified(cache, [spec]) == 8


def test_full_disk_for_the_report(tmp_path):
    """The report directory on a full disk: exit 2 with one line naming the directory
    and the reason, and no half-written report file."""
    spec = network(tmp_path, "net", fc_layers([(4, 2), (6, 2)]))
    with small_tmpfs(tmp_path / "disk", 64) as disk:
        _fill(disk, 0)
        out = disk / "report"
        proc = run_cpmap("solve", str(spec), "-q", "--out", str(out), env=env_with(tmp_path / "cache"))
        assert proc.returncode == 2
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("cpmap: error:")]
        assert errors == [f"cpmap: error: {out}: cannot write the report directory: No space left on device"]
        assert_report_complete(out)
        assert not [p for p in disk.rglob(".*")], "temporary files left behind"


# --------------------------------------------------------------------------- determinism


def _without_timings(obj):
    if isinstance(obj, dict):
        return {k: _without_timings(v) for k, v in obj.items() if k not in TIMINGS}
    if isinstance(obj, list):
        return [_without_timings(v) for v in obj]
    return obj


def _det_spec(tmp_path: Path, workers: int) -> Path:
    layers = [{"name": "fc1", "type": "fc", "K": 4, "C": 2},
              {"name": "conv1", "type": "conv", "K": 2, "C": 2, "P": 3, "Q": 1, "R": 2},
              {"name": "pool1", "type": "pool", "C": 2, "P": 2, "Q": 1, "R": 2, "S": 1},
              {"name": "add1", "type": "eltwise", "C": 2, "P": 2, "inputs": ["pool1", "x"]},
              {"name": "fc2", "type": "fc", "K": 4, "C": 2}]
    return network(tmp_path, "det", layers, workers=workers, seed=7, top_k=2)


def _solve_json(tmp_path: Path, spec: Path, hash_seed: str) -> dict:
    proc = run_cpmap("solve", str(spec), "-q", "--no-cache", "--json", "--jobs", "2",
                     env=env_with(tmp_path / "cache", PYTHONHASHSEED=hash_seed))
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "det-out" / "result.json").read_text())
    assert _without_timings(json.loads(proc.stdout)) == _without_timings(report)
    return _without_timings(report)


def test_solve_is_deterministic_across_processes_and_hash_seeds(tmp_path):
    """Same spec and seed (one CP-SAT worker per solve), fresh processes with different
    PYTHONHASHSEED, no cache: result.json is byte-identical once the timing fields are
    removed.  (It was not: the evaluator listed each level's tiles in frozenset order.)"""
    spec = _det_spec(tmp_path, workers=1)
    texts = [json.dumps(_solve_json(tmp_path, spec, h), indent=1) for h in ("0", "1", "4242")]
    assert texts[0] == texts[1] == texts[2]
    assert json.loads(texts[0])["total"]["statuses"] == {"OPTIMAL": 5}


MAPPING_FIELDS = {"mapping", "result", "top", "energy_by_level", "network_energy_pj", "utilization"}


def test_parallel_workers_agree_on_every_number_but_tied_mappings(tmp_path):
    """With two CP-SAT workers per solve (interleaved search) this OR-Tools can return a
    different one of several tied optimal mappings from run to run (google/or-tools#4458):
    statuses, objective values, energies, cycles, bounds and gaps still agree exactly."""
    spec = _det_spec(tmp_path, workers=2)

    def numbers(data: dict) -> dict:
        layers = [{k: v for k, v in lay.items() if k not in MAPPING_FIELDS} for lay in data["layers"]]
        total = {k: v for k, v in data["total"].items() if k not in MAPPING_FIELDS}
        return {"layers": layers, "total": total}

    runs = [numbers(_solve_json(tmp_path, spec, h)) for h in ("0", "77")]
    assert runs[0] == runs[1]
    assert runs[0]["total"]["statuses"] == {"OPTIMAL": 5}


COMPARE_TIMINGS = {"seconds", "wall_seconds"}
"""compare.json's timing fields; ``history`` holds (seconds, best cost) pairs: the costs stay."""


def _compare_without_timings(obj):
    if isinstance(obj, dict):
        return {k: [h[1:] for h in v] if k == "history" else _compare_without_timings(v)
                for k, v in obj.items() if k not in COMPARE_TIMINGS}
    if isinstance(obj, list):
        return [_compare_without_timings(v) for v in obj]
    return obj


def test_compare_is_deterministic_across_processes_and_hash_seeds(tmp_path):
    """`cpmap compare` with counted budgets (samples, generations, steps: not wall time)
    gives the same compare.json, timings aside, under different PYTHONHASHSEED."""
    spec = network(tmp_path, "cmp", [{"name": "conv1", "type": "conv", "K": 2, "C": 2, "P": 3, "Q": 1, "R": 2},
                                     {"name": "fc1", "type": "fc", "K": 4, "C": 2}], seed=3)
    texts = []
    for hash_seed in ("0", "99"):
        out = tmp_path / f"cmp-{hash_seed}"
        proc = run_cpmap("compare", str(spec), "-q", "--methods", "cpsat,random,ga,anneal,exhaustive",
                         "--budget", "60", "--samples", "300", "--generations", "4", "--population", "12",
                         "--steps", "300", "--workers", "1", "--out", str(out),
                         env=env_with(tmp_path / "cache", PYTHONHASHSEED=hash_seed))
        assert proc.returncode == 0, proc.stderr
        texts.append(json.dumps(_compare_without_timings(json.loads((out / "compare.json").read_text())), indent=1))
    assert texts[0] == texts[1]


def test_written_files_get_the_usual_mode(tmp_path):
    """Atomic writes go through mkstemp, whose files are 0600: a cache shared by a team, or
    a report, must be readable like any file the user's umask allows."""
    from cpmap.core.output import atomic_write_text

    path = tmp_path / "x.json"
    atomic_write_text(path, "{}\n")
    old = os.umask(0o022)
    os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o666 & ~old
