"""Slots: where a loop factor can go in a mapping.

For each level, innermost first, its temporal loops and then one slot per axis of the
fanout below it.  The CP-SAT model and the heuristic searchers enumerate the same slots
in the same order (:func:`slots_of`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .arch import Arch


@dataclass(frozen=True)
class Slot:
    """The temporal loops of ``level`` (``axis`` None) or one axis of the fanout below
    ``level``, of ``size`` PEs or nodes (0 for temporal slots)."""

    level: int
    axis: str | None = None
    size: int = 0

    @property
    def spatial(self) -> bool:
        return self.axis is not None


def slots_of(arch: Arch) -> tuple[Slot, ...]:
    """Every slot of ``arch``: per level (innermost first) its temporal slot, then its
    fanout's axes in the order the architecture lists them."""
    out: list[Slot] = []
    for i, lv in enumerate(arch.levels):
        out.append(Slot(i))
        if lv.fanout is not None:
            out.extend(Slot(i, ax, n) for ax, n in lv.fanout.axes)
    return tuple(out)
