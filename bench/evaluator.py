"""Evaluator throughput: evaluations per second on one core.

Evaluates a pool of random structurally valid mappings (random factorizations, orders,
spatial unrolling and bypass) of a convolution on specs/eyeriss.yaml, several rounds,
and reports the median rate.  Writes bench/results/evaluator.json.

    python bench/evaluator.py [--layer alexnet-conv3|conv-small] [--pool 2000] [--rounds 5]
    python bench/evaluator.py --baseline /work/main    # before/after: rounds alternate between
                                                       # this checkout and the baseline's cpmap

With ``--baseline DIR`` every round runs once here and once with ``DIR``'s cpmap (each in a
child process on the same mapping pool, alternating, so both see the same machine load; each
round timed by the child's CPU time, which a loaded machine distorts less than wall time),
and the table shows both medians, their ratio and both git commits.  ``--compat timeloop``
measures the Timeloop-compatible counting mode instead of the default.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _machine import loadavg_text

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


def commit(path: Path) -> str:
    run = subprocess.run(["git", "-C", str(path), "rev-parse", "--short", "HEAD"], check=False,
                         capture_output=True, text=True)
    return run.stdout.strip() or "unknown"


def one_round(path: Path, args) -> float:
    """Evaluations per second of one round with ``path``'s cpmap, in a child process."""
    env = dict(os.environ, PYTHONPATH=str(path))
    cmd = [sys.executable, __file__, "--layer", args.layer, "--pool", str(args.pool), "--rounds", "1",
           "--seed", str(args.seed), "--rate-only"] + (["--compat", args.compat] if args.compat else [])
    return float(subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout)


def compare_with_baseline(args) -> None:
    here, base = ROOT, Path(args.baseline).resolve()
    rates = {"here": [], "baseline": []}
    for _ in range(args.rounds):
        rates["here"].append(one_round(here, args))
        rates["baseline"].append(one_round(base, args))
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"{'layer':16} {'checkout':34} {'commit':9} {'evals/s (median)':>17} {'us/eval':>8}")
    for k, path in (("baseline", base), ("here", here)):
        print(f"{args.layer:16} {path!s:34} {commit(path):9} {med[k]:17,.0f} {1e6 / med[k]:8.1f}")
    print(f"here / baseline = {med['here'] / med['baseline']:.3f} ({args.rounds} alternating rounds of "
          f"{args.pool} mappings; load {loadavg_text()})")
    out = {"layer": args.layer, "mappings": args.pool, "rounds": args.rounds, "compat": args.compat,
           "here": {"path": str(here), "commit": commit(here), "evals_per_second": rates["here"]},
           "baseline": {"path": str(base), "commit": commit(base), "evals_per_second": rates["baseline"]},
           "ratio_of_medians": med["here"] / med["baseline"], "load": loadavg_text(),
           "python": platform.python_version(), "machine": platform.machine()}
    target = Path(args.out).with_name("evaluator_vs_baseline.json")
    target.write_text(json.dumps(out, indent=2) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layer", choices=sorted(LAYERS), default="alexnet-conv3")
    ap.add_argument("--pool", type=int, default=2000, help="distinct random mappings")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--baseline", metavar="DIR", help="another checkout to compare with (alternating rounds)")
    ap.add_argument("--compat", choices=["timeloop"], help="measure the Timeloop-compatible mode")
    ap.add_argument("--rate-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(ROOT / "bench/results/evaluator.json"))
    args = ap.parse_args()
    if args.baseline:
        compare_with_baseline(args)
        return

    arch = load_arch(ROOT / "specs/eyeriss.yaml")
    problem = conv(args.layer, **LAYERS[args.layer])
    rng = random.Random(args.seed)
    pool = [random_mapping(problem, arch, rng) for _ in range(args.pool)]
    ev = Evaluator(problem, arch, compat=args.compat) if args.compat else Evaluator(problem, arch)
    valid = sum(ev.evaluate(m).valid for m in pool)
    rates = []
    clock = time.process_time if args.rate_only else time.perf_counter  # before/after: CPU time, less load noise
    for _ in range(args.rounds):
        t0 = clock()
        for m in pool:
            ev.evaluate(m)
        rates.append(len(pool) / (clock() - t0))
    med = statistics.median(rates)
    if args.rate_only:
        print(med)
        return
    print(f"{'layer':16} {'arch':10} {'mappings':>9} {'valid':>6} {'rounds':>6} {'evals/s (median)':>17} {'us/eval':>8}")
    print(f"{args.layer:16} {'eyeriss':10} {len(pool):9d} {valid:6d} {args.rounds:6d} {med:17,.0f} {1e6 / med:8.1f}")
    out = {"layer": args.layer, "arch": "specs/eyeriss.yaml", "mappings": len(pool), "valid": valid,
           "rounds": args.rounds, "evals_per_second_median": med, "evals_per_second_all": rates,
           "python": platform.python_version(), "machine": platform.machine()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
