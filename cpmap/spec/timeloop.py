"""cpmap objects -> Timeloop input files (``cpmap export timeloop``; docs/interop.md).

Writes what timeloop-model v3.0.x reads: an architecture in the v0.3 tree format
(``subtree``/``local``, one subtree per fanout, explicit ``instances`` and ``meshX``), a
problem with its shape written out (cpmap's dims and each tensor's projection, strides
and dilations as named coefficients), a mapping (per level a temporal directive with
factors and a permutation, a spatial directive with the X/Y ``split``, a bypass directive
with keep/bypass), an ERT (v0.3) with cpmap's per-access energies, and the levels'
allowed tensors as bypass constraints.  :mod:`cpmap.spec.timeloop_import` reads the same
files back.  cpmap features without a Timeloop equivalent are listed in docs/interop.md;
the export reports each one it meets as a warning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import yaml

from ..core.arch import Arch
from ..core.errors import CpmapError
from ..core.mapping import Mapping
from ..core.problem import TENSORS, Problem

DATASPACES = {"W": "Weights", "I": "Inputs", "O": "Outputs"}
"""cpmap tensor -> Timeloop data-space name."""
TENSOR_OF = {v: k for k, v in DATASPACES.items()}
FILES = ("arch.yaml", "problem.yaml", "mapping.yaml", "ERT.yaml", "constraints.yaml")
MAC_NAME = "MAC"
NETWORK_ACTION = "transfer"
"""ERT action that stores a fanout's per-word energy (Timeloop ignores the entry)."""


@dataclass
class Export:
    """The files of one export (name -> YAML text) and what could not be expressed."""

    files: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def fanout_axes(arch: Arch) -> dict[str, dict[str, str]]:
    """Per fanout: cpmap axis -> Timeloop axis (X or Y).  Axes named x/X and y/Y keep
    their letter; otherwise the first is X and the second Y; three or more axes have no
    Timeloop equivalent."""
    out = {}
    for lv in arch.levels:
        if lv.fanout is None:
            continue
        names = [a for a, _ in lv.fanout.axes]
        if len(names) > 2:
            raise CpmapError(f"fanout {lv.fanout.name} has {len(names)} axes; a Timeloop array has two (X, Y)")
        upper = [a.upper() for a in names]
        if sorted(upper) in (["X"], ["Y"], ["X", "Y"]):
            out[lv.fanout.name] = dict(zip(names, upper))
        else:
            out[lv.fanout.name] = dict(zip(names, ("X", "Y")))
    return out


def export_timeloop(arch: Arch, problem: Problem, mapping: Mapping) -> Export:
    """The Timeloop files of ``mapping`` of ``problem`` on ``arch``."""
    errs = mapping.structural_errors(problem, arch)
    if errs:
        raise CpmapError("; ".join(errs))
    out = Export()
    axes = fanout_axes(arch)
    out.files["arch.yaml"] = _dump({"architecture": _arch_tree(arch, axes, out.warnings)})
    out.files["problem.yaml"] = _dump({"problem": problem_obj(problem)})
    out.files["mapping.yaml"] = _dump({"mapping": _mapping_obj(arch, problem, mapping, axes)})
    out.files["ERT.yaml"] = _dump({"ERT": _ert(arch)})
    out.files["constraints.yaml"] = _dump({"constraints": {"targets": _allowed(arch, problem)}})
    return out


def _dump(obj) -> str:
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=None, width=100)


# --------------------------------------------------------------------------- architecture


def _instances(arch: Arch) -> list[tuple[int, int]]:
    """(meshX, meshY) of every level: products of the X and Y sizes of the fanouts above."""
    axes = fanout_axes(arch)
    mesh = [(1, 1)] * len(arch.levels)
    x = y = 1
    for i in reversed(range(len(arch.levels))):
        mesh[i] = (x, y)
        fan = arch.levels[i].fanout
        if fan is not None:
            for a, n in fan.axes:
                if axes[fan.name][a] == "X":
                    x *= n
                else:
                    y *= n
    return mesh


def _arch_tree(arch: Arch, axes, warnings: list[str]) -> dict:
    """The v0.3 tree: the system subtree holds the outermost level; each fanout opens a
    subtree named after it (``PE[0..167]``) holding the levels below it, outer first,
    and the innermost subtree ends with the MAC units."""
    mesh = _instances(arch)
    root = {"name": arch.name, "local": []}
    node = root
    for i in reversed(range(len(arch.levels))):
        lv = arch.levels[i]
        node["local"].append(_storage(arch, i, mesh[i], warnings))
        fan = lv.fanout
        if fan is not None and i > 0:
            if fan.size == 1:
                warnings.append(f"fanout {fan.name} has one child: Timeloop has no spatial level there; "
                                "the export leaves it out")
                continue
            if fan.energy_pj > 0:
                warnings.append(f"fanout {fan.name}: {fan.energy_pj} pJ per word has no Timeloop equivalent "
                                "(timeloop-model's network energy comes from its own wire model); it is "
                                "kept in ERT.yaml, where timeloop-model ignores it")
            child = {"name": f"{fan.name}[0..{fan.size - 1}]", "local": []}
            node.setdefault("subtree", []).append(child)
            node = child
    mx, my = mesh[0]
    node["local"].append({"name": MAC_NAME, "class": "intmac", "attributes": {
        "datawidth": arch.word_bits, "instances": mx * my, "meshX": mx}})
    return {"version": 0.3, "subtree": [root]}


def _storage(arch: Arch, i: int, mesh: tuple[int, int], warnings: list[str]) -> dict:
    lv = arch.levels[i]
    attrs: dict = {"word-bits": arch.word_bits, "width": arch.word_bits, "block-size": 1,
                   "instances": mesh[0] * mesh[1], "meshX": mesh[0]}
    if lv.capacity is not None:
        attrs["depth"] = lv.capacity
    elif lv.partitions is not None:
        attrs["depth"] = sum(w for _, w in lv.partitions)
        warnings.append(f"{lv.name}: per-tensor partitions {dict(lv.partitions)} have no Timeloop equivalent "
                        f"in one buffer; exported as one shared buffer of {attrs['depth']} words")
    if lv.read_bandwidth is not None:
        attrs["read_bandwidth"] = lv.read_bandwidth
    if lv.write_bandwidth is not None:
        attrs["write_bandwidth"] = lv.write_bandwidth
    return {"name": lv.name, "class": "DRAM" if lv.unbounded else "SRAM", "attributes": attrs}


def _ert(arch: Arch) -> dict:
    """Energy per access of every level (read; write for fills and updates), the MAC,
    and each fanout's per-word energy (an entry timeloop-model does not use)."""
    path = [arch.name]
    tables = []
    for i in reversed(range(len(arch.levels))):
        lv = arch.levels[i]
        tables.append({"name": ".".join(path + [lv.name]), "actions": [
            {"name": "read", "energy": lv.read_pj}, {"name": "write", "energy": lv.write_pj},
            {"name": "update", "energy": lv.write_pj}, {"name": "leak", "energy": 0.0}]})
        if lv.fanout is not None and i > 0 and lv.fanout.size > 1:
            path.append(f"{lv.fanout.name}[0..{lv.fanout.size - 1}]")
            tables.append({"name": ".".join(path[:-1] + [lv.fanout.name]), "actions": [
                {"name": NETWORK_ACTION, "energy": lv.fanout.energy_pj}]})
    tables.append({"name": ".".join(path + [MAC_NAME]), "actions": [
        {"name": "mac_random", "energy": arch.mac_pj}, {"name": "compute", "energy": arch.mac_pj}]})
    return {"version": 0.3, "tables": tables}


def _allowed(arch: Arch, problem: Problem) -> list[dict]:
    """Tensors a level may not keep, as the mapper's bypass constraints."""
    out = []
    for lv in arch.levels:
        never = [DATASPACES[t] for t in TENSORS if t not in lv.keeps]
        if never:
            out.append({"target": lv.name, "type": "bypass", "bypass": never})
    return out


# --------------------------------------------------------------------------- problem


def coefficient_names(problem: Problem) -> dict[tuple[str, str], str]:
    """(tensor, dim) -> coefficient name for every two-term axis term.  Sliding windows of
    conv and pool use Timeloop's names (P and R along Wstride/Wdilation, Q and S along
    Hstride/Hdilation); any other term is ``<dim><tensor>coef``."""
    out = {}
    cnn = {"P": "Wstride", "R": "Wdilation", "Q": "Hstride", "S": "Hdilation"}
    for t in problem.tensors:
        for ax in t.axes:
            if len(ax.terms) == 2:
                for d, _ in ax.terms:
                    out[t.name, d] = cnn.get(d, f"{d}{t.name}coef") if problem.kind in ("conv", "pool") \
                        else f"{d}{t.name}coef"
    return out


def problem_obj(problem: Problem) -> dict:
    """The problem with its shape written out: dims (one letter each, as Timeloop's
    permutation strings need), coefficients and projections, and the instance."""
    names = coefficient_names(problem)
    coefs = {names[t.name, d]: c for t in problem.tensors for ax in t.axes if len(ax.terms) == 2
             for d, c in ax.terms}
    spaces = []
    for t in problem.tensors:
        proj = [[[d] if len(ax.terms) == 1 else [d, names[t.name, d]] for d, _ in ax.terms] for ax in t.axes]
        space = {"name": DATASPACES[t.name], "projection": proj}
        if t.name == "O":
            space["read-write"] = True
        spaces.append(space)
    shape = {"name": problem.kind, "dimensions": list(problem.dims),
             "coefficients": [{"name": n, "default": v} for n, v in coefs.items()], "data-spaces": spaces}
    return {"shape": shape, "instance": dict(problem.size) | coefs}


# --------------------------------------------------------------------------- mapping


def _factors(dims, loops) -> str:
    got = dict(loops)
    return " ".join(f"{d}={got.get(d, 1)}" for d in dims)


def _mapping_obj(arch: Arch, problem: Problem, mapping: Mapping, axes) -> list[dict]:
    dims = problem.dims
    out = []
    for lm, lv in reversed(list(zip(mapping.levels, arch.levels))):
        inner_to_outer = [d for d, _ in reversed(lm.temporal)]
        perm = inner_to_outer + [d for d in dims if d not in inner_to_outer]
        out.append({"target": lv.name, "type": "temporal", "factors": _factors(dims, lm.temporal),
                    "permutation": "".join(perm)})
        if lv.fanout is not None and lv.fanout.size > 1:
            out.append(_spatial(lv, lm, problem, axes[lv.fanout.name]))
        keep = [DATASPACES[t] for t in TENSORS if t in lm.keeps]
        bypass = [DATASPACES[t] for t in problem.tensor_names if t not in lm.keeps]
        out.append({"target": lv.name, "type": "bypass", "keep": keep, "bypass": bypass})
    return out


def _spatial(lv, lm, problem: Problem, axis_map: dict[str, str]) -> dict:
    """X loops first in the permutation (inner to outer), then Y; ``split`` = X's count."""
    dims = problem.dims
    on = {"X": [], "Y": []}
    spatial = [(axis, tuple(lp for lp in loops if lp[1] > 1)) for axis, loops in lm.spatial]  # 1s: no effect
    for axis, loops in spatial:
        on[axis_map[axis]] += [d for d, _ in reversed(loops)]
    loops = [lp for _, ls in spatial for lp in ls]
    seen = [d for d, _ in loops]
    twice = sorted({d for d in seen if seen.count(d) > 1})
    if twice:
        raise CpmapError(f"{lv.name}.spatial: dim {twice[0]} is unrolled on two axes of fanout {lv.fanout.name}; "
                         "a Timeloop spatial level has one loop per dim")
    rest = [d for d in dims if d not in seen]
    perm = on["X"] + on["Y"] + rest
    factors = {d: math.prod(f for e, f in loops if e == d) for d in dims}
    out = {"target": lv.name, "type": "spatial", "factors": _factors(dims, factors.items()),
           "permutation": "".join(perm), "split": len(on["X"])}
    never = [DATASPACES[t] for t in problem.tensor_names
             if (lv.fanout.reduction if t == "O" else lv.fanout.multicast) is False]
    if never:
        out["no_multicast_no_reduction"] = never
    return out
