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
import json
import os
import sys
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from _alexnet import alexnet_problems, solve_row
from _machine import git_commit, loadavg_text

from cpmap.core.options import SolveOptions
from cpmap.spec import load_arch, read_yaml, workload_from_obj


def problems(names: list[str] | None):
    small = os.path.join(ROOT, "specs", "examples", "conv-small.yaml")
    yield "conv-small", workload_from_obj(read_yaml(small), small).layer("conv").problem
    for name, problem in alexnet_problems(names):
        yield f"alexnet.{name}", problem


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
    print(header)
    print("-" * len(header))
    names = args.layers.split(",") if args.layers else None
    for label, problem in problems(names):
        row = solve_row(label, problem, arch, SolveOptions(time_limit=args.time_limit, work_limit=args.work_limit,
                                                           workers=args.workers))
        rows.append(row)
        energy, gap = row["energy_pj"], row["gap"]
        share = f"{100 * row['noc_pj'] / energy:.1f}%" if energy else "-"
        static = f"{100 * row['static_pj'] / energy:.1f}%" if energy else "-"
        print(f"{label:<18} {row['status']:<9} {row['stopped_by']:<11} {energy or float('nan'):16,.0f} "
              f"{'-' if gap is None else f'{100 * gap:.2f}%':>8} {share:>6} {static:>7} {row['nodes_used']:>5} "
              f"{row['work']:6.2f} {row['seconds']:8.2f}", flush=True)
    meta = {"work_limit": args.work_limit, "time_limit": args.time_limit, "workers": args.workers,
            "arch": os.path.relpath(args.arch, ROOT), "cpu_count": os.cpu_count(),
            "loadavg_at_end": loadavg_text(), **git_commit(Path(ROOT))}
    print(f"\nload {meta['loadavg_at_end']}; commit {meta['commit'][:10]}")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
