"""Workload files -> :class:`~cpmap.core.workload.Workload` (format: docs/specs.md).

Layer types and their shape fields come from the problem constructors of
:mod:`cpmap.core.problem` (read from their signatures, so the format cannot drift)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import cache
from typing import Any

from ..core import problem as problem_mod
from ..core.problem import MAX_DIM_SIZE, Problem
from ..core.workload import Layer, Workload
from .fields import (
    Invalid,
    Validator,
    at,
    check_keys,
    expect,
    from_core,
    int_or_pair,
    is_int,
    is_name_in,
    name_list,
    name_str,
    nonempty_list,
    opt,
    req,
    top,
    with_file,
)
from .loader import read_yaml

_LAYER_TYPES: dict[str, Callable[..., Problem]] = {
    "conv": problem_mod.conv, "fc": problem_mod.fc, "gemm": problem_mod.gemm,
    "pool": problem_mod.pool, "eltwise": problem_mod.eltwise,
}
_WORKLOAD_KEYS = ("name", "batch", "inputs", "layers")
_COMMON_LAYER_KEYS = ("name", "type", "inputs")
_PAIR_FIELDS = ("stride", "dilation")
_GEMM_BATCH_DIMS = ("M", "N", "B")
"""Dims a gemm layer's ``batch_dim`` may name: the workload batch multiplies that dim
(M: rows of per-sample activations times a shared weight, e.g. a token-wise projection;
B: independent matmuls, e.g. attention heads).  K is the reduction and is not allowed."""


@cache
def _layer_fields(ctor: Callable[..., Problem]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(required, optional) shape fields of a layer type, read from its constructor's
    keyword-only parameters so the spec format cannot drift from cpmap/core/problem.py."""
    params = [p for p in inspect.signature(ctor).parameters.values() if p.kind is p.KEYWORD_ONLY]
    return (tuple(p.name for p in params if p.default is p.empty),
            tuple(p.name for p in params if p.default is not p.empty))


def load_workload(path: str) -> Workload:
    """Load a workload file (see docs/specs.md), or an ONNX model (``.onnx``, imported as
    :mod:`cpmap.spec.onnx` does)."""
    if str(path).lower().endswith(".onnx"):
        from .onnx import load_onnx_workload_obj  # needs the optional onnx package

        return workload_from_obj(load_onnx_workload_obj(str(path))[0], str(path))
    return workload_from_obj(read_yaml(path), str(path))


def workload_from_obj(obj: Any, file: str = "<workload>") -> Workload:
    return with_file(file, _workload, obj)


def _workload(obj: Any) -> Workload:
    body = top(obj, "workload", _WORKLOAD_KEYS)
    name = req(body, "name", name_str, "workload")
    batch = opt(body, "batch", _dim_size, "workload", 1)
    external = opt(body, "inputs", name_list, "workload", ())
    raw = req(body, "layers", nonempty_list, "workload")
    layers: list[Layer] = []
    earlier: dict[str, None] = {}  # names so far, in order (a dict: linear in the layers, not quadratic)
    for i, lay in enumerate(raw):
        path = f"workload.layers[{i}]"
        default_inputs = (layers[-1].name,) if layers else external
        layers.append(_layer(lay, path, batch, default_inputs, external, earlier, lambda i=i: _names_in(raw[i + 1:])))
        earlier[layers[-1].name] = None
    return Workload(name, tuple(layers), external)


def _names_in(raw_layers: list) -> list[str]:
    return [lay["name"] for lay in raw_layers if isinstance(lay, dict) and isinstance(lay.get("name"), str)]


def _layer(obj: Any, path: str, batch: int, default_inputs: tuple[str, ...], external: tuple[str, ...],
           earlier: dict[str, None], later: Callable[[], list[str]]) -> Layer:
    """One layer; ``earlier`` holds the names of the layers before it, ``later`` gives
    those after it (for an error message only)."""
    if not isinstance(obj, dict):
        raise expect("a layer mapping with keys name, type, ...")(obj, path)
    kind = req(obj, "type", _layer_type, path)
    required, optional = _layer_fields(_LAYER_TYPES[kind])
    extra = ("batch_dim",) if kind == "gemm" else ()
    check_keys(obj, _COMMON_LAYER_KEYS + required + optional + extra, path, f"a {kind} layer")
    name = req(obj, "name", name_str, path)
    if name in earlier or name in external:
        raise Invalid(at(path, "name"), f"expected a unique layer name, got {name!r} again "
                       f"({'an external input' if name in external else 'an earlier layer'})")
    shape = {k: req(obj, k, _shape_check(k), path) for k in required}
    shape |= {k: opt(obj, k, _shape_check(k), path) for k in optional if k in obj}
    if "N" in optional and "N" not in shape:
        shape["N"] = batch  # the workload's batch fills N where the layer does not give it
    batch_dim = opt(obj, "batch_dim", _gemm_batch_dim, path) if extra else None
    if batch_dim is not None:
        shape[batch_dim] = shape.get(batch_dim, 1) * batch  # sizes are written per sample
    problem = from_core(path, _LAYER_TYPES[kind], name, **shape)
    inputs = opt(obj, "inputs", name_list, path, default_inputs)
    for i, src in enumerate(inputs):
        if src not in earlier and src not in external:
            raise Invalid(f"{path}.inputs[{i}]", _unknown_input(src, list(earlier), external, later()))
    return Layer(name, problem, inputs)


def _layer_type(v: Any, path: str) -> str:
    if not is_name_in(v, _LAYER_TYPES):
        raise expect(f"one of {' | '.join(_LAYER_TYPES)}")(v, path)
    return v


def _gemm_batch_dim(v: Any, path: str) -> str:
    if not is_name_in(v, _GEMM_BATCH_DIMS):
        raise expect(f"one of {' | '.join(_GEMM_BATCH_DIMS)} (the dim the workload batch multiplies)")(v, path)
    return v


def _dim_size(v: Any, path: str) -> int:
    if not is_int(v) or not 1 <= v <= MAX_DIM_SIZE:
        raise expect(f"a positive integer up to {MAX_DIM_SIZE:,}")(v, path)
    return v


def _shape_check(field: str) -> Validator:
    return int_or_pair if field in _PAIR_FIELDS else _dim_size


def _unknown_input(src: str, earlier: list[str], external: tuple[str, ...], later: list[str]) -> str:
    choices = ", ".join(list(external) + earlier) or "none"
    why = ", which is defined later" if src in later else ""
    return (f"expected an earlier layer or an external input (workload.inputs) -- layers are "
            f"listed in topological order, so inputs must come before their consumers; got "
            f"{src!r}{why} (choices: {choices})")




def layer_to_obj(name: str, problem: Problem) -> dict:
    """A workload file's layer entry for ``problem`` (the inverse of the layer loader):
    conv K and C are totals over the groups, strides and dilations ``[y, x]`` pairs."""
    size, prm = problem.size, dict(problem.params)
    out: dict[str, Any] = {"name": name, "type": problem.kind}
    if problem.kind == "conv":
        g = size["G"]
        out |= {"N": size["N"], "K": size["K"] * g, "C": size["C"] * g, "P": size["P"], "Q": size["Q"],
                "R": size["R"], "S": size["S"], "stride": [prm["stride_y"], prm["stride_x"]],
                "dilation": [prm["dilation_y"], prm["dilation_x"]], "groups": g}
    elif problem.kind == "pool":
        out |= {d: size[d] for d in problem.dims} | {"stride": [prm["stride_y"], prm["stride_x"]]}
    else:
        out |= {d: size[d] for d in problem.dims}
    return out
