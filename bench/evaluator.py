"""Evaluator throughput: evaluations per second on one core.

Evaluates a pool of random structurally valid mappings (random factorizations, orders,
spatial unrolling and bypass) of a convolution on specs/eyeriss.yaml, several rounds,
and reports the median rate.  Writes bench/results/evaluator.json.

    python bench/evaluator.py [--layer alexnet-conv3|conv-small] [--pool 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
from pathlib import Path

from cpmap.core.factors import prime_list
from cpmap.core.mapping import LevelMapping, Mapping
from cpmap.core.problem import conv
from cpmap.cost.evaluator import Evaluator
from cpmap.spec import load_arch

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {
    "alexnet-conv3": {"K": 384, "C": 256, "P": 13, "Q": 13, "R": 3, "S": 3},
    "conv-small": {"K": 16, "C": 8, "P": 14, "Q": 14, "R": 3, "S": 3},
}


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layer", choices=sorted(LAYERS), default="alexnet-conv3")
    ap.add_argument("--pool", type=int, default=2000, help="distinct random mappings")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "bench/results/evaluator.json"))
    args = ap.parse_args()

    arch = load_arch(ROOT / "specs/eyeriss.yaml")
    problem = conv(args.layer, **LAYERS[args.layer])
    rng = random.Random(args.seed)
    pool = [random_mapping(problem, arch, rng) for _ in range(args.pool)]
    ev = Evaluator(problem, arch)
    valid = sum(ev.evaluate(m).valid for m in pool)
    rates = []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        for m in pool:
            ev.evaluate(m)
        rates.append(len(pool) / (time.perf_counter() - t0))
    med = statistics.median(rates)
    print(f"{'layer':16} {'arch':10} {'mappings':>9} {'valid':>6} {'rounds':>6} {'evals/s (median)':>17} {'us/eval':>8}")
    print(f"{args.layer:16} {'eyeriss':10} {len(pool):9d} {valid:6d} {args.rounds:6d} {med:17,.0f} {1e6 / med:8.1f}")
    out = {"layer": args.layer, "arch": "specs/eyeriss.yaml", "mappings": len(pool), "valid": valid,
           "rounds": args.rounds, "evals_per_second_median": med, "evals_per_second_all": rates,
           "python": platform.python_version(), "machine": platform.machine()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
