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

import math
from dataclasses import replace

from .arch import Arch
from .errors import CpmapError
from .mapping import Mapping
from .problem import Problem


def resident_levels(problem: Problem, arch: Arch) -> dict[str, int]:
    """{tensor: level index} of ``problem``'s resident tensors on ``arch``.  Raises
    :class:`CpmapError` when a level is unknown, is the outermost one or may not keep the
    tensor.  A level with several instances (a fanout above it, such as the per-node
    global buffers of a mesh) is allowed: each instance holds its share
    (:func:`share_extents`, :func:`resident_mapping_errors`)."""
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
        out[t] = i
    return out


def instances_above(arch: Arch, level: int) -> int:
    """The most instances ``level`` can have: the product of the fanout sizes above it."""
    return math.prod(lv.fanout.size for lv in arch.levels[level + 1:] if lv.fanout is not None)


def share_extents(mapping: Mapping, problem: Problem, level: int) -> dict[str, int]:
    """{dim: extent} of one instance's share of a tensor resident at ``level``: every loop
    of the nest except the spatial loops of fanouts above ``level`` (those split the data
    over the instances).  With no fanout above it, the whole problem."""
    ext = dict(problem.size)
    for lm in mapping.levels[level + 1:]:
        for d, f in lm.spatial_loops():
            ext[d] //= f
    return ext


def resident_mapping_errors(problem: Problem, mapping: Mapping, resident: dict[str, int]) -> list[str]:
    """The rules a resident tensor at a level with several instances adds (docs/cost-model.md
    section 11), for ``resident`` = {tensor: level}:

    * a resident O may not be split across instances along a dim irrelevant to O: its
      partial sums would sit in different instances and no level above keeps O to add them;
    * a dim on a sliding-window axis of the tensor (P, R of I's rows) that a fanout above
      the level unrolls may have no temporal loop at that fanout's level or above: each
      instance's values of the dim are then one contiguous block, so its share is one
      window (the extent formula), not a union of windows with gaps."""
    errors = []
    levels = mapping.levels
    tensors = {t.name: t for t in problem.tensors}
    for t, r in resident.items():
        tensor = tensors[t]
        window_dims = {d for ax in tensor.axes if len(ax.terms) == 2 for d, _ in ax.terms}
        for j in range(r + 1, len(levels)):
            for d, f in levels[j].spatial_loops():
                if f == 1:
                    continue
                if t == "O" and d not in tensor.dims:
                    errors.append(f"{levels[j].level}.spatial: O is resident in {levels[r].level}, so its partial "
                                  f"sums cannot be added across instances: {d} may not be unrolled there")
                if d in window_dims and any(d2 == d and f2 > 1 for up in levels[j:] for d2, f2 in up.temporal):
                    errors.append(f"{levels[j].level}.spatial: {t} is resident in {levels[r].level} and {d} is "
                                  f"unrolled across its instances, so no temporal {d} loop may sit at "
                                  f"{levels[j].level} or above (each instance's share must be one window)")
    return errors


def with_resident(problem: Problem, resident: dict[str, str]) -> Problem:
    """``problem`` with ``resident`` ({tensor: level name}) as its residency; the name is
    kept (the residency is part of the problem's identity, :meth:`Problem.key`)."""
    return replace(problem, resident=tuple(sorted(resident.items())))
