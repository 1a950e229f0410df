"""On-chip residency of a layer's tensors: where a tensor lives when it is not in DRAM.

In a pipelined network schedule (docs/pipeline.md) a layer's input can still be in the
global buffer, where the previous layer left it, and its output can stay there for the next
layer.  :attr:`Problem.resident <cpmap.core.problem.Problem.resident>` names such tensors
and their level; :func:`resident_levels` checks the names against an architecture and
gives level indices.  docs/cost-model.md section 11 has the counting rules.

Residency lives on the :class:`~cpmap.core.problem.Problem` (not in the solve options or as
an extra argument) because everything that costs or solves a layer -- the evaluator, the
CP-SAT model, the oracle, the batch runner's dedupe and cache keys -- already takes the
problem: a layer with a resident input is a different problem from the same loop nest
reading DRAM, and must never share its cache entry.
"""

from __future__ import annotations

from dataclasses import replace

from .arch import Arch
from .errors import CpmapError
from .problem import Problem


def resident_levels(problem: Problem, arch: Arch) -> dict[str, int]:
    """{tensor: level index} of ``problem``'s resident tensors on ``arch``.  Raises
    :class:`CpmapError` when a level is unknown, is the outermost one, may not keep the
    tensor, or has several instances (a fanout above it: the data would be spread over
    nodes, which needs the multi-node model)."""
    out: dict[str, int] = {}
    names = arch.level_names
    for t, lv_name in problem.resident:
        where = f"layer {problem.name}: resident {t} at {lv_name!r}"
        if lv_name not in names[:-1]:
            raise CpmapError(f"{where}: expected an on-chip level of {arch.name} "
                             f"({', '.join(names[:-1])})")
        i = names.index(lv_name)
        if t not in arch.levels[i].keeps:
            raise CpmapError(f"{where}: level {lv_name} may not keep {t} "
                             f"(it keeps {', '.join(sorted(arch.levels[i].keeps)) or 'nothing'})")
        above = [lv.fanout.name for lv in arch.levels[i + 1:] if lv.fanout is not None]
        if above:
            raise CpmapError(f"{where}: level {lv_name} has several instances (fanout {above[0]} above "
                             "it); residency across instances needs the multi-node model")
        out[t] = i
    return out


def with_resident(problem: Problem, resident: dict[str, str]) -> Problem:
    """``problem`` with ``resident`` ({tensor: level name}) as its residency; the name is
    kept (the residency is part of the problem's identity, :meth:`Problem.key`)."""
    return replace(problem, resident=tuple(sorted(resident.items())))
