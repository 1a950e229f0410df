"""Fuzz cpmap's inputs: malformed files and command lines through every subcommand.

    python bench/fuzz.py [--cases 10000] [--seed 0] [--start 0] [--replay I] [--out FILE]
                         [--target KIND[,KIND...]]

Case ``i`` is generated from ``random.Random(f"{seed}:{i}")`` by tests/fuzzing.py (the
mutation engine; docs/specs.md, "Fuzzing"), so a reported failure is replayed with
``--replay i``.  Each case runs in this process with :func:`cpmap.cli.main`; it passes when
it ends in exit 2 with one-line messages naming the file and the field, or in exit 0/1
(the mutation left the input valid, or the mapping is invalid, or a layer is infeasible
with a reason), without a traceback and within tests/fuzzing.py's HANG_SECONDS.  Prints
a table by mutated file kind and subcommand, lists the failures and writes
bench/results/fuzz.json.  Exit 1 if any case failed.  ``--target sweep,solve`` runs only
the cases of those mutated file kinds (the first N of the same case stream: a focused run;
its results go to another file than the committed fuzz.json).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from _machine import git_commit, loadavg
from fuzzing import HANG_SECONDS, make_case, run_case

from cpmap.report.tables import table

MAX_LISTED = 50


def run(seed: int, indices, progress: bool = True) -> list:
    """The outcome of each case, each in a fresh directory; one cache shared by all (as
    a user's sweep would)."""
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="cpmap-fuzz-") as tmp:
        os.environ["CPMAP_CACHE"] = str(Path(tmp) / "cache")
        t0 = time.perf_counter()
        for n, i in enumerate(indices, 1):
            work = Path(tmp) / f"case{i}"
            work.mkdir()
            outcomes.append(run_case(make_case(seed, i, work), work))
            if progress and n % 250 == 0:
                bad = sum(o.failed for o in outcomes)
                print(f"  {n} cases, {bad} failed, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    return outcomes


def indices_of(seed: int, start: int, cases: int, targets: set[str] | None):
    """The first ``cases`` case indices from ``start`` whose mutated file kind is in ``targets``."""
    if not targets:
        return range(start, start + cases)
    out, i = [], start
    with tempfile.TemporaryDirectory() as tmp:
        while len(out) < cases:
            if make_case(seed, i, Path(tmp)).target in targets:
                out.append(i)
            i += 1
    return out


def summary_table(outcomes) -> list[str]:
    groups = collections.defaultdict(collections.Counter)
    for o in outcomes:
        groups[(o.target, o.command)][o.verdict] += 1
    verdicts = ["ok-error", "ok-accepted", "traceback", "hang", "unclear", "internal", "bad-exit"]
    rows = [[t, c, *(str(groups[(t, c)][v]) for v in verdicts)] for t, c in sorted(groups)]
    total = collections.Counter(o.verdict for o in outcomes)
    rows.append(["all", "", *(str(total[v]) for v in verdicts)])
    return table(["mutated", "command", "exit 2 clear", "exit 0/1", "traceback", "hang", "unclear", "internal",
                  "bad exit"], rows, left=2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--start", type=int, default=0, help="index of the first case")
    ap.add_argument("--replay", type=int, metavar="I", help="run case I only and print everything about it")
    ap.add_argument("--out", default=str(ROOT / "bench/results/fuzz.json"))
    ap.add_argument("--target", help="comma-separated mutated file kinds to run only (arch, workload, mapping, "
                                     "solve, sweep, cli, timeloop, claims)")
    args = ap.parse_args()
    targets = set(args.target.split(",")) if args.target else None
    if targets and args.out == ap.get_default("out"):
        ap.error("--target: give --out (a focused run is not the committed all-kinds result)")
    if args.replay is not None:
        (o,) = run(args.seed, [args.replay], progress=False)
        print(json.dumps(o.__dict__, indent=1, default=list))
        return 1 if o.failed else 0
    load_before, t0 = loadavg(), time.perf_counter()
    outcomes = run(args.seed, indices_of(args.seed, args.start, args.cases, targets))
    wall = time.perf_counter() - t0
    print("\n".join(summary_table(outcomes)))
    failures = [o for o in outcomes if o.failed]
    for o in failures[:MAX_LISTED]:
        print(f"case {o.index} [{o.target}/{o.command}] {o.verdict}: {o.detail}  ops={list(o.ops)}")
    slowest = max(outcomes, key=lambda o: o.seconds)
    print(f"{len(outcomes)} cases in {wall:.0f} s; {len(failures)} failed; slowest case {slowest.index} "
          f"{slowest.seconds:.1f} s (hang limit {HANG_SECONDS:.0f} s)")
    verdicts = collections.Counter(o.verdict for o in outcomes)
    result = {
        "benchmark": "fuzz", "commit": git_commit(ROOT)["commit"], "seed": args.seed, "start": args.start,
        "targets": sorted(targets) if targets else "all",
        "cases": len(outcomes), "failed": len(failures), "verdicts": dict(verdicts),
        "tracebacks": verdicts["traceback"], "hangs": verdicts["hang"],
        "by_kind_and_command": {f"{t}/{c}": dict(collections.Counter(o.verdict for o in outcomes
                                                                      if (o.target, o.command) == (t, c)))
                                for t, c in sorted({(o.target, o.command) for o in outcomes})},
        "exit_codes": dict(collections.Counter(str(o.code) for o in outcomes)),
        "wall_seconds": round(wall, 1), "slowest_case": {"index": slowest.index, "seconds": round(slowest.seconds, 2)},
        "hang_seconds": HANG_SECONDS, "failures": [o.__dict__ for o in failures[:MAX_LISTED]],
        "loadavg_before": load_before, "loadavg_after": loadavg(), "python": platform.python_version(),
        "machine": platform.machine(),
    }
    Path(args.out).write_text(json.dumps(result, indent=1, default=list) + "\n")
    print(f"wrote {args.out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
