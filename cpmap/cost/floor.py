"""The compulsory-traffic floor: what any mapping costs at least, whatever the dataflow.

Every weight and input word is read from the outermost level (DRAM) at least once and every
output word written to it at least once -- except a resident tensor (docs/cost-model.md
section 11), whose backing store is an on-chip level, so it adds nothing here; every MAC is
paid; no mapping finishes in fewer cycles than the MACs spread over every PE.  Both numbers are lower bounds of the evaluator's
energy and cycles for every mapping (the evaluator counts at least these accesses), looser
than the solver's certified bound; ``cpmap bound`` prints them side by side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..core.arch import Arch
from ..core.problem import Problem


@dataclass(frozen=True)
class Floor:
    """Compulsory energy (pJ) and cycles of one layer on one architecture."""

    energy_pj: float
    dram_words: int
    cycles: int


def compulsory_floor(problem: Problem, arch: Arch) -> Floor:
    """MACs x MAC energy + (|W| + |I|) DRAM reads + |O| DRAM writes, resident tensors left
    out; ceil(MACs / PEs) cycles."""
    top = arch.levels[-1]
    on_chip = {t for t, _ in problem.resident}
    read = sum(problem.tensor_words(t) for t in problem.tensor_names if t not in on_chip | {"O"})
    written = 0 if "O" in on_chip else problem.tensor_words("O")
    energy = problem.macs * arch.mac_pj + read * top.read_pj + written * top.write_pj
    return Floor(energy, read + written, math.ceil(problem.macs / arch.pes))
