"""Mapping: loop blocking, loop order, spatial unrolling and bypass for one layer.

A mapping has one :class:`LevelMapping` per architecture level, innermost first (aligned
with ``Arch.levels``).  Each holds the level's temporal loops in nest order (outer to
inner), the tensors it keeps, and the spatial loops of the fanout below it (per axis).
The whole nest, outer to inner, is: for each level from the outermost, its temporal
loops, then the spatial loops of the fanout below it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .arch import Arch
from .problem import Problem

Loop = tuple[str, int]
"""(dim, factor)"""


@dataclass(frozen=True)
class LevelMapping:
    level: str
    temporal: tuple[Loop, ...]
    keeps: frozenset[str]
    spatial: tuple[tuple[str, tuple[Loop, ...]], ...] = ()
    """(axis, loops) for the fanout below this level; empty when there is none or no
    loop is unrolled."""
    forward: frozenset[str] = frozenset()
    """Input tensors (W, I) whose tiles the nodes of this level's mesh fanout fetch by
    access forwarding (docs/cost-model.md section 10); empty: none."""
    share: frozenset[str] = frozenset()
    """Input tensors held by buffer sharing in the buffers of this level's mesh nodes (one
    distributed copy per group of nodes needing a tile); empty: none."""

    def spatial_loops(self) -> tuple[Loop, ...]:
        return tuple(loop for _, loops in self.spatial for loop in loops)


@dataclass(frozen=True)
class Mapping:
    levels: tuple[LevelMapping, ...]

    def factors(self) -> dict[str, int]:
        """Product of every loop factor per dim (temporal and spatial)."""
        out: dict[str, int] = {}
        for lm in self.levels:
            for d, f in lm.temporal:
                out[d] = out.get(d, 1) * f
            for _, loops in lm.spatial:
                for d, f in loops:
                    out[d] = out.get(d, 1) * f
        return out

    def structural_errors(self, problem: Problem, arch: Arch) -> list[str]:
        """Errors that make the mapping meaningless for this problem and architecture
        (unknown names, factors that do not multiply to the dims).  Resource limits
        (capacity, fanout size, bypass rules) are checked by the evaluator."""
        errs: list[str] = []
        if tuple(lm.level for lm in self.levels) != arch.level_names:
            errs.append(f"levels must be {list(reversed(arch.level_names))} (outer to inner), got "
                        f"{list(reversed([lm.level for lm in self.levels]))}")
            return errs
        dims = set(problem.dims)
        tensors = set(problem.tensor_names)
        for lm, lv in zip(self.levels, arch.levels):
            errs += _loop_errors(lm.temporal, dims, lm.level, "temporal", problem.dims)
            unknown_t = lm.keeps - tensors
            if unknown_t:
                errs.append(f"{lm.level}.keeps: unknown tensors {sorted(unknown_t)} for a "
                            f"{problem.kind} layer (tensors are {list(problem.tensor_names)})")
            errs += _forward_errors(lm, lv, tensors)
            if lm.spatial and lv.fanout is None:
                errs.append(f"{lm.level}.spatial: level {lm.level} has no fanout below it")
                continue
            for axis, loops in lm.spatial:
                if lv.fanout is not None and axis not in dict(lv.fanout.axes):
                    errs.append(f"{lm.level}.spatial: unknown axis {axis!r} of fanout {lv.fanout.name} "
                                f"(axes are {[a for a, _ in lv.fanout.axes]})")
                errs += _loop_errors(loops, dims, lm.level, f"spatial.{axis}")
        if errs:
            return errs
        got = self.factors()
        for d, size in zip(problem.dims, problem.sizes):
            if got.get(d, 1) != size:
                errs.append(f"factors of {d} multiply to {got.get(d, 1)}, expected {size}")
        return errs

    def fanout_errors(self, arch: Arch) -> list[str]:
        """Spatial loops that do not fit their fanout axis."""
        errs = []
        for lm, lv in zip(self.levels, arch.levels):
            if lv.fanout is None or not lm.spatial:
                continue
            sizes = dict(lv.fanout.axes)
            for axis, loops in lm.spatial:
                if axis not in sizes:
                    continue  # unknown axes are structural errors
                used = math.prod(f for _, f in loops)
                size = sizes[axis]
                if used > size:
                    errs.append(f"{lm.level}.spatial.{axis}: unrolls {used} > {size} "
                                f"({lv.fanout.name} axis {axis}; over by {used / size:.2f}x)")
        return errs


def _loop_errors(loops: tuple[Loop, ...], dims: set[str], level: str, part: str,
                 listed: tuple[str, ...] | None = None) -> list[str]:
    """Unknown or repeated dims and non-positive-integer factors among ``loops`` (one
    level's temporal loops or one fanout axis's spatial loops), each error at
    ``level.part``; an unknown dim's error lists the dims ``listed``."""
    errs: list[str] = []
    seen: set[str] = set()
    for d, f in loops:
        if d not in dims:
            errs.append(f"{level}.{part}: unknown dim {d!r}" + (f" (dims are {list(listed)})" if listed else ""))
        if d in seen:
            errs.append(f"{level}.{part}: dim {d} appears twice")
        seen.add(d)
        if not isinstance(f, int) or isinstance(f, bool) or f < 1:
            errs.append(f"{level}.{part}.{d}: factor must be an integer >= 1, got {f!r}")
    return errs


def _forward_errors(lm: LevelMapping, lv, tensors: set) -> list[str]:
    """A forwarded or shared tensor must be an input of the layer, on a mesh that allows
    the option, and not both."""
    errs = []
    for key, option in (("forward", "forwarding"), ("share", "sharing")):
        listed = getattr(lm, key)
        if not listed:
            continue
        if lv.fanout is None or not getattr(lv.fanout, option):
            errs.append(f"{lm.level}.{key}: level {lm.level} has no mesh fanout with {option}: true")
            continue
        bad = sorted(listed - (tensors - {"O"}))
        if bad:
            inputs = ", ".join(sorted(tensors - {"O"}))
            errs.append(f"{lm.level}.{key}: expected input tensors of the layer ({inputs}), got {bad}")
    both = sorted(lm.forward & lm.share)
    if both:
        errs.append(f"{lm.level}.share: {both} also in forward; a tensor is forwarded or shared, not both")
    return errs
