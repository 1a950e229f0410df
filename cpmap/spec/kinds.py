"""Spec files of any kind, told apart by their top-level key (``cpmap check``)."""

from __future__ import annotations

from typing import Any

from ..core.errors import SpecError
from .arch import arch_from_obj
from .fields import show
from .loader import read_yaml
from .mapping import parse_mapping
from .solve import load_solve_spec
from .workload import workload_from_obj

SPEC_KINDS = ("architecture", "workload", "mapping", "solve", "sweep")
"""Top-level keys that identify a spec file's kind."""


def load_any(path: str) -> tuple[str, Any]:
    """Load a spec of any kind, detected by its top-level key: ('architecture', Arch),
    ('workload', Workload), ('mapping', MappingSpec), ('solve', SolvePlan -- the
    architecture and workload it names are loaded and checked too) or ('sweep', SweepSpec).  A bare list is a
    mapping."""
    file = str(path)
    if file.lower().endswith(".onnx"):  # an ONNX model is a workload (docs/interop.md)
        from .workload import load_workload

        return "workload", load_workload(file)
    obj = read_yaml(file)
    kinds = [k for k in SPEC_KINDS if isinstance(obj, dict) and k in obj]
    if isinstance(obj, list):
        kinds = ["mapping"]
    if len(kinds) != 1:
        found = f"keys {', '.join(map(str, obj))}" if isinstance(obj, dict) else show(obj)
        raise SpecError(file, "", f"expected exactly one top-level key of {', '.join(SPEC_KINDS)} "
                        f"(or a list of mapping levels), got {found}")
    kind = kinds[0]
    if kind == "architecture":
        return kind, arch_from_obj(obj, file)
    if kind == "workload":
        return kind, workload_from_obj(obj, file)
    if kind == "solve":
        return kind, load_solve_spec(file)
    if kind == "sweep":
        from .sweep import load_sweep_spec  # every design point is built and checked

        return kind, load_sweep_spec(file)
    return kind, parse_mapping(obj, file)
