"""Architecture: storage levels (innermost first) and the fanouts between them.

A :class:`Fanout` attached to level ``i`` replicates level ``i - 1`` (and everything
below it) across named spatial axes; the PE array is the fanout of the global buffer,
a node array the fanout of DRAM.  All energies are pJ per word; bandwidths are words
per cycle per instance; capacities are words per instance.  A fanout may be a 2D mesh
(``topology="mesh"``: axes are its rows then its columns) whose level says where memory
attaches (:class:`MeshMemory`); hops are priced by :mod:`cpmap.cost.noc`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from .problem import TENSORS

TOPOLOGIES = ("flat", "mesh")
MAX_MESH_NODES = 1024
"""Nodes of one mesh fanout at most (32 x 32; nn_dataflow's arrays are 16 x 16 and below):
hop counting serves every group from every channel, quadratic in the nodes with per-node
memory."""
PLACEMENTS = ("corners", "per_node", "channels")


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
    added in the network before one update reaches the parent.  ``topology="mesh"``: the
    children are nodes of a 2D mesh, ``axes`` = (rows, columns), and every word is also
    charged ``hop_energy_pj`` per link it crosses (docs/cost-model.md, section 10).
    ``forwarding`` (mesh only): a mapping may choose, per input tensor, TANGRAM's access
    forwarding across this mesh (docs/cost-model.md, section 10, "Access forwarding").
    """

    name: str
    axes: tuple[tuple[str, int], ...]
    multicast: bool = True
    reduction: bool = True
    energy_pj: float = 0.0
    topology: str = "flat"
    hop_energy_pj: float = 0.0
    forwarding: bool = False
    sharing: bool = False

    def __post_init__(self) -> None:
        if not self.axes:
            raise ValueError(f"fanout {self.name} has no axes")
        if any(n < 1 for _, n in self.axes):
            raise ValueError(f"fanout {self.name} axis sizes must be >= 1")
        if len({a for a, _ in self.axes}) != len(self.axes):
            raise ValueError(f"fanout {self.name} has duplicate axis names")
        if self.topology not in TOPOLOGIES:
            raise ValueError(f"fanout {self.name}: topology must be one of {', '.join(TOPOLOGIES)}, "
                             f"got {self.topology!r}")
        if self.mesh and len(self.axes) != 2:
            raise ValueError(f"fanout {self.name}: a mesh has exactly two axes (rows, then columns), "
                             f"got {len(self.axes)}")
        if self.mesh and self.size > MAX_MESH_NODES:
            raise ValueError(f"fanout {self.name}: a mesh has at most {MAX_MESH_NODES:,} nodes, got "
                             f"{self.axes[0][1]:,} x {self.axes[1][1]:,}")
        if not self.mesh and self.hop_energy_pj != 0:
            raise ValueError(f"fanout {self.name}: hop_energy_pj needs topology mesh")
        for option in ("forwarding", "sharing"):
            if getattr(self, option) and not self.mesh:
                raise ValueError(f"fanout {self.name}: {option} needs topology mesh")
        if self.hop_energy_pj < 0:
            raise ValueError(f"fanout {self.name}: hop_energy_pj must be >= 0")

    @property
    def mesh(self) -> bool:
        return self.topology == "mesh"

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of a mesh."""
        return self.axes[0][1], self.axes[1][1]

    @property
    def size(self) -> int:
        return math.prod(n for _, n in self.axes)

    def axis_size(self, axis: str) -> int:
        return dict(self.axes)[axis]


@dataclass(frozen=True)
class MeshMemory:
    """Where the memory of a level with a mesh fanout attaches to the mesh.

    ``placement``: ``corners`` (nn_dataflow's 2D memory: one channel at each corner
    node), ``per_node`` (a vault above every node: 0 hops) or ``channels`` (the
    (row, column) coordinates in ``channels``).  ``bandwidth``: words per cycle per
    channel, both directions together (None: unlimited).

    ``mesh_shape`` and ``origin`` (set by :func:`cpmap.core.region.on_region`, never by a
    spec): the fanout is the region at ``origin`` (row, column) of a larger mesh of
    ``mesh_shape``, and the channels stay where that mesh has them, in coordinates
    relative to the region's first node (so possibly outside it: routes from a channel
    cross the rest of the mesh)."""

    placement: str
    channels: tuple[tuple[int, int], ...] = ()
    bandwidth: float | None = None
    mesh_shape: tuple[int, int] | None = None
    origin: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        if self.placement not in PLACEMENTS:
            raise ValueError(f"memory must be one of {', '.join(PLACEMENTS)}, got {self.placement!r}")
        if (self.placement == "channels") != bool(self.channels):
            raise ValueError("explicit channel coordinates go with placement 'channels' only")
        if len(set(self.channels)) != len(self.channels):
            raise ValueError(f"channel coordinates must be distinct, got {list(self.channels)}")
        if self.bandwidth is not None and self.bandwidth <= 0:
            raise ValueError("channel_bandwidth must be > 0 words per cycle")

    def coordinates(self, rows: int, cols: int) -> tuple[tuple[int, int], ...]:
        """The channels' (row, column) on a rows x cols mesh, in tie-break order.  On a
        region of a larger mesh: that mesh's channels moved by ``-origin``; with a vault
        under every node only the region's own (a group is best served inside its
        bounding box, section 10, so the others would never serve it)."""
        if self.mesh_shape is not None and self.placement != "per_node":
            r0, c0 = self.origin
            whole = MeshMemory(self.placement, self.channels).coordinates(*self.mesh_shape)
            return tuple((r - r0, c - c0) for r, c in whole)
        if self.placement == "per_node":
            return tuple((r, c) for r in range(rows) for c in range(cols))
        if self.placement == "corners":
            corners = ((0, 0), (0, cols - 1), (rows - 1, 0), (rows - 1, cols - 1))
            return tuple(dict.fromkeys(corners))  # a 1-row mesh has 2 distinct corners
        return self.channels


@dataclass(frozen=True)
class Level:
    """One storage level.  ``capacity`` is shared by the tensors kept here (words per
    instance); ``partitions`` instead gives each tensor its own capacity.  Both None means
    unbounded (only the outermost level).  ``keeps`` lists the tensors the level may keep;
    the others must bypass it.  ``fanout`` is the spatial array below this level;
    ``memory`` says where this level attaches to it when it is a mesh."""

    name: str
    keeps: frozenset[str]
    read_pj: float
    write_pj: float
    capacity: int | None = None
    partitions: tuple[tuple[str, int], ...] | None = None
    read_bandwidth: float | None = None
    write_bandwidth: float | None = None
    fanout: Fanout | None = None
    memory: MeshMemory | None = None

    def __post_init__(self) -> None:
        self._check_memory()
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

    def _check_memory(self) -> None:
        mesh = self.fanout is not None and self.fanout.mesh
        if mesh and self.memory is None:
            raise ValueError(f"level {self.name}: a mesh fanout needs memory (corners, per_node or "
                             "channel coordinates)")
        if not mesh and self.memory is not None:
            raise ValueError(f"level {self.name}: memory needs a fanout with topology mesh")
        if mesh and self.memory.mesh_shape is not None:
            (rows, cols), (r0, c0), (h, w) = self.memory.mesh_shape, self.memory.origin, self.fanout.shape
            if not (0 <= r0 and 0 <= c0 and r0 + h <= rows and c0 + w <= cols):
                raise ValueError(f"level {self.name}: a {h}x{w} region at ({r0}, {c0}) is not inside the "
                                 f"{rows}x{cols} mesh")
        if mesh and self.memory.placement == "channels":
            rows, cols = self.memory.mesh_shape or self.fanout.shape
            bad = [rc for rc in self.memory.channels if not (0 <= rc[0] < rows and 0 <= rc[1] < cols)]
            if bad:
                raise ValueError(f"level {self.name}: channel {list(bad[0])} is outside the "
                                 f"{rows}x{cols} mesh (rows 0..{rows - 1}, columns 0..{cols - 1})")

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
    static_pj_per_cycle: float = 0.0
    """Static energy of the whole chip per cycle: energy = dynamic + static x cycles."""

    def __post_init__(self) -> None:
        if self.static_pj_per_cycle < 0:
            raise ValueError("static_energy_pj_per_cycle must be >= 0")
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
    def beyond_flat(self) -> bool:
        """Prices the flat network model does not have: mesh hops or static energy."""
        return self.static_pj_per_cycle > 0 or any(lv.fanout is not None and lv.fanout.mesh
                                                   for lv in self.levels)

    @property
    def pes(self) -> int:
        """Instances of the innermost level (PEs x nodes)."""
        return math.prod(lv.fanout.size for lv in self.levels if lv.fanout is not None)
