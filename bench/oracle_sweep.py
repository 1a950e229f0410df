"""Sweep random small cases through the evaluator and the brute-force oracle.

    python bench/oracle_sweep.py [--cases 100000] [--seed 0] [--workers 2] [--strict]

Case ``i`` is generated from ``random.Random(f"{seed}:{i}")`` by the same generators the
hypothesis tests use (tests/strategies.py), so any reported mismatch can be replayed
with ``--replay i``.  Every 7th case is of the ``mesh`` family: a layer of any family on
an architecture with a mesh NoC (``gen_mesh_case``: hops, channels, static energy).  Prints a table by layer family and writes
bench/results/oracle_sweep.json.  ``--strict`` also counts the cases where the strict
partial-sum read-back policy (see tests/oracle.py) would give different counts.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from oracle import compare, simulate
from strategies import FAMILIES, MAX_MACS, RandomChooser, gen_case, gen_mesh_case

from cpmap.cost.evaluator import evaluate

MAX_REPORTED = 20
SWEEP_FAMILIES = (*FAMILIES, "mesh")


def make_case(seed: int, index: int):
    family = SWEEP_FAMILIES[index % len(SWEEP_FAMILIES)]
    rng = random.Random(f"{seed}:{index}")
    if family == "mesh":
        layer = FAMILIES[(index // len(SWEEP_FAMILIES)) % len(FAMILIES)]
        return family, gen_mesh_case(RandomChooser(rng), layer, MAX_MACS)
    return family, gen_case(RandomChooser(rng), family, MAX_MACS)


def run_one(args):
    seed, index, strict = args
    family, (problem, arch, mapping) = make_case(seed, index)
    t0 = time.perf_counter()
    try:
        oracle = simulate(problem, arch, mapping, seed=index)
        diffs = compare(evaluate(problem, arch, mapping), oracle, arch, problem)
    except Exception as exc:  # noqa: BLE001 -- an exception in either side is a mismatch too
        oracle, diffs = None, [f"exception: {type(exc).__name__}: {exc}"]
    gap = False
    if strict and oracle is not None:
        gap = simulate(problem, arch, mapping, seed=index, readback="valid").accesses != oracle.accesses
    return family, index, time.perf_counter() - t0, diffs, gap


def replay(seed: int, index: int) -> None:
    family, (problem, arch, mapping) = make_case(seed, index)
    print(f"case {index} ({family})\nproblem={problem!r}\narch={arch!r}\nmapping={mapping!r}")
    diffs = compare(evaluate(problem, arch, mapping), simulate(problem, arch, mapping, seed=index),
                    arch, problem)
    print("\n".join(diffs) if diffs else "evaluator and oracle agree")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=max(1, mp.cpu_count()))
    ap.add_argument("--strict", action="store_true",
                    help="also count cases where the strict psum read-back policy differs")
    ap.add_argument("--replay", type=int, metavar="I", help="print case I and its differences, then exit")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "oracle_sweep.json"))
    args = ap.parse_args(argv)
    if args.replay is not None:
        replay(args.seed, args.replay)
        return 0

    per = defaultdict(lambda: {"cases": 0, "mismatches": 0, "seconds": 0.0, "strict_gaps": 0})
    examples = []
    t0 = time.perf_counter()
    jobs = ((args.seed, i, args.strict) for i in range(args.cases))
    if args.workers > 1:
        pool = mp.Pool(args.workers)
        results = pool.imap_unordered(run_one, jobs, chunksize=64)
    else:
        pool, results = None, map(run_one, jobs)
    for done, (family, index, secs, diffs, gap) in enumerate(results, 1):
        row = per[family]
        row["cases"] += 1
        row["seconds"] += secs
        row["strict_gaps"] += gap
        if diffs:
            row["mismatches"] += 1
            if len(examples) < MAX_REPORTED:
                examples.append({"index": index, "family": family, "diffs": diffs})
        if done % 10_000 == 0:
            print(f"  {done} cases, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    if pool is not None:
        pool.close()
        pool.join()
    wall = time.perf_counter() - t0

    total = {k: sum(r[k] for r in per.values()) for k in ("cases", "mismatches", "seconds", "strict_gaps")}
    header = f"{'family':<10} {'cases':>8} {'mismatches':>10} {'seconds':>9}"
    if args.strict:
        header += f" {'strict gaps':>11}"
    print(header)
    for name, row in [(f, per[f]) for f in SWEEP_FAMILIES if f in per] + [("total", total)]:
        line = f"{name:<10} {row['cases']:>8} {row['mismatches']:>10} {row['seconds']:>9.1f}"
        if args.strict:
            line += f" {row['strict_gaps']:>11}"
        print(line)
    print(f"wall {wall:.1f} s with {args.workers} worker(s); seconds = CPU time in oracle + evaluator")
    for ex in examples[:5]:
        print(f"mismatch in case {ex['index']} ({ex['family']}): {ex['diffs'][0]}"
              f"  (replay: --seed {args.seed} --replay {ex['index']})")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "cases": args.cases, "seed": args.seed, "workers": args.workers, "max_macs": MAX_MACS,
        "wall_seconds": round(wall, 2), "python": platform.python_version(),
        "strict_checked": args.strict,
        "by_family": {f: {**per[f], "seconds": round(per[f]["seconds"], 2)} for f in SWEEP_FAMILIES if f in per},
        "total": {**total, "seconds": round(total["seconds"], 2)},
        "mismatch_examples": examples,
    }, indent=2) + "\n")
    print(f"wrote {out}")
    return 1 if total["mismatches"] else 0


if __name__ == "__main__":
    sys.exit(main())
