"""Node regions of a mesh: where one layer of a spatial pipeline runs (docs/pipeline.md,
"Spatial variants").

A :class:`Region` is a rectangle of the node array: its first node ``(row, col)`` and its
size ``rows x cols``.  A layer on a region is solved, evaluated and walked by the oracle
on :func:`on_region`'s architecture: the same levels with the mesh fanout cut to the
region's shape and its memory channels left where the whole mesh has them (at the
corners of the whole mesh for ``memory: corners``), in coordinates relative to the
region's first node.  Every hop count of docs/cost-model.md section 10 is a difference of
coordinates, so a mapping on the region costs exactly what it costs placed at the region's
position of the whole mesh (tests/test_region.py checks this against the oracle, which
places the nodes at their absolute positions instead).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .arch import Arch, MeshMemory
from .errors import CpmapError


@dataclass(frozen=True)
class Region:
    """Nodes ``row .. row + rows - 1`` x ``col .. col + cols - 1`` of a mesh."""

    row: int
    col: int
    rows: int
    cols: int

    def __post_init__(self) -> None:
        if min(self.row, self.col) < 0 or min(self.rows, self.cols) < 1:
            raise ValueError(f"a region needs a first node >= (0, 0) and a size >= 1x1, got {self}")

    @property
    def nodes(self) -> int:
        return self.rows * self.cols

    @property
    def label(self) -> str:
        """``(row, col) rows x cols``, as reports print it."""
        return f"({self.row},{self.col}) {self.rows}x{self.cols}"

    def fits(self, shape: tuple[int, int]) -> bool:
        return self.row + self.rows <= shape[0] and self.col + self.cols <= shape[1]

    def overlaps(self, other: Region) -> bool:
        return not (self.row + self.rows <= other.row or other.row + other.rows <= self.row
                    or self.col + self.cols <= other.col or other.col + other.cols <= self.col)

    def distance(self, other: Region) -> int:
        """The fewest links (XY routes: Manhattan distance) from a node of one region to a
        node of the other: the gap between their row spans plus that of their column
        spans; 0 when they share a node."""
        gap_r = max(0, other.row - (self.row + self.rows - 1), self.row - (other.row + other.rows - 1))
        gap_c = max(0, other.col - (self.col + self.cols - 1), self.col - (other.col + other.cols - 1))
        return gap_r + gap_c


def mesh_level(arch: Arch, where: str = "region") -> int:
    """Index of the level whose fanout is ``arch``'s one mesh; a clear error (starting with
    ``where``) when it has none or several."""
    meshes = [i for i, lv in enumerate(arch.levels) if lv.fanout is not None and lv.fanout.mesh]
    if len(meshes) != 1:
        raise CpmapError(f"{where}: expected an architecture with one mesh fanout (a node array), "
                         f"{arch.name} has {len(meshes) or 'none'}")
    return meshes[0]


def on_region(arch: Arch, region: Region) -> Arch:
    """``arch`` with its mesh cut to ``region`` (module docstring); a
    :class:`CpmapError` when the region does not fit the mesh."""
    j = mesh_level(arch)
    lv = arch.levels[j]
    if lv.memory.mesh_shape is not None:
        raise CpmapError(f"{arch.name}: already a region of a larger mesh")
    shape = lv.fanout.shape
    if not region.fits(shape):
        raise CpmapError(f"region {region.label} is not inside the {shape[0]}x{shape[1]} mesh of {arch.name}")
    (ry, _), (rx, _) = lv.fanout.axes
    fan = replace(lv.fanout, axes=((ry, region.rows), (rx, region.cols)))
    mem = MeshMemory(lv.memory.placement, lv.memory.channels, lv.memory.bandwidth, shape, (region.row, region.col))
    levels = list(arch.levels)
    levels[j] = replace(lv, fanout=fan, memory=mem)
    return replace(arch, name=f"{arch.name}@{region.label}", levels=tuple(levels))


def bands(shape: tuple[int, int], n: int, work: tuple[int, ...] | None = None) -> list[tuple[Region, ...]]:
    """Every split of a ``rows x cols`` mesh into ``n`` disjoint bands for ``n`` layers in
    order: the rows cut into ``n`` contiguous non-empty runs (each band full width, layer
    ``k`` in the ``k``-th run from the top), every composition, then the columns likewise
    (from the left).  A 1-layer split is the whole mesh; a 1-row or 1-column mesh has
    only the bands along its long side (a split found both ways counts once).  With
    ``work`` (e.g. each layer's MACs), only the split of each direction whose slowest
    layer has the least work per row or column (``max work[k] / size[k]``; the first on
    ties): bands sized in proportion to the work, as nn_dataflow sizes its regions."""
    rows, cols = shape
    out: list[tuple[Region, ...]] = []
    for along, size in ((0, rows), (1, cols)):
        comps = _compositions(size, n)
        if work is not None and comps:
            comps = [min(comps, key=lambda c: max(w / s for w, s in zip(work, c)))]
        for sizes in comps:
            regs, start = [], 0
            for s in sizes:
                regs.append(Region(start, 0, s, cols) if along == 0 else Region(0, start, rows, s))
                start += s
            if tuple(regs) not in out:
                out.append(tuple(regs))
    return out


def _compositions(total: int, parts: int) -> list[tuple[int, ...]]:
    """Ordered ways to write ``total`` as ``parts`` positive integers."""
    if parts == 1:
        return [(total,)] if total >= 1 else []
    return [(first, *rest) for first in range(1, total - parts + 2) for rest in _compositions(total - first, parts - 1)]
