"""Evaluator throughput on one core: the scalar evaluator and the batch path side by side.

Evaluates a pool of random structurally valid mappings (random factorizations, orders,
spatial unrolling and bypass) of a convolution on specs/eyeriss.yaml, several rounds,
and reports the median rate of each path: the scalar evaluator (``Evaluator.evaluate``,
with the structural check and ``trusted=True``), the batch evaluator
(``BatchEvaluator.evaluate`` on index-form arrays, ``check=False`` as the searchers call
it) at several batch sizes, and the searchers' genome-to-arrays conversion that comes
on top of it.  Before timing, it checks that the batch path gives the scalar energy,
cycles and validity on every mapping of the pool.  Writes bench/results/evaluator.json
with the commit and the machine load.

    python bench/evaluator.py [--layer alexnet-conv3|conv-small] [--pool 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
from pathlib import Path

from _machine import git_commit, loadavg

from cpmap.core.factors import prime_list
from cpmap.core.mapping import LevelMapping, Mapping
from cpmap.core.problem import conv
from cpmap.cost.batch import BatchEvaluator
from cpmap.cost.evaluator import Evaluator
from cpmap.search import make_space
from cpmap.search.arrays import GenomeArrays
from cpmap.search.space import encode
from cpmap.spec import load_arch

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {
    "alexnet-conv3": {"K": 384, "C": 256, "P": 13, "Q": 13, "R": 3, "S": 3},
    "conv-small": {"K": 16, "C": 8, "P": 14, "Q": 14, "R": 3, "S": 3},
}
BATCH_SIZES = (1, 16, 64, 256, 1024, 4096)


def random_mapping(problem, arch, rng: random.Random) -> Mapping:
    """Split each dim's prime factors at random over the temporal slots and fanout axes
    (respecting axis sizes), shuffle loop orders, pick random allowed bypass."""
    slots = []
    for i, lv in enumerate(arch.levels):
        slots.append((i, None))
        if lv.fanout is not None:
            slots.extend((i, ax) for ax, _ in lv.fanout.axes)
    factors = {s: {} for s in slots}
    axis_left = {(i, ax): n for i, lv in enumerate(arch.levels) if lv.fanout for ax, n in lv.fanout.axes}
    for d, size in zip(problem.dims, problem.sizes):
        for q in prime_list(size):
            s = rng.choice(slots)
            if s[1] is not None:
                if axis_left[s] % q:
                    s = (s[0], None)
                else:
                    axis_left[s] //= q
            factors[s][d] = factors[s].get(d, 1) * q
    levels = []
    for i, lv in enumerate(arch.levels):
        temporal = list(factors[(i, None)].items())
        rng.shuffle(temporal)
        spatial = tuple((ax, tuple(factors[(i, ax)].items())) for ax, _ in (lv.fanout.axes if lv.fanout else ())
                        if factors[(i, ax)])
        keeps = frozenset(t for t in problem.tensor_names
                          if t in lv.keeps and (i == len(arch.levels) - 1 or rng.random() < 0.7))
        levels.append(LevelMapping(lv.name, tuple(temporal), keeps, spatial))
    return Mapping(tuple(levels))


def rate(run, n: int, rounds: int) -> tuple[float, list[float]]:
    """Median and all per-round rates (items per second) of ``run()``, which does ``n``."""
    rates = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        run()
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates), rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layer", choices=sorted(LAYERS), default="alexnet-conv3")
    ap.add_argument("--pool", type=int, default=20_000, help="distinct random mappings")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "bench/results/evaluator.json"))
    args = ap.parse_args()

    arch = load_arch(ROOT / "specs/eyeriss.yaml")
    problem = conv(args.layer, **LAYERS[args.layer])
    rng = random.Random(args.seed)
    pool = [random_mapping(problem, arch, rng) for _ in range(args.pool)]
    ev, batch = Evaluator(problem, arch), BatchEvaluator(problem, arch)
    genomes = [encode(make_space(problem, arch), m) for m in pool]
    to_arrays = GenomeArrays(make_space(problem, arch))
    factors, orders, keeps = to_arrays(genomes)

    scalar = [ev.evaluate(m) for m in pool]  # also warms the window-extent cache
    res = batch.evaluate(factors, orders, keeps)
    mismatches = sum((r.valid, r.energy_pj, r.cycles) != (bool(res.valid[b]), float(res.energy_pj[b]),
                                                           int(res.cycles[b])) for b, r in enumerate(scalar))
    if mismatches:
        raise SystemExit(f"the batch path disagrees with the scalar evaluator on {mismatches} mappings")
    valid = int(res.valid.sum())
    load_before = loadavg()
    rows = []

    def add(path, settings, run, n=None):
        med, rates = rate(run, len(pool) if n is None else n, args.rounds)
        rows.append({"path": path, "settings": settings, "per_second_median": med, "per_second_all": rates})

    add("scalar", "Evaluator.evaluate(mapping)", lambda: [ev.evaluate(m) for m in pool])
    add("scalar", "trusted=True (searchers)", lambda: [ev.evaluate(m, trusted=True) for m in pool])
    for size in BATCH_SIZES:
        n = min(len(pool), max(size * 20, 2000)) if size < 256 else len(pool)
        add("batch", f"batch of {size}", lambda size=size, n=n: [
            batch.evaluate(factors[s:s + size], orders[s:s + size], keeps[s:s + size], check=False)
            for s in range(0, n, size)], n)
    add("batch", "batch of 1024, check=True", lambda: [
        batch.evaluate(factors[s:s + 1024], orders[s:s + 1024], keeps[s:s + 1024]) for s in range(0, len(pool), 1024)])
    add("genomes -> arrays", "GenomeArrays, batches of 1024",
        lambda: [to_arrays(genomes[s:s + 1024]) for s in range(0, len(pool), 1024)])

    scalar_rate = rows[1]["per_second_median"]
    print(f"{args.layer} on eyeriss: {len(pool)} mappings ({valid} valid), batch path equal to the scalar "
          f"evaluator on all of them; median of {args.rounds} rounds, one core")
    print(f"{'path':18} {'settings':30} {'per second':>11} {'us each':>8} {'x scalar':>9}")
    for r in rows:
        med = r["per_second_median"]
        print(f"{r['path']:18} {r['settings']:30} {med:11,.0f} {1e6 / med:8.2f} {med / scalar_rate:9.1f}")
    out = {"layer": args.layer, "arch": "specs/eyeriss.yaml", "mappings": len(pool), "valid": valid,
           "rounds": args.rounds, "batch_equals_scalar": True, "rows": rows, **git_commit(ROOT),
           "loadavg_before": load_before, "loadavg_after": loadavg(),
           "python": platform.python_version(), "machine": platform.machine()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
