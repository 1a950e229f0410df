"""Solve the layers of a network: dedupe, on-disk cache, parallel jobs, progress, Ctrl-C.

:func:`run_batch` takes a :class:`~cpmap.solvespec.SolvePlan` and returns one
:class:`LayerOutcome` per selected layer (docs/batch.md):

* **Dedupe.**  Layers whose problems are identical (same kind, dims, sizes, tensors and
  parameters -- the name does not count) under the same architecture, objective, encoding
  and constraints share one solve; the copies point at the first (``same_as``).
* **Cache.**  One JSON file per unique problem under :func:`default_cache_dir`, named by
  the sha256 of a canonical JSON of everything that determines the answer's meaning
  (:func:`problem_key`).  Entries hold the mappings, status, bound and seconds; on load
  the mappings are re-evaluated by the evaluator (stored costs are never trusted) and an
  entry is reused only when it answers the request (:meth:`Cache.load`).  Writes are
  atomic (temporary file + ``os.replace``).
* **Parallel.**  Unique problems are solved by a pool of ``jobs`` worker processes, each
  with the full per-layer time limit; CP-SAT gets ``max(1, cores // jobs)`` workers per
  solve unless the spec fixes ``workers``.
* **Ctrl-C.**  Finished problems are cached as they finish.  On Ctrl-C the solves in
  flight stop (CP-SAT catches the signal and returns its best so far), their best
  mappings are reported but not cached unless proven, and :class:`BatchResult` says it was
  interrupted; a re-run picks up from the cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, fields, is_dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from . import __version__
from . import solver as solver_mod
from .arch import Arch
from .errors import CpmapError
from .evaluator import evaluate
from .problem import Problem
from .solver import Candidate, LayerSolution, SolveOptions, objective_value
from .solvespec import SolvePlan
from .spec import mapping_from_obj, mapping_to_obj
from .workload import Layer

__all__ = ["CACHE_ENV", "BatchResult", "Cache", "LayerOutcome", "Progress", "available_cores",
           "default_cache_dir", "problem_key", "run_batch"]

CACHE_ENV = "CPMAP_CACHE"
CACHE_FORMAT = 1
"""Bumped when the entry layout changes; part of the key and of the directory name."""
PROVEN = ("OPTIMAL", "INFEASIBLE")
"""Statuses that stay true whatever the time limit, seed or worker count."""
GRACE_SECONDS = 3.0
"""How long an interrupted run waits for the solves in flight to return their best so far."""

SolveFn = Callable[[Problem, Arch, SolveOptions], LayerSolution]


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def default_cache_dir() -> Path:
    """``$CPMAP_CACHE``, else ``$XDG_CACHE_HOME/cpmap``, else ``~/.cache/cpmap``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "cpmap"


# --------------------------------------------------------------------------- keys


def _canon(obj: Any) -> Any:
    """A JSON-able canonical form: dataclasses as dicts of their fields, sets sorted."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _canon(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, dict):
        items = sorted(((json.dumps(_canon(k), sort_keys=True), _canon(v)) for k, v in obj.items()))
        return [[k, v] for k, v in items]
    if isinstance(obj, (set, frozenset)):
        return sorted(_canon(x) for x in obj)
    if isinstance(obj, (list, tuple)):
        return [_canon(x) for x in obj]
    if isinstance(obj, float) and obj.is_integer():
        return int(obj)  # 1.0 and 1 are the same energy
    return obj


def problem_obj(problem: Problem) -> dict:
    """Everything that defines a layer problem except its name."""
    obj = _canon(problem)
    del obj["name"]
    return obj


def _arch_obj(arch: Arch) -> dict:
    obj = _canon(arch)
    del obj["name"]  # the name changes no count; level names do (mappings name levels)
    return obj


@lru_cache(maxsize=1)
def solver_fingerprint() -> str:
    """sha256 of the solver's source: a changed model may change statuses and bounds, so it
    invalidates cached answers (mappings are re-evaluated anyway)."""
    from . import cpsat

    h = hashlib.sha256()
    for mod in (cpsat, solver_mod):
        h.update(Path(mod.__file__).read_bytes())
    return h.hexdigest()[:16]


def key_material(problem: Problem, arch: Arch, options: SolveOptions) -> dict:
    """What a cached answer is keyed by.  Not in it: the layer name, and the time limit,
    seed, workers and top-k, which :meth:`Cache.load` compares instead (a proven answer is
    valid for any of them)."""
    return {
        "format": CACHE_FORMAT,
        "cpmap": __version__,
        "solver": solver_fingerprint(),
        "problem": problem_obj(problem),
        "arch": _arch_obj(arch),
        "objective": options.objective,
        "encoding": options.encoding,
        "constraints": _canon(options.constraints),
    }


def problem_key(problem: Problem, arch: Arch, options: SolveOptions) -> str:
    """sha256 (hex) of the canonical JSON of :func:`key_material`: equal keys are the same
    problem to solve (dedupe) and the same cache entry."""
    text = json.dumps(key_material(problem, arch, options), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------- cache


def _warn(message: str) -> None:
    print(f"cpmap: warning: {message}", file=sys.stderr)


class Cache:
    """Solved layer problems on disk, one JSON file per key (docs/batch.md)."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()
        self._write_failed = False

    def path(self, key: str) -> Path:
        return self.root / f"v{CACHE_FORMAT}" / key[:2] / f"{key}.json"

    def load(self, key: str, problem: Problem, arch: Arch, options: SolveOptions,
             name: str | None = None) -> LayerSolution | None:
        """The cached answer for ``key`` if it answers ``options``, re-evaluated; else None.

        Reused: OPTIMAL (with at least ``top_k`` mappings stored) and INFEASIBLE for any
        time limit, seed and worker count; FEASIBLE and UNKNOWN only for the same seed and
        workers and a time limit at least the requested one (a fresh solve could not do
        better).  Unreadable or inconsistent entries are ignored (and overwritten later)."""
        path = self.path(key)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            _warn(f"ignoring unreadable cache entry {path}: {e}")
            return None
        try:
            return self._answer(entry, key, problem, arch, options, name or problem.name)
        except (CpmapError, KeyError, TypeError, ValueError) as e:
            _warn(f"ignoring inconsistent cache entry {path}: {' '.join(str(e).split())}")
            return None

    @staticmethod
    def _answer(entry: dict, key: str, problem: Problem, arch: Arch, options: SolveOptions,
                name: str) -> LayerSolution | None:
        if entry.get("format") != CACHE_FORMAT or entry.get("key") != key:
            return None
        status = entry["status"]
        if status == "OPTIMAL":
            if entry["top_k"] < options.top_k:
                return None
        elif status != "INFEASIBLE":
            same_run = entry["seed"] == options.seed and entry["workers"] == options.workers
            if not same_run or entry["time_limit"] < options.time_limit or entry["top_k"] < options.top_k:
                return None
        candidates = []
        for obj in entry["mappings"][: options.top_k]:
            mapping = mapping_from_obj(obj, problem, arch, "<cache>")
            result = evaluate(problem, arch, mapping)
            if not result.valid:
                raise ValueError(f"stored mapping is invalid: {'; '.join(result.errors)}")
            candidates.append(Candidate(mapping, result))
        if (status in ("OPTIMAL", "FEASIBLE")) != bool(candidates):
            raise ValueError(f"status {status} with {len(candidates)} mappings")
        bound = entry["lower_bound"]
        if bound is not None and candidates:
            value = objective_value(candidates[0].result, options.objective)
            if bound > value * (1 + 1e-9) + 1e-6:
                raise ValueError(f"stored lower bound {bound} exceeds the re-evaluated value {value}")
        return LayerSolution(name, status, candidates[0] if candidates else None, bound,
                             float(entry["solve_seconds"]), options.objective, entry.get("reason", ""),
                             tuple(candidates))

    def store(self, key: str, options: SolveOptions, solution: LayerSolution) -> None:
        """Write the answer atomically (a temporary file in the same directory, then
        ``os.replace``); a failure to write is a warning, not an error.  An unproven
        answer records as its time limit the seconds it actually took, if fewer."""
        # the search time the answer stands for: a search that stopped early without a proof
        # (Ctrl-C reaching a worker whose parent ignores it) must not pass for a full one
        effort = options.time_limit
        if solution.status not in PROVEN:
            effort = min(effort, solution.solve_seconds)
        mappings = [mapping_to_obj(c.mapping) for c in (solution.alternatives or
                                                          ((solution.best,) if solution.best else ()))]
        entry = {
            "format": CACHE_FORMAT,
            "key": key,
            "cpmap": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "layer": solution.name,
            "status": solution.status,
            "reason": solution.reason,
            "objective": solution.objective,
            "lower_bound": solution.lower_bound,
            "solve_seconds": solution.solve_seconds,
            "time_limit": effort,
            "seed": options.seed,
            "workers": options.workers,
            "top_k": options.top_k,
            "mappings": mappings,
        }
        path = self.path(key)
        try:
            atomic_write_text(path, json.dumps(entry, indent=1) + "\n")
        except OSError as e:
            if not self._write_failed:
                _warn(f"cannot write the cache under {self.root} ({e.strerror or e}); results are not cached")
            self._write_failed = True


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# --------------------------------------------------------------------------- progress


def _clock(seconds: float) -> str:
    s = max(0, round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Progress:
    """A one-line progress bar on stderr: layers done / total, solves running, elapsed,
    ETA and the worst certified gap so far.  Draws nothing unless ``enabled`` (the CLI
    enables it when stderr is a terminal and --quiet is not given)."""

    def __init__(self, total_layers: int, enabled: bool = True, stream=None):
        self.total = total_layers
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.monotonic()
        self.done = 0
        self.running = 0
        self.remaining_solves = 0
        self.jobs = 1
        self.time_limit = 0.0
        self.solve_times: list[float] = []
        self.worst_gap: float | None = None
        self.failed = 0
        self._last = 0.0
        self._drawn = False

    def plan(self, solves: int, jobs: int, time_limit: float) -> None:
        self.remaining_solves, self.jobs, self.time_limit = solves, max(1, jobs), time_limit
        self.draw(force=True)

    def finished(self, layers: int, solution: LayerSolution | None, solved_now: bool) -> None:
        self.done += layers
        if solved_now:
            self.remaining_solves = max(0, self.remaining_solves - 1)
            if solution is not None:
                self.solve_times.append(solution.solve_seconds)
        if solution is None or solution.best is None:
            self.failed += layers
        elif solution.gap is not None:
            self.worst_gap = max(self.worst_gap or 0.0, solution.gap)
        self.draw(force=True)

    def eta(self) -> float:
        per = (sum(self.solve_times) / len(self.solve_times)) if self.solve_times else self.time_limit
        return math.ceil(self.remaining_solves / self.jobs) * per

    def line(self) -> str:
        width = 20
        filled = int(width * self.done / self.total) if self.total else width
        bar = "#" * filled + "-" * (width - filled)
        parts = [f"solve [{bar}] {self.done}/{self.total} layers"]
        if self.running:
            parts.append(f"{self.running} running")
        parts.append(f"{_clock(time.monotonic() - self.start)} elapsed")
        if self.remaining_solves:
            parts.append(f"ETA ~{_clock(self.eta())}")
        if self.worst_gap is not None:
            parts.append(f"worst gap {self.worst_gap:.2%}")
        if self.failed:
            parts.append(f"{self.failed} without mapping")
        return "  ".join(parts)

    def draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.5:
            return
        self._last = now
        cols = shutil.get_terminal_size((100, 20)).columns
        self.stream.write("\r" + self.line()[: max(10, cols - 1)] + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self.enabled and self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


# --------------------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class LayerOutcome:
    """The answer for one selected layer.  ``solution`` is None when the run was
    interrupted before the layer's problem was solved; ``same_as`` names the layer whose
    identical problem was solved for it; ``interrupted`` marks a best-so-far answer of a
    solve cut short by Ctrl-C (reported, not cached)."""

    layer: Layer
    solution: LayerSolution | None
    key: str
    cached: bool = False
    same_as: str | None = None
    interrupted: bool = False

    @property
    def status(self) -> str:
        return self.solution.status if self.solution is not None else "NOT_RUN"

    @property
    def has_mapping(self) -> bool:
        return self.solution is not None and self.solution.best is not None


@dataclass(frozen=True)
class BatchResult:
    plan: SolvePlan
    outcomes: tuple[LayerOutcome, ...]
    unique: int
    solved: int
    """Unique problems solved in this run (not from the cache)."""
    cache_hits: int
    jobs: int
    workers: int
    interrupted: bool
    wall_seconds: float
    cache_dir: str | None = None

    @property
    def failed(self) -> list[LayerOutcome]:
        """Layers without a mapping."""
        return [o for o in self.outcomes if not o.has_mapping]


@dataclass
class _Group:
    key: str
    problem: Problem
    options: SolveOptions
    layers: list[Layer] = field(default_factory=list)


def _error_solution(problem: Problem, options: SolveOptions, exc: BaseException) -> LayerSolution:
    reason = f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())}"
    return LayerSolution(problem.name, "ERROR", None, None, 0.0, options.objective, reason=reason)


# --------------------------------------------------------------------------- solving


def _worker_init() -> None:
    # Ctrl-C is for the parent; a solve in flight still stops early, because CP-SAT
    # installs its own SIGINT handler while it runs.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _solve_in_worker(problem: Problem, arch: Arch, options: SolveOptions) -> LayerSolution:
    try:
        return solver_mod.solve_layer(problem, arch, options)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # OR-Tools resets SIGINT to SIG_DFL after a solve


def _solve_inline(solve: SolveFn, problem: Problem, arch: Arch, options: SolveOptions) -> LayerSolution:
    """Solve in this process.  OR-Tools leaves SIGINT at the C default after a solve (a
    later Ctrl-C would kill the process without cleanup), so the handler is restored."""
    handler = signal.getsignal(signal.SIGINT)
    try:
        return solve(problem, arch, options)
    finally:
        if handler is not None:
            with contextlib.suppress(ValueError):  # not the main thread: nothing to restore
                signal.signal(signal.SIGINT, handler)


def _terminate(executor: ProcessPoolExecutor) -> None:
    terminate = getattr(executor, "terminate_workers", None)  # Python >= 3.14
    if terminate is not None:
        with contextlib.suppress(Exception):
            terminate()
    else:
        for proc in list((getattr(executor, "_processes", None) or {}).values()):
            with contextlib.suppress(Exception):
                if proc.is_alive():
                    proc.terminate()
    executor.shutdown(wait=True, cancel_futures=True)


def run_batch(plan: SolvePlan, *, jobs: int | None = None, cache: Cache | None = None,
              progress: Progress | None = None, solve: SolveFn | None = None,
              inline: bool | None = None) -> BatchResult:
    """Solve ``plan``'s layers (see the module docstring).

    ``jobs``: parallel solves (default: the number of cores).  ``cache``: None disables
    it.  ``solve``: the per-problem solver (default :func:`cpmap.solver.solve_layer`);
    giving one, or ``inline=True``, solves in this process one problem at a time (no
    pool), where Ctrl-C during a CP-SAT search only cuts that search short.  The default
    is a process pool even for one job: the parent never runs CP-SAT, so Ctrl-C reliably
    reaches it."""
    start = time.perf_counter()
    arch = plan.arch
    cores = available_cores()
    jobs = max(1, jobs or cores)
    if inline is None:
        inline = solve is not None
    solve = solve or solver_mod.solve_layer

    groups: dict[str, _Group] = {}
    layer_keys: list[str] = []
    for lay in plan.layers:
        probe = plan.options(lay.problem, 1)
        key = problem_key(lay.problem, arch, probe)
        if key not in groups:
            groups[key] = _Group(key, lay.problem, probe)
        groups[key].layers.append(lay)
        layer_keys.append(key)
    # workers from the number of unique problems, not of uncached ones, so that a resumed
    # run solves with the same options as the interrupted one
    workers = plan.workers or max(1, cores // min(jobs, max(1, len(groups))))
    for g in groups.values():
        g.options = plan.options(g.problem, workers)

    progress = progress or Progress(len(plan.layers), enabled=False)
    answers: dict[str, tuple[LayerSolution | None, bool, bool]] = {}  # key -> (solution, cached, interrupted)

    for g in groups.values():
        sol = cache.load(g.key, g.problem, arch, g.options, g.layers[0].name) if cache is not None else None
        if sol is not None:
            answers[g.key] = (sol, True, False)
            progress.finished(len(g.layers), sol, solved_now=False)
    todo = [g for g in groups.values() if g.key not in answers]
    pool_jobs = 1 if inline else min(jobs, len(todo)) if todo else 0
    progress.plan(len(todo), pool_jobs or 1, plan.time_limit)

    def finish(g: _Group, sol: LayerSolution, partial: bool = False) -> None:
        if cache is not None and not partial and sol.status != "ERROR":
            cache.store(g.key, g.options, sol)
        answers[g.key] = (sol, False, partial)
        progress.finished(len(g.layers), sol, solved_now=True)

    interrupted = False
    if todo and inline:
        for g in todo:
            progress.running = 1
            progress.draw(force=True)
            try:
                sol = _solve_inline(solve, g.problem, arch, g.options)
            except KeyboardInterrupt:
                interrupted = True
                break
            except Exception as e:  # noqa: BLE001 -- a solver bug: report it for this layer, keep the others
                sol = _error_solution(g.problem, g.options, e)
            progress.running = 0
            finish(g, sol)
        progress.running = 0
    elif todo:
        interrupted = _run_pool(todo, pool_jobs, arch, finish, progress)

    outcomes = []
    first_layer = {k: g.layers[0].name for k, g in groups.items()}
    for lay, key in zip(plan.layers, layer_keys):
        sol, cached, partial = answers.get(key, (None, False, False))
        same_as = first_layer[key] if first_layer[key] != lay.name else None
        outcomes.append(LayerOutcome(lay, sol, key, cached, same_as, partial))
    progress.close()
    solved = sum(1 for s, c, _ in answers.values() if not c and s is not None)
    return BatchResult(plan, tuple(outcomes), len(groups), solved,
                       sum(1 for _, c, _ in answers.values() if c), pool_jobs, workers, interrupted,
                       time.perf_counter() - start, str(cache.root) if cache is not None else None)


def _run_pool(todo: list[_Group], jobs: int, arch: Arch, finish, progress: Progress) -> bool:
    """Solve ``todo`` in ``jobs`` worker processes; True if interrupted by Ctrl-C."""
    executor = ProcessPoolExecutor(max_workers=jobs, initializer=_worker_init)
    futures: dict[Future, _Group] = {}
    pending: set[Future] = set()

    def collect(f: Future, partial_unless_proven: bool) -> None:
        g = futures[f]
        try:
            sol = f.result()
        except Exception as e:  # noqa: BLE001 -- a solver bug or a dead worker: reported for this layer
            sol = _error_solution(g.problem, g.options, e)
        partial = partial_unless_proven and sol.status not in PROVEN
        finish(g, sol, partial=partial)

    try:
        for g in todo:
            f = executor.submit(_solve_in_worker, g.problem, arch, g.options)
            futures[f] = g
            pending.add(f)
        progress.running = min(len(pending), jobs)
        progress.draw(force=True)
        while pending:
            done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
            progress.running = min(len(pending), jobs)
            for f in done:
                collect(f, False)
            progress.draw()
        return False
    except KeyboardInterrupt:
        for f in pending:
            f.cancel()
        running = {f for f in pending if not f.cancelled()}
        try:  # solves in flight got the Ctrl-C too: give them a moment to return their best so far
            done, _ = wait(running, timeout=GRACE_SECONDS)
        except KeyboardInterrupt:
            done = {f for f in running if f.done()}
        for f in done:
            if not f.cancelled():
                collect(f, True)
        return True
    finally:
        progress.running = 0
        with contextlib.suppress(KeyboardInterrupt):
            _terminate(executor)
