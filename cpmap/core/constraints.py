"""Restrictions on a layer's mapping space: by name, as users write them, and by level
index, as the model builders read them.

:class:`Constraints` names levels, fanout axes, dims and tensors (``spatial: {GBUF: {Y:
[C], X: [K]}}``); :meth:`Constraints.check` is the one place these names are validated
against an architecture (solve specs and the heuristic searchers' space both call it),
and :meth:`Constraints.resolve` turns them into a layer's :class:`ResolvedConstraints`.

``spatial`` says which dims *may* be unrolled on an axis; ``dataflow`` says which *must*
(``dataflow: {GBUF: {Y: [R], X: [P]}}`` or the shorthand of "DNN Dataflow Choice Is
Overrated", ``dataflow: {GBUF: "R|P"}``): each listed dim the layer has with a size > 1
gets a factor > 1 on that axis, and the axis carries no other dim unless ``spatial``
lists it for that axis too.  :func:`dataflow_conflict` says why a layer cannot meet it.

``partition`` names nn_dataflow's schemes per mesh axis (``partition: {DRAM: {NY: [batch,
fmap], NX: [output]}}``, or a preset ``{DRAM: naive}``); :meth:`Constraints.resolve` turns
them into the ``spatial`` may-lists of each layer's kind (:mod:`cpmap.core.partition`).
``min_nodes`` is a floor on the nodes a mesh fanout uses (the product of its factors).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .arch import Arch
from .errors import CpmapError
from .factors import prime_list
from .partition import PRESETS, SCHEMES, min_nodes_entries, partition_dims, partition_entries
from .problem import TENSORS, Problem


class ConstraintError(CpmapError):
    """A constraint that does not fit the architecture or the layers.  ``path`` is the
    dotted place inside a ``constraints:`` mapping, e.g. ``spatial.GBUF.Y[1]``."""

    def __init__(self, path: str, message: str):
        self.path, self.message = path, message
        super().__init__(f"constraints.{path}: {message}")


@dataclass(frozen=True)
class ResolvedConstraints:
    """One layer's constraints by level index (what the CP-SAT model and the search space
    read).  ``spatial_dims``: {(level, axis): dims allowed on that fanout axis};
    ``keeps``: {level: tensors it keeps, exactly}; ``min_utilization``: used PEs / PEs at
    least; ``max_factor``: {(level, dim): largest temporal factor}; ``required_dims``:
    {(level, axis): dims (in the layer's dim order) that must have a factor > 1 on that
    fanout axis}, from ``dataflow``; ``min_nodes``: {level: nodes its mesh fanout uses at
    least (the product of its spatial factors)}."""

    spatial_dims: dict = field(default_factory=dict)
    keeps: dict = field(default_factory=dict)
    min_utilization: float = 0.0
    max_factor: dict = field(default_factory=dict)
    required_dims: dict = field(default_factory=dict)
    min_nodes: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Constraints:
    """User constraints by name.

    ``spatial``: (level, axis, dims): only these dims may be unrolled on that axis of the
    fanout below the level; ``keeps``: (level, tensors): the level keeps exactly these
    tensors (a fixed bypass); ``min_utilization``: used PEs / PEs at least this;
    ``max_factor``: (level, dim, largest): the level's temporal factor of dim is at most
    ``largest``; ``dataflow``: (level, axis, dims): these dims *must* be unrolled on that
    axis (a factor > 1 wherever the layer's dim is > 1) and, unless ``spatial`` lists
    more for that axis, only they; the axis is a name, or a position (0 the fanout's first
    axis) when written in the shorthand ``"C|K"``; ``partition``: (level, axis, schemes):
    the mesh axis may carry only the dims of these nn_dataflow schemes (axis ``"*"``: every
    axis of the level's mesh, with a preset ``naive`` or ``hybrid``); ``min_nodes``:
    (level, nodes): the level's mesh fanout uses at least this many nodes (level ``""``:
    the architecture's only mesh).  Build one from nested dicts with :meth:`of`."""

    spatial: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    keeps: tuple[tuple[str, frozenset[str]], ...] = ()
    min_utilization: float = 0.0
    max_factor: tuple[tuple[str, str, int], ...] = ()
    dataflow: tuple[tuple[str, str | int, tuple[str, ...]], ...] = ()
    partition: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    min_nodes: tuple[tuple[str, int], ...] = ()

    @classmethod
    def of(cls, *, spatial: dict | None = None, keeps: dict | None = None, min_utilization: float = 0.0,
           max_factor: dict | None = None, dataflow: dict | None = None, partition: dict | None = None,
           min_nodes: int | dict | None = None) -> Constraints:
        """From the nested dicts of a solve spec's ``constraints:``, e.g.
        ``Constraints.of(spatial={"GBUF": {"Y": ["C"], "X": ["K"]}}, keeps={"RF": ["W"]},
        max_factor={"RF": {"C": 4}}, dataflow={"GBUF": "R|P"})``.  A ``dataflow`` value is
        ``{axis: [dims]}`` or the shorthand string (:func:`dataflow_sides`); a
        ``partition`` value ``{axis: [schemes]}`` or a preset name; ``min_nodes`` a count
        (for the only mesh) or ``{level: count}``."""
        return cls(
            spatial=tuple((lv, ax, tuple(ds)) for lv, axes in (spatial or {}).items() for ax, ds in axes.items()),
            keeps=tuple((lv, frozenset(ts)) for lv, ts in (keeps or {}).items()),
            min_utilization=float(min_utilization),
            max_factor=tuple((lv, d, m) for lv, lims in (max_factor or {}).items() for d, m in lims.items()),
            dataflow=tuple(entry for lv, v in (dataflow or {}).items() for entry in dataflow_entries(lv, v)),
            partition=tuple(e for lv, v in (partition or {}).items() for e in partition_entries(lv, v)),
            min_nodes=min_nodes_entries(min_nodes),
        )

    def check(self, arch: Arch, dims: tuple[str, ...], dims_of: str = "the layer") -> None:
        """Raise :class:`ConstraintError` at the first name that ``arch`` or ``dims`` (the
        dims of the layers the constraints are for, described as ``dims_of``) does not have,
        or the first value out of range."""
        fanned = tuple(lv.name for lv in arch.levels if lv.fanout is not None)
        for lv_name, ax, ds in self.spatial:
            path = f"spatial.{lv_name}"
            _level(arch, lv_name, path, "a level with a fanout", fanned)
            fanout = arch.levels[arch.level_index(lv_name)].fanout
            axes = [a for a, _ in fanout.axes]
            if ax not in axes:
                raise ConstraintError(f"{path}.{ax}", f"expected an axis of fanout {fanout.name} "
                                      f"({', '.join(axes)}), got {ax!r}")
            for i, d in enumerate(ds):
                _dim(d, dims, f"{path}.{ax}[{i}]", dims_of)
        for lv_name, ts in self.keeps:
            self._check_keeps(arch, lv_name, ts)
        if not 0.0 <= self.min_utilization <= 1.0:
            raise ConstraintError("min_utilization", f"expected a fraction from 0 to 1 (used PEs / PEs), "
                                  f"got {self.min_utilization!r}")
        for lv_name, d, m in self.max_factor:
            path = f"max_factor.{lv_name}"
            _level(arch, lv_name, path)
            _dim(d, dims, f"{path}.{d}", dims_of)
            if not isinstance(m, int) or isinstance(m, bool) or m < 1:
                raise ConstraintError(f"{path}.{d}", f"expected a positive integer, got {m!r}")
        self._check_dataflow(arch, dims, dims_of)
        self._check_partition(arch)

    def _check_partition(self, arch: Arch) -> None:
        meshes = tuple(lv.name for lv in arch.levels if lv.fanout is not None and lv.fanout.mesh)
        others = {lv for lv, _, _ in self.spatial} | {lv for lv, _, _ in self.dataflow}
        for lv_name, ax, schemes in self.partition:
            path = f"partition.{lv_name}"
            _level(arch, lv_name, path, "a level with a mesh fanout", meshes)
            if lv_name in others:
                raise ConstraintError(path, f"expected partition or spatial/dataflow for level {lv_name}, "
                                      "got both (state the dims with one of them)")
            fanout = arch.levels[arch.level_index(lv_name)].fanout
            axes = [a for a, _ in fanout.axes]
            if ax == "*":
                if schemes[0] not in PRESETS:
                    raise ConstraintError(path, f"expected a preset ({', '.join(PRESETS)}) or a mapping "
                                          f"{{axis: [schemes]}} over {', '.join(axes)}, got {schemes[0]!r}")
                continue
            if ax not in axes:
                raise ConstraintError(f"{path}.{ax}", f"expected an axis of mesh {fanout.name} "
                                      f"({', '.join(axes)}), got {ax!r}")
            for i, name in enumerate(schemes):
                if name not in SCHEMES:
                    raise ConstraintError(f"{path}.{ax}[{i}]", f"expected a partitioning scheme "
                                          f"({', '.join(SCHEMES)}), got {name!r}")
        for lv_name, n in self.min_nodes:
            path = f"min_nodes.{lv_name}" if lv_name else "min_nodes"
            if not lv_name and len(meshes) != 1:
                raise ConstraintError(path, f"expected {{level: nodes}} naming a level with a mesh fanout "
                                      f"({', '.join(meshes) or 'none'}): {arch.name} has {len(meshes)} meshes")
            lv_name = lv_name or meshes[0]
            _level(arch, lv_name, path, "a level with a mesh fanout", meshes)
            size = arch.levels[arch.level_index(lv_name)].fanout.size
            if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= size:
                raise ConstraintError(path, f"expected a number of nodes from 1 to {size}, got {n!r}")

    def mesh_min_nodes(self, arch: Arch) -> dict[str, int]:
        """{level name: nodes} of ``min_nodes``, the level of ``""`` filled in."""
        meshes = [lv.name for lv in arch.levels if lv.fanout is not None and lv.fanout.mesh]
        return {lv or meshes[0]: n for lv, n in self.min_nodes}

    def _check_dataflow(self, arch: Arch, dims: tuple[str, ...], dims_of: str) -> None:
        fanned = tuple(lv.name for lv in arch.levels if lv.fanout is not None)
        may = {(lv, ax): ds for lv, ax, ds in self.spatial}
        shorthand: dict[str, list] = {}
        for lv_name, ax, _ in self.dataflow:
            _level(arch, lv_name, f"dataflow.{lv_name}", "a level with a fanout", fanned)
            if isinstance(ax, int):
                shorthand.setdefault(lv_name, []).append(ax)
        for lv_name, positions in shorthand.items():
            fanout = arch.levels[arch.level_index(lv_name)].fanout
            axes = [a for a, _ in fanout.axes]
            if len(positions) != len(axes):
                text = "|".join(",".join(ds) for lv, ax, ds in self.dataflow if lv == lv_name)
                raise ConstraintError(f"dataflow.{lv_name}", f"expected one '|'-separated group of dims per axis "
                                      f"of fanout {fanout.name} ({'|'.join(axes)}), like "
                                      f"{'|'.join(['C', 'K', 'P'][:len(axes)])!r}, got {text!r}")
        seen: dict[tuple[str, str], str] = {}  # (level, dim) -> axis that must carry it
        for (_, given, _), (lv_name, ax, ds, path) in zip(self.dataflow, self.dataflow_axes(arch)):
            fanout = arch.levels[arch.level_index(lv_name)].fanout
            axes = [a for a, _ in fanout.axes]
            if ax not in axes:
                raise ConstraintError(path, f"expected an axis of fanout {fanout.name} ({', '.join(axes)}), "
                                      f"got {ax!r}")
            if not ds:
                raise ConstraintError(path, f"expected at least one dim that axis {ax} must carry "
                                      f"(spatial: {{{lv_name}: {{{ax}: []}}}} leaves an axis unused)")
            for i, d in enumerate(ds):
                where = path if isinstance(given, int) else f"{path}[{i}]"
                _dim(d, dims, where, dims_of)
                if (lv_name, d) in seen:
                    raise ConstraintError(where, f"expected each dim once in the dataflow of {lv_name}, got {d} "
                                          f"on {seen[lv_name, d]} and on {ax}")
                seen[lv_name, d] = ax
                allowed = may.get((lv_name, ax))
                if allowed is not None and d not in allowed:
                    raise ConstraintError(where, f"expected a dim that spatial.{lv_name}.{ax} allows "
                                          f"({', '.join(allowed) or 'none'}), got {d!r}: a required dim must "
                                          f"also be allowed")

    def dataflow_axes(self, arch: Arch) -> list[tuple[str, str, tuple[str, ...], str]]:
        """The dataflow as (level, axis name, dims, field path): shorthand positions
        become the names of the fanout's axes (positions past the last axis keep a
        placeholder name that :meth:`check` rejects)."""
        out = []
        for lv_name, ax, ds in self.dataflow:
            if isinstance(ax, int):
                lv = arch.levels[arch.level_index(lv_name)] if lv_name in arch.level_names else None
                axes = [a for a, _ in lv.fanout.axes] if lv is not None and lv.fanout is not None else []
                out.append((lv_name, axes[ax] if ax < len(axes) else f"#{ax + 1}", ds, f"dataflow.{lv_name}"))
            else:
                out.append((lv_name, ax, ds, f"dataflow.{lv_name}.{ax}"))
        return out

    @staticmethod
    def _check_keeps(arch: Arch, lv_name: str, ts: frozenset[str]) -> None:
        path = f"keeps.{lv_name}"
        _level(arch, lv_name, path)
        unknown = sorted(ts - set(TENSORS))
        if unknown:
            raise ConstraintError(path, f"expected tensors from {', '.join(TENSORS)}, got {', '.join(unknown)}")
        lv = arch.levels[arch.level_index(lv_name)]
        if lv_name == arch.level_names[-1]:
            if ts != set(TENSORS):
                raise ConstraintError(path, f"expected [W, I, O]: the outermost level {lv_name} keeps every tensor")
            return
        extra = sorted(ts - lv.keeps, key=TENSORS.index)
        if extra:
            allowed = ", ".join(t for t in TENSORS if t in lv.keeps) or "nothing"
            raise ConstraintError(path, f"expected tensors level {lv_name} may keep ({allowed}), "
                                  f"got {', '.join(extra)}")

    def resolve(self, problem: Problem, arch: Arch) -> ResolvedConstraints:
        """The constraints of one layer by level index.  Dims and tensors the layer does not
        have are dropped: ``spatial: {GBUF: {X: [K]}}`` leaves X unused by a pool layer (no
        K), ``keeps: {RF: [W]}`` makes a pool layer's RF keep nothing.  The outermost level
        keeps everything anyway, so a keep of it is dropped too."""
        dims, tensors = set(problem.dims), set(problem.tensor_names)
        idx = arch.level_index
        top = arch.level_names[-1]
        spatial_dims = {(idx(lv), ax): frozenset(d for d in ds if d in dims) for lv, ax, ds in self.spatial}
        required = {}
        for lv, ax, ds, _ in self.dataflow_axes(arch):
            spatial_dims.setdefault((idx(lv), ax), frozenset(d for d in ds if d in dims))
            size = dict(zip(problem.dims, problem.sizes))
            required[idx(lv), ax] = tuple(d for d in problem.dims if d in ds and size[d] > 1)
        for lv, ax, schemes in self.partition:
            fanout = arch.levels[idx(lv)].fanout
            for axis in ([a for a, _ in fanout.axes] if ax == "*" else [ax]):
                allowed = partition_dims(problem.kind, schemes)
                spatial_dims[idx(lv), axis] = frozenset(d for d in allowed if d in dims)
        return ResolvedConstraints(
            spatial_dims=spatial_dims,
            keeps={idx(lv): frozenset(ts & tensors) for lv, ts in self.keeps if lv != top},
            min_utilization=self.min_utilization,
            max_factor={(idx(lv), d): m for lv, d, m in self.max_factor if d in dims},
            required_dims={k: v for k, v in required.items() if v},
            min_nodes={idx(lv): n for lv, n in self.mesh_min_nodes(arch).items()},
        )

    def to_obj(self) -> dict:
        """The ``constraints:`` mapping of a solve spec that gives these constraints."""
        out: dict[str, Any] = {}
        if self.spatial:
            sp: dict = {}
            for lv, ax, ds in self.spatial:
                sp.setdefault(lv, {})[ax] = list(ds)
            out["spatial"] = sp
        if self.keeps:
            out["keeps"] = {lv: [t for t in TENSORS if t in ts] for lv, ts in self.keeps}
        if self.min_utilization:
            out["min_utilization"] = self.min_utilization
        if self.max_factor:
            mf: dict = {}
            for lv, d, m in self.max_factor:
                mf.setdefault(lv, {})[d] = m
            out["max_factor"] = mf
        if self.dataflow:
            df: dict = {}
            for lv, ax, ds in self.dataflow:
                if isinstance(ax, int):
                    df[lv] = (df[lv] + "|" if lv in df else "") + ",".join(ds)
                else:
                    df.setdefault(lv, {})[ax] = list(ds)
            out["dataflow"] = df
        if self.partition:
            pa: dict = {}
            for lv, ax, schemes in self.partition:
                if ax == "*":
                    pa[lv] = schemes[0]
                else:
                    pa.setdefault(lv, {})[ax] = list(schemes)
            out["partition"] = pa
        if self.min_nodes:
            out["min_nodes"] = dict(self.min_nodes) if self.min_nodes[0][0] else self.min_nodes[0][1]
        return out


def dataflow_sides(text: str) -> tuple[tuple[str, ...], ...]:
    """The shorthand of "DNN Dataflow Choice Is Overrated": one group of dims per fanout
    axis, in the architecture's axis order, separated by ``|``; several dims in a group
    separated by ``,``.  ``"C|K"`` -> ``(("C",), ("K",))``, ``"R,C|P"`` -> ``(("R", "C"),
    ("P",))``.  Empty groups stay empty (:meth:`Constraints.check` rejects them); an empty
    name inside a group (``"R,,C"``) stays an empty name, so the check rejects it too rather
    than the typo passing silently."""
    return tuple(tuple(d.strip() for d in side.split(",")) if side.strip() else () for side in text.split("|"))


def dataflow_entries(level: str, value) -> tuple[tuple[str, str | int, tuple[str, ...]], ...]:
    """The :attr:`Constraints.dataflow` entries of one level's value: ``{axis: [dims]}``
    or a shorthand string (:func:`dataflow_sides`)."""
    if isinstance(value, str):
        return tuple((level, k, side) for k, side in enumerate(dataflow_sides(value)))
    return tuple((level, ax, tuple([ds] if isinstance(ds, str) else ds)) for ax, ds in value.items())


def dataflow_conflict(problem: Problem, arch: Arch, cons: ResolvedConstraints) -> str:
    """Why no mapping of ``problem`` can carry the required dataflow on the fanout axes
    alone (before capacities and the other constraints), or "" when some assignment of
    prime factors fits: a dim a fanout without reduction cannot unroll (it is not a dim of
    the output), required dims whose smallest factors > 1 overfill an axis, or no way to
    give every required (dim, axis) its own prime factor of the dim within the axis sizes
    (a dim required on more axes than it has prime factors)."""
    size = dict(zip(problem.dims, problem.sizes))
    o_dims = problem.tensor("O").dims
    for (i, ax), ds in cons.required_dims.items():
        fanout = arch.levels[i].fanout
        where = f"axis {ax} of fanout {fanout.name} (below {arch.levels[i].name})"
        if not fanout.reduction:
            summed = [d for d in ds if d not in o_dims]
            if summed:
                return (f"the dataflow requires {', '.join(summed)} on {where}, which has no spatial reduction, "
                        f"and {', '.join(summed)} {'is' if len(summed) == 1 else 'are'} summed into the outputs")
        smallest = [(d, prime_list(size[d])[0]) for d in ds]
        need = math.prod(p for _, p in smallest)
        if need > fanout.axis_size(ax):
            parts = " x ".join(f"{d} {p}" for d, p in smallest)
            return (f"the dataflow requires a factor > 1 of {', '.join(ds)} on {where}, of size "
                    f"{fanout.axis_size(ax)}, but their smallest factors > 1 need {parts} = {need}")
    pairs = [(d, key) for key, ds in cons.required_dims.items() for d in ds]
    room = {key: arch.levels[key[0]].fanout.axis_size(key[1]) for key in cons.required_dims}
    if not _place_primes(pairs, {d: prime_list(size[d]) for d, _ in pairs}, room, dict.fromkeys(room, 1)):
        listed = "; ".join(f"{', '.join(ds)} on axis {ax} below {arch.levels[i].name}"
                           for (i, ax), ds in cons.required_dims.items())
        return (f"the dataflow ({listed}) needs a prime factor of each required dim on each of its axes, "
                f"and the dims' prime factors cannot be shared out that way within the axis sizes")
    return ""


def _place_primes(pairs: list, primes: dict, room: dict, used: dict) -> bool:
    """Whether each (dim, axis) of ``pairs`` can take its own prime factor of the dim
    (from ``primes``, consumed) without any axis's product (``used``) passing its
    ``room``.  Backtracking over a handful of pairs."""
    if not pairs:
        return True
    (d, key), rest = pairs[0], pairs[1:]
    for p in sorted(set(primes[d])):
        if used[key] * p <= room[key]:
            primes[d].remove(p)
            used[key] *= p
            ok = _place_primes(rest, primes, room, used)
            used[key] //= p
            primes[d].append(p)
            if ok:
                return True
    return False


def _level(arch: Arch, name: str, path: str, what: str = "a level", pool: tuple[str, ...] | None = None) -> None:
    pool = arch.level_names if pool is None else pool
    if name in pool:
        return
    hint = ""
    fans = {lv.fanout.name: lv.name for lv in arch.levels if lv.fanout is not None}
    if name in fans:
        hint = f" ({name} is the fanout below {fans[name]}: name the level above the array)"
    raise ConstraintError(path, f"expected {what} of {arch.name} ({', '.join(pool) or 'none'}), "
                          f"got {name!r}{hint}")


def _dim(d: str, dims: tuple[str, ...], path: str, dims_of: str) -> None:
    if d not in dims:
        raise ConstraintError(path, f"expected a dim of {dims_of} ({', '.join(dims)}), got {d!r}")
