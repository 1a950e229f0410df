"""Timeloop input files -> cpmap objects (``cpmap import timeloop DIR``; docs/interop.md).

Reads the architecture (v0.3 or v0.2 tree), problem, mapping, ERT and bypass constraints
that :mod:`cpmap.spec.timeloop` writes (and hand-written files of the same forms, with the
standard CNN-Layer shape): storage levels become cpmap levels (innermost first), the
instance and mesh ratios between them fanouts with X and Y axes, the ERT's read and write
energies the per-access energies.  Every mistake is a one-line error naming the file and
the field.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import Any

from ..core.arch import Arch, Fanout, Level
from ..core.errors import CpmapError, SpecError
from ..core.mapping import LevelMapping, Mapping
from ..core.problem import TENSORS, Problem, conv, eltwise, fc, gemm, pool
from .loader import read_yaml
from .timeloop import MAC_NAME, NETWORK_ACTION, TENSOR_OF

_RANGE = re.compile(r"^(.*)\[(\d+)\.\.(\d+)\]$")
_FACTOR = re.compile(r"([A-Za-z]+)\s*=?\s*(\d+)(,\d+)?")
ARITHMETIC = ("intmac", "mac", "fpmac", "intmultiplier", "multiplier", "compute")


@dataclass(frozen=True)
class Component:
    name: str
    storage: bool
    attrs: dict
    instances: int  # the product of the name ranges down to it
    subtree: str | None  # the subtree it opens (the first local of a subtree), without its range


def _fail(file: str, field: str, message: str):
    raise SpecError(file, field, message)


def _top(file: str, key: str, what: str) -> Any:
    """The value under the top-level ``key`` of a YAML file, which must exist."""
    obj = read_yaml(file) if os.path.isfile(file) else None
    if not isinstance(obj, dict) or key not in obj:
        _fail(file, key, f"expected {what}")
    return obj[key]


def _list(v: Any, file: str, field: str) -> list:
    if v is None:
        return []
    if not isinstance(v, list):
        _fail(file, field, f"expected a list, got {type(v).__name__}")
    return v


def _dict(v: Any, file: str, field: str) -> dict:
    if v is None:
        return {}
    if not isinstance(v, dict):
        _fail(file, field, f"expected a mapping, got {type(v).__name__}")
    return v


def _finite(v: Any) -> bool:
    """An int or a finite float, not a bool (NaN and inf broke int(v) with a traceback)."""
    return not isinstance(v, bool) and (isinstance(v, int) or (isinstance(v, float) and math.isfinite(v)))


def _int(v: Any, file: str, field: str) -> int:
    if not _finite(v) or v != int(v) or v < 0:
        _fail(file, field, f"expected a whole number >= 0, got {v!r}")
    return int(v)


def _num(v: Any, file: str, field: str) -> float:
    if not _finite(v) or v < 0:
        _fail(file, field, f"expected a number >= 0, got {v!r}")
    return float(v)


def _split_range(name: str) -> tuple[str, int]:
    m = _RANGE.match(name)
    return (m.group(1), int(m.group(3)) - int(m.group(2)) + 1) if m else (name, 1)


def _walk(node: Any, file: str, path: str, count: int, out: list[Component]) -> None:
    if not isinstance(node, dict) or not isinstance(node.get("name"), str):
        _fail(file, path, "expected a subtree with a name")
    base, n = _split_range(node["name"])
    count *= n
    for i, comp in enumerate(_list(node.get("local"), file, f"{path}.local")):
        where = f"{path}.local[{i}]"
        if not isinstance(comp, dict) or not isinstance(comp.get("name"), str):
            _fail(file, where, "expected a component with a name")
        cname, m = _split_range(comp["name"])
        attrs = _dict(comp.get("attributes"), file, f"{where}.attributes")
        storage = str(comp.get("class", "")).lower() not in ARITHMETIC
        out.append(Component(cname, storage, attrs, count * m, base if i == 0 else None))
    subs = _list(node.get("subtree"), file, f"{path}.subtree")
    if len(subs) > 1:
        _fail(file, f"{path}.subtree", f"expected at most one subtree per level (a chain of levels), got {len(subs)}")
    for sub in subs:
        _walk(sub, file, f"{path}.subtree[0]", count, out)


def _mesh(c: Component, file: str) -> tuple[int, int]:
    inst = _int(c.attrs.get("instances", c.instances), file, f"{c.name}.attributes.instances")
    mx = _int(c.attrs.get("meshX", inst), file, f"{c.name}.attributes.meshX")
    if mx < 1 or inst < 1 or inst % mx:
        _fail(file, f"{c.name}.attributes.meshX", f"expected a divisor of instances ({inst}), got {mx}")
    return mx, inst // mx


def _capacity(c: Component, file: str) -> int | None:
    a, where = c.attrs, f"{c.name}.attributes"
    block = _int(a.get("block-size", a.get("n_words", 1)), file, f"{where}.block-size")
    for key in ("entries", "depth", "memory_depth"):
        if key in a:
            return _int(a[key], file, f"{where}.{key}") * (1 if key == "entries" else block)
    if "sizeKB" in a:
        bits = _int(a.get("word-bits", 16), file, f"{where}.word-bits")
        if bits < 1:
            _fail(file, f"{where}.word-bits", f"expected a word size of at least 1 bit, got {bits}")
        return _int(a["sizeKB"], file, f"{where}.sizeKB") * 1024 * 8 // bits
    return None


def _ert(path: str) -> dict[str, dict[str, float]]:
    """Component name (the last part of the ERT's hierarchical name) -> action -> energy
    (the largest over argument variants, as timeloop-model takes it)."""
    if not os.path.isfile(path):
        raise SpecError(path, "", "expected an ERT file (per-access energies; `cpmap export timeloop` writes one)")
    body = _dict(_top(path, "ERT", "an energy reference table (ERT: {version, tables})"), path, "ERT")
    tables = body.get("tables")
    if isinstance(tables, dict):
        items = list(tables.items())
    else:
        entries = [_dict(t, path, f"ERT.tables[{i}]") for i, t in enumerate(_list(tables, path, "ERT.tables"))]
        items = [(t.get("name"), t.get("actions")) for t in entries]  # a null entry is {} (no energies), as elsewhere
    out: dict[str, dict[str, float]] = {}
    for name, actions in items:
        comp = _split_range(str(name))[0].rsplit(".", 1)[-1]
        where = f"ERT.tables.{name}"
        acts = actions.items() if isinstance(actions, dict) else [
            (_dict(a, path, where).get("name"), a) for a in _list(actions, path, f"{where}.actions")]
        for act, val in acts:
            vals = [_dict(v, path, f"{where}.{act}") for v in (val if isinstance(val, list) else [val])]
            energies = [_num(v.get("energy", 0.0), path, f"{where}.{act}.energy") for v in vals]
            out.setdefault(comp, {})[str(act)] = max(energies, default=0.0)
    return out


def _energy(ert: dict, name: str, actions: tuple[str, ...], file: str) -> float:
    for a in actions:
        if a in ert.get(name, {}):
            return ert[name][a]
    raise SpecError(file, name, f"expected an ERT entry for {name} with one of the actions {', '.join(actions)}")


def _not_kept(path: str) -> dict[str, set[str]]:
    """Level -> tensors its bypass constraints say it never keeps."""
    if not os.path.isfile(path):
        return {}
    obj = _dict(read_yaml(path), path, "")
    body = obj.get("constraints", obj.get("architecture_constraints", obj))
    targets = _dict(body, path, "constraints").get("targets") if not isinstance(body, list) else body
    out: dict[str, set[str]] = {}
    for i, t in enumerate(_list(targets, path, "constraints.targets")):
        if isinstance(t, dict) and t.get("type") in ("bypass", "datatype"):
            never = _list(t.get("bypass"), path, f"constraints.targets[{i}].bypass")
            out.setdefault(str(t.get("target")), set()).update(_tensors(never, path, f"constraints.targets[{i}]"))
    return out


def _tensors(names, file: str, field: str) -> set[str]:
    names = _list(names, file, field)
    bad = [n for n in names if not isinstance(n, str) or n not in TENSOR_OF]
    if bad:
        _fail(file, field, f"expected data-spaces of {', '.join(TENSOR_OF)}, got {bad[0]!r}")
    return {TENSOR_OF[n] for n in names}


# --------------------------------------------------------------------------- architecture


def read_arch(directory: str, mapping_directives: list[dict]) -> Arch:
    """The architecture of a Timeloop directory (arch.yaml, ERT.yaml, constraints.yaml).
    Multicast and reduction of each fanout come from the mapping's spatial directives
    (``no_multicast_no_reduction``), as Timeloop keeps them there."""
    file = os.path.join(directory, "arch.yaml")
    root = _top(file, "architecture", "a Timeloop architecture (architecture: {version: 0.3, subtree: ...})")
    if not isinstance(root, dict) or not isinstance(root.get("subtree"), list) or not root["subtree"]:
        raise SpecError(file, "architecture.subtree", "expected a Timeloop v0.3 architecture tree")
    comps: list[Component] = []
    _walk(root["subtree"][0], file, "architecture.subtree[0]", 1, comps)
    storage = [c for c in comps if c.storage]
    if len(storage) < 2:
        _fail(file, "architecture", f"expected at least two storage levels, got {len(storage)}")
    bits = {_int(c.attrs.get("word-bits", c.attrs.get("datawidth", 16)), file, f"{c.name}.attributes.word-bits")
            for c in storage}
    if len(bits) != 1:
        _fail(file, "architecture", f"expected one word size for every level, got {sorted(bits)} bits")
    ert = _ert(os.path.join(directory, "ERT.yaml"))
    never = _not_kept(os.path.join(directory, "constraints.yaml"))
    levels = []
    ordered = list(reversed(storage))  # innermost first
    for i, c in enumerate(ordered):
        fanout = _fanout(ordered, i, ert, mapping_directives, file) if i > 0 else None
        cap = _capacity(c, file)
        if i < len(ordered) - 1 and cap is None:
            _fail(file, f"{c.name}.attributes.depth", "expected a size (depth): cpmap needs the capacity of every "
                  "level but the outermost")
        ert_file = os.path.join(directory, "ERT.yaml")
        try:
            levels.append(Level(
                c.name, frozenset(TENSORS) - never.get(c.name, set()),
                read_pj=_energy(ert, c.name, ("read", "random_read"), ert_file),
                write_pj=_energy(ert, c.name, ("write", "random_fill", "fill", "update"), ert_file),
                capacity=cap if i < len(ordered) - 1 else None,
                read_bandwidth=_float(c.attrs.get("read_bandwidth"), file, f"{c.name}.attributes.read_bandwidth"),
                write_bandwidth=_float(c.attrs.get("write_bandwidth"), file, f"{c.name}.attributes.write_bandwidth"),
                fanout=fanout))
        except ValueError as e:  # e.g. a depth x block-size of 0 words
            raise SpecError(file, f"{c.name}.attributes", f"expected the attributes of a valid level ({e})") from None
    mac = next((c.name for c in comps if not c.storage), MAC_NAME)
    mac_pj = _energy(ert, mac, ("mac_random", "compute", "mac", "mult_random", "mult"),
                     os.path.join(directory, "ERT.yaml"))
    try:
        return Arch(root["subtree"][0]["name"], bits.pop(), mac_pj, tuple(levels))
    except ValueError as e:
        raise SpecError(file, "architecture", str(e)) from None


def _float(v, file: str, field: str) -> float | None:
    return None if v is None else _num(v, file, field)


def _fanout(ordered: list[Component], i: int, ert, directives: list[dict], file: str) -> Fanout | None:
    """The fanout between level i and level i - 1 (innermost-first indices)."""
    (ox, oy), (ix, iy) = _mesh(ordered[i], file), _mesh(ordered[i - 1], file)
    if ix % ox or iy % oy:
        _fail(file, ordered[i - 1].name, f"expected a mesh ({ix} x {iy}) that is a multiple of the level above's "
              f"({ox} x {oy})")
    fx, fy = ix // ox, iy // oy
    if fx * fy == 1:
        return None
    name = ordered[i - 1].subtree or f"{ordered[i].name}_array"
    axes = tuple((a, n) for a, n in (("X", fx), ("Y", fy)) if n > 1)
    spatial = next((d for d in directives if d.get("target") == ordered[i].name and d.get("type") == "spatial"), {})
    never = _tensors(spatial.get("no_multicast_no_reduction"), file, f"{ordered[i].name}.no_multicast_no_reduction")
    never = {n for n, t in (("Weights", "W"), ("Inputs", "I"), ("Outputs", "O")) if t in never}
    energy = ert.get(name, {}).get(NETWORK_ACTION, 0.0)
    return Fanout(name, axes, multicast=not never & {"Weights", "Inputs"}, reduction="Outputs" not in never,
                  energy_pj=energy)


# --------------------------------------------------------------------------- problem

_CNN_SHAPES = ("cnn-layer", "cnn_layer")


def read_problem(directory: str, name: str = "layer") -> Problem:
    """The layer of problem.yaml: a shape cpmap exported (named after its kind) or
    Timeloop's standard CNN-Layer (dims R S P Q C K N, Wstride pairing P and R)."""
    file = os.path.join(directory, "problem.yaml")
    what = "a Timeloop problem (problem: {shape: ..., instance: ...})"
    body = _dict(_top(file, "problem", what), file, "problem")
    shape = _dict(body.get("shape"), file, "problem.shape")
    kind = str(shape.get("name", "")).lower()
    inst = _dict(body.get("instance", {k: v for k, v in body.items() if k != "shape"}), file, "problem.instance")
    coefs = {c["name"]: c.get("default", 1) for c in _list(shape.get("coefficients"), file, "problem.shape.coefficients")
             if isinstance(c, dict) and isinstance(c.get("name"), str)}  # a mapping as a name is unhashable
    values = coefs | {k: v for k, v in inst.items() if isinstance(v, int)}
    dims = [d for d in _list(shape.get("dimensions"), file, "problem.shape.dimensions") if isinstance(d, str)]

    def get(d: str) -> int:  # a dim, stride, dilation or group count: 0 is no layer
        v = _int(values.get(d, 1), file, f"problem.instance.{d}")
        if v < 1:
            _fail(file, f"problem.instance.{d}", f"expected a whole number >= 1, got {v!r}")
        return v

    try:
        if kind == "conv" or kind in _CNN_SHAPES:
            g = get("G")
            return conv(name, N=get("N"), K=get("K") * g, C=get("C") * g, P=get("P"), Q=get("Q"), R=get("R"),
                        S=get("S"), stride=(get("Wstride"), get("Hstride")),
                        dilation=(get("Wdilation"), get("Hdilation")), groups=g)
        if kind == "pool":
            return pool(name, N=get("N"), C=get("C"), P=get("P"), Q=get("Q"), R=get("R"), S=get("S"),
                        stride=(get("Wstride"), get("Hstride")))
        makers = {"fc": fc, "gemm": gemm, "eltwise": eltwise}
        if kind in makers:
            return makers[kind](name, **{d: get(d) for d in dims})
    except (TypeError, ValueError) as e:
        raise SpecError(file, "problem.instance", f"expected the sizes of a valid layer: {e}") from None
    raise SpecError(file, "problem.shape.name", f"expected a shape cpmap exports (conv, fc, gemm, pool, eltwise) "
                    f"or CNN-Layer, got {shape.get('name')!r}")


# --------------------------------------------------------------------------- mapping


def read_directives(directory: str) -> list[dict]:
    file = os.path.join(directory, "mapping.yaml")
    if not os.path.isfile(file):
        raise SpecError(file, "", "expected a Timeloop mapping file")
    obj = read_yaml(file)
    body = obj.get("mapping") if isinstance(obj, dict) else obj
    if not isinstance(body, list) or not all(isinstance(d, dict) for d in body):
        raise SpecError(file, "mapping", "expected a list of directives (target, type, factors, permutation)")
    return body


def _parse_factors(text, file: str, where: str) -> dict[str, int]:
    out = {}
    for d, f, residual in _FACTOR.findall(str(text or "").split("#")[0]):
        if residual:
            _fail(file, where, f"imperfect factor {d}={f}{residual}: cpmap's factors divide the dims exactly")
        out[d] = int(f)
    return out


def read_mapping(directives: list[dict], arch: Arch, problem: Problem, file: str) -> Mapping:
    """The cpmap mapping of the directives: temporal loops outer to inner (Timeloop writes
    permutations inner to outer), spatial loops per axis (the first ``split`` dims of the
    permutation on X), keeps from the bypass directives (Timeloop keeps by default)."""
    by: dict[tuple[str, str], dict] = {}
    for i, d in enumerate(directives):
        key = (str(d.get("target")), "bypass" if d.get("type") == "datatype" else str(d.get("type")))
        if key[0] not in arch.level_names:
            _fail(file, f"mapping[{i}].target", f"expected a level of the architecture ({', '.join(arch.level_names)}), "
                  f"got {key[0]!r}")
        by[key] = d
    levels = []
    for j, lv in enumerate(arch.levels):
        t = by.get((lv.name, "temporal"), {})
        factors = _parse_factors(t.get("factors"), file, f"{lv.name}.temporal.factors")
        perm = list(str(t.get("permutation", "")))
        order = [d for d in reversed(perm) if d in factors] + [d for d in factors if d not in perm]
        temporal = tuple((d, factors[d]) for d in order if factors[d] > 1)
        spatial = _spatial_loops(by.get((lv.name, "spatial")), lv, file) if lv.fanout is not None else ()
        b = by.get((lv.name, "bypass"), {})
        keeps = set(problem.tensor_names) - _tensors(b.get("bypass") or [], file, f"{lv.name}.bypass")
        if j == len(arch.levels) - 1:
            keeps = set(problem.tensor_names)
        levels.append(LevelMapping(lv.name, temporal, frozenset(keeps), spatial))
    return Mapping(tuple(levels))


def _spatial_loops(d: dict | None, lv: Level, file: str) -> tuple:
    if d is None:
        return ()
    factors = _parse_factors(d.get("factors"), file, f"{lv.name}.spatial.factors")
    perm = [x for x in str(d.get("permutation", "")) if x in factors] + \
        [x for x in factors if x not in str(d.get("permutation", ""))]
    split = _int(d.get("split", len(perm)), file, f"{lv.name}.spatial.split")
    names = [a for a, _ in lv.fanout.axes]
    out = []
    for axis, dims in (("X", perm[:split]), ("Y", perm[split:])):
        loops = tuple((x, factors[x]) for x in reversed(dims) if factors[x] > 1)
        if loops and axis not in names:
            _fail(file, f"{lv.name}.spatial", f"loops {dict(loops)} on axis {axis}, but fanout {lv.fanout.name} "
                  f"has only {', '.join(names)}")
        if loops:
            out.append((axis, loops))
    return tuple(out)


def import_timeloop(directory: str, name: str | None = None) -> tuple[Arch, Problem, Mapping]:
    """(architecture, layer problem, mapping) of a Timeloop directory."""
    if not os.path.isdir(directory):
        raise CpmapError(f"{directory}: expected a directory with arch.yaml, problem.yaml, mapping.yaml, ERT.yaml")
    try:
        directives = read_directives(directory)
        arch = read_arch(directory, directives)
        problem = read_problem(directory, name or os.path.basename(os.path.normpath(directory)) or "layer")
        mapping = read_mapping(directives, arch, problem, os.path.join(directory, "mapping.yaml"))
    except (TypeError, ValueError, AttributeError, KeyError, IndexError) as e:  # a shape no check above expects
        raise CpmapError(f"{directory}: malformed Timeloop input ({type(e).__name__}: {e})") from None
    errs = mapping.structural_errors(problem, arch)
    if errs:
        raise SpecError(os.path.join(directory, "mapping.yaml"), "mapping", "; ".join(errs))
    return arch, problem, mapping
