"""Hostile YAML through the one loader: time and peak memory of each refusal, and of the
largest accepted workloads.

    python bench/hostile_yaml.py [--rounds 3] [--out FILE]

The documents are tests/test_hostile_yaml.py's (an alias bomb, 100,000-deep nesting, a
5 MiB scalar, a 5,000-digit number, a recursive alias, 6,000 layers) plus workloads of
1,000-5,000 one-line conv layers, which load.  Reports the median wall time of
``rounds`` loads and the tracemalloc peak of one; writes bench/results/hostile_yaml.json
with the commit and the machine load.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from _machine import loadavg, loadavg_text
from test_hostile_yaml import HOSTILE, conv_layers

from cpmap.core.errors import SpecError
from cpmap.report.tables import table
from cpmap.spec.workload import load_workload


def load_once(path: str) -> str:
    try:
        wl = load_workload(path)
    except SpecError as e:
        return "refused: " + e.message[:50]
    return f"loaded {len(wl.layers)} layers"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "bench/results/hostile_yaml.json"))
    args = ap.parse_args()
    docs = {name: text for name, (text, _, _) in HOSTILE.items()}
    docs |= {f"{n} layers": conv_layers(n) for n in (1000, 3000, 5000)}
    rows, records, load_before = [], [], loadavg()
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in docs.items():
            path = Path(tmp) / "doc.yaml"
            path.write_text(text)
            times = []
            for _ in range(args.rounds):
                t0 = time.perf_counter()
                outcome = load_once(str(path))
                times.append(time.perf_counter() - t0)
            tracemalloc.start()
            load_once(str(path))
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            wall = statistics.median(times)
            rows.append([name, f"{len(text) / 2**20:.2f}", f"{wall:.3f}", f"{peak / 2**20:.1f}", outcome])
            records.append({"document": name, "mib": round(len(text) / 2**20, 3), "median_seconds": round(wall, 4),
                            "peak_mib": round(peak / 2**20, 2), "outcome": outcome})
    print("\n".join(table(["document", "MiB", "median s", "peak MiB", "outcome"], rows, left=1)))
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=False).stdout.strip()
    print(f"load {loadavg_text()}")
    Path(args.out).write_text(json.dumps({
        "benchmark": "hostile_yaml", "commit": commit, "rounds": args.rounds, "documents": records,
        "loadavg_before": load_before, "loadavg_after": loadavg(), "python": platform.python_version(),
        "machine": platform.machine()}, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
