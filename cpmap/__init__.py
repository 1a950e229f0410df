"""cpmap: an exact mapper for deep-learning accelerators.

The package follows the data flow: :mod:`cpmap.core` (immutable domain objects) ->
:mod:`cpmap.spec` (YAML files -> core objects) -> :mod:`cpmap.cost` (the exact
evaluator) -> :mod:`cpmap.solve` (the CP-SAT layer mapper) -> :mod:`cpmap.search`
(heuristic searchers) -> :mod:`cpmap.network` (many layers: batch solving, cache,
compare) -> :mod:`cpmap.report` -> :mod:`cpmap.cli`.

The names below are the public Python API (docs/api.md), importable from ``cpmap``
directly; each is loaded on first use, so ``import cpmap`` stays cheap and OR-Tools is
imported only when a solver is used.
"""

from __future__ import annotations

import importlib

from .core.version import __version__

_API = {
    # core objects
    "Arch": "core.arch", "Level": "core.arch", "Fanout": "core.arch", "MeshMemory": "core.arch",
    "Problem": "core.problem", "conv": "core.problem", "fc": "core.problem", "gemm": "core.problem",
    "pool": "core.problem", "eltwise": "core.problem",
    "Mapping": "core.mapping", "LevelMapping": "core.mapping",
    "Workload": "core.workload", "Layer": "core.workload",
    "Constraints": "core.constraints", "SolveOptions": "core.options",
    "OBJECTIVES": "core.objectives", "objective_value": "core.objectives",
    "CpmapError": "core.errors", "SpecError": "core.errors", "MappingError": "core.errors",
    # files
    "load_arch": "spec.arch", "load_workload": "spec.workload", "load_mapping": "spec.mapping",
    "mapping_to_yaml": "spec.mapping", "load_solve_spec": "spec.solve",
    # cost, solve, search, networks
    "evaluate": "cost.evaluator", "Evaluator": "cost.evaluator", "Result": "cost.evaluator",
    "solve_layer": "solve.layer", "LayerSolution": "solve.layer",
    "SEARCHERS": "search", "make_space": "search",
    "solve_workload": "network.batch", "run_batch": "network.batch", "BatchResult": "network.batch",
    "Cache": "network.cache", "compare": "network.compare", "Budgets": "network.compare",
    "format_result": "report.evaluation",
    # interop (docs/interop.md) and Pareto fronts (docs/solver.md)
    "export_timeloop": "spec.timeloop", "import_timeloop": "spec.timeloop_import",
    "load_onnx_workload_obj": "spec.onnx", "compulsory_floor": "cost.floor", "pareto_front": "solve.pareto",
    # inter-layer pipelining (docs/pipeline.md)
    "PipelineOptions": "core.pipeline", "with_resident": "core.residency",
    "pipeline_workload": "network.pipeline", "energy_delay_front": "network.pipeline",
    "Region": "core.region", "on_region": "core.region", "bands": "core.region",
    # design sweeps (docs/sweep.md)
    "load_sweep_spec": "spec.sweep", "run_sweep": "network.sweep", "INTERSTELLAR_TABLE_IV": "core.energy_table",
}

__all__ = [
    "INTERSTELLAR_TABLE_IV",
    "OBJECTIVES",
    "SEARCHERS",
    "Arch",
    "BatchResult",
    "Budgets",
    "Cache",
    "Constraints",
    "CpmapError",
    "Evaluator",
    "Fanout",
    "Layer",
    "LayerSolution",
    "Level",
    "LevelMapping",
    "Mapping",
    "MappingError",
    "MeshMemory",
    "PipelineOptions",
    "Problem",
    "Region",
    "Result",
    "SolveOptions",
    "SpecError",
    "Workload",
    "__version__",
    "bands",
    "compare",
    "compulsory_floor",
    "conv",
    "eltwise",
    "energy_delay_front",
    "evaluate",
    "export_timeloop",
    "fc",
    "format_result",
    "gemm",
    "import_timeloop",
    "load_arch",
    "load_mapping",
    "load_onnx_workload_obj",
    "load_solve_spec",
    "load_sweep_spec",
    "load_workload",
    "make_space",
    "mapping_to_yaml",
    "objective_value",
    "on_region",
    "pareto_front",
    "pipeline_workload",
    "pool",
    "run_batch",
    "run_sweep",
    "solve_layer",
    "solve_workload",
    "with_resident",
]


def __getattr__(name: str):
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'cpmap' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
