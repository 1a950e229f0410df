"""nn_dataflow 2.1's command-line search, per layer, as JSON on stdout.

Run in nn_dataflow's own venv (it needs sympy 1.9, which cpmap's environment does not
have), never imported by cpmap's side: bench/multinode.py starts it as a subprocess.

    VENV/bin/python bench/_nnd_search.py alex_net --batch 16 --nodes 4 4 ... (nn_dataflow_search.py's flags)

The flags are exactly those of ``nn_dataflow/tools/nn_dataflow_search.py`` (its own
argparser parses them and its own ``do_scheduling`` runs the search); this script adds only
a timer around ``NNDataflow._layer_schedule_search`` (one call per layer without
inter-layer pipelining) and writes each layer's cost split, accesses, hops, partition
scheme and loop blocking, which the tool's JSON leaves out or nests.
"""

from __future__ import annotations

import json
import sys
import time

from nn_dataflow.core import MemHierEnum as me
from nn_dataflow.core import NNDataflow
from nn_dataflow.tools import nn_dataflow_search as tool

SECONDS: dict[str, float] = {}
TOPS: list = []


def _timed_layer_search(original):
    def timed(self, layer_name, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return original(self, layer_name, *args, **kwargs)
        finally:
            SECONDS[layer_name] = SECONDS.get(layer_name, 0.0) + time.perf_counter() - t0
    return timed


def _kept_tops(original):
    def search(self, options):
        tops, stats = original(self, options)
        TOPS.append(tops[0] if tops else None)
        return tops, stats
    return search


def _plain(x):
    """JSON-able copy of nn_dataflow's namedtuples, tuples and enums."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, (int, float, str, bool)) or x is None:
        return x
    return str(x)


def layer_record(name: str, res) -> dict:
    s = res.scheme
    levels = {"DRAM": me.DRAM, "GBUF": me.GBUF, "ITCN": me.ITCN, "REGF": me.REGF}
    part = s["part"]
    return {
        "name": name, "total_cost": res.total_cost, "time": res.total_time, "ops": res.total_ops,
        "num_nodes": s["num_nodes"], "cost_op": s["cost_op"], "cost_access": s["cost_access"],
        "cost_noc": s["cost_noc"], "cost_static": s["cost_static"], "search_seconds": SECONDS.get(name),
        "accesses": {lv: res.total_accesses[i] for lv, i in levels.items()},
        "accesses_by_type": {lv: dict(zip(("FIL", "IFM", "OFM"), s["access"][i])) for lv, i in levels.items()},
        "remote_gbuf_access": _plain(s["remote_gbuf_access"]),
        "noc_hops": res.total_noc_hops, "nhops_by_type": dict(zip(("FIL", "IFM", "OFM"), s["total_nhops"])),
        "mem_nhops": _plain(s["mem_nhops"]), "node_nhops": _plain(s["node_nhops"]),
        "partition": {"order": _plain(part.order), "pdims": _plain(part.pdims)},
        "accfwd_reduction": _plain(s["accfwd_reduction"]),
        "loop_blocking": {"ti": _plain(s["ti"]), "to": _plain(s["to"]), "tb": _plain(s["tb"]),
                          "tvals": _plain(s["tvals"]), "orders": _plain(s["orders"])},
    }


def main() -> int:
    NNDataflow._layer_schedule_search = _timed_layer_search(NNDataflow._layer_schedule_search)
    NNDataflow.schedule_search = _kept_tops(NNDataflow.schedule_search)
    args = tool.argparser().parse_args()
    res = tool.do_scheduling(args)
    if res is None or not TOPS or TOPS[0] is None:
        sys.stderr.write("nn_dataflow found no valid dataflow\n")
        return 2
    top = TOPS[0]
    out = {"version": res["version"], "argv": sys.argv[1:], "elapsed": res["elapsed"],
           "total_cost": res["total_cost"], "total_time": res["total_time"], "total_ops": res["total_ops"],
           "total_noc_cost": res["total_noc_cost"], "total_static_cost": res["total_static_cost"],
           "cost": _plain(res["cost"]), "options": _plain(res["options"]),
           "layers": [layer_record(name, top[name]) for name in top]}
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
