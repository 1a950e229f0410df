"""Measure solver avenues (issue 11 item 5) in CP-SAT deterministic time, not wall time.

Each avenue is a way of building or solving the layer model (extra cuts, CP-SAT
parameters, a decomposition); every one is run on the same layers of bench/layers.py
with one worker and a fixed deterministic-time limit, and the table shows, per layer,
the deterministic time spent, the status and the remaining gap of the model's own
objective.  Deterministic time is a count of work that does not depend on the machine
load, so runs on a shared machine compare; wall seconds are printed for information.
Avenue ``solver`` runs cpmap's own ``solve_layer`` (one worker: the whole model, then the
split over the keep literals of cpmap/solve/split.py) with the limit as its work limit and
the tie-break off, ``solver_tie`` with the tie-break; their gap is the certified one.

    python bench/avenues.py [--limit 10] [--avenues base,params,...] [--only SUBSTRING]
                            [--out bench/results/avenues.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from _hong_kung import dram_traffic_bound, fixed_window_product, onchip_words
from _machine import git_commit, loadavg_text
from layers import LAYERS, problems
from ortools.sat.python import cp_model

from cpmap.solve.model import build_model
from cpmap.spec import load_arch

# (label, batch): the hard layers first, then easy ones that must not regress
CASES = [("vgg16.conv3_1", 1), ("alexnet.conv2", 16), ("resnet50.3x3", 16), ("vgg16.conv3_1", 16),
         ("vgg16.conv1_2", 1),
         ("alexnet.conv3", 1), ("resnet50.1x1", 1), ("mobilenet_v2.dw", 1), ("vit_b_16.qkv", 1)]

PARAMS = {  # avenue -> CP-SAT parameters on top of the defaults (1 worker)
    "base": {},
    "lin2": {"linearization_level": 2},
    "lin0": {"linearization_level": 0},
    "fixed_search": {"search_branching": cp_model.FIXED_SEARCH},
    "portfolio_lp": {"search_branching": cp_model.PORTFOLIO_WITH_QUICK_RESTART_SEARCH},
    "lp_search": {"search_branching": cp_model.LP_SEARCH},
    "pseudo_cost": {"search_branching": cp_model.PSEUDO_COST_SEARCH},
    "symmetry2": {"symmetry_level": 2},
    "probing": {"cp_model_probing_level": 3},
    "no_presolve": {"cp_model_presolve": False},
    "objective_lb": {"optimize_with_lb_tree_search": True},
    "max_cuts": {"cut_level": 2, "max_all_diff_cut_size": 64, "add_lp_constraints_lazily": False},
}

PARAMS["lin0_nocuts"] = {"linearization_level": 0}
PARAMS["lin0_probe"] = {"linearization_level": 0, "cp_model_probing_level": 3}
PARAMS["lin0_pseudo"] = {"linearization_level": 0, "search_branching": cp_model.PSEUDO_COST_SEARCH}
PARAMS["lin0_portfolio"] = {"linearization_level": 0,
                            "search_branching": cp_model.PORTFOLIO_WITH_QUICK_RESTART_SEARCH}

PARAMS["lin0_core"] = {"linearization_level": 0, "optimize_with_core": True}
PARAMS["lin0_sym0"] = {"linearization_level": 0, "symmetry_level": 0}
PARAMS["lin0_probe0"] = {"linearization_level": 0, "cp_model_probing_level": 0}

TIE_PARAMS = {  # avenue -> parameters of the tie-break solve when they differ from the main solve's
    "lin0_tie1": {"linearization_level": 1},
}
PARAMS["lin0_tie1"] = {"linearization_level": 0}

BUILD = {  # avenue -> build_model keyword arguments
    "nocuts": {"tangent_cuts": False},
    "lin0_nocuts": {"tangent_cuts": False},
}


def run_case(problem, arch, avenue: str, limit: float, seed: int) -> dict:
    t0 = time.perf_counter()
    if avenue in ("solver", "solver_tie"):
        return _solver_row(problem, arch, limit, seed, tie_break=avenue == "solver_tie", t0=t0)
    lm = build_model(problem, arch, "energy", None, "exact", **BUILD.get(avenue, {}))
    built = time.perf_counter() - t0
    solver = cp_model.CpSolver()
    p = solver.parameters
    p.num_workers, p.random_seed, p.max_deterministic_time = 1, seed, limit
    p.max_time_in_seconds = 20 * limit + 60  # only a guard; the deterministic limit decides
    for k, v in PARAMS.get(avenue, {}).items():
        setattr(p, k, v)
    if avenue in ("gbuf_split", "hybrid"):
        r = (_keep_split if avenue == "gbuf_split" else _hybrid)(lm, limit, seed)
        to_pj = lambda raw: raw / lm.scale + lm.constant_pj
        value = None if r["objective"] is None else to_pj(r["objective"])
        bound = None if r["bound_raw"] is None else to_pj(r["bound_raw"])
        gap = None if value is None or bound is None else max(0.0, (value - bound) / value)
        return {"status": r["status"], "det_time": r["det_time"], "wall_s": round(time.perf_counter() - t0, 2),
                "build_s": round(built, 2), "gap": gap, "value_pj": value, "bound_pj": bound}
    st = solver.solve(lm.model)
    to_pj = lambda raw: raw / lm.scale + lm.constant_pj
    value = to_pj(solver.objective_value) if st in (cp_model.OPTIMAL, cp_model.FEASIBLE) else None
    bound = to_pj(solver.best_objective_bound)
    gap = None if value is None else max(0.0, (value - bound) / value)
    tie = _tie_break_work(lm, solver, avenue, limit, seed) if st == cp_model.OPTIMAL else {}
    return {**tie, "status": solver.status_name(st), "det_time": round(solver.deterministic_time, 3),
            "wall_s": round(time.perf_counter() - t0, 2), "build_s": round(built, 2),
            "gap": gap, "value_pj": value, "bound_pj": bound}


def _solver_row(problem, arch, limit: float, seed: int, tie_break: bool, t0: float) -> dict:
    """cpmap's own solve_layer (one worker, so the split over keep literals of
    cpmap/solve/split.py when the first solve does not prove), the work limit ``limit``, no
    wall-clock limit in practice: its deterministic time (the tie-break's too with
    ``solver_tie``), status and certified gap."""
    from cpmap.core.options import SolveOptions
    from cpmap.solve.layer import solve_layer
    sol = solve_layer(problem, arch, SolveOptions(workers=1, seed=seed, time_limit=40 * limit + 60,
                                                  work_limit=limit, tie_break=tie_break))
    return {"status": sol.status, "det_time": round(sol.work, 3), "wall_s": round(time.perf_counter() - t0, 2),
            "build_s": None, "gap": sol.gap, "value_pj": sol.value, "bound_pj": sol.lower_bound,
            "stopped_by": sol.stopped_by}


def _hybrid(lm, limit: float, seed: int, first: float = 1.0) -> dict:
    """One model for ``first`` deterministic seconds (no LP); if that does not prove it,
    the keep-pattern split (:func:`_keep_split`) from its incumbent for the rest."""
    s = cp_model.CpSolver()
    p = s.parameters
    p.num_workers, p.random_seed, p.linearization_level = 1, seed, 0
    p.max_deterministic_time = min(first, limit)
    st = s.solve(lm.model)
    if st == cp_model.OPTIMAL or s.deterministic_time >= limit:
        found = st in (cp_model.OPTIMAL, cp_model.FEASIBLE)
        return {"status": s.status_name(st), "det_time": round(s.deterministic_time, 3),
                "objective": round(s.objective_value) if found else None,
                "bound_raw": s.best_objective_bound}
    best = round(s.objective_value) if st == cp_model.FEASIBLE else None
    r = _keep_split(lm, limit - s.deterministic_time, seed, best)
    r["det_time"] = round(r["det_time"] + s.deterministic_time, 3)
    if r["objective"] is None:
        r["objective"] = best
    if r["bound_raw"] is not None:  # the first phase's bound is valid for every pattern
        r["bound_raw"] = max(r["bound_raw"], s.best_objective_bound)
    return r


def _keep_split(lm, limit: float, seed: int, best=None) -> dict:
    """Decomposition over the global buffer's keep patterns (2^3 for W, I, O): one solve
    per pattern with the keep literals fixed, one worker without the LP, each bounded by
    the best energy found so far (a shared incumbent: a pattern whose bound reaches it is
    pruned).  The whole's bound is the least of the patterns' bounds; its work is the sum."""
    import itertools
    gbuf = max(i for i, _ in lm.keep) - 1  # the level below the outermost
    lits = [(t, v) for (i, t), v in sorted(lm.keep.items()) if i == gbuf and not isinstance(v, bool)]
    bounds, det, done = [], 0.0, 0
    for pattern in itertools.product((1, 0), repeat=len(lits)):
        m = lm.model.clone()
        for (_, v), b in zip(lits, pattern):
            m.add(m.get_bool_var_from_proto_index(v.index) == b)
        if best is not None:
            m.add(lm.energy <= best - 1)
        s = cp_model.CpSolver()
        p = s.parameters
        p.num_workers, p.random_seed, p.linearization_level = 1, seed, 0
        p.max_deterministic_time = max(0.01, limit - det)
        st = s.solve(m)
        det += s.deterministic_time
        done += 1
        if st in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            best = round(s.objective_value)
        if st == cp_model.FEASIBLE or st == cp_model.UNKNOWN:
            bounds.append(s.best_objective_bound)  # not closed: the pattern's own bound
        if det >= limit:
            break
    closed = det < limit
    # an unexplored pattern has no bound: then nothing is certified
    every = done == 2 ** len(lits)
    bound = min(bounds + ([best] if best is not None else [])) if every and (bounds or best is not None) else None
    return {"status": "OPTIMAL" if closed and not bounds else "FEASIBLE", "det_time": round(det, 3),
            "objective": best, "bound_raw": bound}


def _tie_break_work(lm, solver, avenue: str, limit: float, seed: int) -> dict:
    """The deterministic time of cpmap.solve.layer's cycles tie-break after a proof (the same
    model: energy held at the optimum, compute cycles minimized, hinted with the optimum),
    with its share of the limit (2%) and the avenue's parameters."""
    from cpmap.solve.layer import TIE_BREAK_SHARE
    tie = lm.model.clone()
    tie.add(lm.energy <= round(solver.objective_value))
    tie.minimize(lm.cycles)
    for i in range(len(tie.proto.variables)):
        var = tie.get_int_var_from_proto_index(i)
        tie.add_hint(var, solver.value(var))
    ts = cp_model.CpSolver()
    p = ts.parameters
    p.num_workers, p.random_seed, p.max_deterministic_time = 1, seed, TIE_BREAK_SHARE * limit
    for k, v in TIE_PARAMS.get(avenue, PARAMS.get(avenue, {})).items():
        setattr(p, k, v)
    seen = _Improvements()
    st = ts.solve(tie, seen)
    return {"tie_status": ts.status_name(st), "tie_det_time": round(ts.deterministic_time, 3),
            "cycles_before_tie": solver.value(lm.cycles),
            "tie_cycles": ts.objective_value if st in (cp_model.OPTIMAL, cp_model.FEASIBLE) else None,
            "tie_last_improvement_det_time": seen.last}


class _Improvements(cp_model.CpSolverSolutionCallback):
    """The deterministic time of the last improving solution."""

    def __init__(self):
        super().__init__()
        self.last = None

    def on_solution_callback(self) -> None:
        self.last = round(self.deterministic_time, 4)


def hong_kung_table(arch) -> int:
    """The red-blue-pebble bound on DRAM words (bench/_hong_kung.py) against the compulsory
    traffic (every word of W, I and O once), which the model already has as count bounds."""
    print(f"on-chip storage S = {onchip_words(arch):,} words")
    print(f"{'layer':<22} {'n_fix':>6} {'compulsory':>12} {'hong_kung':>12} {'ratio':>6}")
    for b in (1, 16):
        for label, p in problems(b):
            comp = sum(p.tensor_words(t) for t in p.tensor_names)
            hk = dram_traffic_bound(p, arch)
            ratio = "-" if hk is None else f"{hk / comp:.2f}"
            words = "-" if hk is None else f"{hk:,}"
            print(f"{label + '@' + str(b):<22} {fixed_window_product(p) or '-':>6} {comp:12,} "
                  f"{words:>12} {ratio:>6}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default=os.path.join(ROOT, "specs", "eyeriss.yaml"))
    ap.add_argument("--limit", type=float, default=10.0, help="deterministic time per solve")
    ap.add_argument("--avenues", default="base")
    ap.add_argument("--only", default="",
                    help="only cases whose label@batch contains this (comma-separated: any of them)")
    ap.add_argument("--exact", action="store_true", help="--only names whole label@batch keys")
    ap.add_argument("--all", action="store_true", help="all 28 layers of bench/layers.py, not the handful")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "avenues.json"))
    ap.add_argument("--hong-kung", action="store_true",
                    help="print the Hong-Kung DRAM-traffic bound against the compulsory traffic and stop")
    args = ap.parse_args()
    arch = load_arch(args.arch)
    if args.hong_kung:
        return hong_kung_table(arch)
    avenues = args.avenues.split(",")
    own = ("gbuf_split", "hybrid", "solver", "solver_tie")
    unknown = [a for a in avenues if a not in PARAMS and a not in BUILD and a not in own]
    if unknown:
        ap.error(f"unknown avenue(s) {unknown}; expected some of {sorted(set(PARAMS) | set(BUILD))}")
    probs = {(label, b): pr for b in (1, 16) for label, pr in problems(b)}
    rows = []
    print(f"{'layer':<22} {'avenue':<14} {'status':<9} {'det_time':>9} {'gap':>8} {'tie_det':>8} {'wall_s':>7}")
    cases = [(label, b) for b in (1, 16) for label, _, _ in LAYERS] if args.all else CASES
    for label, batch in cases:
        key, wanted = f"{label}@{batch}", args.only.split(",")
        if not any((w == key) if args.exact else (w in key) for w in wanted):
            continue
        for av in avenues:
            r = {"layer": label, "batch": batch, "avenue": av, **run_case(probs[label, batch], arch, av,
                                                                          args.limit, args.seed)}
            rows.append(r)
            gap = "-" if r["gap"] is None else f"{100 * r['gap']:.2f}%"
            tie = "-" if "tie_det_time" not in r else f"{r['tie_det_time']:.3f}"
            print(f"{label + '@' + str(batch):<22} {av:<14} {r['status']:<9} {r['det_time']:9.2f} {gap:>8} "
                  f"{tie:>8} {r['wall_s']:7.1f}", flush=True)
    out = {"commit": git_commit(Path(ROOT)), "loadavg_at_end": loadavg_text(), "limit_det_time": args.limit,
           "workers": 1, "seed": args.seed, "rows": rows}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
