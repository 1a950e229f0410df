"""YAML spec files -> core objects, and the mapping writer.

One strict loader (:mod:`.loader`), one set of field validators (:mod:`.fields`), and one
module per file kind: architectures (:mod:`.arch`), workloads (:mod:`.workload`),
mappings (:mod:`.mapping`), solve specs (:mod:`.solve`); :mod:`.kinds` tells them apart.
Every user mistake is a :class:`~cpmap.core.errors.SpecError` naming the file, the
field path and what was expected (docs/specs.md)."""

from .arch import arch_from_obj, load_arch
from .kinds import SPEC_KINDS, load_any
from .loader import StrictLoader, read_yaml
from .mapping import (
    MappingSpec,
    bind_mapping,
    load_mapping,
    load_mapping_for,
    mapping_from_obj,
    mapping_to_obj,
    mapping_to_yaml,
    parse_mapping,
    pick_layer,
)
from .solve import SolvePlan, load_solve_spec
from .workload import load_workload, workload_from_obj

__all__ = [
    "SPEC_KINDS", "MappingSpec", "SolvePlan", "StrictLoader", "arch_from_obj", "bind_mapping", "load_any",
    "load_arch", "load_mapping", "load_mapping_for", "load_solve_spec", "load_workload", "mapping_from_obj",
    "mapping_to_obj", "mapping_to_yaml", "parse_mapping", "pick_layer", "read_yaml", "workload_from_obj",
]
