"""CP-SAT on multi-node architectures (mesh NoC hops, channels, static energy priced in
the model, docs/solver.md "Mesh hops and static energy"): each layer's status, certified
gap, energy, NoC share, nodes used and CP-SAT deterministic time.

    python bench/mesh_solve.py [--arch specs/nnd-4x4.yaml] [--layers conv1,conv3]
                               [--work-limit 10] [--time-limit 120] [--workers 1]
                               [--out bench/results/mesh_solve.json]

Layers: specs/examples/conv-small.yaml and AlexNet (models/alexnet.yaml) at batch 16.  The
work limit is CP-SAT deterministic time, so statuses, energies and work are reproducible
with one worker; seconds depend on the load (printed).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from _models import finish, gap_text, load_model, print_header

from cpmap.core.options import SolveOptions
from cpmap.solve.layer import solve_layer
from cpmap.spec import load_arch, read_yaml, workload_from_obj


def problems(names: list[str] | None):
    small = os.path.join(ROOT, "specs", "examples", "conv-small.yaml")
    yield "conv-small", workload_from_obj(read_yaml(small), small).layer("conv").problem
    alexnet = load_model("alexnet", batch=16)
    for name in alexnet.layer_names:
        if names is None or name in names:
            yield f"alexnet.{name}", alexnet.layer(name).problem


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default=os.path.join(ROOT, "specs", "nnd-4x4.yaml"))
    ap.add_argument("--layers", default=None, help="comma-separated AlexNet layers (default: all)")
    ap.add_argument("--work-limit", type=float, default=10.0)
    ap.add_argument("--time-limit", type=float, default=120.0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "mesh_solve.json"))
    args = ap.parse_args()
    arch = load_arch(args.arch)
    rows = []
    header = (f"{'layer':<18} {'status':<9} {'stop':<11} {'energy_pj':>16} {'gap':>8} {'noc':>6} {'static':>7} "
              f"{'nodes':>5} {'work':>6} {'seconds':>8}")
    print_header(header)
    names = args.layers.split(",") if args.layers else None
    for label, problem in problems(names):
        t0 = time.perf_counter()
        sol = solve_layer(problem, arch, SolveOptions(time_limit=args.time_limit, work_limit=args.work_limit,
                                                      workers=args.workers))
        wall = time.perf_counter() - t0
        r = sol.best.result if sol.best else None
        noc = sum(v["energy_pj"] for v in r.noc.values()) if r else 0.0
        nodes = max((v["nodes_used"] for v in r.noc.values()), default=1) if r else 0
        rows.append({"layer": label, "status": sol.status, "stopped_by": sol.stopped_by, "reason": sol.reason,
                     "energy_pj": r.energy_pj if r else None, "lower_bound_pj": sol.lower_bound, "gap": sol.gap,
                     "noc_pj": noc, "static_pj": r.static_pj if r else None, "nodes_used": nodes,
                     "cycles": r.cycles if r else None, "work": round(sol.work, 3), "seconds": round(wall, 3)})
        gap = gap_text(sol.gap)
        share = f"{100 * noc / r.energy_pj:.1f}%" if r else "-"
        static = f"{100 * r.static_pj / r.energy_pj:.1f}%" if r else "-"
        print(f"{label:<18} {sol.status:<9} {sol.stopped_by:<11} {(r.energy_pj if r else float('nan')):16,.0f} "
              f"{gap:>8} {share:>6} {static:>7} {nodes:>5} {sol.work:6.2f} {wall:8.2f}", flush=True)
    finish(args.out, rows, work_limit=args.work_limit, time_limit=args.time_limit, workers=args.workers,
           arch=os.path.relpath(args.arch, ROOT))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
