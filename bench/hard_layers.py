"""Measure model changes on the hardest benchmark layers (issue 11 item 5) in CP-SAT
deterministic time and process CPU seconds, one worker, a fixed seed.

Deterministic time is a count of work the same on any machine and load; process CPU
seconds (``time.process_time()`` around model building and the solve, one CP-SAT worker)
stand for the idle wall-clock time, presolve and Python included (under a load of 8 on 2
cores they varied by up to 40% between runs of the same search).  Each variant runs the layer model as ``solve_layer`` would with one worker
(cpmap/solve/tuning.py), no tie-break, no re-scoring.

    python bench/hard_layers.py [--cases hard,control] [--variants dom,tables] [--limit 10] [--seed 0]
                                [--only SUBSTRING] [--out bench/results/hard_layers.json]

Variants: ``base`` the model without either addition; ``min`` with the pattern bounds
(cpmap/solve/patterns.py, off by default), ``sym`` with the symmetry breaking
(cpmap/solve/symmetry.py, on by default), ``sym_min`` both, ``dom`` symmetry breaking and the
dominance rule (cpmap/solve/dominance.py; the per-dim model, one worker's default before the
prime tables); ``tables`` that model with prime tables, no tangent cuts and their search
parameters (cpmap/solve/tuning.py: the one-worker default now); ``keep`` / ``keep0`` the
base model with a decision strategy branching on the keep literals first (true / false first).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from _models import finish, layer_problems, load_model, print_header
from layers import LAYERS
from ortools.sat.python import cp_model

from cpmap.solve import dominance, patterns, symmetry
from cpmap.solve.model import build_model
from cpmap.solve.tuning import model_encoding, tune
from cpmap.spec import load_arch

HARD = [("vgg16.conv1_2", 16), ("vgg16.conv3_1", 16), ("resnet50.3x3", 16), ("vgg16.conv2_2", 1)]
CONTROL = [("alexnet.conv3", 1), ("resnet50.1x1", 1), ("mobilenet_v2.dw", 1), ("vit_b_16.qkv", 1),
           ("vgg16.conv1_2", 1), ("alexnet.conv2", 16), ("resnet50.3x3", 1)]
EXTRA = [("vgg16.conv2_2", "vgg16", "conv4")]  # bench/networks.py's VGG-16 layer conv4
VARIANTS = {  # variant -> (pattern bounds, symmetry breaking, dominance)
    "base": (False, False, False), "min": (True, False, False), "sym": (False, True, False),
    "sym_min": (True, True, False), "dom": (False, True, True), "tables": (False, True, True),
    "keep": (False, False, False), "keep0": (False, False, False)}


def problem_of(label: str, batch: int):
    if label in {e[0] for e in EXTRA}:
        _, model, layer = next(e for e in EXTRA if e[0] == label)
        return load_model(model, batch).layer(layer).problem
    return dict(layer_problems(LAYERS, batch, only=label))[label]


def run(problem, arch, variant: str, limit: float, seed: int) -> dict:
    patterns.ENABLED, symmetry.ENABLED, dominance.ENABLED = VARIANTS[variant]
    c0 = time.process_time()
    tables = variant == "tables"
    lm = build_model(problem, arch, "energy", **(model_encoding(1, "exact") if tables else {}))
    if variant.startswith("keep"):
        lits = [k for (i, t), k in sorted(lm.keep.items(), key=lambda kv: (kv[0][0], "WIO".index(kv[0][1])))
                if not isinstance(k, bool)]
        lm.model.add_decision_strategy(lits, cp_model.CHOOSE_FIRST,
                                       cp_model.SELECT_MIN_VALUE if variant.startswith("keep0") else cp_model.SELECT_MAX_VALUE)
    built = time.process_time() - c0
    solver = cp_model.CpSolver()
    p = solver.parameters
    p.num_workers, p.random_seed, p.max_deterministic_time = 1, seed, limit
    p.max_time_in_seconds = 60 * limit + 60  # a guard only: the deterministic limit decides
    tune(p, 1, prime_tables=tables)
    st = solver.solve(lm.model)
    cpu = time.process_time() - c0
    to_pj = lambda raw: raw / lm.scale + lm.constant_pj
    value = to_pj(solver.objective_value) if st in (cp_model.OPTIMAL, cp_model.FEASIBLE) else None
    bound = to_pj(solver.best_objective_bound)
    gap = None if value is None else max(0.0, (value - bound) / value)
    return {"status": solver.status_name(st), "det_time": round(solver.deterministic_time, 3),
            "cpu_s": round(cpu, 2), "build_cpu_s": round(built, 2), "gap": gap, "value_pj": value,
            "bound_pj": bound}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="hard,control")
    ap.add_argument("--variants", default="dom,tables")
    ap.add_argument("--limit", type=float, default=10.0, help="deterministic seconds per solve")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", default="")
    ap.add_argument("--arch", default=os.path.join(ROOT, "specs", "eyeriss.yaml"))
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "hard_layers.json"))
    args = ap.parse_args()
    arch = load_arch(args.arch)
    cases = [c for name in args.cases.split(",") for c in {"hard": HARD, "control": CONTROL}[name]]
    print_header(f"{'layer':<16} {'batch':>5} {'variant':<8} {'status':<9} {'det s':>7} {'cpu s':>7} {'gap':>8}")
    rows = []
    for label, batch in cases:
        if args.only not in label:
            continue
        problem = problem_of(label, batch)
        for variant in args.variants.split(","):
            r = {"layer": label, "batch": batch, "variant": variant, **run(problem, arch, variant, args.limit, args.seed)}
            rows.append(r)
            gap = "-" if r["gap"] is None else f"{100 * r['gap']:.2f}%"
            print(f"{label:<16} {batch:>5} {variant:<8} {r['status']:<9} {r['det_time']:7.2f} {r['cpu_s']:7.2f} "
                  f"{gap:>8}", flush=True)
    finish(args.out, rows, limit=args.limit, seed=args.seed, workers=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
