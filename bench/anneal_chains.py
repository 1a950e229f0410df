"""Annealing as one chain or as independent chains: quality and time at equal steps.

cpmap.search.anneal runs ``chains`` independent chains that share the step budget and
are evaluated together, one proposal per chain per batch evaluation.  This runs each
chain count on a set of bench/layers.py layers (batch 1, specs/eyeriss.yaml, energy) and
seeds at the same number of steps, and reports per chain count the geometric mean,
best and worst of (best energy / one chain's best energy) and of the wall-time ratio.
Writes bench/results/anneal_chains.json with the commit and the machine load.

    python bench/anneal_chains.py [--steps 20000] [--seeds 3] [--chains 1,8,16,64]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

from _machine import git_commit, loadavg

from cpmap.search import anneal
from cpmap.spec import load_arch, load_workload

ROOT = Path(__file__).resolve().parent.parent
LAYERS = [  # (label, model file, layer): one per network family of bench/layers.py
    ("alexnet.conv2", "alexnet", "conv2"),
    ("alexnet.conv3", "alexnet", "conv3"),
    ("vgg16.conv3_1", "vgg16", "conv5"),
    ("resnet50.3x3", "resnet50", "conv3_0_b"),
    ("mobilenet_v2.dw", "mobilenet_v2", "features.3.conv.1.0"),
    ("vit_b_16.qkv", "vit_b_16", "enc0.qkv"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--chains", default="1,8,16,64", help="chain counts; the first is the reference")
    ap.add_argument("--out", default=str(ROOT / "bench/results/anneal_chains.json"))
    args = ap.parse_args()
    counts = [int(x) for x in args.chains.split(",")]

    arch = load_arch(ROOT / "specs/eyeriss.yaml")
    load_before = loadavg()
    runs = []
    for label, model, layer in LAYERS:
        problem = load_workload(ROOT / "models" / f"{model}.yaml").layer(layer).problem
        for seed in range(args.seeds):
            row = {"layer": label, "seed": seed, "chains": {}}
            for k in counts:
                t0 = time.perf_counter()
                res = anneal(problem, arch, steps=args.steps, chains=k, seed=seed)
                row["chains"][k] = {"best_energy_pj": res.best_cost, "seconds": time.perf_counter() - t0,
                                    "evaluations": res.evaluations}
            runs.append(row)
            print(label, seed, "  ".join(f"{k}: {v['best_energy_pj']:.4g} pJ {v['seconds']:.1f} s"
                                         for k, v in row["chains"].items()), flush=True)
    ref = counts[0]
    summary = {}
    for k in counts[1:]:
        energy = [r["chains"][k]["best_energy_pj"] / r["chains"][ref]["best_energy_pj"] for r in runs]
        seconds = [r["chains"][k]["seconds"] / r["chains"][ref]["seconds"] for r in runs]
        summary[k] = {"geomean_energy_ratio": statistics.geometric_mean(energy), "best_energy_ratio": min(energy),
                      "worst_energy_ratio": max(energy), "geomean_time_ratio": statistics.geometric_mean(seconds),
                      "better": sum(e < 1 for e in energy), "equal": sum(e == 1 for e in energy),
                      "worse": sum(e > 1 for e in energy)}
    print(f"\n{args.steps} steps, {len(runs)} runs ({len(LAYERS)} layers x {args.seeds} seeds), against {ref} chain(s)")
    print(f"{'chains':>6} {'energy geomean':>14} {'best':>7} {'worst':>7} {'better/equal/worse':>19} {'time':>6}")
    for k, s in summary.items():
        print(f"{k:6d} {s['geomean_energy_ratio']:14.4f} {s['best_energy_ratio']:7.3f} {s['worst_energy_ratio']:7.3f} "
              f"{s['better']:>7}/{s['equal']}/{s['worse']:<9} {s['geomean_time_ratio']:6.2f}")
    out = {"steps": args.steps, "seeds": args.seeds, "arch": "specs/eyeriss.yaml", "reference_chains": ref,
           "runs": runs, "summary": summary, **git_commit(ROOT), "loadavg_before": load_before,
           "loadavg_after": loadavg(), "python": platform.python_version(), "machine": platform.machine()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
