"""Mappings as the batch evaluator's arrays, and batch results in the scalar Result's
form, written here from the documented array layout (cpmap/cost/batch.py) without the
searchers' genome conversion, so the tests check that layout independently."""

from __future__ import annotations

import numpy as np

from cpmap.core.arch import Arch
from cpmap.core.mapping import Mapping
from cpmap.core.problem import Problem
from cpmap.core.slots import slots_of


def mapping_arrays(problem: Problem, arch: Arch, mappings: list[Mapping]):
    """(factors (B, D, S), orders (B, L, D), keeps (B, L, T)) of structurally valid
    mappings: loops listed in a level, in their order, then the absent dims."""
    slots = slots_of(arch)
    dims = list(problem.dims)
    D, S, L = len(dims), len(slots), len(arch.levels)
    factors = np.ones((len(mappings), D, S), dtype=np.int64)
    orders = np.zeros((len(mappings), L, D), dtype=np.int64)
    keeps = np.zeros((len(mappings), L, len(problem.tensors)), dtype=bool)
    for b, m in enumerate(mappings):
        for i, lm in enumerate(m.levels):
            temporal = slots.index(next(s for s in slots if s.level == i and s.axis is None))
            listed = []
            for d, f in lm.temporal:
                factors[b, dims.index(d), temporal] *= f
                listed.append(dims.index(d))
            orders[b, i] = listed + [k for k in range(D) if k not in listed]
            for axis, loops in lm.spatial:
                s = slots.index(next(s for s in slots if s.level == i and s.axis == axis))
                for d, f in loops:
                    factors[b, dims.index(d), s] *= f
            keeps[b, i] = [t in lm.keeps for t in problem.tensor_names]
    return factors, orders, keeps


def as_result_dict(problem: Problem, arch: Arch, batch, keeps, b: int) -> dict:
    """Mapping ``b`` of a BatchResult in the scalar ``Result.to_json()`` form (without
    ``errors``, ``macs`` and the MAC energy, which the batch path does not report); ``keeps`` is the
    batch's keeps array (tiles are listed for the kept tensors, as the scalar does)."""
    names = problem.tensor_names
    levels = [lv.name for lv in arch.levels]
    fanned = [(j, lv.fanout.name) for j, lv in enumerate(arch.levels) if lv.fanout is not None]
    breakdown = {lv: {t: float(batch.level_pj[b, i, k]) for k, t in enumerate(names)}
                 for i, lv in enumerate(levels)}
    breakdown["network"] = {name: float(batch.network_pj[b, j]) for j, name in fanned}
    return {
        "valid": bool(batch.valid[b]),
        "energy_pj": float(batch.energy_pj[b]),
        "energy_breakdown": breakdown,
        "accesses": {lv: {t: {"reads": int(batch.reads[b, i, k]), "writes": int(batch.writes[b, i, k])}
                          for k, t in enumerate(names)} for i, lv in enumerate(levels)},
        "network_words": {name: int(batch.network_words[b, j]) for j, name in fanned},
        "tiles": {lv: {t: int(batch.tiles[b, i, k]) for k, t in enumerate(names) if keeps[b, i, k]}
                  for i, lv in enumerate(levels)},
        "cycles": int(batch.cycles[b]),
        "compute_cycles": int(batch.compute_cycles[b]),
        "utilization": float(batch.utilization[b]),
    }


def scalar_dict(result) -> dict:
    """The scalar Result in the same form."""
    out = result.to_json()
    del out["errors"], out["macs"]
    out["energy_breakdown"] = {k: v for k, v in out["energy_breakdown"].items() if k != "mac"}
    return out
