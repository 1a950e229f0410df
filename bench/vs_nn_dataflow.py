"""AlexNet at batch 16: nn_dataflow 2.1's search against cpmap, layer by layer (optional benchmark).

Skipped, with exit 0, when ``nn_dataflow`` cannot be imported
(``pip install nn-dataflow==2.1 sympy==1.9``; newer sympy breaks it).

nn_dataflow side: its bundled ``alex_net`` at batch 16 on the single-node Eyeriss-like
configuration of its own tests (``tests/dataflow_test/test_nn_dataflow.py``) and of the
``nn_dataflow_search.py`` command line ``--nodes 1 1 --array 16 16 --regf 512 --gbuf 131072
--word 16``: 16x16 PEs, 512 B RF, 128 KiB GBUF, DRAM region at the node, unit costs MAC 1,
DRAM 200, GBUF 6, ITCN (array interconnect) 2, REGF 1, inter-node NoC hop 0 (one node:
no hops), no idle cost.  Search options as the command line's defaults: GBUF bypass
allowed for every data type, exhaustive loop blocking (not the analytical solver), no
inter-layer pipelining, energy goal, top 1.  Its row-stationary mapping strategy
(``MapStrategyEyeriss``) is the only one nn_dataflow has.

cpmap side: ``specs/eyeriss-nnd.yaml`` (the same numbers) with ``models/alexnet.yaml`` at
batch 16, every layer, energy objective, through :func:`cpmap.network.batch.run_batch` from an
empty cache (a temporary directory), default jobs and workers, ``--time-limit`` per layer.

Layer correspondence: bench/_alexnet.py (nn_dataflow's ``_a``/``_b`` halves summed).

    python bench/vs_nn_dataflow.py [--time-limit 10] [--processes N] [--out bench/results/vs_nn_dataflow.json]

Prints, per cpmap layer, both totals (in units of one MAC's energy), their ratio, the
energy split of each tool (MAC / RF / array network / GBUF / DRAM), cpmap's status and gap,
and each tool's seconds; writes everything to the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from _alexnet import BATCH, INSTALL_HINT, ROOT, cores, cpmap_layer, halves_by_layer
from _machine import loadavg

sys.path.insert(0, str(ROOT))

COST = {"mac_op": 1.0, "DRAM": 200.0, "GBUF": 6.0, "ITCN": 2.0, "REGF": 1.0, "noc_hop": 0.0}


# --------------------------------------------------------------------------- nn_dataflow


def run_nn_dataflow(processes: int) -> dict:
    from nn_dataflow.core import (
        Cost,
        MapStrategyEyeriss,
        NNDataflow,
        NodeRegion,
        Option,
        PhyDim2,
        Resource,
    )
    from nn_dataflow.core import MemHierEnum as me
    from nn_dataflow.nns import import_network
    from nn_dataflow.version import get_version

    network = import_network("alex_net")
    word_bytes = 2

    def region(kind):
        return NodeRegion(origin=PhyDim2(0, 0), dim=PhyDim2(1, 1), type=kind)

    resource = Resource(proc_region=region(NodeRegion.PROC), dram_region=region(NodeRegion.DRAM),
                        src_data_region=region(NodeRegion.DRAM), dst_data_region=region(NodeRegion.DRAM),
                        dim_array=PhyDim2(16, 16), size_gbuf=131072 // word_bytes,
                        size_regf=512 // word_bytes, array_bus_width=float("inf"),
                        dram_bandwidth=float("inf"), no_time_mux=False)
    hier = [0.0] * me.NUM
    hier[me.DRAM], hier[me.GBUF], hier[me.ITCN], hier[me.REGF] = (COST["DRAM"], COST["GBUF"], COST["ITCN"],
                                                                   COST["REGF"])
    cost = Cost(mac_op=COST["mac_op"], mem_hier=tuple(hier), noc_hop=COST["noc_hop"], idl_unit=0)
    options = Option(sw_gbuf_bypass=(True, True, True), sw_solve_loopblocking=False, opt_goal="e", ntops=1,
                     nprocesses=processes)

    nnd = NNDataflow(network, BATCH, resource, cost, MapStrategyEyeriss)
    seconds: dict[str, float] = {}
    search_layer = nnd._layer_schedule_search  # timed per layer (no inter-layer pipelining: one call each)

    def timed(layer_name, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return search_layer(layer_name, *args, **kwargs)
        finally:
            seconds[layer_name] = seconds.get(layer_name, 0.0) + time.perf_counter() - t0

    nnd._layer_schedule_search = timed
    load_before = loadavg()
    t0 = time.perf_counter()
    tops, _ = nnd.schedule_search(options)
    wall = time.perf_counter() - t0
    if not tops:
        raise RuntimeError("nn_dataflow found no valid dataflow")
    top = tops[0]
    levels = {"DRAM": me.DRAM, "GBUF": me.GBUF, "ITCN": me.ITCN, "REGF": me.REGF}
    layers = []
    for name in top:
        res = top[name]
        acc = res.total_accesses  # per level, summed over data types (incl. remote GBUF)
        per_type = res.scheme["access"]
        layers.append({
            "name": name, "cpmap_layer": cpmap_layer(name), "total_cost": res.total_cost,
            "ops": res.total_ops, "time": res.total_time, "search_seconds": seconds.get(name),
            "cost_op": res.scheme["cost_op"], "cost_access": res.scheme["cost_access"],
            "cost_noc": res.scheme["cost_noc"], "cost_static": res.scheme["cost_static"],
            "energy_by_level": {lv: acc[i] * cost.mem_hier[i] for lv, i in levels.items()},
            "accesses": {lv: acc[i] for lv, i in levels.items()},
            "accesses_by_type": {lv: {"FIL": per_type[i][0], "IFM": per_type[i][1], "OFM": per_type[i][2]}
                                 for lv, i in levels.items()},
            "regf_accesses_per_op": acc[me.REGF] / res.total_ops if res.total_ops else None,
        })
    return {"version": get_version(with_local=True), "wall_seconds": wall, "total_cost": top.total_cost,
            "total_ops": top.total_ops, "processes": processes, "loadavg_before": load_before,
            "loadavg_after": loadavg(), "layers": layers}


# --------------------------------------------------------------------------- cpmap


def run_cpmap(time_limit: float, jobs: int | None, seed: int, workdir: str) -> dict:
    from cpmap.network.batch import run_batch
    from cpmap.network.cache import Cache
    from cpmap.report.solve import solve_json
    from cpmap.spec.solve import load_solve_spec

    spec = Path(workdir) / "alexnet-nnd.yaml"
    spec.write_text(f"solve:\n  arch: {ROOT / 'specs' / 'eyeriss-nnd.yaml'}\n"
                    f"  workload: {ROOT / 'models' / 'alexnet.yaml'}\n  batch: {BATCH}\n")
    plan = load_solve_spec(str(spec), {"time_limit": time_limit, "seed": seed})
    load_before = loadavg()
    t0 = time.perf_counter()
    batch = run_batch(plan, jobs=jobs, cache=Cache(Path(workdir) / "cache"))
    wall = time.perf_counter() - t0
    data = solve_json(batch)
    layers = []
    for lay in data["layers"]:
        by_level = lay["energy_by_level"] or {}
        layers.append({
            "name": lay["name"], "status": lay["status"], "energy_pj": lay["energy_pj"],
            "lower_bound_pj": lay["lower_bound_pj"], "gap": lay["gap"], "macs": lay["macs"],
            "solve_seconds": lay["solve_seconds"], "cycles": lay["cycles"], "utilization": lay["utilization"],
            "mac_energy_pj": lay["mac_energy_pj"], "network_energy_pj": lay["network_energy_pj"],
            "energy_by_level": by_level,
            "rf_accesses_per_mac": (by_level.get("RF", 0.0) / lay["macs"]) if lay["macs"] else None,
            "mapping": lay["mapping"],
        })
    t = data["total"]
    return {"wall_seconds": wall, "energy_pj": t["energy_pj"], "lower_bound_pj": t["lower_bound_pj"],
            "gap": t["gap"], "worst_gap": t["worst_gap"], "statuses": t["statuses"], "jobs": t["jobs"],
            "workers": t["workers"], "time_limit": time_limit, "seed": seed, "loadavg_before": load_before,
            "loadavg_after": loadavg(), "layers": layers}


# --------------------------------------------------------------------------- side by side


def compare(nnd: dict, cp: dict) -> list[dict]:
    groups = halves_by_layer(nnd["layers"])
    rows = []
    for c in cp["layers"]:
        halves = groups.pop(c["name"], [])
        n_cost = sum(h["total_cost"] for h in halves) if halves else None
        n_sec = sum(h["search_seconds"] or 0.0 for h in halves) if halves else None

        def nsum(key: str, halves=halves) -> float:
            return sum(h["energy_by_level"][key] for h in halves)

        row = {
            "layer": c["name"], "nn_dataflow_layers": [h["name"] for h in halves],
            "nn_dataflow_cost": n_cost, "cpmap_energy": c["energy_pj"],
            "ratio_cpmap_over_nnd": (c["energy_pj"] / n_cost) if n_cost and c["energy_pj"] is not None else None,
            "cpmap_status": c["status"], "cpmap_gap": c["gap"],
            "nn_dataflow_seconds": n_sec, "cpmap_seconds": c["solve_seconds"],
            "ops_equal": bool(halves) and abs(sum(h["ops"] for h in halves) - c["macs"]) < 0.5,
        }
        if halves:
            row["nn_dataflow_split"] = {"MAC": sum(h["cost_op"] for h in halves), "RF": nsum("REGF"),
                                        "array": nsum("ITCN"), "GBUF": nsum("GBUF"), "DRAM": nsum("DRAM"),
                                        "noc": sum(h["cost_noc"] for h in halves)}
        if c["energy_pj"] is not None:
            lv = c["energy_by_level"]
            row["cpmap_split"] = {"MAC": c["mac_energy_pj"], "RF": lv.get("RF", 0.0),
                                  "array": sum((c["network_energy_pj"] or {}).values()),
                                  "GBUF": lv.get("GBUF", 0.0), "DRAM": lv.get("DRAM", 0.0)}
        rows.append(row)
    if groups:
        raise RuntimeError(f"nn_dataflow layers without a cpmap layer: {sorted(groups)}")
    return rows


def _e(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time-limit", type=float, default=10.0, help="cpmap seconds per layer (default 10)")
    ap.add_argument("--jobs", type=int, default=None, help="cpmap parallel solves (default: the cores)")
    ap.add_argument("--processes", type=int, default=cores(),
                    help="nn_dataflow search processes (default: the cores, as cpmap)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "vs_nn_dataflow.json"))
    args = ap.parse_args()

    try:
        import nn_dataflow  # noqa: F401
        from nn_dataflow.core import NNDataflow  # noqa: F401 -- fails with a too new sympy
    except Exception as e:  # noqa: BLE001 -- any import failure means: skip
        print(f"skipped: nn_dataflow is not importable ({type(e).__name__}: {e}); {INSTALL_HINT}")
        return 0

    print(f"nn_dataflow: AlexNet batch {BATCH}, {args.processes} processes ...", flush=True)
    nnd = run_nn_dataflow(args.processes)
    print(f"  {nnd['wall_seconds']:.1f} s, total {nnd['total_cost']:.6g}", flush=True)
    print(f"cpmap: AlexNet batch {BATCH} on specs/eyeriss-nnd.yaml, {args.time_limit:g} s per layer ...",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="cpmap-vs-nnd-") as workdir:
        cp = run_cpmap(args.time_limit, args.jobs, args.seed, workdir)
    print(f"  {cp['wall_seconds']:.1f} s, total {cp['energy_pj']:.6g}\n", flush=True)

    rows = compare(nnd, cp)
    header = (f"{'layer':<6} {'nn_dataflow':>11} {'cpmap':>11} {'ratio':>6} {'status':<9} {'gap':>7} "
              f"{'nnd_s':>6} {'cpmap_s':>7}   split nnd | cpmap (MAC/RF/array/GBUF/DRAM, % of total)")
    print(header)
    print("-" * len(header))
    for r in rows:
        gap = "-" if r["cpmap_gap"] is None else f"{100 * r['cpmap_gap']:.2f}%"

        def split(s: dict | None, total: float | None) -> str:
            if not s or not total:
                return "-"
            return "/".join(f"{100 * s[k] / total:.0f}" for k in ("MAC", "RF", "array", "GBUF", "DRAM"))

        ratio = "-" if r["ratio_cpmap_over_nnd"] is None else f"{r['ratio_cpmap_over_nnd']:.3f}"
        print(f"{r['layer']:<6} {_e(r['nn_dataflow_cost']):>11} {_e(r['cpmap_energy']):>11} {ratio:>6} "
              f"{r['cpmap_status']:<9} {gap:>7} {r['nn_dataflow_seconds'] or 0:6.1f} {r['cpmap_seconds'] or 0:7.1f}"
              f"   {split(r.get('nn_dataflow_split'), r['nn_dataflow_cost'])} | "
              f"{split(r.get('cpmap_split'), r['cpmap_energy'])}")
    print(f"{'total':<6} {_e(nnd['total_cost']):>11} {_e(cp['energy_pj']):>11} "
          f"{cp['energy_pj'] / nnd['total_cost']:6.3f} {'':<9} {'':>7} {nnd['wall_seconds']:6.1f} "
          f"{cp['wall_seconds']:7.1f}   (wall seconds)")

    out = {
        "settings": {"network": "AlexNet (nn_dataflow alex_net / models/alexnet.yaml)", "batch": BATCH,
                     "nn_dataflow_config": {"nodes": [1, 1], "array": [16, 16], "regf_bytes": 512,
                                            "gbuf_bytes": 131072, "word_bits": 16, "cost": COST,
                                            "gbuf_bypass": "allowed for all", "loop_blocking": "exhaustive",
                                            "interlayer_pipelining": False, "goal": "energy",
                                            "map_strategy": "MapStrategyEyeriss (row stationary)"},
                     "cpmap_arch": "specs/eyeriss-nnd.yaml", "cpmap_workload": "models/alexnet.yaml",
                     "cpmap_cache": "empty (temporary directory)",
                     "layer_mapping": "nn_dataflow X_a + X_b -> cpmap X; fc1-fc3 one to one"},
        "machine": {"cores": cores(), "cpu_count": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "nn_dataflow": nnd,
        "cpmap": cp,
        "comparison": rows,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1, default=str)
        f.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
