"""``cpmap solve --objective pareto``'s output: per layer the front (cycles, energy, status
and gap of each point, the knee), pareto.json, and a PNG per layer of energy against cycles
with the front and the two single-objective optima."""

from __future__ import annotations

import json
from pathlib import Path

from ..core.output import atomic_write_text, warn
from ..network.pareto import ParetoRun
from ..solve.pareto import ParetoFront, ParetoPoint
from .tables import fmt_count, fmt_num, fmt_pct, table


def _point_json(p: ParetoPoint) -> dict:
    s = p.solution
    return {"cycle_cap": p.cap, "compute_cycles": p.compute_cycles, "cycles": p.cycles, "energy_pj": p.energy_pj,
            "status": s.status, "lower_bound_pj": s.lower_bound if s.objective == "energy" else None,
            "gap": s.gap if s.objective == "energy" else None, "objective": s.objective}


def pareto_json(run: ParetoRun) -> dict:
    layers = []
    for lay, f in run.fronts:
        opt = {k: (None if sol.best is None else {"energy_pj": sol.best.result.energy_pj,
                                                  "cycles": sol.best.result.cycles,
                                                  "compute_cycles": sol.best.result.compute_cycles,
                                                  "status": sol.status})
               for k, sol in (("energy_optimum", f.energy_optimum), ("delay_optimum", f.delay_optimum))}
        layers.append({"name": lay.name, "points": [_point_json(p) for p in f.points], "knee": f.knee,
                       "reason": f.reason, **opt})
    return {"arch": run.plan.arch.name, "workload": run.plan.workload.name, "cycles": "cycles",
            "layers": layers, "interrupted": run.interrupted, "wall_seconds": run.wall_seconds}


def format_front(name: str, f: ParetoFront) -> list[str]:
    if not f.points:
        return [f"{name}: no front ({f.reason})"]
    rows = []
    for k, p in enumerate(f.points):
        s = p.solution
        gap = fmt_pct(s.gap) if s.objective == "energy" else "-"
        rows.append([("* " if k == f.knee else "  ") + str(k + 1), fmt_count(p.cycles),
                     fmt_num(p.energy_pj), "-" if p.cap is None else fmt_count(p.cap), s.status, gap])
    head = [f"{name}: {len(f.points)} points (* the knee); energy minimized under each cycle cap"]
    return head + table(["point", "cycles", "energy pJ", "cap", "status", "gap"], rows)


def format_pareto(run: ParetoRun, files: dict[str, str]) -> str:
    lines, seen = [], set()
    for lay, f in run.fronts:
        if id(f) in seen:
            lines.append(f"{lay.name}: same layer as an earlier one, same front")
            continue
        seen.add(id(f))
        lines += format_front(lay.name, f) + [""]
    if files:
        lines.append("report: " + ", ".join(files))
    return "\n".join(lines) + "\n"


def write_pareto_report(run: ParetoRun, out_dir: str) -> dict[str, str]:
    """pareto.json and pareto-<layer>.png (when matplotlib is there) in ``out_dir``."""
    out = Path(out_dir)
    files = {"pareto.json": str(out / "pareto.json")}
    atomic_write_text(out / "pareto.json", json.dumps(pareto_json(run), indent=1) + "\n")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        warn("matplotlib is not installed: the Pareto plots are skipped")
        return files
    done = set()
    for lay, f in run.fronts:
        if id(f) in done or not f.points:
            continue
        done.add(id(f))
        path = out / f"pareto-{_safe(lay.name)}.png"
        _plot(plt, lay.name, f, path)
        files[path.name] = str(path)
    return files


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _plot(plt, name: str, f: ParetoFront, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4.2))
    xs, ys = [p.cycles for p in f.points], [p.energy_pj for p in f.points]
    ax.step(xs, ys, where="post", color="tab:blue", alpha=0.4)
    ax.plot(xs, ys, "o", color="tab:blue", label="front (energy optimum under a cycle cap)")
    if f.knee is not None:
        ax.plot([xs[f.knee]], [ys[f.knee]], "*", ms=16, color="tab:orange", label="knee")
    for sol, marker, label in ((f.energy_optimum, "s", "energy optimum"), (f.delay_optimum, "D", "delay optimum")):
        if sol.best is not None:
            ax.plot([sol.best.result.cycles], [sol.best.result.energy_pj], marker, mfc="none", ms=11,
                    color="black", label=label)
    every = xs + [s.best.result.cycles for s in (f.energy_optimum, f.delay_optimum) if s.best is not None]
    if max(every) > 10 * min(every):  # a log axis only when the cycles span a decade or more
        ax.set_xscale("log")
    ax.set_xlabel("cycles")
    ax.set_ylabel("energy (pJ)")
    ax.set_title(f"{name}: energy-delay front")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
