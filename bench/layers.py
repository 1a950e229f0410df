"""Solve the issue-3 layer set on specs/eyeriss.yaml and report how fast optimality is proved.

Layers (from the bundled models): AlexNet conv1-conv5, VGG-16 conv1_2 / conv3_1 / conv5_1,
ResNet-50 one 1x1 and one 3x3 conv, MobileNet-V2 one depthwise and one pointwise conv,
ViT-B/16 the QKV projection and the QK^T batched gemm; each at batch 1 and 16.

    python bench/layers.py [--time-limit 10] [--work-limit W] [--workers 1] [--encoding exact|pwl]
                           [--batches 1,16] [--only SUBSTRING] [--limit N] [--out bench/results/layers.json]

Prints one row per layer (status, what stopped it, seconds, wall/limit, certified gap,
energy, utilization) and a summary: how many were proved optimal (gap <= 0.1%) within the
limit, the median time and the worst wall/limit ratio (the time limit is wall-clock seconds
for the whole of ``solve_layer``, model building included; the work limit, CP-SAT
deterministic time, defaults to half of it).  ``--limit N`` runs the first N layers only.
Times are wall-clock on whatever else the machine is doing; compare runs made together.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from _machine import git_commit
from _machine import loadavg_text as _loadavg
from _models import gap_text, layer_problems, print_header

from cpmap.core.options import SolveOptions
from cpmap.solve.layer import solve_layer
from cpmap.spec import load_arch

LAYERS = [  # (label, model file, layer name in the model)
    ("alexnet.conv1", "alexnet", "conv1"),
    ("alexnet.conv2", "alexnet", "conv2"),
    ("alexnet.conv3", "alexnet", "conv3"),
    ("alexnet.conv4", "alexnet", "conv4"),
    ("alexnet.conv5", "alexnet", "conv5"),
    ("vgg16.conv1_2", "vgg16", "conv2"),
    ("vgg16.conv3_1", "vgg16", "conv5"),
    ("vgg16.conv5_1", "vgg16", "conv11"),
    ("resnet50.1x1", "resnet50", "conv3_1_a"),
    ("resnet50.3x3", "resnet50", "conv3_0_b"),
    ("mobilenet_v2.dw", "mobilenet_v2", "features.3.conv.1.0"),
    ("mobilenet_v2.pw", "mobilenet_v2", "features.3.conv.2"),
    ("vit_b_16.qkv", "vit_b_16", "enc0.qkv"),
    ("vit_b_16.qk", "vit_b_16", "enc0.qk"),
]
GAP_OPTIMAL = 1e-3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default=os.path.join(ROOT, "specs", "eyeriss.yaml"))
    ap.add_argument("--time-limit", type=float, default=10.0, help="wall-clock seconds per layer")
    ap.add_argument("--work-limit", type=float, default=None,
                    help="CP-SAT deterministic seconds per layer (default: half the time limit)")
    ap.add_argument("--workers", type=int, default=1, help="CP-SAT workers (default 1, as cpmap solve per job)")
    ap.add_argument("--limit", type=int, default=0, help="run only the first N layers (0: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--encoding", default="exact", choices=["exact", "pwl"])
    ap.add_argument("--batches", default="1,16")
    ap.add_argument("--nondeterministic", action="store_true",
                    help="free-running workers instead of interleaved ones (not reproducible)")
    ap.add_argument("--only", default="", help="run only layers whose label contains this")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "layers.json"))
    args = ap.parse_args()
    arch = load_arch(args.arch)
    opts = SolveOptions(time_limit=args.time_limit, work_limit=args.work_limit, workers=args.workers,
                        seed=args.seed, encoding=args.encoding, deterministic=not args.nondeterministic)
    rows = []
    load_before = _loadavg()
    header = (f"{'layer':<18} {'batch':>5} {'status':<9} {'stop':<11} {'seconds':>8} {'wall/lim':>8} {'gap':>9} "
              f"{'energy_pj':>14} {'util':>6}")
    print_header(header)
    for batch in [int(b) for b in args.batches.split(",")]:
        for label, problem in layer_problems(LAYERS, batch):
            if args.only not in label or (args.limit and len(rows) >= args.limit):
                continue
            t0 = time.perf_counter()
            sol = solve_layer(problem, arch, opts)
            wall = time.perf_counter() - t0
            r = sol.best.result if sol.best else None
            row = {"layer": label, "batch": batch, "status": sol.status, "stopped_by": sol.stopped_by,
                   "seconds": round(wall, 3), "wall_over_limit": round(wall / args.time_limit, 3),
                   "work": round(sol.work, 4),
                   "gap": sol.gap, "energy_pj": r.energy_pj if r else None,
                   "lower_bound_pj": sol.lower_bound_pj, "utilization": r.utilization if r else None,
                   "cycles": r.cycles if r else None}
            rows.append(row)
            gap = gap_text(sol.gap, 3)
            print(f"{label:<18} {batch:>5} {sol.status:<9} {sol.stopped_by:<11} {wall:8.2f} "
                  f"{wall / args.time_limit:8.2f} {gap:>9} "
                  f"{(r.energy_pj if r else float('nan')):14.6g} {(r.utilization if r else 0):6.3f}", flush=True)
    proved = [r for r in rows if r["gap"] is not None and r["gap"] <= GAP_OPTIMAL
              and r["seconds"] <= args.time_limit * 1.1]
    med = statistics.median(r["seconds"] for r in rows) if rows else float("nan")
    worst = max((r["wall_over_limit"] for r in rows), default=float("nan"))
    stops = {s: sum(1 for r in rows if r["stopped_by"] == s) for s in sorted({r["stopped_by"] for r in rows})}
    summary = {"layers": len(rows), "proved_optimal": len(proved),
               "fraction_proved": len(proved) / len(rows) if rows else 0.0,
               "median_seconds": med, "worst_wall_over_limit": worst, "stops": stops,
               "time_limit": args.time_limit, "work_limit": opts.work, "workers": args.workers,
               "encoding": args.encoding, "seed": args.seed, "cpu_count": os.cpu_count(),
               "deterministic": not args.nondeterministic, "loadavg_before": load_before,
               "loadavg_at_end": _loadavg(), **git_commit(Path(ROOT))}
    print(f"\nproved optimal (gap <= {100 * GAP_OPTIMAL:g}%): {len(proved)}/{len(rows)}; "
          f"median {med:.2f} s; worst wall/limit {worst:.2f}; stops {stops}\n"
          f"time limit {args.time_limit:g} s wall, work limit {opts.work}, {args.workers} workers, {args.encoding}, "
          f"{'non' if args.nondeterministic else ''}deterministic; load {_loadavg()}")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"summary": summary, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
