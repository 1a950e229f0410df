"""The report of ``cpmap sweep`` (docs/sweep.md): the JSON object, the text summary and
the report directory -- points.csv, sweep.json, summary.md, pareto.png, breakdown.png and
each point's architecture under archs/."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import yaml

from ..core.output import atomic_write_text, remove_orphaned_temp_files
from ..network.sweep import PointResult, SweepRun, best_points, design_front, proxy
from ..spec.arch import arch_to_obj
from .plots import sweep_breakdown_png, sweep_pareto_png
from .tables import fmt_num, fmt_pct, table


def _layer_json(o) -> dict:
    sol = o.solution
    res = sol.best.result if sol is not None and sol.best is not None else None
    return {"name": o.layer.name, "status": o.status, "reason": sol.reason if sol is not None else "",
            "value": sol.value if sol is not None else None,
            "lower_bound": sol.lower_bound if sol is not None else None,
            "gap": sol.gap if sol is not None else None,
            "energy_pj": res.energy_pj if res else None, "cycles": res.cycles if res else None,
            "cached": o.cached, "same_as": o.same_as, "interrupted": o.interrupted}


def point_json(r: PointResult, parameters: tuple[str, ...]) -> dict:
    """One design point: its parameters, totals, certified bound and gaps, per network."""
    return {"name": r.point.name, "index": r.point.index, "params": dict(zip(parameters, r.point.params)),
            "onchip_bytes": r.point.onchip_bytes, "area_mm2": r.point.area_mm2, "pes": r.point.arch.pes,
            "state": r.state, "energy_pj": r.energy_pj, "cycles": r.cycles, "edp": r.edp, "value": r.value,
            "lower_bound": r.lower_bound, "gap": r.gap, "worst_gap": r.worst_gap,
            "energy_by_level": r.energy_by_level, "statuses": r.statuses,
            "networks": [{"workload": b.plan.workload.name, "layers": [_layer_json(o) for o in b.outcomes]}
                         for b in r.batches]}


def sweep_json(run: SweepRun) -> dict:
    spec = run.spec
    best = best_points(run.points)
    cert = run.certificate
    return {
        "settings": {"sweep": spec.file, "arch": spec.base.name, "objective": spec.objective,
                     "encoding": spec.encoding, "time_limit": spec.time_limit, "workers": spec.workers,
                     "seed": spec.seed, "energy_table": spec.energy_table.name if spec.energy_table else None,
                     "proxy": "area_mm2" if spec.area is not None else "onchip_bytes",
                     "workloads": [n.workload.name for n in spec.networks]},
        "parameters": list(spec.parameters),
        "points": [point_json(r, spec.parameters) for r in run.points],
        "best": {k: r.point.name for k, r in best.items()},
        "pareto": [r.point.name for r in design_front(run.points)],
        "certificate": None if cert is None else {
            "best": cert.best, "best_energy_pj": cert.best_energy_pj, "space_bound_pj": cert.space_bound_pj,
            "gap": cert.gap, "solved": cert.solved, "pruned": cert.pruned,
            "bound_time_limit": cert.bound_time_limit, "bounds": [list(b) for b in cert.bounds]},
        "total": {"points": len(run.points), "layer_solves": run.layer_solves, "unique_problems": run.unique,
                  "solved": run.solved, "cached": run.cached, "interrupted": run.interrupted,
                  "wall_seconds": run.wall_seconds},
    }


def _levels(data: dict) -> list[str]:
    out: list[str] = []
    for p in data["points"]:
        out += [k for k in p["energy_by_level"] if k not in out]
    return out


def points_csv(data: dict) -> str:
    """One row per point: parameters, proxy, state, totals, bound, gaps, energy by level."""
    levels = _levels(data)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["point", *data["parameters"], "onchip_bytes", "area_mm2", "pes", "state", "energy_pj", "cycles",
                "edp", "lower_bound", "gap", "worst_gap", *(f"energy_{lv}_pj" for lv in levels)])
    for p in data["points"]:
        w.writerow([p["name"], *p["params"].values(), p["onchip_bytes"], _cell(p["area_mm2"]), p["pes"], p["state"],
                    *(_cell(p[k]) for k in ("energy_pj", "cycles", "edp", "lower_bound", "gap", "worst_gap")),
                    *(_cell(p["energy_by_level"].get(lv)) for lv in levels)])
    return buf.getvalue()


def _cell(x) -> str:
    return "" if x is None else repr(x) if isinstance(x, float) else str(x)


def format_sweep(data: dict) -> str:
    """The text summary: a row per point, the best points, the front, the certificate."""
    pts = data["points"]
    rows = [[p["name"], *p["params"].values(), f"{p['onchip_bytes']:,}", p["state"], fmt_num(p["energy_pj"]),
             "-" if p["cycles"] is None else f"{p['cycles']:,}", fmt_pct(p["gap"]), fmt_pct(p["worst_gap"])]
            for p in pts]
    lines = [(f"sweep {data['settings']['sweep']}: {len(pts)} points x {len(data['settings']['workloads'])} "
             f"workloads ({', '.join(data['settings']['workloads'])}), objective {data['settings']['objective']}"),
             *table(["point", *data["parameters"], "on-chip B", "state", "energy pJ", "cycles", "gap", "worst gap"],
                    rows, left=1 + len(data["parameters"])), ""]
    for objective, name in data["best"].items():
        p = next(q for q in pts if q["name"] == name)
        lines.append(f"best {objective}: {name} ({', '.join(f'{k} {v}' for k, v in p['params'].items())}): "
                     f"{fmt_num(p['energy_pj'])} pJ, {p['cycles']:,} cycles, EDP {p['edp']:.4g}, "
                     f"gap {fmt_pct(p['gap'])}")
    lines.append(f"Pareto front (energy vs {data['settings']['proxy']}): {', '.join(data['pareto']) or '-'}")
    cert = data["certificate"]
    if cert is not None:
        lines.append(certificate_text(cert, len(pts)))
    t = data["total"]
    lines.append(f"{t['layer_solves']} layer problems, {t['unique_problems']} unique: {t['solved']} solved now, "
                 f"{t['cached']} from the cache")
    return "\n".join(lines) + "\n"


def certificate_text(cert: dict, points: int) -> str:
    if cert["best"] is None:
        return "certified best design: none (no point has a mapping for every layer)"
    gap = "not certified (interrupted)" if cert["gap"] is None else f"certified gap {cert['gap']:.2%}"
    return (f"certified best design for energy: {cert['best']} ({fmt_num(cert['best_energy_pj'])} pJ), "
            f"{gap} against the space's lower bound {fmt_num(cert['space_bound_pj'])} pJ; "
            f"{cert['solved']} of {points} points solved (at the full time limit unless the short pass proved "
            f"them), {cert['pruned']} pruned "
            f"(their lower bounds after a {cert['bound_time_limit']:g} s solve exceed the best energy found)")


def _breakdown_md(data: dict) -> list[str]:
    names = list(dict.fromkeys(data["best"].values()))
    pts = {p["name"]: p for p in data["points"]}
    levels = _levels({"points": [pts[n] for n in names]})
    rows = [[lv, *(fmt_num(pts[n]["energy_by_level"].get(lv)) for n in names)] for lv in levels]
    return ["## Energy by level of the best points (pJ)", "", *table(["", *names], rows), ""]


def write_sweep_report(run: SweepRun, data: dict, out_dir: str) -> list[str]:
    """Write the report directory; returns the files written (relative names)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    remove_orphaned_temp_files([out, out / "archs"])
    files = {"sweep.json": json.dumps(data, indent=1) + "\n", "points.csv": points_csv(data),
             "summary.md": "# " + format_sweep(data) + "\n" + ("\n".join(_breakdown_md(data)) if data["best"] else "")}
    for name, text in files.items():
        atomic_write_text(out / name, text)
    for r in run.points:
        atomic_write_text(out / "archs" / f"{r.point.name}.yaml",
                          yaml.safe_dump(arch_to_obj(r.point.arch), sort_keys=False))
    written = [*files, "archs/"]
    done = [r for r in run.points if r.energy_pj is not None]
    if done and sweep_pareto_png(data, [proxy(r) for r in run.points], out / "pareto.png"):
        written.append("pareto.png")
    if data["best"] and sweep_breakdown_png(data, out / "breakdown.png"):
        written.append("breakdown.png")
    return written
