"""Huge and awkward layers against their time limit.

    python bench/huge_layers.py [--time-limit 5] [--work-limit W] [--workers 1] [--only NAME] [--out FILE]

Solves each layer of CASES on specs/eyeriss.yaml (the tiny-capacity case on a 2-word RF)
through :func:`cpmap.solve.layer.solve_layer` and checks that it ends OPTIMAL, FEASIBLE
with a gap, INFEASIBLE with a reason, or UNKNOWN saying the layer is too large for the
model, within its wall-clock time limit +10% (issue 15 item 3).  The time limit is
wall-clock seconds for the whole of ``solve_layer`` (model building, the searches, the
tie-break and the evaluator's re-scoring; cpmap/solve/budget.py); the work limit
(CP-SAT deterministic time) defaults to half of it, as in ``cpmap solve``.  Prints per
layer the wall/limit ratio and what stopped the solve, the worst ratio, and writes
bench/results/huge_layers.json with the commit and the machine load.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from _machine import git_commit, loadavg, loadavg_text
from solvekit import TINY_ARCH

from cpmap.core import problem as P
from cpmap.core.constraints import Constraints
from cpmap.core.options import SolveOptions
from cpmap.report.tables import table
from cpmap.solve.layer import solve_layer
from cpmap.spec import load_arch
from cpmap.spec.arch import arch_from_obj

SLACK = 1.10


def tiny_rf_arch():
    obj = copy.deepcopy(TINY_ARCH)
    obj["architecture"]["levels"][0]["capacity"] = 2
    return arch_from_obj(obj)


CASES = [  # (name, problem, arch or None for Eyeriss, constraints)
    ("conv K1021 C4093 (primes)", P.conv("c", N=1, K=1021, C=4093, P=14, Q=14, R=3, S=3), None, Constraints()),
    ("fc K4093 C1021 (primes)", P.fc("f", N=1, K=4093, C=1021), None, Constraints()),
    ("fc K1e5 C1e5 (1e10 MACs)", P.fc("f", N=1, K=100_000, C=100_000), None, Constraints()),
    ("conv 1.85e9 MACs", P.conv("c", N=1, K=256, C=256, P=56, Q=56, R=3, S=3), None, Constraints()),
    ("conv P=Q=1021 (prime)", P.conv("c", N=1, K=16, C=16, P=1021, Q=1021, R=3, S=3), None, Constraints()),
    ("gemm 1e15 MACs", P.gemm("g", M=100_000, N=100_000, K=100_000), None, Constraints()),
    ("gemm 1e16 MACs", P.gemm("g", M=215_444, N=215_444, K=215_444), None, Constraints()),
    ("gemm (2^31-1)^3", P.gemm("g", M=2**31 - 1, N=2**31 - 1, K=2**31 - 1), None, Constraints()),
    ("fc on a 2-word RF keeping W,I,O", P.fc("f", N=1, K=4, C=2), "tiny-rf",
     Constraints(keeps=(("RF", frozenset("WIO")),))),
]


def acceptable(sol) -> bool:
    if sol.status == "OPTIMAL":
        return sol.best is not None and sol.gap is not None and sol.gap <= 1e-6
    if sol.status == "FEASIBLE":
        return sol.best is not None and sol.gap is not None and bool(sol.reason)
    if sol.status == "INFEASIBLE":
        return bool(sol.reason) and "within the time limit" not in sol.reason
    return sol.reason.startswith("too large for the CP-SAT model")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--time-limit", type=float, default=5.0)
    ap.add_argument("--work-limit", type=float, default=None, help="deterministic seconds (default: half the limit)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--only", default="", help="run only cases whose name contains this")
    ap.add_argument("--out", default=str(ROOT / "bench/results/huge_layers.json"))
    args = ap.parse_args()
    eyeriss = load_arch(str(ROOT / "specs/eyeriss.yaml"))
    cap = args.time_limit
    rows, records, load_before = [], [], loadavg()
    for name, problem, arch, cons in CASES:
        if args.only not in name:
            continue
        arch = tiny_rf_arch() if arch == "tiny-rf" else eyeriss
        t0 = time.perf_counter()
        sol = solve_layer(problem, arch, SolveOptions(time_limit=args.time_limit, work_limit=args.work_limit,
                                                      workers=args.workers, constraints=cons))
        wall = time.perf_counter() - t0
        ok = acceptable(sol) and wall <= SLACK * cap
        rows.append([name, f"{problem.macs:.3g}", sol.status, sol.stopped_by,
                     "-" if sol.gap is None else f"{sol.gap:.1%}", f"{wall:.1f}", f"{wall / cap:.2f}",
                     "ok" if ok else "FAIL", sol.reason[:60]])
        records.append({"case": name, "macs": problem.macs, "status": sol.status, "stopped_by": sol.stopped_by,
                        "gap": sol.gap, "reason": sol.reason, "wall_seconds": round(wall, 2),
                        "work": round(sol.work, 4), "wall_over_limit": round(wall / cap, 3), "ok": ok})
        print(f"  {name}: {sol.status} in {wall:.1f} s", file=sys.stderr, flush=True)
    print("\n".join(table(["layer", "MACs", "status", "stop", "gap", "wall s", "wall/limit", "", "reason"], rows,
                         left=1)))
    failed = sum(not r["ok"] for r in records)
    worst = max((r["wall_over_limit"] for r in records), default=float("nan"))
    print(f"time limit {args.time_limit} s wall (+10% allowed); worst wall/limit {worst:.2f}; {failed} of "
          f"{len(records)} failed; load {loadavg_text()}")
    Path(args.out).write_text(json.dumps({
        "benchmark": "huge_layers", "commit": git_commit(ROOT)["commit"], "time_limit": args.time_limit,
        "work_limit": args.work_limit, "worst_wall_over_limit": worst, "slack": SLACK, "workers": args.workers,
        "cases": records, "failed": failed,
        "loadavg_before": load_before, "loadavg_after": loadavg(), "python": platform.python_version(),
        "machine": platform.machine()}, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
