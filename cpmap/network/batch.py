"""Solve the layers of a network: dedupe, on-disk cache, parallel jobs, progress, Ctrl-C.

:func:`run_batch` takes a :class:`~cpmap.spec.solve.SolvePlan` and returns one
:class:`LayerOutcome` per selected layer (docs/batch.md):

* **Dedupe.**  Layers whose problems are identical (same kind, dims, sizes, tensors and
  parameters -- the name does not count) under the same architecture, objective, encoding
  and constraints share one solve; the copies point at the first (``same_as``).
* **Cache.**  Answers are stored and reused per unique problem (:mod:`.cache`).
* **Parallel.**  Unique problems are solved by a pool of ``jobs`` worker processes, each
  with the full per-layer time and work limits; CP-SAT gets
  :data:`~cpmap.core.options.DEFAULT_WORKERS` per solve unless the spec fixes ``workers``.
* **Ctrl-C.**  Finished problems are cached as they finish.  On Ctrl-C the solves in
  flight stop (CP-SAT catches the signal and returns its best so far), their best
  mappings are reported but not cached unless proven, and :class:`BatchResult` says it was
  interrupted; a re-run picks up from the cache.
"""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field

from ..core.arch import Arch
from ..core.options import DEFAULT_WORKERS, SolveOptions
from ..core.problem import Problem
from ..core.workload import Layer, Workload
from ..solve.layer import LayerSolution, solve_layer
from ..spec.solve import SolvePlan
from .cache import PROVEN, Cache, problem_key
from .engine import Engine
from .pool import (
    SolveFn,
    available_cores,
    error_solution,
    solve_in_worker,
    solve_inline,
    terminate,
    worker_init,
)
from .progress import Progress

GRACE_SECONDS = 10.0
"""How long an interrupted run waits for the solves in flight to return their best mapping
so far (each stops at its next mapping); a second Ctrl-C abandons them at once."""


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
    arch: Arch
    options: SolveOptions
    layers: list[Layer] = field(default_factory=list)


def run_batch(plan: SolvePlan, *, jobs: int | None = None, cache: Cache | None = None,
              progress: Progress | None = None, solve: SolveFn | None = None,
              inline: bool | None = None, engine: Engine | None = None) -> BatchResult:
    """Solve ``plan``'s layers (see the module docstring).

    ``jobs``: parallel solves (default: the number of cores).  ``cache``: None disables
    it.  ``solve``: the per-problem solver (default :func:`cpmap.solve.layer.solve_layer`);
    giving one, or ``inline=True``, solves in this process one problem at a time (no
    pool), where Ctrl-C during a CP-SAT search only cuts that search short.  The default
    is a process pool even for one job: the parent never runs CP-SAT, so Ctrl-C reliably
    reaches it.  ``engine``: solve the problems elsewhere instead (e.g. on a dask cluster,
    :mod:`.engine`)."""
    return run_batches((plan,), jobs=jobs, cache=cache, progress=progress, solve=solve, inline=inline,
                       engine=engine)[0]


def run_batches(plans, *, jobs: int | None = None, cache: Cache | None = None, progress: Progress | None = None,
                solve: SolveFn | None = None, inline: bool | None = None,
                engine: Engine | None = None) -> tuple[BatchResult, ...]:
    """:func:`run_batch` for several plans at once (one per network and architecture of a
    design sweep): a problem that appears in several plans (same key: same problem,
    architecture, objective, encoding and constraints) is solved once, with the options of
    the first plan that has it; all unique problems share one pool.  One
    :class:`BatchResult` per plan, in order."""
    start = time.perf_counter()
    plans = tuple(plans)
    jobs = max(1, jobs or available_cores())
    if inline is None:
        inline = solve is not None
    solve = solve or solve_layer
    groups, layer_keys = _groups(plans)
    progress = progress or Progress(sum(len(p.layers) for p in plans), enabled=False)
    answers: dict[str, tuple[LayerSolution | None, bool, bool]] = {}  # key -> (solution, cached, interrupted)
    for g in groups.values():
        sol = cache.load(g.key, g.problem, g.arch, g.options, g.layers[0].name) if cache is not None else None
        if sol is not None:
            answers[g.key] = (sol, True, False)
            progress.finished(len(g.layers), sol, solved_now=False)
    todo = [g for g in groups.values() if g.key not in answers]
    pool_jobs = 1 if inline else min(jobs, len(todo)) if todo else 0
    progress.plan(len(todo), pool_jobs or 1, max(p.time_limit for p in plans) if plans else 0.0)

    def finish(g: _Group, sol: LayerSolution, partial: bool = False) -> None:
        if cache is not None and not partial and sol.status != "ERROR":
            cache.store(g.key, g.options, sol)
        answers[g.key] = (sol, False, partial)
        progress.finished(len(g.layers), sol, solved_now=True)

    interrupted = False
    if todo and engine is not None:
        interrupted = engine.run([(g.problem, g.arch, g.options) for g in todo],
                                 lambda k, sol, partial: finish(todo[k], sol, partial), progress)
    elif todo and inline:
        interrupted = _run_inline(todo, solve, finish, progress)
    elif todo:
        interrupted = _run_pool(todo, pool_jobs, finish, progress)
    progress.close()
    wall = time.perf_counter() - start
    out = []
    for plan, keys in zip(plans, layer_keys):
        mine = {k: answers[k] for k in dict.fromkeys(keys) if k in answers}
        workers = plan.workers or DEFAULT_WORKERS
        out.append(BatchResult(plan, _outcomes(plan, keys, answers), len(set(keys)),
                               sum(1 for s, c, _ in mine.values() if not c and s is not None),
                               sum(1 for _, c, _ in mine.values() if c), pool_jobs, workers, interrupted, wall,
                               str(cache.root) if cache is not None else None))
    return tuple(out)


def _groups(plans: tuple[SolvePlan, ...]) -> tuple[dict[str, _Group], list[list[str]]]:
    """The unique problems of the plans (by :func:`problem_key`), and each plan's layer keys.
    A group's options are its first plan's (:data:`~cpmap.core.options.DEFAULT_WORKERS` workers
    when it leaves them automatic)."""
    groups: dict[str, _Group] = {}
    layer_keys: list[list[str]] = []
    for plan in plans:
        probe = plan.options(DEFAULT_WORKERS)
        keys = []
        for lay in plan.layers:
            key = problem_key(lay.problem, plan.arch, probe)
            if key not in groups:
                groups[key] = _Group(key, lay.problem, plan.arch, probe)
            groups[key].layers.append(lay)
            keys.append(key)
        layer_keys.append(keys)
    return groups, layer_keys


def _outcomes(plan: SolvePlan, layer_keys: list[str], answers: dict) -> tuple:
    out = []
    first_layer: dict[str, str] = {}
    for lay, key in zip(plan.layers, layer_keys):
        first_layer.setdefault(key, lay.name)
        sol, cached, partial = answers.get(key, (None, False, False))
        same_as = first_layer[key] if first_layer[key] != lay.name else None
        out.append(LayerOutcome(lay, sol, key, cached, same_as, partial))
    return tuple(out)


def _run_inline(todo: list[_Group], solve: SolveFn, finish, progress: Progress) -> bool:
    """Solve ``todo`` one after another in this process; True if interrupted by Ctrl-C."""
    try:
        for g in todo:
            progress.running = 1
            progress.draw(force=True)
            try:
                sol = solve_inline(solve, g.problem, g.arch, g.options)
            except KeyboardInterrupt:
                return True
            except Exception as e:  # noqa: BLE001 -- a solver bug: report it for this layer, keep the others
                sol = error_solution(g.problem, g.options, e)
            progress.running = 0
            finish(g, sol)
        return False
    finally:
        progress.running = 0


def _run_pool(todo: list[_Group], jobs: int, finish, progress: Progress) -> bool:
    """Solve ``todo`` in ``jobs`` worker processes; True if interrupted by Ctrl-C."""
    executor = ProcessPoolExecutor(max_workers=jobs, initializer=worker_init)
    futures: dict[Future, _Group] = {}
    pending: set[Future] = set()

    def collect(f: Future, partial_unless_proven: bool) -> None:
        g = futures[f]
        try:
            sol = f.result()
        except Exception as e:  # noqa: BLE001 -- a solver bug or a dead worker: reported for this layer
            sol = error_solution(g.problem, g.options, e)
        partial = partial_unless_proven and sol.status not in PROVEN
        finish(g, sol, partial=partial)

    try:
        for g in todo:
            f = executor.submit(solve_in_worker, g.problem, g.arch, g.options)
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
            terminate(executor)


def solve_workload(workload: Workload, arch: Arch, options: SolveOptions | None = None, *,
                   layers: list[str] | None = None, jobs: int | None = None, cache: Cache | None = None,
                   progress: bool = False) -> BatchResult:
    """Solve the layers of ``workload`` (all, or those named in ``layers``) on ``arch``
    with the batch machinery of ``cpmap solve``: identical layers solved once, unique ones
    in ``jobs`` parallel processes, answers read from and written to ``cache`` when one is
    given.  ``options`` (default :class:`SolveOptions`) apply to every layer."""
    plan = SolvePlan.of(workload, arch, options or SolveOptions(), layers)
    return run_batch(plan, jobs=jobs, cache=cache, progress=Progress(len(plan.layers), enabled=progress))
