"""Core domain objects: the layer problem, the architecture, the mapping, the workload,
the constraints and options of a solve, and the objectives.  Everything here is an
immutable value object or a pure function; this package imports nothing else of cpmap,
and every other package builds on it."""

from .arch import Arch, Fanout, Level
from .constraints import ConstraintError, Constraints, ResolvedConstraints
from .errors import CpmapError, MappingError, SpecError
from .mapping import LevelMapping, Mapping
from .objectives import ENCODINGS, OBJECTIVES, objective_key, objective_value
from .options import SolveOptions
from .problem import TENSORS, Problem, conv, eltwise, fc, gemm, pool
from .slots import Slot, slots_of
from .workload import Layer, Workload

__all__ = [
    "ENCODINGS",
    "OBJECTIVES",
    "TENSORS",
    "Arch",
    "ConstraintError",
    "Constraints",
    "CpmapError",
    "Fanout",
    "Layer",
    "Level",
    "LevelMapping",
    "Mapping",
    "MappingError",
    "Problem",
    "ResolvedConstraints",
    "Slot",
    "SolveOptions",
    "SpecError",
    "Workload",
    "conv",
    "eltwise",
    "fc",
    "gemm",
    "objective_key",
    "objective_value",
    "pool",
    "slots_of",
]
