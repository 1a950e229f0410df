"""Layer-by-layer against temporal pipelining (the segment ILP, docs/pipeline.md) on whole
networks, from an empty cache.

    python bench/pipeline.py [--networks alexnet,vgg16] [--batch 16] [--arch specs/eyeriss.yaml]
                             [--time-limit 10] [--max-degree 4] [--groups 1,2,4,8,16]
                             [--layers A,B,...] [--jobs N] [--out bench/results/pipeline.json]

Per network: layer-by-layer energy and delay, then temporal pipelining's energy, delay,
segments, certified network gap, the number of unique layer problems solved, the ILP's own
time, and the whole run's wall time (each network from its own empty cache, so the
layer-by-layer problems are solved inside the temporal run and counted there).  The spatial
modes need the multi-node model (not available yet) and nn_dataflow's columns are not run
here.  Wall times depend on the machine's load: the load average is recorded.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _machine import git_commit, loadavg, loadavg_text

from cpmap.core.pipeline import PipelineOptions
from cpmap.network.cache import Cache
from cpmap.network.pipeline import run_pipeline
from cpmap.spec.solve import load_solve_spec


def run_network(name: str, args, workdir: Path) -> dict:
    spec = workdir / f"{name}.yaml"
    spec.write_text(f"solve:\n  arch: {(ROOT / args.arch).resolve()}\n"
                    f"  workload: {ROOT / 'models' / f'{name}.yaml'}\n  batch: {args.batch}\n")
    layers = args.layers.split(",") if args.layers else None
    plan = load_solve_spec(str(spec), {"time_limit": args.time_limit, "layers": layers})
    cache = Cache(workdir / f"cache-{name}")  # empty: a fresh directory per network
    groups = tuple(int(g) for g in args.groups.split(","))
    load_before = loadavg()
    t0 = time.perf_counter()
    r = run_pipeline(plan, PipelineOptions("temporal", args.max_degree, args.time_overhead, groups),
                     jobs=args.jobs, cache=cache)
    wall = time.perf_counter() - t0
    t1 = time.perf_counter()
    lbl = run_pipeline(plan, PipelineOptions("none"), jobs=args.jobs, cache=cache)  # all cached now
    ilp_and_reload = time.perf_counter() - t1
    return {
        "network": name, "batch": args.batch, "arch": plan.arch.name, "layers": len(plan.layers),
        "layer_by_layer": {"energy_pj": lbl.energy_pj, "cycles": lbl.cycles, "gap": lbl.gap},
        "temporal": {"energy_pj": r.energy_pj, "cycles": r.cycles, "lower_bound": r.bound, "gap": r.gap,
                     "gain": r.gain, "segments": [[list(c.variant.layers), c.variant.groups] for c in r.schedule],
                     "multi_layer_segments": sum(1 for c in r.schedule if len(c.variant.layers) > 1)},
        "candidates": len(r.candidates), "unique_problems": r.batch.unique, "solved": r.batch.solved,
        "wall_seconds": wall, "layer_by_layer_from_cache_seconds": ilp_and_reload,
        "loadavg_before": load_before, "loadavg_after": loadavg(),
    }


def _pct(x):
    return "-" if x is None else f"{100 * x:.2f}%"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", default="alexnet,vgg16")
    ap.add_argument("--arch", default="specs/eyeriss.yaml")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--time-limit", type=float, default=10.0)
    ap.add_argument("--max-degree", type=int, default=4)
    ap.add_argument("--time-overhead", type=float, default=None)
    ap.add_argument("--groups", default="1,2,4,8,16")
    ap.add_argument("--layers", default=None, help="a subset of layers (e.g. to try the script quickly)")
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "pipeline.json"))
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.networks.split(","):
            print(f"{name}: solving ...", file=sys.stderr, flush=True)
            rows.append(run_network(name, args, Path(tmp)))
    print(f"{'network':10} {'LbL energy':>16} {'temporal':>16} {'gain':>7} {'LbL cycles':>12} {'cycles':>12} "
          f"{'segs':>5} {'gap':>7} {'solves':>7} {'wall s':>8}")
    for r in rows:
        lb, t = r["layer_by_layer"], r["temporal"]
        print(f"{r['network']:10} {lb['energy_pj'] or 0:16,.0f} {t['energy_pj'] or 0:16,.0f} {_pct(t['gain']):>7} "
              f"{lb['cycles'] or 0:12,} {t['cycles'] or 0:12,} {t['multi_layer_segments']:5} {_pct(t['gap']):>7} "
              f"{r['unique_problems']:7} {r['wall_seconds']:8.1f}")
    out = {"bench": "pipeline", **git_commit(ROOT), "load": loadavg_text(), "args": vars(args), "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
