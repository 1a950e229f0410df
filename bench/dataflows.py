"""Compare fixed dataflows in the sense of "DNN Dataflow Choice Is Overrated" (two loops
unrolled over a 2D PE array) on specs/eyeriss.yaml: each layer solved with no dataflow and
with each required dataflow (``constraints: {dataflow: {GBUF: "C|K"}}``, the first group
of dims on axis Y, the second on X, nothing else unrolled), its certified optimum and gap,
and its energy relative to the unconstrained optimum.

    python bench/dataflows.py [--time-limit 10] [--workers 1] [--dataflows C|K,K|C,...]
                              [--only SUBSTRING] [--out bench/results/dataflows.json]

A dataflow whose dims the layer has with size 1 (a depthwise layer's per-group C and K)
requires nothing there and is marked in the ``reduced`` column; a layer that cannot carry
it at all is INFEASIBLE with the reason.  The time limit is CP-SAT deterministic time, so
statuses and energies are reproducible with ``--workers 1``; seconds depend on the load.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from _models import finish, gap_text, layer_problems, print_header

from cpmap.core.constraints import Constraints
from cpmap.core.options import SolveOptions
from cpmap.solve.layer import solve_layer
from cpmap.spec import load_arch

LAYERS = [  # (label, model file, layer name in the model)
    ("alexnet.conv3", "alexnet", "conv3"),
    ("vgg16.conv5_1", "vgg16", "conv11"),
    ("resnet50.1x1", "resnet50", "conv3_1_a"),
    ("resnet50.3x3", "resnet50", "conv3_0_b"),
    ("mobilenet_v2.dw", "mobilenet_v2", "features.3.conv.1.0"),
]
DATAFLOWS = ("C|K", "K|C", "P|Q", "R|P", "C|P", "K|P", "K|Q")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default=os.path.join(ROOT, "specs", "eyeriss.yaml"))
    ap.add_argument("--time-limit", type=float, default=10.0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--dataflows", default=",".join(DATAFLOWS))
    ap.add_argument("--only", default="", help="run only layers whose label contains this")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "dataflows.json"))
    args = ap.parse_args()
    arch = load_arch(args.arch)
    level = next(lv.name for lv in arch.levels if lv.fanout is not None)
    rows = []
    header = (f"{'layer':<16} {'dataflow':<8} {'status':<10} {'energy_pj':>14} {'x free':>7} {'gap':>8} "
              f"{'util':>6} {'seconds':>8} {'reduced':<8}")
    print_header(header)
    for label, problem in layer_problems(LAYERS, only=args.only):
        free_pj = None
        for df in ["-", *args.dataflows.split(",")]:
            cons = Constraints() if df == "-" else Constraints.of(dataflow={level: df})
            cons.check(arch, problem.dims)
            required = cons.resolve(problem, arch).required_dims
            listed = sum(len(ds) for _, _, ds in cons.dataflow)
            reduced = df != "-" and sum(len(ds) for ds in required.values()) < listed
            t0 = time.perf_counter()
            sol = solve_layer(problem, arch, SolveOptions(time_limit=args.time_limit, workers=args.workers,
                                                          constraints=cons))
            wall = time.perf_counter() - t0
            r = sol.best.result if sol.best else None
            if df == "-" and r is not None:
                free_pj = r.energy_pj
            ratio = r.energy_pj / free_pj if r is not None and free_pj else None
            rows.append({"layer": label, "dataflow": df, "status": sol.status, "reason": sol.reason,
                         "energy_pj": r.energy_pj if r else None, "ratio_to_free": ratio, "gap": sol.gap,
                         "utilization": r.utilization if r else None, "cycles": r.cycles if r else None,
                         "seconds": round(wall, 3), "reduced": reduced,
                         "spatial": [[ax, list(map(list, ls))] for ax, ls in sol.best.mapping.levels[1].spatial]
                         if sol.best else None})
            gap = gap_text(sol.gap)
            print(f"{label:<16} {df:<8} {sol.status:<10} {(r.energy_pj if r else float('nan')):14.6g} "
                  f"{(ratio or float('nan')):7.3f} {gap:>8} {(r.utilization if r else 0):6.3f} {wall:8.2f} "
                  f"{'yes' if reduced else '':<8}", flush=True)
    finish(args.out, rows, time_limit=args.time_limit, workers=args.workers, arch=os.path.relpath(args.arch, ROOT))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
