"""Mapping files <-> :class:`~cpmap.core.mapping.Mapping` (format: docs/specs.md).

A mapping file lists the levels outer to inner; :func:`parse_mapping` checks its syntax,
:func:`bind_mapping` ties it to a layer on an architecture, :func:`mapping_to_yaml`
writes one back (the inverse)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from ..core.arch import Arch
from ..core.errors import CpmapError, MappingError, SpecError
from ..core.mapping import LevelMapping, Mapping
from ..core.output import warn
from ..core.problem import TENSORS, Problem
from ..core.workload import Layer, Workload
from .fields import (
    Invalid,
    check_keys,
    mapping_of,
    name_str,
    nonempty_list,
    opt,
    pos_int,
    req,
    show,
    tensor_set,
    with_file,
)
from .loader import read_yaml

_MAPPING_FILE_KEYS = ("layer", "mapping")
_MAPPING_LEVEL_KEYS = ("level", "keeps", "temporal", "spatial", "forward", "share")
_FACTORS = mapping_of(pos_int, "a mapping dim -> factor like {K: 2, C: 3}")
_SPATIAL = mapping_of(_FACTORS, "a mapping axis -> {dim: factor} like {Y: {R: 3}, X: {P: 11}}")


@dataclass(frozen=True)
class MappingSpec:
    """A syntactically valid mapping file not yet tied to a problem and architecture.
    ``levels`` are outer to inner, as written."""

    layer: str | None
    levels: tuple[LevelMapping, ...]


def parse_mapping(obj: Any, file: str = "<mapping>") -> MappingSpec:
    """Check a mapping document's syntax (keys, types, factors >= 1)."""
    return with_file(file, _mapping_spec, obj)


def _mapping_spec(obj: Any) -> MappingSpec:
    layer = None
    if isinstance(obj, dict):
        check_keys(obj, _MAPPING_FILE_KEYS, "", "a mapping file")
        layer = opt(obj, "layer", name_str, "")
        obj = req(obj, "mapping", nonempty_list, "")
    elif not isinstance(obj, list):
        raise Invalid("", f"expected a list of levels or a mapping with key 'mapping', got {show(obj)}")
    entries = nonempty_list(obj, "mapping")
    return MappingSpec(layer, tuple(_level_mapping(e, f"mapping[{i}]") for i, e in enumerate(entries)))


def _level_mapping(obj: Any, path: str) -> LevelMapping:
    body = check_keys(obj, _MAPPING_LEVEL_KEYS, path, "a level entry")
    return LevelMapping(level=req(body, "level", name_str, path),
                        temporal=opt(body, "temporal", _FACTORS, path, ()),
                        keeps=req(body, "keeps", tensor_set, path),
                        spatial=opt(body, "spatial", _SPATIAL, path, ()),
                        forward=opt(body, "forward", tensor_set, path, frozenset()),
                        share=opt(body, "share", tensor_set, path, frozenset()))


def bind_mapping(spec: MappingSpec, problem: Problem, arch: Arch, file: str = "<mapping>") -> Mapping:
    """Tie a parsed mapping to ``arch`` (every level once, outer to inner) and check it
    structurally against ``problem``; raises SpecError / MappingError."""
    expected = list(reversed(arch.level_names))
    got = [lm.level for lm in spec.levels]
    for i, name in enumerate(got):
        if name not in expected:
            raise SpecError(file, f"mapping[{i}].level",
                            f"expected a level of {arch.name} ({', '.join(expected)}), got {name!r}")
    if got != expected:
        raise SpecError(file, "mapping", f"expected every level of {arch.name} exactly once, outer to "
                        f"inner: {', '.join(expected)}; got {', '.join(got)}")
    mapping = Mapping(tuple(reversed(spec.levels)))
    errors = mapping.structural_errors(problem, arch)
    if errors:
        raise MappingError(errors, file)
    return mapping


def mapping_from_obj(obj: Any, problem: Problem, arch: Arch, file: str = "<mapping>") -> Mapping:
    """A mapping from a parsed YAML document (a list of levels, outer to inner, or
    ``{layer: .., mapping: [...]}``), checked structurally."""
    return bind_mapping(parse_mapping(obj, file), problem, arch, file)


def load_mapping(path: str, problem: Problem, arch: Arch) -> Mapping:
    """Load a mapping file for ``problem`` on ``arch`` (see docs/specs.md)."""
    return mapping_from_obj(read_yaml(path), problem, arch, str(path))


def mapping_to_obj(mapping: Mapping) -> list[dict]:
    """The YAML structure of ``mapping``: a list of levels, outer to inner (the inverse of
    :func:`mapping_from_obj`)."""
    return [_level_mapping_obj(lm) for lm in reversed(mapping.levels)]


def _level_mapping_obj(lm: LevelMapping) -> dict:
    out: dict[str, Any] = {"level": lm.level, "keeps": [t for t in TENSORS if t in lm.keeps],
                           "temporal": _factors_obj(lm.temporal, lm.level)}
    if lm.spatial:
        out["spatial"] = {axis: _factors_obj(loops, lm.level) for axis, loops in lm.spatial}
    for key in ("forward", "share"):
        if getattr(lm, key):
            out[key] = [t for t in TENSORS if t in getattr(lm, key)]
    return out


def _factors_obj(loops: tuple[tuple[str, int], ...], where: str) -> dict[str, int]:
    out = dict(loops)
    if len(out) != len(loops):
        raise ValueError(f"{where}: a dim appears twice in {loops}; a YAML mapping cannot hold it")
    return out


def mapping_to_yaml(mapping: Mapping, layer: str | None = None) -> str:
    """A mapping file's text (``layer:`` first when given), loadable by :func:`load_mapping`."""
    doc: dict[str, Any] = {"layer": layer} if layer else {}
    doc["mapping"] = mapping_to_obj(mapping)
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=None)




def pick_layer(workload: Workload, requested: str | None, from_mapping: str | None,
               file: str = "<mapping>") -> Layer:
    """The layer a mapping is for: ``requested`` (e.g. ``--layer``), else the mapping
    file's ``layer:``, else the workload's only layer.  An unknown name is an error of
    ``--layer`` or of the mapping file's ``layer`` field."""
    if requested and from_mapping and requested != from_mapping:
        warn(f"--layer {requested} overrides the mapping file's 'layer: {from_mapping}'")
    choices = ", ".join(workload.layer_names)
    if requested:
        if requested not in workload.layer_names:
            raise CpmapError(f"--layer: expected a layer of workload {workload.name} ({choices}), "
                             f"got {requested!r}")
        return workload.layer(requested)
    if from_mapping is not None:
        if from_mapping not in workload.layer_names:
            raise SpecError(file, "layer", f"expected a layer of workload {workload.name} ({choices}), "
                            f"got {from_mapping!r}")
        return workload.layer(from_mapping)
    if len(workload.layers) == 1:
        return workload.layers[0]
    raise SpecError(file, "layer", f"missing: workload {workload.name!r} has {len(workload.layers)} layers; "
                    f"expected 'layer: NAME' in the mapping file or --layer NAME, NAME one of {choices}")


def load_mapping_for(path: str, workload: Workload, arch: Arch, layer: str | None = None) -> tuple[Layer, Mapping]:
    """(layer, mapping) of a mapping file for a layer of ``workload`` (chosen by
    :func:`pick_layer`), checked structurally against the layer."""
    spec = parse_mapping(read_yaml(path), path)
    chosen = pick_layer(workload, layer, spec.layer, str(path))
    return chosen, bind_mapping(spec, chosen.problem, arch, path)
