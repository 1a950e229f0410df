"""Searcher throughput: evaluations per second of each heuristic searcher, one core,
before and after the batch evaluator (cpmap/cost/batch.py).

AlexNet conv3 (models/alexnet.yaml) on specs/eyeriss.yaml.  The first rows are the
evaluators alone on pre-drawn mappings (no sampling): the scalar evaluator with the
structural check and without it (``trusted=True``), and the batch path the searchers use
(genomes to arrays, then one batch evaluation per 512).  Random search and the GA then
run twice with the same seed: through the scalar evaluator one genome at a time
("before": ``Tracker.evaluate_genomes`` replaced by a loop over ``Tracker.evaluate``)
and through the batch path ("after"); the script checks that both give the same best
cost, evaluation count and trace.  Annealing runs as one chain evaluated one proposal at
a time by the scalar evaluator ("before", the classic annealer) and as cpmap's default
independent chains, one proposal per chain per batch evaluation ("after"; a different
walk, so its best differs; bench/anneal_chains.py compares their quality).  The rows
"anneal, speculative" measure the other way of batching that was tried: k mutations of
one chain's genome evaluated in one batch and walked in order until the first accepted
one (the rest are wasted), reported as annealing steps per second.
Exhaustive refuses this space (its size is printed); it is timed on the first
--exhaustive-seconds of the enumeration with the limit lifted.  Writes
bench/results/search.json with the commit and the machine load.

    python bench/search.py [--samples 20000] [--population 100 --generations 50] [--seed 0]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import platform
import random
import time
from pathlib import Path

from _machine import git_commit, loadavg

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
from cpmap.search.anneal import default_chains
from cpmap.search.result import INVALID, Tracker
from cpmap.search.space import decode
from cpmap.search.variation import mutate, sample
from cpmap.spec import load_arch, load_workload

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def scalar_path():
    """The searchers as before the batch evaluator: every genome decoded and scored alone."""
    batched = Tracker.evaluate_genomes
    Tracker.evaluate_genomes = lambda self, genomes: [self.evaluate(g) for g in genomes]
    try:
        yield
    finally:
        Tracker.evaluate_genomes = batched


def speculative_anneal(space, steps: int, k: int, seed: int, t_start=0.05, t_end=0.001):
    """cpmap.search.anneal's walk, but k proposals per batch evaluation (the experiment).
    Returns (tracker, annealing steps walked)."""
    run = Tracker("anneal-speculative", space, "energy", None)
    rng = random.Random(seed)
    cur, cur_key, n = None, INVALID, 0
    while n < steps:
        if cur is None:
            n += 1
            g = sample(space, rng)
            key = run.evaluate_genomes([g])[0]
            if key != INVALID:
                cur, cur_key = g, key
            continue
        proposals = [mutate(space, cur, rng, 1) for _ in range(min(k, steps - n))]
        for g, key in zip(proposals, run.evaluate_genomes(proposals)):
            n += 1
            if key == INVALID:
                continue
            temp = t_start * (t_end / t_start) ** min(n / steps, 1.0)
            if key <= cur_key or rng.random() < math.exp(-math.log(key[0] / cur_key[0]) / temp):
                cur, cur_key = g, key
                break  # the later proposals were mutations of the old genome: wasted
    return run, n


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
    load_before = loadavg()

    rows = []

    def add(method, path, settings, evaluations, seconds, best=None, valid=None, stopped_by=None, **extra):
        rows.append({"method": method, "path": path, "settings": settings, "evaluations": evaluations,
                     "seconds": seconds, "evals_per_second": evaluations / seconds, "best_energy_pj": best,
                     "valid_evaluations": valid, "stopped_by": stopped_by, **extra})

    rng = random.Random(args.seed)
    genomes = [sample(space, rng) for _ in range(args.samples)]
    pool = [decode(space, g) for g in genomes]
    ev = Evaluator(problem, arch)
    for m in pool:  # warm the evaluator's caches (window extents) for the timed passes
        ev.evaluate(m)
    for trusted in (False, True):
        t0 = time.perf_counter()
        for m in pool:
            ev.evaluate(m, trusted=trusted)
        add("evaluator only", "scalar", f"{len(pool)} pre-drawn, trusted={trusted}", len(pool),
            time.perf_counter() - t0)
    tracker = Tracker("bench", space, "energy", None)
    t0 = time.perf_counter()
    for s in range(0, len(genomes), 512):
        tracker.evaluate_genomes(genomes[s:s + 512])
    add("evaluator only", "batch", f"{len(genomes)} pre-drawn genomes, batches of 512", len(genomes),
        time.perf_counter() - t0)

    runs = [
        ("random", f"{args.samples} samples",
         lambda: random_search(problem, arch, samples=args.samples, seed=args.seed)),
        ("ga", f"population {args.population} x {args.generations} generations",
         lambda: genetic_search(problem, arch, population=args.population, generations=args.generations,
                                seed=args.seed)),
    ]
    for name, settings, run in runs:
        with scalar_path():
            before = run()
        after = run()
        if (before.best_cost, before.evaluations, [h[1:] for h in before.history]) != \
                (after.best_cost, after.evaluations, [h[1:] for h in after.history]):
            raise SystemExit(f"{name}: the batch path changed the answer")
        for path, res in (("scalar (before)", before), ("batch (after)", after)):
            add(name, path, settings, res.evaluations, res.seconds, res.best_cost, res.valid_evaluations,
                res.stopped_by)
    chains = default_chains(args.samples)
    for path, k in (("scalar (before)", 1), ("batch (after)", chains)):
        res = anneal(problem, arch, steps=args.samples, chains=k, seed=args.seed)
        add("anneal", path, f"{args.samples} steps, {k} chain{'s' * (k > 1)}", res.evaluations, res.seconds,
            res.best_cost, res.valid_evaluations, res.stopped_by, steps_per_second=args.samples / res.seconds)
    for k in (4, 16):
        t0 = time.perf_counter()
        spec, steps = speculative_anneal(space, args.samples, k, args.seed)
        dt = time.perf_counter() - t0
        add("anneal, speculative", f"batch of {k}", f"{steps} steps (experiment)", spec.evaluations, dt,
            spec.best_key[0], spec.valid, "samples", steps_per_second=steps / dt)
    try:
        exhaustive_search(problem, arch)
        refusal = None
    except SearchError as e:
        refusal = str(e)
    res = exhaustive_search(problem, arch, limit=10**18, budget=args.exhaustive_seconds)
    add("exhaustive", "scalar", f"first {args.exhaustive_seconds:g} s, limit lifted", res.evaluations,
        res.seconds, res.best_cost, res.valid_evaluations, res.stopped_by)

    print(f"AlexNet conv3 on eyeriss; mapping space: {size:,} mappings; one core")
    print(f"{'method':20} {'path':16} {'settings':40} {'evals':>7} {'seconds':>8} {'evals/s':>8} "
          f"{'steps/s':>8} {'best energy':>12}")
    for r in rows:
        best = "" if r["best_energy_pj"] is None else f"{r['best_energy_pj']:.4g}"
        steps = f"{r['steps_per_second']:8,.0f}" if "steps_per_second" in r else ""
        print(f"{r['method']:20} {r['path']:16} {r['settings']:40} {r['evaluations']:7d} {r['seconds']:8.2f} "
              f"{r['evals_per_second']:8,.0f} {steps:>8} {best:>12}")
    if refusal:
        print(f"exhaustive with the default limit: {refusal}")
    out = {"layer": "models/alexnet.yaml conv3", "arch": "specs/eyeriss.yaml", "space_size": size,
           "exhaustive_default": refusal, "seed": args.seed, "rows": rows, **git_commit(ROOT),
           "loadavg_before": load_before, "loadavg_after": loadavg(),
           "python": platform.python_version(), "machine": platform.machine()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
