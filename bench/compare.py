"""CP-SAT against the heuristic searchers on the issue-3 layer set (bench/layers.py).

Each layer of bench/layers.py (AlexNet conv1-5, VGG-16, ResNet-50, MobileNet-V2 and ViT
layers) on specs/eyeriss.yaml is mapped by every method with the same evaluator and
mapping space (cpmap/network/compare.py, docs/compare.md), each at its own stated budget:

    python bench/compare.py [--batches 1] [--methods cpsat,random,ga,anneal,exhaustive]
                            [--time-limit 10] [--work-limit W] [--workers 1] [--budget 60] [--samples 100000]
                            [--generations 50] [--population 100] [--steps 20000]
                            [--exhaustive-limit 2000000] [--seed 0] [--only SUBSTRING]
                            [--out bench/results/compare.json] [--png FILE]

CP-SAT's time limit is wall-clock seconds and its work limit deterministic time (as
``cpmap solve``; an answer the work limit stops is reproducible under load; the wall time,
model building included, is reported); each heuristic stops at its count limit or after --budget wall
seconds, whichever comes first.  Prints one row per layer and method, then per method the
geometric mean of (method best / CP-SAT best) and on how many layers it is worse than,
equal to or better than CP-SAT; a heuristic better than CP-SAT is listed with CP-SAT's
status and certified gap (it can only happen where CP-SAT did not prove optimality).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _machine import git_commit
from _machine import loadavg_text as _loadavg
from layers import problems  # bench/layers.py: the layer set

from cpmap.network.compare import Budgets, CpsatPool, compare_layer, parse_methods
from cpmap.report.compare import layer_json, summarize
from cpmap.report.plots import plot_best_so_far
from cpmap.search import DEFAULT_LIMIT
from cpmap.spec import load_arch


def _fmt(x, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default=os.path.join(ROOT, "specs", "eyeriss.yaml"))
    ap.add_argument("--batches", default="1")
    ap.add_argument("--methods", default="cpsat,random,ga,anneal,exhaustive")
    ap.add_argument("--time-limit", type=float, default=10.0, help="CP-SAT, wall-clock seconds per layer")
    ap.add_argument("--work-limit", type=float, default=None,
                    help="CP-SAT, deterministic seconds per layer (default: half the time limit)")
    ap.add_argument("--workers", type=int, default=1, help="CP-SAT workers (default 1, like each heuristic)")
    ap.add_argument("--budget", type=float, default=60.0, help="wall seconds cap of each heuristic")
    ap.add_argument("--samples", type=int, default=100_000)
    ap.add_argument("--generations", type=int, default=50)
    ap.add_argument("--population", type=int, default=100)
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--exhaustive-limit", type=int, default=DEFAULT_LIMIT)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", default="", help="run only layers whose label contains this")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "compare.json"))
    ap.add_argument("--png", default="", help="also draw the best-so-far curves into this file")
    args = ap.parse_args()
    methods = parse_methods(args.methods)
    arch = load_arch(args.arch)
    budgets = Budgets(time_limit=args.time_limit, budget=args.budget, samples=args.samples,
                      population=args.population, generations=args.generations, steps=args.steps,
                      exhaustive_limit=args.exhaustive_limit, seed=args.seed, workers=args.workers,
                      work_limit=args.work_limit)
    print("budgets per layer: " + "; ".join(f"{m} {budgets.describe(m)}" for m in methods))
    header = (f"{'layer':<18} {'batch':>5} {'method':<10} {'status':<18} {'energy_pj':>15} {'seconds':>8} "
              f"{'evals':>9} {'x cpsat':>8} {'x bound':>8}")
    print(header)
    print("-" * len(header), flush=True)
    layers: list[dict] = []
    start = time.perf_counter()
    settings = {"arch": arch.name, "methods": list(methods), "batches": args.batches,
                "budgets": {m: budgets.describe(m) for m in methods}, **budgets.to_json(),
                "cpu_count": os.cpu_count(), "python": platform.python_version(), "loadavg_before": _loadavg(),
                **git_commit(Path(ROOT))}

    def write() -> dict:
        data = {"settings": {**settings, "wall_seconds": time.perf_counter() - start,
                             "loadavg_at_end": _loadavg()},
                "layers": layers, "summary": summarize(layers, methods)}
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(data, f, indent=1)
            f.write("\n")
        return data

    with CpsatPool() as pool:
        for batch in [int(b) for b in args.batches.split(",")]:
            for label, problem in problems(batch):
                if args.only not in label:
                    continue
                cmp = compare_layer(f"{label}@{batch}", problem, arch, methods, "energy", None, budgets,
                                    pool=pool)
                lay = layer_json(cmp, budgets)
                lay["label"], lay["batch"] = label, batch
                layers.append(lay)
                for row in lay["methods"]:
                    status = row["status"] + (f" ({row['detail']})" if row["detail"] and row["method"] != "cpsat"
                                              else "")
                    evals = f"{row['solutions']} sol." if row["method"] == "cpsat" else _fmt(row["evaluations"], ",")
                    print(f"{label:<18} {batch:>5} {row['method']:<10} {status:<18} "
                          f"{_fmt(row['energy_pj'], ',.0f'):>15} {row['seconds']:8.2f} {evals:>9} "
                          f"{_fmt(row['ratio_to_cpsat'], '.4f'):>8} {_fmt(row['ratio_to_lower_bound'], '.4f'):>8}",
                          flush=True)
                    if row["status"] in ("refused", "error", "no_mapping"):
                        print(f"{'':<25}{row['method']}: {row['reason']}")
                write()
                if cmp.interrupted:
                    print("interrupted", file=sys.stderr)
                    return 130
    data = write()

    print(f"\n{'method':<10} {'layers':>6} {'geomean x cpsat':>16} {'worst':>8} {'worse':>6} {'equal':>6} "
          f"{'better':>6} {'seconds':>9}")
    for m, v in data["summary"].items():
        print(f"{m:<10} {v['layers_compared']:>6} {_fmt(v['geomean_ratio_to_cpsat'], '.4f'):>16} "
              f"{_fmt(v['worst_ratio_to_cpsat'], '.4f'):>8} {v['worse']:>6} {v['equal']:>6} {v['better']:>6} "
              f"{v['seconds']:9.1f}")
    beaten = [(lay, row) for lay in layers for row in lay["methods"]
              if row["ratio_to_cpsat"] is not None and row["ratio_to_cpsat"] < 1 - 1e-9]
    for lay, row in beaten:
        print(f"{lay['name']}: {row['method']} beats cpsat by {1 - row['ratio_to_cpsat']:.2%}; cpsat "
              f"{lay['cpsat_status']}, certified gap {_fmt(lay['gap'], '.2%')}")
    proved = sum(1 for lay in layers if lay["cpsat_status"] == "OPTIMAL")
    print(f"\ncpsat proved {proved}/{len(layers)} layers optimal; total {time.perf_counter() - start:.0f} s; "
          f"load {_loadavg()}; wrote {os.path.relpath(args.out)}")
    if args.png:
        plot_best_so_far({"settings": {"objective": "energy", "workload": "bench/layers.py", "arch": arch.name},
                          "layers": layers}, args.png)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
