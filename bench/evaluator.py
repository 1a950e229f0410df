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
    python bench/evaluator.py --baseline /work/main    # before/after: rounds alternate between
                                                       # this checkout and the baseline's cpmap

With ``--baseline DIR`` every round runs once here and once with ``DIR``'s cpmap (each in a
child process on the same mapping pool, alternating, so both see the same machine load; each
round timed by the child's CPU time, which a loaded machine distorts less than wall time),
and the table shows both medians of the scalar evaluator, their ratio and both git commits.
``--compat timeloop`` measures the scalar evaluator's Timeloop-compatible counting mode
instead of the default (the batch path implements the default mode only, so it is not run).
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

from _machine import git_commit, loadavg, loadavg_text

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


def rate(run, n: int, rounds: int) -> tuple[float, list[float]]:
    """Median and all per-round rates (items per second) of ``run()``, which does ``n``."""
    rates = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        run()
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates), rates


def scalar_only(args) -> None:
    """The scalar evaluator alone (a ``--baseline`` child's round, or ``--compat``)."""
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
    print(f"{'layer':16} {'compat':8} {'mappings':>9} {'valid':>6} {'rounds':>6} {'evals/s (median)':>17} {'us/eval':>8}")
    print(f"{args.layer:16} {args.compat:8} {len(pool):9d} {valid:6d} {args.rounds:6d} {med:17,.0f} {1e6 / med:8.1f}")
    out = {"layer": args.layer, "arch": "specs/eyeriss.yaml", "compat": args.compat, "mappings": len(pool),
           "valid": valid, "rounds": args.rounds, "evals_per_second_median": med, "evals_per_second_all": rates,
           **git_commit(ROOT), "load": loadavg_text(), "python": platform.python_version(),
           "machine": platform.machine()}
    Path(args.out).with_name("evaluator_compat.json").write_text(json.dumps(out, indent=2) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layer", choices=sorted(LAYERS), default="alexnet-conv3")
    ap.add_argument("--pool", type=int, default=20_000, help="distinct random mappings")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--baseline", metavar="DIR", help="another checkout to compare with (alternating rounds)")
    ap.add_argument("--compat", choices=["timeloop"], help="measure the Timeloop-compatible mode (scalar only)")
    ap.add_argument("--rate-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(ROOT / "bench/results/evaluator.json"))
    args = ap.parse_args()
    if args.baseline:
        compare_with_baseline(args)
        return
    if args.rate_only or args.compat:
        scalar_only(args)
        return
    # imported here: a --baseline child runs this file with an older cpmap that may lack them
    from cpmap.cost.batch import BatchEvaluator
    from cpmap.search import make_space
    from cpmap.search.arrays import GenomeArrays
    from cpmap.search.space import encode

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
    # 20,000 live Results (and a list of 20,000 more per round) made the cyclic GC walk them
    # again and again: the scalar rows measured 6,162/s instead of about 10,000/s
    del scalar, res
    load_before = loadavg()
    rows = []

    def add(path, settings, run, n=None):
        med, rates = rate(run, len(pool) if n is None else n, args.rounds)
        rows.append({"path": path, "settings": settings, "per_second_median": med, "per_second_all": rates})

    def scalar_round(trusted: bool) -> None:
        for m in pool:  # each Result dropped at once, as a searcher drops a rejected one
            ev.evaluate(m, trusted=trusted)

    add("scalar", "Evaluator.evaluate(mapping)", lambda: scalar_round(False))
    add("scalar", "trusted=True (searchers)", lambda: scalar_round(True))
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
