"""Restrictions on a layer's mapping space: by name, as users write them, and by level
index, as the model builders read them.

:class:`Constraints` names levels, fanout axes, dims and tensors (``spatial: {GBUF: {Y:
[C], X: [K]}}``); :meth:`Constraints.check` is the one place these names are validated
against an architecture (solve specs and the heuristic searchers' space both call it),
and :meth:`Constraints.resolve` turns them into a layer's :class:`ResolvedConstraints`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .arch import Arch
from .errors import CpmapError
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
    least; ``max_factor``: {(level, dim): largest temporal factor}."""

    spatial_dims: dict = field(default_factory=dict)
    keeps: dict = field(default_factory=dict)
    min_utilization: float = 0.0
    max_factor: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Constraints:
    """User constraints by name.

    ``spatial``: (level, axis, dims): only these dims may be unrolled on that axis of the
    fanout below the level; ``keeps``: (level, tensors): the level keeps exactly these
    tensors (a fixed bypass); ``min_utilization``: used PEs / PEs at least this;
    ``max_factor``: (level, dim, largest): the level's temporal factor of dim is at most
    ``largest``.  Build one from nested dicts with :meth:`of`."""

    spatial: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    keeps: tuple[tuple[str, frozenset[str]], ...] = ()
    min_utilization: float = 0.0
    max_factor: tuple[tuple[str, str, int], ...] = ()

    @classmethod
    def of(cls, *, spatial: dict | None = None, keeps: dict | None = None, min_utilization: float = 0.0,
           max_factor: dict | None = None) -> Constraints:
        """From the nested dicts of a solve spec's ``constraints:``, e.g.
        ``Constraints.of(spatial={"GBUF": {"Y": ["C"], "X": ["K"]}}, keeps={"RF": ["W"]},
        max_factor={"RF": {"C": 4}})``."""
        return cls(
            spatial=tuple((lv, ax, tuple(ds)) for lv, axes in (spatial or {}).items() for ax, ds in axes.items()),
            keeps=tuple((lv, frozenset(ts)) for lv, ts in (keeps or {}).items()),
            min_utilization=float(min_utilization),
            max_factor=tuple((lv, d, m) for lv, lims in (max_factor or {}).items() for d, m in lims.items()),
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
        return ResolvedConstraints(
            spatial_dims={(idx(lv), ax): frozenset(d for d in ds if d in dims) for lv, ax, ds in self.spatial},
            keeps={idx(lv): frozenset(ts & tensors) for lv, ts in self.keeps if lv != top},
            min_utilization=self.min_utilization,
            max_factor={(idx(lv), d): m for lv, d, m in self.max_factor if d in dims},
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
        return out


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
