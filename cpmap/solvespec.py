"""Solve specs: which layers of which workload to map onto which architecture, and how.

A solve spec is a YAML file whose top-level key is ``solve:`` (docs/specs.md, "Solve
spec").  It is loaded like every other spec (cpmap/spec.py): strict YAML, unknown keys
rejected, and every error names the file, the dotted field path and what was expected::

    run.yaml: solve.constraints.spatial.GLB: expected a level of eyeriss with a fanout (GBUF), got 'GLB'

Constraints are written with *names* (levels, fanout axes, dims, tensors) and checked
against the architecture and the selected layers; :meth:`SolvePlan.user_constraints`
turns them into the solver's index-based :class:`~cpmap.cpsat.UserConstraints` for one
layer.  Command-line flags override the spec (:func:`load_solve_spec`'s ``overrides``).
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field, replace
from typing import Any

from .arch import Arch
from .cpsat import UserConstraints
from .errors import CpmapError, SpecError
from .problem import TENSORS, Problem
from .solver import ENCODINGS, OBJECTIVES, SolveOptions
from .spec import (
    _at,
    _check_keys,
    _expect,
    _Invalid,
    _is_int,
    _is_number,
    _mapping_of,
    _names,
    _opt,
    _pos_int,
    _req,
    _show,
    _tensors,
    _top,
    _with_file,
    load_arch,
    read_yaml,
    workload_from_obj,
)
from .workload import Layer, Workload

__all__ = ["DEFAULT_TIME_LIMIT", "SOLVE_KEYS", "Constraints", "SolvePlan", "load_solve_spec"]

SOLVE_KEYS = ("arch", "workload", "layers", "batch", "objective", "encoding", "time_limit", "workers",
              "seed", "top_k", "constraints", "output")
_CONSTRAINT_KEYS = ("spatial", "keeps", "min_utilization", "max_factor")
DEFAULT_TIME_LIMIT = 10.0
DEFAULT_OUTPUT_ROOT = "cpmap-out"


@dataclass(frozen=True)
class Constraints:
    """User constraints by name, as written in the spec (checked against the architecture
    and the selected layers when the plan is built).

    ``spatial``: (level, axis, dims) -- only these dims may be unrolled on that fanout axis;
    ``keeps``: (level, tensors) -- the level keeps exactly these tensors (fixed bypass);
    ``min_utilization``: used PEs / PEs at least this; ``max_factor``: (level, dim, max) --
    the level's temporal factor of dim is at most max."""

    spatial: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    keeps: tuple[tuple[str, frozenset[str]], ...] = ()
    min_utilization: float = 0.0
    max_factor: tuple[tuple[str, str, int], ...] = ()

    def resolve(self, problem: Problem, arch: Arch) -> UserConstraints:
        """The solver's constraints for one layer.  Dims and tensors the layer does not have
        are dropped: ``spatial: {GBUF: {X: [K]}}`` leaves X unused by a pool layer (no K),
        ``keeps: {RF: [W]}`` makes a pool layer's RF keep nothing."""
        dims, tensors = set(problem.dims), set(problem.tensor_names)
        idx = arch.level_index
        return UserConstraints(
            spatial_dims={(idx(lv), ax): frozenset(d for d in ds if d in dims) for lv, ax, ds in self.spatial},
            keeps={idx(lv): frozenset(ts & tensors) for lv, ts in self.keeps},
            min_utilization=self.min_utilization,
            max_factor={(idx(lv), d): m for lv, d, m in self.max_factor if d in dims},
        )

    def to_obj(self) -> dict:
        """The spec's ``constraints:`` structure (for reports)."""
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


@dataclass(frozen=True)
class SolvePlan:
    """A loaded, checked solve spec with command-line overrides applied.

    ``workers`` is None for "automatic" (the batch runner divides the cores among the
    parallel jobs); ``output`` is the report directory."""

    file: str
    arch_file: str
    workload_file: str
    arch: Arch
    workload: Workload
    layers: tuple[Layer, ...]
    batch: int | None = None
    objective: str = "energy"
    encoding: str = "exact"
    time_limit: float = DEFAULT_TIME_LIMIT
    workers: int | None = None
    seed: int = 0
    top_k: int = 1
    constraints: Constraints = field(default_factory=Constraints)
    output: str = ""

    def user_constraints(self, problem: Problem) -> UserConstraints:
        return self.constraints.resolve(problem, self.arch)

    def options(self, problem: Problem, workers: int) -> SolveOptions:
        """The solver options for one layer (``workers`` decided by the batch runner when
        the spec leaves it automatic)."""
        return SolveOptions(objective=self.objective, encoding=self.encoding, time_limit=self.time_limit,
                            workers=self.workers or workers, seed=self.seed, top_k=self.top_k,
                            constraints=self.user_constraints(problem))


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class _Raw:
    """The spec's own fields after the syntax check, before files are loaded."""

    arch: str
    workload: str
    layers: tuple[str, ...] | None
    batch: int | None
    objective: str
    encoding: str
    time_limit: float
    workers: int | None
    seed: int
    top_k: int
    constraints: dict  # syntax-checked, resolved against arch and layers later
    output: str | None


OVERRIDABLE = ("layers", "batch", "objective", "encoding", "time_limit", "workers", "seed", "top_k", "output")


def load_solve_spec(path: str, overrides: dict | None = None) -> SolvePlan:
    """Load a solve spec, apply ``overrides`` (keys of :data:`OVERRIDABLE`; None values
    are ignored; ``layers`` a list of names, ``output`` a path relative to the current
    directory) and check everything against the architecture and workload it names."""
    file = str(path)
    raw: _Raw = _with_file(file, _parse, read_yaml(file))
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = set(given) - set(OVERRIDABLE)
    if unknown:
        raise ValueError(f"unknown overrides {sorted(unknown)}")
    cli_layers = given.pop("layers", None)
    cli_output = given.pop("output", None)
    for key, check in (("objective", _choice(OBJECTIVES)), ("encoding", _choice(ENCODINGS))):
        if key in given:
            try:
                check(given[key], f"--{key}")
            except _Invalid as e:
                raise CpmapError(f"{e.field}: {e.message}") from None
    raw = replace(raw, **given)
    base = os.path.dirname(file)
    arch_file = _resolve_file(file, "solve.arch", raw.arch, base, "architecture")
    workload_file = _resolve_file(file, "solve.workload", raw.workload, base, "workload")
    arch = load_arch(arch_file)
    workload = _load_workload(workload_file, raw.batch)
    if cli_layers is not None:
        layers = _cli_layers(cli_layers, workload)
    else:
        layers = _with_file(file, _spec_layers, raw.layers, workload)
    constraints = _with_file(file, _constraints, raw.constraints, arch, workload)
    if cli_output is not None:
        output = str(cli_output)
    elif raw.output is not None:
        output = _relative_to(base, raw.output)
    else:
        stem = os.path.splitext(os.path.basename(file))[0]
        output = os.path.join(DEFAULT_OUTPUT_ROOT, stem)
    return SolvePlan(file, arch_file, workload_file, arch, workload, layers, raw.batch, raw.objective,
                     raw.encoding, float(raw.time_limit), raw.workers, raw.seed, raw.top_k, constraints, output)


def _parse(obj: Any) -> _Raw:
    body = _top(obj, "solve", SOLVE_KEYS)
    p = "solve"
    return _Raw(
        arch=_req(body, "arch", _path, p),
        workload=_req(body, "workload", _path, p),
        layers=_opt(body, "layers", _layer_names, p),
        batch=_opt(body, "batch", _pos_int, p),
        objective=_opt(body, "objective", _choice(OBJECTIVES), p, "energy"),
        encoding=_opt(body, "encoding", _choice(ENCODINGS), p, "exact"),
        time_limit=_opt(body, "time_limit", _seconds, p, DEFAULT_TIME_LIMIT),
        workers=_opt(body, "workers", _pos_int, p),
        seed=_opt(body, "seed", _seed, p, 0),
        top_k=_opt(body, "top_k", _pos_int, p, 1),
        constraints=_opt(body, "constraints", _constraint_syntax, p, {}),
        output=_opt(body, "output", _path, p),
    )


def _path(v: Any, path: str) -> str:
    if not isinstance(v, str) or not v.strip():
        raise _expect("a file path (relative to the spec file)")(v, path)
    return v


def _layer_names(v: Any, path: str) -> tuple[str, ...]:
    if isinstance(v, list) and not v:
        raise _Invalid(path, "expected at least one layer name (omit 'layers' to solve every layer)")
    return _names(v, path)


def _choice(choices: tuple[str, ...]):
    def check(v: Any, path: str) -> str:
        if v not in choices:
            raise _expect(f"one of {' | '.join(choices)}")(v, path)
        return v

    return check


def _seconds(v: Any, path: str) -> float:
    if not _is_number(v) or v <= 0:
        raise _expect("a number of seconds > 0")(v, path)
    return float(v)


def _seed(v: Any, path: str) -> int:
    if not _is_int(v) or not 0 <= v < 2**31:
        raise _expect("an integer from 0 to 2147483647")(v, path)
    return v


def _constraint_syntax(v: Any, path: str) -> dict:
    body = _check_keys(v, _CONSTRAINT_KEYS, path, "a constraints mapping")
    dim_list = _dims_syntax
    out = {
        "spatial": _opt(body, "spatial", _mapping_of(
            _mapping_of(dim_list, "a mapping axis -> [dims] like {Y: [C], X: [K]}"),
            "a mapping level -> {axis: [dims]} like {GBUF: {Y: [C], X: [K]}}"), path, ()),
        "keeps": _opt(body, "keeps", _mapping_of(_tensors, "a mapping level -> [tensors] like {RF: [W]}"),
                      path, ()),
        "min_utilization": _opt(body, "min_utilization", _fraction, path, 0.0),
        "max_factor": _opt(body, "max_factor", _mapping_of(
            _mapping_of(_pos_int, "a mapping dim -> largest factor like {C: 4}"),
            "a mapping level -> {dim: largest factor} like {RF: {C: 4}}"), path, ()),
    }
    return out


def _dims_syntax(v: Any, path: str) -> tuple[str, ...]:
    if not isinstance(v, list):
        raise _expect("a list of dims like [C, K] (an empty list allows none)")(v, path)
    return _names(v, path) if v else ()


def _fraction(v: Any, path: str) -> float:
    if not _is_number(v) or not 0 <= v <= 1:
        raise _expect("a fraction from 0 to 1 (used PEs / PEs)")(v, path)
    return float(v)


def _relative_to(base: str, p: str) -> str:
    p = os.path.expanduser(p)
    return p if os.path.isabs(p) else os.path.normpath(os.path.join(base, p))


def _resolve_file(spec_file: str, field_path: str, p: str, base: str, kind: str) -> str:
    resolved = _relative_to(base, p)
    if not os.path.isfile(resolved):
        shown = p if resolved == p else f"{p} (resolved to {resolved}; paths are relative to the spec file)"
        raise SpecError(spec_file, field_path, f"expected an existing {kind} file, got {shown}")
    return resolved


def _load_workload(path: str, batch: int | None) -> Workload:
    obj = read_yaml(path)
    if batch is not None and isinstance(obj, dict) and isinstance(obj.get("workload"), dict):
        obj["workload"]["batch"] = batch  # the override: layers that give N themselves keep it
    return workload_from_obj(obj, path)


def _unknown_layer(name: str, workload: Workload) -> str:
    close = difflib.get_close_matches(name, workload.layer_names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (f"expected a layer of workload {workload.name} ({', '.join(workload.layer_names)}), "
            f"got {name!r}{hint}")


def _spec_layers(names: tuple[str, ...] | None, workload: Workload) -> tuple[Layer, ...]:
    if names is None:
        return workload.layers
    for i, n in enumerate(names):
        if n not in workload.layer_names:
            raise _Invalid(f"solve.layers[{i}]", _unknown_layer(n, workload))
    return tuple(workload.layer(n) for n in names)


def _cli_layers(names, workload: Workload) -> tuple[Layer, ...]:
    names = [n for n in names if n]
    if not names:
        raise CpmapError("--layers: expected comma-separated layer names like conv1,conv2")
    for n in names:
        if n not in workload.layer_names:
            raise CpmapError(f"--layers: {_unknown_layer(n, workload)}")
    if len(set(names)) != len(names):
        raise CpmapError(f"--layers: expected each layer once, got {','.join(names)}")
    return tuple(workload.layer(n) for n in names)


# --------------------------------------------------------------------------- cross-checks


def _constraints(raw: dict, arch: Arch, workload: Workload) -> Constraints:
    """Check the constraints' names against the architecture and the workload.  Dims are
    checked against every layer of the workload (not only the selected ones), so that
    ``--layers`` can pick a subset of a spec written for the whole network."""
    if not raw:
        return Constraints()
    base = "solve.constraints"
    levels = arch.level_names
    dims = _union(lay.problem.dims for lay in workload.layers)

    def level(name: str, path: str, what: str = "a level", pool=levels) -> str:
        if name not in pool:
            hint = ""
            fans = {lv.fanout.name: lv.name for lv in arch.levels if lv.fanout is not None}
            if name in fans:
                hint = f" ({name} is the fanout below {fans[name]}: name the level above the array)"
            raise _Invalid(path, f"expected {what} of {arch.name} ({', '.join(pool) or 'none'}), "
                                 f"got {name!r}{hint}")
        return name

    def dim(d: str, path: str) -> str:
        if d not in dims:
            raise _Invalid(path, f"expected a dim of workload {workload.name}'s layers ({', '.join(dims)}), "
                                 f"got {_show(d)}")
        return d

    spatial = []
    fanned = [lv.name for lv in arch.levels if lv.fanout is not None]
    for lv_name, axes in raw["spatial"]:
        p = _at(f"{base}.spatial", lv_name)
        level(lv_name, p, "a level with a fanout", fanned)
        fanout = arch.levels[arch.level_index(lv_name)].fanout
        axis_names = [a for a, _ in fanout.axes]
        for ax, ds in axes:
            if ax not in axis_names:
                raise _Invalid(_at(p, ax), f"expected an axis of fanout {fanout.name} "
                                           f"({', '.join(axis_names)}), got {ax!r}")
            spatial.append((lv_name, ax, tuple(dim(d, f"{_at(p, ax)}[{i}]") for i, d in enumerate(ds))))

    keeps = []
    outermost = levels[-1]
    for lv_name, ts in raw["keeps"]:
        p = _at(f"{base}.keeps", lv_name)
        level(lv_name, p)
        lv = arch.levels[arch.level_index(lv_name)]
        if lv_name == outermost:
            if ts != set(TENSORS):
                raise _Invalid(p, f"expected [W, I, O]: the outermost level {outermost} keeps every tensor")
            continue
        extra = sorted(ts - lv.keeps, key=TENSORS.index)
        if extra:
            allowed = ", ".join(t for t in TENSORS if t in lv.keeps) or "nothing"
            raise _Invalid(p, f"expected tensors level {lv_name} may keep ({allowed}), got {', '.join(extra)}")
        keeps.append((lv_name, ts))

    max_factor = []
    for lv_name, facs in raw["max_factor"]:
        p = _at(f"{base}.max_factor", lv_name)
        level(lv_name, p)
        for d, m in facs:
            max_factor.append((lv_name, dim(d, _at(p, d)), m))

    return Constraints(tuple(spatial), tuple(keeps), raw["min_utilization"], tuple(max_factor))


def _union(seqs) -> tuple[str, ...]:
    out: list[str] = []
    for seq in seqs:
        out.extend(x for x in seq if x not in out)
    return tuple(out)
