"""What the AlexNet benchmarks against nn_dataflow share: the layers, the layer
correspondence with nn_dataflow's ``alex_net``, and one layer's solve as a table row.

Layer correspondence.  nn_dataflow splits AlexNet's two-GPU layers into ``_a``/``_b``
halves (conv1, pool1, conv2, pool2, conv3, conv4, conv5, pool3); cpmap's model merges
them (conv2/4/5 as ``groups: 2``; conv1, conv3 and the pools as one layer of twice the
output channels, both halves reading the whole input).  nn_dataflow's two halves are
summed into the cpmap layer of the same name without the suffix; fc1-fc3 map one to one
(nn_dataflow's fc1 is a 6x6-filter layer over the 6x6x256 input, cpmap's an fc with
C = 9216: the same MACs and tensor sizes).
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BATCH = 16
INSTALL_HINT = "pip install nn-dataflow==2.1 sympy==1.9"


def cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def cpmap_layer(nnd_name: str) -> str:
    """The cpmap layer an nn_dataflow layer belongs to: ``conv2_a`` -> ``conv2``."""
    return re.sub(r"_[ab]$", "", nnd_name)


def halves_by_layer(nnd_layers: list[dict]) -> dict[str, list[dict]]:
    """nn_dataflow's per-layer records grouped by the cpmap layer they make up."""
    groups: dict[str, list[dict]] = {}
    for lay in nnd_layers:
        groups.setdefault(cpmap_layer(lay["name"]), []).append(lay)
    return groups


def alexnet_problems(names: list[str] | None = None, batch: int = BATCH):
    """(name, Problem) of models/alexnet.yaml's layers at ``batch``, those in ``names`` only
    when given, in the network's order."""
    from cpmap.spec import read_yaml, workload_from_obj

    path = str(ROOT / "models" / "alexnet.yaml")
    obj = read_yaml(path)
    obj["workload"]["batch"] = batch
    alexnet = workload_from_obj(obj, path)
    unknown = sorted(set(names or ()) - set(alexnet.layer_names))
    if unknown:
        print(f"--layers: unknown AlexNet layers {', '.join(unknown)} (have {', '.join(alexnet.layer_names)})",
              file=sys.stderr)
        raise SystemExit(2)
    for name in alexnet.layer_names:
        if names is None or name in names:
            yield name, alexnet.layer(name).problem


def solve_row(label: str, problem, arch, options) -> dict:
    """Solve one layer; its status, stop reason, energy, bound, gap, NoC and static energy,
    nodes used, cycles, CP-SAT deterministic work and wall seconds."""
    from cpmap.solve.layer import solve_layer
    from cpmap.spec.mapping import mapping_to_obj

    t0 = time.perf_counter()
    sol = solve_layer(problem, arch, options)
    wall = time.perf_counter() - t0
    r = sol.best.result if sol.best else None
    noc = sum(v["energy_pj"] for v in r.noc.values()) if r else 0.0
    nodes = max((v["nodes_used"] for v in r.noc.values()), default=1) if r else 0
    return {"layer": label, "status": sol.status, "stopped_by": sol.stopped_by, "reason": sol.reason,
            "energy_pj": r.energy_pj if r else None, "lower_bound_pj": sol.lower_bound, "gap": sol.gap,
            "noc_pj": noc, "static_pj": r.static_pj if r else None, "nodes_used": nodes,
            "cycles": r.cycles if r else None, "energy_by_level": dict(r.energy_breakdown) if r else None,
            "mapping": mapping_to_obj(sol.best.mapping) if sol.best else None,
            "work": round(sol.work, 3), "seconds": round(wall, 3)}
