"""Solve specs: which layers of which workload to map onto which architecture, and how.

A solve spec is a YAML file whose top-level key is ``solve:`` (docs/specs.md, "Solve
spec").  It is loaded like every other spec: strict YAML, unknown keys rejected, and
every error names the file, the dotted field path and what was expected::

    run.yaml: solve.constraints.spatial.GLB: expected a level of eyeriss with a fanout (GBUF), got 'GLB'

Constraints are written with *names* (levels, fanout axes, dims, tensors) and checked
against the architecture and the workload's layers by
:meth:`cpmap.core.constraints.Constraints.check`.  Command-line flags override the spec
(:func:`load_solve_spec`'s ``overrides``).
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field, replace
from typing import Any

from ..core.arch import Arch
from ..core.constraints import ConstraintError, Constraints, ResolvedConstraints, dataflow_entries
from ..core.errors import CpmapError, SpecError
from ..core.objectives import ENCODINGS, OBJECTIVES, PARETO
from ..core.options import SolveOptions
from ..core.output import default_output
from ..core.partition import min_nodes_entries, partition_entries
from ..core.pipeline import PIPELINE_MODES, REGION_CHOICES, PipelineOptions
from ..core.problem import Problem
from ..core.workload import Layer, Workload
from .arch import load_arch
from .fields import (
    Invalid,
    check_keys,
    choice,
    expect,
    gap_fraction,
    is_int,
    is_number,
    mapping_of,
    name_list,
    nonneg_int,
    opt,
    pos_int,
    req,
    tensor_set,
    top,
    with_file,
)
from .loader import read_yaml
from .workload import workload_from_obj

SOLVE_KEYS = ("arch", "workload", "layers", "batch", "objective", "encoding", "time_limit", "work_limit",
              "workers", "seed", "top_k", "constraints", "output", "pipeline")
PIPELINE_KEYS = ("mode", "max_degree", "time_overhead", "batch_groups", "gap_target", "refine_rounds", "regions")
CONSTRAINT_KEYS = ("spatial", "keeps", "min_utilization", "max_factor", "dataflow", "partition", "min_nodes")
DEFAULT_TIME_LIMIT = 10.0
OVERRIDABLE = ("layers", "batch", "objective", "encoding", "time_limit", "work_limit", "workers", "seed", "top_k",
               "output")


@dataclass(frozen=True)
class SolvePlan:
    """A loaded, checked solve spec with command-line overrides applied.

    ``workers`` is None for "automatic" (the batch runner gives each solve one worker,
    docs/batch.md); ``time_limit`` is wall-clock seconds per layer and ``work_limit``
    CP-SAT deterministic seconds per layer (None: the default share of the time limit,
    :class:`~cpmap.core.options.SolveOptions`); ``output`` is the report directory."""

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
    work_limit: float | None = None
    pipeline: PipelineOptions = field(default_factory=PipelineOptions)

    @classmethod
    def of(cls, workload: Workload, arch: Arch, options: SolveOptions, layers: list[str] | None = None) -> SolvePlan:
        """A plan made in Python rather than read from a file: ``layers`` of ``workload``
        (all when None) on ``arch`` with ``options``, whose constraints are checked against
        the architecture and the workload's dims (:class:`ConstraintError`)."""
        dims = _union(lay.problem.dims for lay in workload.layers)
        options.constraints.check(arch, dims, f"workload {workload.name}'s layers")
        chosen = workload.layers if layers is None else tuple(workload.layer(n) for n in layers)
        return cls(file="<python>", arch_file="<python>", workload_file="<python>", arch=arch,
                   workload=workload, layers=tuple(chosen), objective=options.objective,
                   encoding=options.encoding, time_limit=options.time_limit, workers=options.workers,
                   seed=options.seed, top_k=options.top_k, constraints=options.constraints,
                   work_limit=options.work_limit)

    def user_constraints(self, problem: Problem) -> ResolvedConstraints:
        """The constraints of one layer by level index."""
        return self.constraints.resolve(problem, self.arch)

    def options(self, workers: int) -> SolveOptions:
        """The solver options of every layer (``workers`` decided by the batch runner when
        the spec leaves it automatic).  A ``pareto`` plan's options minimize energy: the
        sweep of :mod:`cpmap.solve.pareto` adds the cycle caps and the delay optimum."""
        objective = "energy" if self.objective == PARETO else self.objective
        return SolveOptions(objective=objective, encoding=self.encoding, time_limit=self.time_limit,
                            workers=self.workers or workers, seed=self.seed, top_k=self.top_k,
                            constraints=self.constraints, work_limit=self.work_limit)


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
    work_limit: float | None
    workers: int | None
    seed: int
    top_k: int
    constraints: Constraints  # syntax-checked; names are checked against arch and layers later
    output: str | None
    pipeline: PipelineOptions = field(default_factory=PipelineOptions)


def load_solve_spec(path: str, overrides: dict | None = None) -> SolvePlan:
    """Load a solve spec, apply ``overrides`` (keys of :data:`OVERRIDABLE`; None values
    are ignored; ``layers`` a list of names, ``output`` a path relative to the current
    directory) and check everything against the architecture and workload it names."""
    file = str(path)
    raw: _Raw = with_file(file, _parse, read_yaml(file))
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = set(given) - set(OVERRIDABLE)
    if unknown:
        raise ValueError(f"unknown overrides {sorted(unknown)}")
    cli_layers = given.pop("layers", None)
    cli_output = given.pop("output", None)
    for key, check in (("objective", choice((*OBJECTIVES, PARETO))), ("encoding", choice(ENCODINGS))):
        if key in given:
            try:
                check(given[key], f"--{key}")
            except Invalid as e:
                raise CpmapError(f"{e.field}: {e.message}") from None
    raw = replace(raw, **given)
    base = os.path.dirname(file)
    arch_file = resolve_file(file, "solve.arch", raw.arch, base, "architecture")
    workload_file = resolve_file(file, "solve.workload", raw.workload, base, "workload")
    arch = load_arch(arch_file)
    workload = load_workload_file(workload_file, raw.batch)
    if cli_layers is not None:
        layers = _cli_layers(cli_layers, workload)
    else:
        layers = with_file(file, spec_layers, raw.layers, workload)
    with_file(file, check_constraints, raw.constraints, arch, workload)
    if raw.pipeline.mode != "none" and raw.objective not in ("energy", "delay"):
        raise SpecError(file, "solve.pipeline", f"expected objective energy or delay with a pipeline (the "
                        f"segment ILP sums the layers' values), got {raw.objective}")
    if raw.pipeline.mode != "none" and raw.top_k != 1 and "top_k" not in given:  # --top: cpmap/cli/pipeline.py
        raise SpecError(file, "solve.top_k", f"expected 1 with a pipeline (one mapping per layer problem), "
                        f"got {raw.top_k}")
    if cli_output is not None:
        output = str(cli_output)
    elif raw.output is not None:
        output = relative_to(base, raw.output)
    else:
        output = default_output(file)
    return SolvePlan(file, arch_file, workload_file, arch, workload, layers, raw.batch, raw.objective,
                     raw.encoding, float(raw.time_limit), raw.workers, raw.seed, raw.top_k, raw.constraints, output,
                     None if raw.work_limit is None else float(raw.work_limit), raw.pipeline)


def _parse(obj: Any) -> _Raw:
    body = top(obj, "solve", SOLVE_KEYS)
    p = "solve"
    return _Raw(
        arch=req(body, "arch", file_path, p),
        workload=req(body, "workload", file_path, p),
        layers=opt(body, "layers", layer_names, p),
        batch=opt(body, "batch", pos_int, p),
        objective=opt(body, "objective", choice((*OBJECTIVES, PARETO)), p, "energy"),
        encoding=opt(body, "encoding", choice(ENCODINGS), p, "exact"),
        time_limit=opt(body, "time_limit", seconds, p, DEFAULT_TIME_LIMIT),
        work_limit=opt(body, "work_limit", seconds, p),
        workers=opt(body, "workers", pos_int, p),
        seed=opt(body, "seed", seed_value, p, 0),
        top_k=opt(body, "top_k", pos_int, p, 1),
        constraints=opt(body, "constraints", constraint_syntax, p, Constraints()),
        output=opt(body, "output", file_path, p),
        pipeline=opt(body, "pipeline", _pipeline, p, PipelineOptions()),
    )


def _pipeline(v: Any, path: str) -> PipelineOptions:
    """The ``pipeline:`` mapping (docs/pipeline.md)."""
    body = check_keys(v, PIPELINE_KEYS, path, "a pipeline mapping")
    mode = opt(body, "mode", choice(PIPELINE_MODES), path, "none")
    overhead = opt(body, "time_overhead", _overhead, path)
    groups = opt(body, "batch_groups", _groups, path, (1,))
    refine = (opt(body, "gap_target", gap_fraction, path, PipelineOptions.gap_target),
              opt(body, "refine_rounds", nonneg_int, path, PipelineOptions.refine_rounds))
    regions = opt(body, "regions", choice(REGION_CHOICES), path, "all")
    return PipelineOptions(mode, opt(body, "max_degree", pos_int, path, 4), overhead, groups, *refine, regions)


def _overhead(v: Any, path: str) -> float:
    if not is_number(v) or v < 0:
        raise expect("a fraction >= 0 (0.1: at most 10% slower than layer by layer)")(v, path)
    return float(v)


def _groups(v: Any, path: str) -> tuple[int, ...]:
    if not isinstance(v, list) or not v:
        raise expect("a non-empty list of batch group counts like [1, 2, 4]")(v, path)
    return tuple(sorted({pos_int(g, f"{path}[{i}]") for i, g in enumerate(v)}))


def file_path(v: Any, path: str) -> str:
    if not isinstance(v, str) or not v.strip():
        raise expect("a file path (relative to the spec file)")(v, path)
    return v


def layer_names(v: Any, path: str) -> tuple[str, ...]:
    if isinstance(v, list) and not v:
        raise Invalid(path, "expected at least one layer name (omit 'layers' to solve every layer)")
    return name_list(v, path)


def seconds(v: Any, path: str) -> float:
    if not is_number(v) or v <= 0:
        raise expect("a number of seconds > 0")(v, path)
    return float(v)


def seed_value(v: Any, path: str) -> int:
    if not is_int(v) or not 0 <= v < 2**31:
        raise expect("an integer from 0 to 2147483647")(v, path)
    return v


def constraint_syntax(v: Any, path: str) -> Constraints:
    """The ``constraints:`` mapping, its syntax checked; names are checked later."""
    body = check_keys(v, CONSTRAINT_KEYS, path, "a constraints mapping")
    spatial = opt(body, "spatial", mapping_of(
        mapping_of(_dims_syntax, "a mapping axis -> [dims] like {Y: [C], X: [K]}"),
        "a mapping level -> {axis: [dims]} like {GBUF: {Y: [C], X: [K]}}"), path, ())
    keeps = opt(body, "keeps", mapping_of(tensor_set, "a mapping level -> [tensors] like {RF: [W]}"), path, ())
    max_factor = opt(body, "max_factor", mapping_of(
        mapping_of(pos_int, "a mapping dim -> largest factor like {C: 4}"),
        "a mapping level -> {dim: largest factor} like {RF: {C: 4}}"), path, ())
    dataflow = opt(body, "dataflow", mapping_of(
        _dataflow_syntax, "a mapping level -> {axis: [dims]} or 'dims|dims', like {GBUF: {Y: [R], X: [P]}} "
        "or {GBUF: 'R|P'}"), path, ())
    partition = opt(body, "partition", mapping_of(
        _partition_syntax, "a mapping level -> {axis: [schemes]} or a preset, like {DRAM: {NY: [batch], "
        "NX: [output]}} or {DRAM: hybrid}"), path, ())
    return Constraints(
        spatial=tuple((lv, ax, ds) for lv, axes in spatial for ax, ds in axes),
        keeps=tuple(keeps),
        min_utilization=opt(body, "min_utilization", _fraction, path, 0.0),
        max_factor=tuple((lv, d, m) for lv, lims in max_factor for d, m in lims),
        dataflow=tuple(e for lv, v in dataflow for e in dataflow_entries(lv, v)),
        partition=tuple(e for lv, v in partition for e in partition_entries(lv, v)),
        min_nodes=min_nodes_entries(opt(body, "min_nodes", _min_nodes_syntax, path, None)),
    )


def _partition_syntax(v: Any, path: str) -> str | dict:
    """One level's partition: a preset name (checked later) or {axis: [schemes]}."""
    if isinstance(v, str):
        return v
    if not isinstance(v, dict):
        raise expect("a preset (naive, hybrid) or a mapping axis -> [schemes] like {NY: [batch, fmap]}")(v, path)
    return dict(mapping_of(_schemes_syntax, "")(v, path))


def _schemes_syntax(v: Any, path: str) -> tuple[str, ...]:
    if not isinstance(v, (list, str)) or not v:
        raise expect("a non-empty list of schemes (batch, fmap, output, input) like [batch, fmap]")(v, path)
    return name_list([v] if isinstance(v, str) else v, path)


def _min_nodes_syntax(v: Any, path: str) -> int | dict:
    """``min_nodes: 8`` (the only mesh) or ``{DRAM: 8}``."""
    return dict(mapping_of(pos_int, "")(v, path)) if isinstance(v, dict) else pos_int(v, path)


def _dataflow_syntax(v: Any, path: str) -> str | dict:
    """One level's required dataflow: the shorthand ``'R|P'`` (kept as text, split by
    :func:`dataflow_entries`) or {axis: [dims]}, each list non-empty."""
    if isinstance(v, str):
        if not v.strip():
            raise expect("dims per fanout axis separated by '|', like 'C|K'")(v, path)
        return v
    if v is None and "|" in path.rsplit(".", 1)[-1]:  # {GBUF: R,C|P}: YAML split it at the comma
        raise Invalid(path, "expected a level name; a ',' inside {...} separates entries: quote a shorthand "
                      "with several dims per axis, like {GBUF: 'R,C|P'}")
    if not isinstance(v, dict):
        raise expect("a mapping axis -> [dims] like {Y: [R], X: [P]}, or dims per axis like 'R|P'")(v, path)
    return dict(mapping_of(_required_syntax, "")(v, path))


def _required_syntax(v: Any, path: str) -> tuple[str, ...]:
    if not isinstance(v, list) or not v:
        raise expect("a non-empty list of dims like [C] (dims this axis must carry)")(v, path)
    return name_list(v, path)


def _dims_syntax(v: Any, path: str) -> tuple[str, ...]:
    if not isinstance(v, list):
        raise expect("a list of dims like [C, K] (an empty list allows none)")(v, path)
    return name_list(v, path) if v else ()


def _fraction(v: Any, path: str) -> float:
    if not is_number(v) or not 0 <= v <= 1:
        raise expect("a fraction from 0 to 1 (used PEs / PEs)")(v, path)
    return float(v)


def check_constraints(constraints: Constraints, arch: Arch, workload: Workload,
                      field_path: str = "solve.constraints") -> None:
    """Names against the architecture and the workload.  Dims are checked against every
    layer of the workload (not only the selected ones), so that ``--layers`` can pick a
    subset of a spec written for the whole network."""
    dims = _union(lay.problem.dims for lay in workload.layers)
    try:
        constraints.check(arch, dims, f"workload {workload.name}'s layers")
    except ConstraintError as e:
        raise Invalid(f"{field_path}.{e.path}", e.message) from None


def _union(seqs) -> tuple[str, ...]:
    out: list[str] = []
    for seq in seqs:
        out.extend(x for x in seq if x not in out)
    return tuple(out)


# --------------------------------------------------------------------------- files and layers


def relative_to(base: str, p: str) -> str:
    p = os.path.expanduser(p)
    return p if os.path.isabs(p) else os.path.normpath(os.path.join(base, p))


def resolve_file(spec_file: str, field_path: str, p: str, base: str, kind: str) -> str:
    resolved = relative_to(base, p)
    if not os.path.isfile(resolved):
        shown = p if resolved == p else f"{p} (resolved to {resolved}; paths are relative to the spec file)"
        raise SpecError(spec_file, field_path, f"expected an existing {kind} file, got {shown}")
    return resolved


def load_workload_file(path: str, batch: int | None) -> Workload:
    if path.lower().endswith(".onnx"):  # an ONNX model, imported on the fly (docs/interop.md)
        from .onnx import load_onnx_workload_obj

        return workload_from_obj(load_onnx_workload_obj(path, batch)[0], path)
    obj = read_yaml(path)
    if batch is not None and isinstance(obj, dict) and isinstance(obj.get("workload"), dict):
        obj["workload"]["batch"] = batch  # the override: layers that give N themselves keep it
    return workload_from_obj(obj, path)


def _unknown_layer(name: str, workload: Workload) -> str:
    close = difflib.get_close_matches(name, workload.layer_names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (f"expected a layer of workload {workload.name} ({', '.join(workload.layer_names)}), "
            f"got {name!r}{hint}")


def spec_layers(names: tuple[str, ...] | None, workload: Workload,
                field_path: str = "solve.layers") -> tuple[Layer, ...]:
    if names is None:
        return workload.layers
    for i, n in enumerate(names):
        if n not in workload.layer_names:
            raise Invalid(f"{field_path}[{i}]", _unknown_layer(n, workload))
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
