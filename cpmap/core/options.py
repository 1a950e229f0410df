"""How to solve one layer: the options every solver entry point takes."""

from __future__ import annotations

from dataclasses import dataclass, field

from .constraints import Constraints
from .objectives import ENCODINGS, OBJECTIVES


@dataclass(frozen=True)
class SolveOptions:
    """How to solve one layer.

    ``objective``: energy (pJ), delay (cycles) or edp (pJ x cycles); ``encoding``: how the
    energy objective is modelled (docs/solver.md); ``time_limit``: seconds per layer
    (CP-SAT deterministic time when ``deterministic``, docs/solver.md); ``workers`` and
    ``seed``: CP-SAT's, fixed so that a run is reproducible; ``top_k``: how many distinct
    mappings to return, ranked by the evaluator; ``constraints``: restrictions of the
    mapping space, by level name; ``tie_break``: once the energy (delay) optimum is
    proved, spend a little more time on the fewest cycles (least energy) among the
    mappings with that optimum."""

    objective: str = "energy"
    encoding: str = "exact"
    time_limit: float = 10.0
    workers: int = 2
    seed: int = 0
    top_k: int = 1
    constraints: Constraints = field(default_factory=Constraints)
    deterministic: bool = True
    tie_break: bool = True

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {self.objective!r}; expected one of {OBJECTIVES}")
        if self.encoding not in ENCODINGS:
            raise ValueError(f"unknown encoding {self.encoding!r}; expected one of {ENCODINGS}")
        if not isinstance(self.constraints, Constraints):
            raise TypeError(f"constraints must be a cpmap Constraints, got {type(self.constraints).__name__}")
