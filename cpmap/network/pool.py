"""Worker processes for layer solves, and the signal handling around CP-SAT.

The parent of a batch never runs CP-SAT: OR-Tools installs its own SIGINT handler while a
search runs and resets it to the C default afterwards, which would swallow (or turn fatal)
a later Ctrl-C.  In a worker, a Ctrl-C during the search stops it (CP-SAT catches the
signal itself); one that arrives while the model is being built is remembered, and the
search then stops at its first mapping.  Either way the solve returns its best mapping so
far, which the parent reports as interrupted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

from ..core.arch import Arch
from ..core.options import SolveOptions
from ..core.problem import Problem
from ..solve.layer import LayerSolution, solve_layer

SolveFn = Callable[[Problem, Arch, SolveOptions], LayerSolution]


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


_STOP = threading.Event()
"""Set in a worker process by a Ctrl-C that arrived outside a CP-SAT search."""


def _ask_to_stop(signum, frame) -> None:
    _STOP.set()


def worker_init() -> None:
    """Initializer of every solve worker: a Ctrl-C asks the solve in flight to stop with
    its best mapping so far instead of killing the worker."""
    signal.signal(signal.SIGINT, _ask_to_stop)


def solve_in_worker(problem: Problem, arch: Arch, options: SolveOptions) -> LayerSolution:
    """:func:`~cpmap.solve.layer.solve_layer` in a worker process."""
    try:
        return solve_layer(problem, arch, options, should_stop=_STOP.is_set)
    finally:
        worker_init()  # OR-Tools resets SIGINT to SIG_DFL after a solve


def solve_inline(solve: SolveFn, problem: Problem, arch: Arch, options: SolveOptions) -> LayerSolution:
    """Solve in this process, restoring this process's SIGINT handler afterwards (OR-Tools
    leaves the C default, and a later Ctrl-C would kill the process without cleanup)."""
    handler = signal.getsignal(signal.SIGINT)
    try:
        return solve(problem, arch, options)
    finally:
        if handler is not None:
            with contextlib.suppress(ValueError):  # not the main thread: nothing to restore
                signal.signal(signal.SIGINT, handler)


def error_solution(problem: Problem, options: SolveOptions, exc: BaseException) -> LayerSolution:
    """The ERROR answer of a solve that raised (a solver bug or a dead worker): reported for
    that layer, the others go on."""
    reason = f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())}"
    return LayerSolution(problem.name, "ERROR", None, None, 0.0, options.objective, reason=reason,
                         stopped_by="not_solved")


def terminate(executor: ProcessPoolExecutor) -> None:
    """Stop every worker of ``executor`` now (solves in flight are abandoned)."""
    stop = getattr(executor, "terminate_workers", None)  # Python >= 3.14
    if stop is not None:
        with contextlib.suppress(Exception):
            stop()
    else:
        for proc in list((getattr(executor, "_processes", None) or {}).values()):
            with contextlib.suppress(Exception):
                if proc.is_alive():
                    proc.terminate()
    executor.shutdown(wait=True, cancel_futures=True)
