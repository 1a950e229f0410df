"""What one layer's CP-SAT solves may spend, and what stopped them.

A layer has two limits (:class:`~cpmap.core.options.SolveOptions`): ``time_limit``,
wall-clock seconds from the moment :func:`~cpmap.solve.layer.solve_layer` starts (model
building, the tie-break and the top-k re-solves included), and ``work_limit``, CP-SAT
deterministic time (a count of work: the same on every machine and under any load).
:class:`Budget` carries both from one solve of the layer to the next, so the solves share
them instead of each taking the full limit.  Whichever limit is reached first stops the
search; when it is the work limit (or a proof comes first) the answer depends on the
inputs, seed and workers only.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

from ortools.sat.python import cp_model

from ..core.options import SolveOptions
from .tuning import model_encoding, tune

STOPS = ("optimal", "infeasible", "time_limit", "work_limit", "interrupted", "not_solved")
"""What ended a layer's search: its optimum (or infeasibility) was proved, the wall-clock or
the work limit was reached, Ctrl-C (or a batch's stop request), or no search was run (a
layer too large for the model, an internal error)."""

MARGIN = 0.03
"""Share of the time limit kept back from the CP-SAT searches for what follows them (reading
the mapping back, the evaluator, a CP-SAT search ending a little after its limit)."""
MIN_SECONDS = 0.01
"""Smallest wall-clock limit handed to CP-SAT (it rejects 0): a solve whose budget is spent
(model building took it all) still returns at once."""


@dataclass(frozen=True)
class Budget:
    """Wall-clock ``deadline`` (a :func:`time.perf_counter` value) and ``work`` left
    (CP-SAT deterministic seconds; None: unlimited) for the rest of a layer's solves, and
    the deterministic seconds ``used`` so far."""

    deadline: float
    work: float | None
    time_limit: float
    used: float = 0.0

    @classmethod
    def start(cls, options: SolveOptions, started: float) -> Budget:
        """The budget of a layer whose solve started at ``started`` (perf_counter)."""
        return cls(started + options.time_limit, options.work, options.time_limit)

    def seconds_left(self, reserve: float = 0.0) -> float:
        """Wall seconds until the deadline, less ``reserve`` x the time limit and the margin."""
        if math.isinf(self.time_limit):
            return math.inf
        return self.deadline - time.perf_counter() - (reserve + MARGIN) * self.time_limit

    def spent(self, solver: cp_model.CpSolver) -> Budget:
        """This budget after ``solver``'s search (its deterministic time is deducted)."""
        spent = solver.response_proto.deterministic_time
        work = None if self.work is None else max(0.0, self.work - spent)
        return replace(self, work=work, used=self.used + spent)


def set_params(solver: cp_model.CpSolver, options: SolveOptions, seconds: float, work: float | None) -> None:
    """CP-SAT's parameters for one search of at most ``seconds`` wall-clock seconds and
    ``work`` deterministic seconds.

    With several workers, ``deterministic`` interleaves them (reproducible) without the
    ``core`` subsolver: in OR-Tools 9.15 an interleaved ``core`` task keeps running after
    another subsolver has proved the optimum, accruing almost no deterministic time, until
    the wall-clock limit ends it (AlexNet pool2, fc3: proved within 0.5 deterministic s,
    returned at a 60 s wall limit), and a batch of interleaved tasks (default 3 per worker)
    runs to its end after a proof, so one task per worker keeps that tail short (AlexNet
    fc1, fc3, pool2 with 2 workers: 0.97, 0.42, 0.21 deterministic s with 6 tasks a batch,
    0.30, 0.15, 0.04 with 2; one worker: 0.15, 0.06, 0.02).  CP-SAT stops on its own
    at a proof (relative and absolute gap limits left at their defaults 0 and 1e-4: the
    objective is integral, so a proof is exact)."""
    p = solver.parameters
    p.num_workers = max(1, options.workers)
    p.random_seed = options.seed
    tune(p, p.num_workers, model_encoding(p.num_workers, options.encoding).get("prime_tables", False))
    p.max_time_in_seconds = max(seconds, MIN_SECONDS)
    if work is not None:
        p.max_deterministic_time = max(work, 1e-3)
    if options.deterministic and options.workers > 1:
        p.interleave_search = True
        p.ignore_subsolvers.append("core")
        p.interleave_batch_size = p.num_workers


def stop_reason(solver: cp_model.CpSolver, status: int, interrupted: bool, work: float | None) -> str:
    """Which of :data:`STOPS` ended ``solver``'s search, given the work limit it had."""
    if interrupted:
        return "interrupted"
    if status == cp_model.OPTIMAL:
        return "optimal"
    if status == cp_model.INFEASIBLE:
        return "infeasible"
    if work is not None and solver.response_proto.deterministic_time >= 0.999 * max(work, 1e-3):
        return "work_limit"
    return "time_limit"
