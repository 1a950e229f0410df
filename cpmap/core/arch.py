"""Architecture: storage levels (innermost first) and the fanouts between them.

A :class:`Fanout` attached to level ``i`` replicates level ``i - 1`` (and everything
below it) across named spatial axes; the PE array is the fanout of the global buffer,
a node array the fanout of DRAM.  All energies are pJ per word; bandwidths are words
per cycle per instance; capacities are words per instance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from .problem import TENSORS


@lru_cache(maxsize=1024)
def bandwidth_ratio(bandwidth: float) -> tuple[int, int]:
    """(p, q), the bandwidth (words per cycle) as the exact fraction p / q of the decimal
    it was written as (``repr``: 0.7 is 7/10, not the binary float just below it)."""
    f = Fraction(repr(bandwidth))
    return f.numerator, f.denominator


def bandwidth_cycles(words: int, instances: int, bandwidth: float) -> int:
    """ceil(words / instances / bandwidth) in exact integer arithmetic: the cycles a level
    needs to move ``words`` (total over its ``instances``) at ``bandwidth`` words per cycle
    per instance.  Float division would give 31 cycles for 21 words at 0.7 words/cycle."""
    p, q = bandwidth_ratio(bandwidth)
    return -(-words * q // (instances * p))


@dataclass(frozen=True)
class Fanout:
    """A spatial array between a level and the level below it.

    ``energy_pj`` is charged per word delivered to (or sent up from) each child.
    ``multicast``: one parent read serves every child that needs the same tile at the
    same time.  ``reduction``: partial sums of children that share an output tile are
    added in the network before one update reaches the parent.
    """

    name: str
    axes: tuple[tuple[str, int], ...]
    multicast: bool = True
    reduction: bool = True
    energy_pj: float = 0.0

    def __post_init__(self) -> None:
        if not self.axes:
            raise ValueError(f"fanout {self.name} has no axes")
        if any(n < 1 for _, n in self.axes):
            raise ValueError(f"fanout {self.name} axis sizes must be >= 1")
        if len({a for a, _ in self.axes}) != len(self.axes):
            raise ValueError(f"fanout {self.name} has duplicate axis names")

    @property
    def size(self) -> int:
        return math.prod(n for _, n in self.axes)

    def axis_size(self, axis: str) -> int:
        return dict(self.axes)[axis]


@dataclass(frozen=True)
class Level:
    """One storage level.  ``capacity`` is shared by the tensors kept here (words per
    instance); ``partitions`` instead gives each tensor its own capacity.  Both None means
    unbounded (only the outermost level).  ``keeps`` lists the tensors the level may keep;
    the others must bypass it.  ``fanout`` is the spatial array below this level."""

    name: str
    keeps: frozenset[str]
    read_pj: float
    write_pj: float
    capacity: int | None = None
    partitions: tuple[tuple[str, int], ...] | None = None
    read_bandwidth: float | None = None
    write_bandwidth: float | None = None
    fanout: Fanout | None = None

    def __post_init__(self) -> None:
        if not self.keeps <= set(TENSORS):
            raise ValueError(f"level {self.name}: unknown tensors in keeps {sorted(self.keeps)}")
        if self.capacity is not None and self.partitions is not None:
            raise ValueError(f"level {self.name}: give capacity or partitions, not both")
        if self.capacity is not None and self.capacity < 1:
            raise ValueError(f"level {self.name}: capacity must be >= 1 word")
        if self.partitions is not None:
            names = {t for t, _ in self.partitions}
            if len(names) != len(self.partitions):
                raise ValueError(f"level {self.name}: a tensor appears twice in partitions")
            if names != set(self.keeps):
                raise ValueError(f"level {self.name}: partitions {sorted(names)} must match keeps "
                                 f"{sorted(self.keeps)}")
            if any(w < 1 for _, w in self.partitions):
                raise ValueError(f"level {self.name}: partition sizes must be >= 1 word")
        for bw in (self.read_bandwidth, self.write_bandwidth):
            if bw is not None and bw <= 0:
                raise ValueError(f"level {self.name}: bandwidth must be > 0")

    @property
    def unbounded(self) -> bool:
        return self.capacity is None and self.partitions is None

    def partition(self, tensor: str) -> int | None:
        return dict(self.partitions)[tensor] if self.partitions is not None else None


@dataclass(frozen=True)
class Arch:
    """``levels`` innermost first; the last level is outermost (DRAM), unbounded and
    keeps every tensor."""

    name: str
    word_bits: int
    mac_pj: float
    levels: tuple[Level, ...]

    def __post_init__(self) -> None:
        if self.word_bits < 1:
            raise ValueError(f"word_bits must be >= 1, got {self.word_bits}")
        if len(self.levels) < 2:
            raise ValueError("an architecture needs at least two levels")
        names = [lv.name for lv in self.levels]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate level names {names}")
        if self.levels[0].fanout is not None:
            raise ValueError("the innermost level cannot have a fanout below it")
        top = self.levels[-1]
        if not top.unbounded:
            raise ValueError(f"outermost level {top.name} must be unbounded")
        if top.keeps != set(TENSORS):
            raise ValueError(f"outermost level {top.name} must keep W, I and O")
        for lv in self.levels[:-1]:
            if lv.unbounded:
                raise ValueError(f"level {lv.name} needs a capacity (only the outermost is unbounded)")
        fan_names = [lv.fanout.name for lv in self.levels if lv.fanout is not None]
        if len(set(fan_names) | set(names)) != len(fan_names) + len(names):
            raise ValueError("fanout and level names must all be distinct")

    @property
    def level_names(self) -> tuple[str, ...]:
        return tuple(lv.name for lv in self.levels)

    def level_index(self, name: str) -> int:
        return self.level_names.index(name)

    @property
    def pes(self) -> int:
        """Instances of the innermost level (PEs x nodes)."""
        return math.prod(lv.fanout.size for lv in self.levels if lv.fanout is not None)
