"""Where a batch's layer solves run: the local process pool (the default, in
:mod:`.batch`) or an existing dask.distributed cluster (:class:`DaskEngine`,
``--engine dask --engine-address tcp://HOST:PORT``; docs/sweep.md, "Engines").

An engine takes the unique problems still to solve as ``(problem, arch, options)`` tasks,
calls ``finish(index, solution, partial)`` as each one returns, and says whether the run
was interrupted.  Every solve runs :func:`cpmap.solve.layer.solve_layer` with the same
options wherever it runs, so with the same seed and one CP-SAT worker (deterministic
time limits) a cluster returns exactly what the local pool returns.  The cluster's
workers must run the same cpmap: the engine compares the version and the solver's
source fingerprint before submitting anything.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Protocol

from ..core.arch import Arch
from ..core.errors import CpmapError
from ..core.options import SolveOptions
from ..core.problem import Problem
from ..core.version import __version__
from ..solve.layer import LayerSolution, solve_layer
from .pool import error_solution

Task = tuple[Problem, Arch, SolveOptions]
Finish = Callable[[int, LayerSolution, bool], None]
ENGINES = ("local", "dask")
CONNECT_SECONDS = 10.0
_ADDRESS = re.compile(r"^(tcp|tls)://(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.\-]+):([0-9]{1,5})$")


class Engine(Protocol):
    def run(self, tasks: list[Task], finish: Finish, progress) -> bool:
        """Solve ``tasks``; ``finish(k, solution, partial)`` for each; True if interrupted."""


def cpmap_identity() -> tuple[str, str]:
    """(version, solver fingerprint) of the cpmap this process imports."""
    from .cache import solver_fingerprint

    return __version__, solver_fingerprint()


def _solve_task(problem: Problem, arch: Arch, options: SolveOptions) -> LayerSolution:
    return solve_layer(problem, arch, options)


class DaskEngine:
    """Solves on the dask.distributed cluster at ``address`` (its scheduler), one task
    per unique problem.  Ctrl-C cancels the tasks not yet finished (a solve already
    running on a worker runs to its time limit there; its answer is dropped)."""

    def __init__(self, address: str):
        self.address = address

    def _client(self):
        try:
            from distributed import Client
        except ImportError:
            raise CpmapError("--engine dask needs dask.distributed: pip install -e '.[dask]'") from None
        try:
            return Client(self.address, timeout=CONNECT_SECONDS, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as e:
            raise CpmapError(f"--engine-address: cannot reach a dask scheduler at {self.address}: "
                             f"{' '.join(str(e).split()) or type(e).__name__}") from None

    def run(self, tasks: list[Task], finish: Finish, progress) -> bool:
        from distributed import as_completed

        client = self._client()
        try:
            _check_workers(client, self.address)
            futures = [client.submit(_solve_task, *task, pure=False) for task in tasks]
            index = {f.key: k for k, f in enumerate(futures)}
            threads = sum(client.nthreads().values()) or 1
            left = len(futures)
            progress.running = min(left, threads)
            progress.draw(force=True)
            try:
                for f in as_completed(futures, loop=client.loop):
                    k = index[f.key]
                    try:
                        sol = f.result()
                    except Exception as e:  # noqa: BLE001 -- a solver bug or a lost worker: reported for this layer
                        sol = error_solution(tasks[k][0], tasks[k][2], e)
                    left -= 1
                    progress.running = min(left, threads)
                    finish(k, sol, False)
                return False
            except KeyboardInterrupt:
                client.cancel([f for f in futures if not f.done()])
                return True
        finally:
            progress.running = 0
            client.close()


def _check_workers(client, address: str) -> None:
    """Refuse a cluster without workers or whose workers run another cpmap."""
    if not client.nthreads():
        raise CpmapError(f"--engine-address: the dask cluster at {address} has no workers")
    mine = cpmap_identity()
    try:
        theirs = client.run(cpmap_identity)
    except Exception as e:  # noqa: BLE001 -- e.g. a worker without cpmap cannot unpickle the call
        raise CpmapError(f"--engine-address: the dask workers at {address} cannot run cpmap "
                         f"({type(e).__name__}: {' '.join(str(e).split())}); install the same cpmap on them") from None
    other = {w: tuple(v) for w, v in theirs.items() if tuple(v) != mine}
    if other:
        worker, (version, fingerprint) = min(other.items())
        raise CpmapError(f"--engine-address: dask worker {worker} runs cpmap {version} (solver {fingerprint}), "
                         f"this process cpmap {mine[0]} (solver {mine[1]}); install the same cpmap on the workers")


def make_engine(name: str, address: str | None) -> Engine | None:
    """The engine of ``--engine`` (None: the local process pool)."""
    if name == "local":
        if address is not None:
            raise CpmapError("--engine-address: expected only with --engine dask")
        return None
    if name == "dask":
        if not address:
            raise CpmapError("--engine dask: expected --engine-address tcp://HOST:PORT (a running dask scheduler)")
        m = _ADDRESS.match(address)
        if m is None or not 1 <= int(m.group(3)) <= 65535:
            raise CpmapError(f"--engine-address: expected a scheduler address like tcp://127.0.0.1:8786, got {address!r}")
        return DaskEngine(address)
    raise CpmapError(f"--engine: expected one of {', '.join(ENGINES)}, got {name!r}")
