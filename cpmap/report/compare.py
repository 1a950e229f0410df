"""The output of ``cpmap compare``: the JSON object, the table, the CSV and the report
directory (docs/compare.md), from a :class:`~cpmap.network.compare.CompareRun`."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

from ..core.output import atomic_write_text, remove_orphaned_temp_files
from ..network.compare import REL_TOL, Budgets, CompareRun, LayerComparison, MethodRun
from ..spec.mapping import mapping_to_obj
from .plots import plot_best_so_far
from .tables import table


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not math.isfinite(a) or not math.isfinite(b) or b <= 0:
        return None
    return a / b


def run_json(run: MethodRun, layer: str, reference: MethodRun | None, budgets: Budgets) -> dict:
    """One method's row: the fields of docs/compare.md."""
    r = run.result
    ref_cost = reference.cost if reference is not None else None
    bound = reference.lower_bound if reference is not None else None
    return {
        "method": run.method, "status": run.status, "detail": run.detail, "reason": run.reason,
        "budget": budgets.describe(run.method),
        "best_cost": run.cost,
        "energy_pj": None if r is None else r.energy_pj,
        "cycles": None if r is None else r.cycles,
        "edp": None if r is None else r.energy_pj * r.cycles,
        "utilization": None if r is None else r.utilization,
        "seconds": run.seconds,
        "evaluations": run.evaluations, "valid_evaluations": run.valid_evaluations, "solutions": run.solutions,
        "ratio_to_cpsat": _ratio(run.cost, ref_cost),
        "ratio_to_lower_bound": _ratio(run.cost, bound),
        "lower_bound": run.lower_bound,
        "space_mappings": run.space_mappings,
        "history": [list(h) for h in run.history],
        "mapping": None if run.mapping is None else {"layer": layer, "mapping": mapping_to_obj(run.mapping)},
    }


def layer_json(cmp: LayerComparison, budgets: Budgets) -> dict:
    cpsat = cmp.run("cpsat")
    ref = cpsat if cpsat is not None and cpsat.cost is not None else None
    return {
        "name": cmp.name, "type": cmp.problem.kind, "macs": cmp.problem.macs,
        "cpsat_status": None if cpsat is None else cpsat.detail or cpsat.status,
        "cpsat_cost": None if ref is None else ref.cost,
        "lower_bound": None if ref is None else ref.lower_bound,
        "gap": None if ref is None or ref.lower_bound is None or not ref.cost
        else max(0.0, (ref.cost - ref.lower_bound) / ref.cost),
        "interrupted": cmp.interrupted,
        "methods": [run_json(r, cmp.name, ref, budgets) for r in cmp.runs],
    }


def summarize(layers: list[dict], methods: tuple[str, ...]) -> dict:
    """Per method, over the layers where both it and CP-SAT have a mapping: the geometric
    mean of method best / CP-SAT best, and on how many layers it is worse, equal (within
    :data:`REL_TOL`) or better; plus the count of each status."""
    out = {}
    for m in methods:
        ratios, statuses = [], {}
        worse = equal = better = 0
        seconds = 0.0
        for lay in layers:
            row = next((r for r in lay["methods"] if r["method"] == m), None)
            if row is None:
                continue
            statuses[row["status"]] = statuses.get(row["status"], 0) + 1
            seconds += row["seconds"]
            q = row["ratio_to_cpsat"]
            if q is None:
                continue
            ratios.append(q)
            if abs(q - 1.0) <= REL_TOL:
                equal += 1
            elif q > 1:
                worse += 1
            else:
                better += 1
        geo = math.exp(sum(math.log(q) for q in ratios) / len(ratios)) if ratios else None
        out[m] = {"layers_compared": len(ratios), "geomean_ratio_to_cpsat": geo,
                  "worst_ratio_to_cpsat": max(ratios) if ratios else None,
                  "worse": worse, "equal": equal, "better": better, "statuses": statuses,
                  "seconds": seconds}
    return out


def compare_json(run: CompareRun) -> dict:
    """``{"settings": {...}, "layers": [...], "summary": {...}}`` (docs/compare.md)."""
    plan, b = run.plan, run.budgets
    layers = [layer_json(c, b) for c in run.layers]
    settings = {"spec": plan.file, "workload": plan.workload.name, "arch": plan.arch.name,
                "objective": plan.objective, "batch": plan.batch, "methods": list(run.methods),
                "budgets": {m: b.describe(m) for m in run.methods}, **b.to_json(),
                "constraints": plan.constraints.to_obj(), "cpu_count": os.cpu_count(),
                "wall_seconds": run.wall_seconds, "interrupted": run.interrupted}
    return {"settings": settings, "layers": layers, "summary": summarize(layers, run.methods)}


def _g(x: float | None, fmt: str = "{:,.6g}") -> str:
    return "-" if x is None else fmt.format(x)


def _cost(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}" if abs(x) >= 1e4 else f"{x:,.6g}"


def _status_cell(row: dict) -> str:
    if row["status"] in ("optimal", "feasible") and row["detail"] and row["method"] != "cpsat":
        return f"{row['status']} ({row['detail']})"
    return row["status"]


def format_table(data: dict) -> str:
    """The table ``cpmap compare`` prints: one row per layer and method, then notes (why a
    method has no mapping) and the per-method summary."""
    s = data["settings"]
    objective = s["objective"]
    header = ["layer", "method", "status", "energy_pj", "cycles"]
    if objective == "edp":
        header.append("edp")
    header += ["seconds", "evals", "x cpsat", "x bound"]
    rows, notes = [], []
    for lay in data["layers"]:
        for k, row in enumerate(lay["methods"]):
            evals = f"{row['solutions']} sol." if row["method"] == "cpsat" and row["solutions"] is not None \
                else _g(row["evaluations"], "{:,}")
            cells = [lay["name"] if k == 0 else "", row["method"], _status_cell(row), _cost(row["energy_pj"]),
                     _g(row["cycles"], "{:,}")]
            if objective == "edp":
                cells.append(_g(row["edp"], "{:.4g}"))
            cells += [f"{row['seconds']:.2f}", evals, _g(row["ratio_to_cpsat"], "{:.4f}"),
                      _g(row["ratio_to_lower_bound"], "{:.4f}")]
            rows.append(cells)
            if row["reason"]:
                notes.append(f"  {lay['name']} {row['method']}: {row['status']} ({row['reason']})")
        if lay["interrupted"]:
            notes.append(f"  {lay['name']}: interrupted; methods after the last row were not run")
    lines = [f"compare: {s['workload']} on {s['arch']}, objective {objective}"
             + (f", batch {s['batch']}" if s["batch"] is not None else "")]
    lines += [f"  {m}: {d}" for m, d in s["budgets"].items()]
    lines += ["", *table(header, rows, 3)]
    if notes:
        lines += ["", "notes:", *notes]
    summary = data["summary"]
    if "cpsat" in summary:
        lines += ["", "vs cpsat (method best / cpsat best over the layers both mapped):"]
        srows = []
        for m, v in summary.items():
            if m == "cpsat":
                continue
            srows.append([m, str(v["layers_compared"]), _g(v["geomean_ratio_to_cpsat"], "{:.4f}"),
                          _g(v["worst_ratio_to_cpsat"], "{:.4f}"), str(v["worse"]), str(v["equal"]),
                          str(v["better"])])
        if srows:
            lines += table(["method", "layers", "geomean", "worst", "worse", "equal", "better"], srows, 1)
    return "\n".join(lines) + "\n"


CSV_FIELDS = ("layer", "type", "method", "status", "detail", "best_cost", "energy_pj", "cycles", "edp",
              "utilization", "seconds", "evaluations", "valid_evaluations", "solutions", "ratio_to_cpsat",
              "ratio_to_lower_bound", "cpsat_lower_bound", "space_mappings", "budget", "reason")


def compare_csv(data: dict) -> str:
    """One row per layer and method (:data:`CSV_FIELDS`); empty cells for missing values."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for lay in data["layers"]:
        for row in lay["methods"]:
            extra = {"layer": lay["name"], "type": lay["type"], "cpsat_lower_bound": lay["lower_bound"]}
            w.writerow(["" if (v := extra.get(f, row.get(f))) is None else v for f in CSV_FIELDS])
    return buf.getvalue()


REPORT_FILES = ("compare.json", "compare.csv", "compare.png")


def write_compare_report(data: dict, out_dir: str) -> list[str]:
    """Write compare.json (the ``--json`` object), compare.csv and compare.png into
    ``out_dir``; return the paths written."""
    root = Path(out_dir)
    remove_orphaned_temp_files([root])  # of a killed earlier run
    atomic_write_text(root / "compare.json", json.dumps(data, indent=1) + "\n")
    atomic_write_text(root / "compare.csv", compare_csv(data))
    written = [str(root / "compare.json"), str(root / "compare.csv")]
    if plot_best_so_far(data, root / "compare.png"):
        written.append(str(root / "compare.png"))
    return written
