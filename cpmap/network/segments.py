"""Candidate segments of a network and their temporal variants (docs/pipeline.md).

**Segment rule.**  A segment is a run of consecutive layers ``l1 .. ln`` of the workload (in
its topological order), ``n <= max_degree``, where every later layer reads only its
predecessor (``inputs == (previous,)``) and every inner layer's output is read by no other
layer of the workload.  So each intermediate has exactly one producer and one consumer,
both in the segment, and need never reach DRAM.  Pool and eltwise layers join their
producer like any layer; an eltwise (or any layer) with a second input -- a residual add --
can only *start* a segment, because its input tensor would be partly in DRAM.

**Temporal variant.**  The layers run one after another on the whole array; the
intermediate ``O`` of ``lk`` and the ``I`` of ``lk+1`` are resident in the buffer level
(:func:`buffer_level`).  With ``g`` batch groups each layer is solved at batch ``N / g`` and
the segment repeats ``g`` times: the resident data are one group's share, weights are read
again for every group.  A variant whose resident data alone overflow the buffer is not
listed (:func:`resident_fits`: no mapping could exist, so nothing is solved); one that
proves INFEASIBLE in its layer solves is not a candidate either.  Single-layer segments are layer-by-layer: no residency, one group.

**Spatial variant** (on a mesh of nodes).  Layer ``lk`` runs on the ``k``-th of ``n``
disjoint bands of the mesh (:func:`cpmap.core.region.bands`: the rows, or the columns,
cut into ``n`` contiguous runs, every composition), solved on the mesh cut to its band
(:func:`cpmap.core.region.on_region`); the intermediates are resident in the buffer level
of both regions (each node its share), moved from the producer's nodes to the
consumer's (:mod:`.exchange`).  Batch groups as for temporal variants.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import pairwise

from ..core.arch import Arch
from ..core.errors import CpmapError
from ..core.problem import Problem
from ..core.region import Region, bands, mesh_level, on_region
from ..core.residency import instances_above, with_resident
from ..core.workload import Layer
from .exchange import linked, on_nodes


@dataclass(frozen=True)
class Variant:
    """One way to run one segment: ``layers`` (names, in order) in ``groups`` batch groups;
    ``problems[k]`` is what layer ``k`` is solved as (batch share, resident I and/or O);
    ``buffer`` is where the intermediates live (None for a single layer); ``regions``:
    a spatial variant's node region per layer (None: every layer on the whole array)."""

    layers: tuple[str, ...]
    groups: int
    problems: tuple[Problem, ...]
    buffer: str | None
    regions: tuple[Region, ...] | None = None

    @property
    def spatial(self) -> bool:
        return self.regions is not None

    @property
    def label(self) -> str:
        where = f" via {self.buffer}" if self.buffer else ""
        if self.regions is not None:
            where += " on " + " | ".join(r.label for r in self.regions)
        return f"{'+'.join(self.layers)}{where} x{self.groups}"

    def solve_keys(self) -> tuple:
        """What each layer is solved as: (problem, its node region or None), the key of
        its answer (a problem on two regions is two problems: the channels are elsewhere)."""
        return tuple((p, None if self.regions is None else self.regions[k]) for k, p in enumerate(self.problems))

    def arch_of(self, k: int, arch: Arch) -> Arch:
        """The architecture layer ``k`` is solved on: ``arch``, or cut to its region."""
        return arch if self.regions is None else on_region(arch, self.regions[k])


def buffer_level(arch: Arch, where: str = "pipeline") -> str:
    """The on-chip level intermediates stay in: the outermost one that may keep both I and
    O with no fanout above it, or with exactly one mesh above it (per-node buffers of a
    node array: each node holds its share, and moves between partitions are priced by
    the mesh, :mod:`.exchange`).  A clear error if there is none, starting with ``where``
    (the spec file and field that asked for the pipeline)."""
    for i in range(len(arch.levels) - 2, -1, -1):
        lv = arch.levels[i]
        above = [up.fanout for up in arch.levels[i + 1:] if up.fanout is not None]
        if above and (len(above) > 1 or not above[0].mesh):
            break
        if {"I", "O"} <= lv.keeps:
            return lv.name
    raise CpmapError(f"{where}: expected mode none on architecture {arch.name}: it has no on-chip level that "
                     "may keep I and O with no fanout or one mesh above it, so intermediates cannot stay on "
                     "chip (temporal pipelining needs one)")


def segments(layers: tuple[Layer, ...], max_degree: int) -> list[tuple[int, ...]]:
    """Every segment (layer indices into ``layers``) by the rule of the module docstring,
    shortest first from each start."""
    consumers: dict[str, int] = {}
    for lay in layers:
        for src in lay.inputs:
            consumers[src] = consumers.get(src, 0) + 1
    out = []
    for a in range(len(layers)):
        seg = [a]
        out.append((a,))
        for b in range(a + 1, min(len(layers), a + max_degree)):
            prev = layers[b - 1].name
            if layers[b].inputs != (prev,) or consumers.get(prev, 0) != 1:
                break
            seg.append(b)
            out.append(tuple(seg))
    return out


def batch_share(problem: Problem, groups: int) -> Problem:
    """``problem`` for one of ``groups`` equal batch groups (dim N divided)."""
    if groups == 1:
        return problem
    size = problem.size
    if "N" not in size or size["N"] % groups:
        raise ValueError(f"{problem.name}: {groups} batch groups need a batch dim N divisible by it")
    return replace(problem, sizes=tuple(s // groups if d == "N" else s for d, s in zip(problem.dims, problem.sizes)))


def resident_fits(problem: Problem, arch: Arch) -> bool:
    """Whether the resident tensors alone can fit their level (capacity, or each its
    partition); at a level with ``n`` instances each holds a share of at least ``1/n`` of
    the tensor (the shares cover it).  When they cannot, no mapping exists (every mapping's
    tiles include them), so the variant is dropped without a solve; the layer solve would
    prove it INFEASIBLE."""
    by_level: dict[str, int] = {}
    for t, lv_name in problem.resident:
        i = arch.level_index(lv_name)
        least = -(-problem.tensor_words(t) // instances_above(arch, i))
        by_level[lv_name] = by_level.get(lv_name, 0) + least
        lv = arch.levels[i]
        if lv.partitions is not None and least > lv.partition(t):
            return False
    return all(arch.levels[arch.level_index(n)].capacity is None
               or w <= arch.levels[arch.level_index(n)].capacity for n, w in by_level.items())


def _groups_fit(problems, groups: int) -> bool:
    return all("N" in p.size and p.size["N"] % groups == 0 for p in problems)


def spatial_mesh(arch: Arch, where: str = "pipeline") -> tuple[int, int]:
    """(rows, columns) of the mesh a spatial pipeline cuts into regions; a clear error
    (starting with ``where``) when ``arch`` has no single mesh with the intermediates'
    buffer level below it, or has static energy (whole-chip energy per cycle has no
    share per region while the stages overlap)."""
    try:
        j = mesh_level(arch, where)
    except CpmapError:
        raise CpmapError(f"{where}: expected none or temporal on architecture {arch.name}: spatial pipelining "
                         "needs a node array (one fanout with topology: mesh)") from None
    buf = buffer_level(arch, where)
    if arch.level_index(buf) >= j:
        raise CpmapError(f"{where}: expected none or temporal on architecture {arch.name}: spatial pipelining "
                         f"needs the intermediates' buffer ({buf}) below its mesh")
    if arch.static_pj_per_cycle > 0:
        raise CpmapError(f"{where}: expected none or temporal on architecture {arch.name}: spatial pipelining "
                         "does not model static energy (static_energy_pj_per_cycle > 0)")
    return arch.levels[j].fanout.shape


def _multi(lays: list[Layer], g: int, buf: str) -> list[Problem]:
    """The layers of a multi-layer segment at batch share ``1/g``, intermediates resident."""
    probs = []
    for k, lay in enumerate(lays):
        res = ({"I": buf} if k > 0 else {}) | ({"O": buf} if k < len(lays) - 1 else {})
        probs.append(with_resident(batch_share(lay.problem, g), res))
    return probs


def variants(layers: tuple[Layer, ...], arch: Arch, max_degree: int, batch_groups: tuple[int, ...],
             where: str = "pipeline", mode: str = "temporal", regions: str = "all") -> list[Variant]:
    """Every candidate (segment, variant): single layers alone (on the whole array), and
    each multi-layer segment once per number of batch groups that divides its layers'
    batch, temporally (``mode`` temporal or both) and on every band split of the mesh
    (``mode`` spatial or both; ``regions`` balanced: per direction the split balanced by
    the layers' MACs).  ``where``: see :func:`buffer_level`."""
    shape = spatial_mesh(arch, where) if mode in ("spatial", "both") and max_degree > 1 else None
    buf = buffer_level(arch, where) if max_degree > 1 else None
    out = []
    for seg in segments(layers, max_degree):
        lays = [layers[k] for k in seg]
        names = tuple(lay.name for lay in lays)
        if len(seg) == 1:
            out.append(Variant(names, 1, (lays[0].problem,), None))
            continue
        if on_nodes(arch, buf) and not all(linked(a.problem, b.problem) for a, b in pairwise(lays)):
            continue  # no element correspondence between an output and the next input
        for g in sorted(set(batch_groups)):
            if not _groups_fit([lay.problem for lay in lays], g):
                continue
            probs = _multi(lays, g, buf)
            if mode in ("temporal", "both") and all(resident_fits(p, arch) for p in probs):
                out.append(Variant(names, g, tuple(probs), buf))
            work = tuple(lay.problem.macs for lay in lays) if regions == "balanced" else None
            for regs in bands(shape, len(seg), work) if shape is not None else ():
                if all(resident_fits(p, on_region(arch, r)) for p, r in zip(probs, regs)):
                    out.append(Variant(names, g, tuple(probs), buf, regs))
    return out
