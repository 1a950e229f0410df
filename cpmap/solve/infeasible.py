"""Why a layer has no mapping: the reason an INFEASIBLE answer carries (docs/solver.md,
"Infeasible").  Checked in order from the most specific restriction to the general one."""

from __future__ import annotations

from ..core.arch import Arch
from ..core.constraints import ResolvedConstraints, dataflow_conflict
from ..core.problem import Problem
from ..core.residency import instances_above, resident_levels


def explain_infeasible(problem: Problem, arch: Arch, cons: ResolvedConstraints) -> str:
    """Say which restriction makes the layer impossible to map."""
    resident = _resident_overflow(problem, arch)
    if resident:
        return resident
    for lv_i, tensors in cons.keeps.items():
        lv = arch.levels[lv_i]
        if lv.capacity is not None and len(tensors) > lv.capacity:
            return (f"level {lv.name} must keep {sorted(tensors)} but even 1-word tiles need "
                    f"{len(tensors)} words > capacity {lv.capacity}")
    conflict = dataflow_conflict(problem, arch, cons)
    if conflict:
        return conflict
    if cons.min_nodes:
        floors = ", ".join(f"{n} nodes of {arch.levels[i].fanout.name}" for i, n in cons.min_nodes.items())
        return (f"no mapping uses at least {floors} with the other constraints (the product of the layer's "
                "factors on the mesh axes, within their sizes and the allowed dims, stays below the floor)")
    if cons.min_utilization > 0:
        return (f"no mapping reaches utilization {cons.min_utilization:g} with the other constraints "
                f"(the layer's dims may not factor onto the {arch.pes} PEs)")
    if cons.required_dims:
        required = "; ".join(f"{', '.join(ds)} on axis {ax} below {arch.levels[i].name}"
                             for (i, ax), ds in cons.required_dims.items())
        return f"no mapping carries the required dataflow ({required}) within the capacities and other constraints"
    if cons.spatial_dims:
        return "the fixed spatial dataflow conflicts with the layer's dims or the capacities"
    return "no mapping satisfies the capacity and fanout limits"


def _resident_overflow(problem: Problem, arch: Arch) -> str:
    """The level whose resident tensors alone overflow it, if one does."""
    by_level: dict[int, list[str]] = {}
    for t, r in resident_levels(problem, arch).items():
        by_level.setdefault(r, []).append(t)
    for r, ts in by_level.items():
        lv = arch.levels[r]
        n = instances_above(arch, r)  # each instance holds a share: at least 1/n of the tensor
        words = {t: -(-problem.tensor_words(t) // n) for t in ts}
        parts = " + ".join(f"{t} {w}" for t, w in words.items())
        if lv.capacity is not None and sum(words.values()) > lv.capacity:
            return (f"the resident tensors need {sum(words.values())} words ({parts}) > capacity "
                    f"{lv.capacity} of {lv.name}")
        for t, w in words.items():
            if lv.partitions is not None and w > lv.partition(t):
                return f"resident {t} needs {w} words > its partition {lv.partition(t)} of {lv.name}"
    return ""
