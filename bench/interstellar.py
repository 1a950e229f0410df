"""Interstellar's register-file x buffer study with ``cpmap sweep`` (issue 16, items 4-5; a
skeleton: the other studies of the issue come later).

AlexNet (models/alexnet.yaml, every layer, FC included) at batch 16 on the Interstellar
baseline (specs/interstellar.yaml: 16 x 16 PEs), the C|K dataflow (C unrolled on the
array's Y axis, K on X), RF 16-512 B x global buffer 32-512 KB (6 x 5 = 30 points),
energies per 16-bit access from Table IV (the sweep's default table).  Prints one row per
point and the gain of each over the 512 B / 128 KB point (the paper: about 2.6x with a
32-64 B RF; buffers beyond 256 KB help little), and the speed figures of the issue's
target (30 points from an empty cache in under 15 minutes on 2 cores, local engine):
wall time, layer problems, unique problems after dedupe, and with ``--rerun`` the time of
the same sweep from the warm cache.  Wall times are only meaningful on an idle machine:
the load average is recorded.

    python bench/interstellar.py [--time-limit 10] [--jobs N] [--rf 16,32,64,128,256,512]
                                 [--buffer 32,64,128,256,512] [--layers conv3] [--rerun]
                                 [--out bench/results/interstellar-rf-buffer.json]

A quick check that it runs: ``python bench/interstellar.py --layers conv3 --rf 16,64
--buffer 128 --time-limit 2 --out /tmp/x.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _machine import git_commit, loadavg

from cpmap.network.cache import Cache
from cpmap.network.sweep import run_sweep
from cpmap.report.tables import table
from cpmap.spec.sweep import load_sweep_spec

BASELINE = ("512 B", "128 KiB")
"""The Eyeriss-like point the paper's gains are measured against."""


def sweep_file(workdir: Path, rf: list[int], buffer: list[int], layers: list[str] | None, time_limit: float) -> Path:
    workload: dict = {"workload": str(ROOT / "models" / "alexnet.yaml"), "batch": 16,
                      "constraints": {"spatial": {"GBUF": {"Y": ["C"], "X": ["K"]}}}}
    if layers:
        workload["layers"] = layers
    body = {"arch": str(ROOT / "specs" / "interstellar.yaml"), "workloads": [workload],
            "vary": {"capacity": {"RF": [f"{b} B" for b in rf], "GBUF": [f"{k} KiB" for k in buffer]}},
            "time_limit": time_limit, "workers": 1, "output": str(workdir / "out")}
    path = workdir / "interstellar-rf-buffer.yaml"
    path.write_text(yaml.safe_dump({"sweep": body}, sort_keys=False))
    return path


def run(path: Path, cache_dir: Path, jobs: int | None) -> tuple:
    spec = load_sweep_spec(str(path))
    load = loadavg()
    t0 = time.perf_counter()
    result = run_sweep(spec, jobs=jobs, cache=Cache(cache_dir))
    return result, time.perf_counter() - t0, load


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time-limit", type=float, default=10.0, help="seconds per layer solve (default 10)")
    ap.add_argument("--jobs", type=int, default=None, help="parallel solves (default: the cores)")
    ap.add_argument("--rf", default="16,32,64,128,256,512", help="RF sizes in bytes")
    ap.add_argument("--buffer", default="32,64,128,256,512", help="global buffer sizes in KiB")
    ap.add_argument("--layers", default=None, help="comma-separated AlexNet layers (default all)")
    ap.add_argument("--rerun", action="store_true", help="run the sweep again from the warm cache")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "interstellar-rf-buffer.json"))
    args = ap.parse_args()
    rf = [int(x) for x in args.rf.split(",")]
    buffer = [int(x) for x in args.buffer.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        path = sweep_file(work, rf, buffer, args.layers.split(",") if args.layers else None, args.time_limit)
        result, wall, load = run(path, work / "cache", args.jobs)
        rerun = run(path, work / "cache", args.jobs)[1] if args.rerun else None
    points = list(result.points)
    base = next((r for r in points if r.point.params == BASELINE), None)
    rows, out_points = [], []
    for r in points:
        gain = base.energy_pj / r.energy_pj if base and base.energy_pj and r.energy_pj else None
        rows.append([r.point.name, *r.point.params, r.state, "-" if r.energy_pj is None else f"{r.energy_pj:,.0f}",
                     "-" if r.gap is None else f"{r.gap:.2%}", "-" if gain is None else f"{gain:.2f}x"])
        out_points.append({"name": r.point.name, "rf": r.point.params[0], "buffer": r.point.params[1],
                           "state": r.state, "energy_pj": r.energy_pj, "cycles": r.cycles, "lower_bound_pj":
                           r.lower_bound, "gap": r.gap, "worst_gap": r.worst_gap, "gain_over_baseline": gain})
    print("\n".join(table(["point", "RF", "buffer", "state", "energy pJ", "gap", "gain vs 512 B/128 KB"], rows,
                          left=3)))
    print(f"\n{len(points)} points, {result.layer_solves} layer problems, {result.unique} unique after dedupe, "
          f"wall {wall:.1f} s (load {load}); target: 30 points in 900 s"
          + (f"; re-run from the warm cache {rerun:.1f} s" if rerun is not None else ""))
    data = {"benchmark": "interstellar-rf-buffer", **git_commit(ROOT), "time_limit": args.time_limit,
            "jobs": args.jobs, "layers": args.layers, "wall_seconds": wall, "rerun_seconds": rerun,
            "loadavg_before": load, "loadavg_after": loadavg(), "layer_problems": result.layer_solves,
            "unique_problems": result.unique, "solved": result.solved, "points": out_points}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
