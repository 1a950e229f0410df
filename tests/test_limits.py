"""Time and work limits (issue 11): a solve stops at its proof with any number of workers,
its searches (first solve, tie-break, top-k re-solves) share one work limit, and each
layer says what stopped it.  Speed is measured in CP-SAT deterministic time (a count of
work, the same on every machine), not in seconds; the wall-clock checks below allow a
quarter of a 120 s limit for proofs of well under a deterministic second, far beyond any
machine load, so that they fail only when a solve runs to its wall-clock limit after a
proof (the OR-Tools 9.15 behaviour they guard)."""

from __future__ import annotations

import math

import pytest

from cpmap.core.arch import Arch, Fanout, Level
from cpmap.core.options import SolveOptions
from cpmap.core.problem import conv, fc
from cpmap.solve.budget import STOPS
from cpmap.solve.layer import solve_layer

ARCH = Arch("mid", 16, 1.0, (
    Level("RF", frozenset("WIO"), 1.0, 1.0, capacity=32),
    Level("GB", frozenset("WIO"), 6.0, 6.0, capacity=1024,
          fanout=Fanout("PE", (("X", 4), ("Y", 4)), True, True, 2.0)),
    Level("DRAM", frozenset("WIO"), 200.0, 200.0),
))
EASY = [fc("fc", N=4, K=32, C=16), conv("conv", K=8, C=4, P=4, Q=4, R=3, S=1)]
HARD = conv("hard", K=64, C=32, P=16, Q=16, R=3, S=3)
"""Not proved within 0.6 deterministic seconds, also by one worker without the LP (the
work-limit tests below check it)."""
WALL = 120.0
"""A wall-clock limit no solve here comes near unless it runs to the limit."""


@pytest.mark.parametrize("problem", EASY, ids=lambda p: p.name)
def test_two_workers_stop_at_the_proof(problem):
    """With two deterministic (interleaved) workers a solve returns at its proof: its
    stop reason is the proof, it returns long before the wall-clock limit (OR-Tools' core
    subsolver kept an interleaved search running to it), and it spends at most 4 x the
    deterministic time of one worker (layer fc here: 0.041 vs 0.025 det s; 0.170 with 6
    interleaved tasks a batch, 1.11 with the core subsolver too; AlexNet fc1, fc3 and
    pool2 spent 6.6-8.6 x one worker's with 6 tasks a batch, 1.8-2.4 x with 2).  One
    worker now searches without the LP (cpmap/solve/tuning.py) and proves these in a few
    hundredths, while two run CP-SAT's interleaved portfolio, so 0.25 det s is allowed on
    top: the core subsolver's 1.11 on fc still fails this."""
    one = solve_layer(problem, ARCH, SolveOptions(time_limit=WALL, work_limit=100, workers=1))
    two = solve_layer(problem, ARCH, SolveOptions(time_limit=WALL, work_limit=100, workers=2))
    for sol in (one, two):
        assert (sol.status, sol.stopped_by) == ("OPTIMAL", "optimal")
        assert sol.solve_seconds < WALL / 4
    assert two.value == one.value
    assert 0 < two.work <= 4 * one.work + 0.25


def test_non_deterministic_workers_stop_at_the_proof():
    sol = solve_layer(EASY[0], ARCH, SolveOptions(time_limit=WALL, workers=2, deterministic=False))
    assert (sol.status, sol.stopped_by) == ("OPTIMAL", "optimal")
    assert sol.solve_seconds < WALL / 4


@pytest.mark.parametrize("workers", [1, 2])
def test_the_work_limit_stops_reproducibly(workers):
    """Stopped by the work limit: FEASIBLE, says so, spent the limit (not much more), and
    the same answer twice."""
    opts = SolveOptions(time_limit=WALL, work_limit=0.3, workers=workers, seed=3)
    a, b = solve_layer(HARD, ARCH, opts), solve_layer(HARD, ARCH, opts)
    assert (a.status, a.stopped_by, a.reason) == ("FEASIBLE", "work_limit", "work limit reached")
    assert 0.3 * 0.999 <= a.work <= 0.3 * 1.5
    assert (a.best.mapping, a.lower_bound, a.work) == (b.best.mapping, b.lower_bound, b.work)


def test_the_time_limit_stops_an_unlimited_work_search():
    """No work limit: the wall-clock limit stops the search and the layer says so."""
    sol = solve_layer(HARD, ARCH, SolveOptions(time_limit=0.5, work_limit=math.inf, workers=1))
    assert sol.stopped_by == "time_limit" and sol.status in ("FEASIBLE", "UNKNOWN")
    assert sol.solve_seconds < 0.5 * 10


def test_top_k_and_the_tie_break_share_the_work_limit():
    """Three top-k solves and a tie-break spend one work limit between them (each took the
    full limit before), and the first solve's stop is the layer's."""
    sol = solve_layer(HARD, ARCH, SolveOptions(time_limit=WALL, work_limit=0.6, workers=1, top_k=3))
    assert sol.stopped_by == "work_limit"
    assert len(sol.alternatives) == 3
    assert sol.work <= 0.6 * 1.05
    easy = solve_layer(EASY[1], ARCH, SolveOptions(time_limit=WALL, work_limit=5, workers=1, top_k=3))
    assert easy.stopped_by == "optimal" and easy.work <= 5 * 1.05


def test_infeasible_and_too_large_layers_say_what_stopped_them():
    from cpmap.core.constraints import Constraints

    impossible = Constraints.of(min_utilization=1.0)  # 16 PEs; no dim of the layer has a factor 2
    sol = solve_layer(conv("odd", K=3, C=3, P=3, Q=1, R=1, S=1), ARCH, SolveOptions(constraints=impossible))
    assert (sol.status, sol.stopped_by) == ("INFEASIBLE", "infeasible")
    huge = fc("huge", N=10**6, K=10**6, C=10**6)
    assert solve_layer(huge, ARCH).stopped_by == "not_solved"
    assert {"optimal", "infeasible", "time_limit", "work_limit", "interrupted"} <= set(STOPS)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), "5", True])
def test_limits_must_be_positive_numbers(bad):
    with pytest.raises(ValueError, match="work_limit must be a number of seconds > 0"):
        SolveOptions(work_limit=bad)
    with pytest.raises(ValueError, match="time_limit must be a number of seconds > 0"):
        SolveOptions(time_limit=bad)


def test_no_wall_clock_limit():
    """``time_limit=math.inf``: only the work limit (and the proof) stop the search."""
    sol = solve_layer(HARD, ARCH, SolveOptions(time_limit=math.inf, work_limit=0.2, workers=1))
    assert (sol.status, sol.stopped_by) == ("FEASIBLE", "work_limit")


def test_the_default_work_limit_is_0_7_x_the_time_limit():
    assert SolveOptions(time_limit=10).work == 7.0
    assert SolveOptions(time_limit=10, work_limit=2).work == 2.0
    assert SolveOptions(work_limit=math.inf).work is None
