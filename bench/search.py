"""Searcher throughput: evaluations per second of each heuristic searcher, one core.

AlexNet conv3 (models/alexnet.yaml) on specs/eyeriss.yaml.  For reference, the first two
rows are the evaluator alone on pre-drawn mappings (no sampling), with the structural check and
without it (``trusted=True``, what the searchers use), so the gap to them is the
searcher's own overhead.  Exhaustive refuses this space (its size is printed); it is
timed on the first --exhaustive-seconds of the enumeration with the limit lifted.
Writes bench/results/search.json.

    python bench/search.py [--samples 20000] [--population 100 --generations 50] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time
from pathlib import Path

from cpmap.cost.evaluator import Evaluator
from cpmap.search import (
    SearchError,
    anneal,
    count_mappings,
    exhaustive_search,
    genetic_search,
    make_space,
    random_search,
)
from cpmap.search.space import decode
from cpmap.search.variation import sample
from cpmap.spec import load_arch, load_workload

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=20_000, help="random samples and annealing steps")
    ap.add_argument("--population", type=int, default=100)
    ap.add_argument("--generations", type=int, default=50)
    ap.add_argument("--exhaustive-seconds", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "bench/results/search.json"))
    args = ap.parse_args()

    arch = load_arch(ROOT / "specs/eyeriss.yaml")
    problem = load_workload(ROOT / "models/alexnet.yaml").layer("conv3").problem
    space = make_space(problem, arch)
    size = count_mappings(space)

    rows = []
    rng = random.Random(args.seed)
    pool = [decode(space, sample(space, rng)) for _ in range(args.samples)]
    ev = Evaluator(problem, arch)
    for m in pool:  # warm the evaluator's caches (window extents) for both timed passes
        ev.evaluate(m)
    for trusted in (False, True):
        t0 = time.perf_counter()
        for m in pool:
            ev.evaluate(m, trusted=trusted)
        dt = time.perf_counter() - t0
        rows.append({"method": "evaluator only", "settings": f"{len(pool)} pre-drawn, trusted={trusted}",
                     "evaluations": len(pool), "seconds": dt, "evals_per_second": len(pool) / dt,
                     "best_energy_pj": None, "stopped_by": None})

    try:
        exhaustive_search(problem, arch)
        refusal = None
    except SearchError as e:
        refusal = str(e)
    runs = [
        ("random", f"{args.samples} samples",
         lambda: random_search(problem, arch, samples=args.samples, seed=args.seed)),
        ("ga", f"population {args.population} x {args.generations} generations",
         lambda: genetic_search(problem, arch, population=args.population, generations=args.generations,
                                seed=args.seed)),
        ("anneal", f"{args.samples} steps", lambda: anneal(problem, arch, steps=args.samples, seed=args.seed)),
        ("exhaustive", f"first {args.exhaustive_seconds:g} s, limit lifted",
         lambda: exhaustive_search(problem, arch, limit=10**18, budget=args.exhaustive_seconds)),
    ]
    for name, settings, run in runs:
        res = run()
        rows.append({"method": name, "settings": settings, "evaluations": res.evaluations, "seconds": res.seconds,
                     "evals_per_second": res.evaluations / res.seconds, "best_energy_pj": res.best_cost,
                     "valid_evaluations": res.valid_evaluations, "stopped_by": res.stopped_by})

    print(f"AlexNet conv3 on eyeriss; mapping space: {size:,} mappings")
    print(f"{'method':15} {'settings':36} {'evals':>7} {'seconds':>8} {'evals/s':>8} {'best energy':>12}")
    for r in rows:
        best = "" if r["best_energy_pj"] is None else f"{r['best_energy_pj']:.4g}"
        print(f"{r['method']:15} {r['settings']:36} {r['evaluations']:7d} {r['seconds']:8.2f} "
              f"{r['evals_per_second']:8,.0f} {best:>12}")
    if refusal:
        print(f"exhaustive with the default limit: {refusal}")
    out = {"layer": "models/alexnet.yaml conv3", "arch": "specs/eyeriss.yaml", "space_size": size,
           "exhaustive_default": refusal, "seed": args.seed, "rows": rows,
           "python": platform.python_version(), "machine": platform.machine()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
