"""How to solve one layer: the options every solver entry point takes."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .constraints import Constraints
from .objectives import ENCODINGS, OBJECTIVES

WORK_PER_SECOND = 0.7
"""The default work limit per wall-clock second of the time limit: CP-SAT's deterministic
time advanced at about 0.7 s per second (median over bench/layers.py) in one-worker solves
of the prime-table model on the idle 2-core reference machine (issue 11; 0.5 with the
per-dim model before), so there the two limits cut an unproved solve at about the same
moment, and on a faster machine the work limit cuts first, which makes the answer the same
on every such machine."""

DEFAULT_WORKERS = 1
"""CP-SAT workers per solve unless the caller or spec chooses, even for a single layer on idle
cores: one worker gets the prime-table model (cpmap/solve/tuning.py), and on the 2-core
reference machine two workers were slower or unproved on every benchmark layer measured
(docs/batch.md)."""


@dataclass(frozen=True)
class SolveOptions:
    """How to solve one layer.

    ``objective``: energy (pJ), delay (cycles) or edp (pJ x cycles); ``encoding``: how the
    energy objective is modelled (docs/solver.md); ``time_limit``: wall-clock seconds per
    layer, model building, tie-break and top-k re-solves included; ``work_limit``: CP-SAT
    deterministic time per layer (a count of work, the same on every machine; None:
    :data:`WORK_PER_SECOND` x ``time_limit``; ``math.inf``: none), so that a solve the
    work limit stops gives the same answer on any machine (docs/solver.md, Determinism);
    ``workers`` and ``seed``: CP-SAT's (default :data:`DEFAULT_WORKERS`); ``deterministic``:
    several workers interleave their searches reproducibly instead of racing; ``top_k``: how
    many distinct mappings to return, ranked by the evaluator; ``constraints``: restrictions of the mapping
    space, by level name; ``tie_break``: once the energy (delay) optimum is proved, spend
    a little more time on the fewest cycles (least energy) among the mappings with that
    optimum."""

    objective: str = "energy"
    encoding: str = "exact"
    time_limit: float = 10.0
    workers: int = DEFAULT_WORKERS
    seed: int = 0
    top_k: int = 1
    constraints: Constraints = field(default_factory=Constraints)
    deterministic: bool = True
    tie_break: bool = True
    work_limit: float | None = None

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {self.objective!r}; expected one of {OBJECTIVES}")
        if self.encoding not in ENCODINGS:
            raise ValueError(f"unknown encoding {self.encoding!r}; expected one of {ENCODINGS}")
        for name in ("time_limit", "work_limit"):
            v = getattr(self, name)
            if (v is not None or name == "time_limit") and not (
                    isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 and not math.isnan(v)):
                raise ValueError(f"{name} must be a number of seconds > 0, got {v!r}")
        if not isinstance(self.constraints, Constraints):
            raise TypeError(f"constraints must be a cpmap Constraints, got {type(self.constraints).__name__}")

    @property
    def work(self) -> float | None:
        """The work limit in CP-SAT deterministic seconds; None when unlimited."""
        w = WORK_PER_SECOND * self.time_limit if self.work_limit is None else self.work_limit
        return None if math.isinf(w) else float(w)
