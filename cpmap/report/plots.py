"""The PNG plots of the reports (matplotlib, imported only when a plot is drawn; without
it the plot is skipped with a warning)."""

from __future__ import annotations

import contextlib
import math
import os

from ..core.output import temp_path, warn
from ..spec.solve import SolvePlan


def _pyplot(skipped: str):
    """matplotlib.pyplot on the Agg backend, or None (and a warning saying ``skipped``)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        warn(f"matplotlib is not installed; {skipped}")
        return None
    return plt


def _save(plt, fig, path, dpi: int) -> None:
    """Write the figure atomically (a temporary file, then a rename) and close it."""
    tmp = temp_path(path)
    try:
        fig.savefig(tmp, dpi=dpi, format="png")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def energy_png(data: dict, plan: SolvePlan, path) -> None:
    """Stacked energy per layer by level (outer to inner), network and MAC, of a ``cpmap
    solve`` report; skipped with a warning without matplotlib."""
    plt = _pyplot("energy.png not written")
    if plt is None:
        return
    arch = plan.arch
    names = [lay["name"] for lay in data["layers"]]
    series = [(lv, [(lay["energy_by_level"] or {}).get(lv, 0.0) for lay in data["layers"]])
              for lv in reversed(arch.level_names)]
    for lv in reversed(arch.levels):
        if lv.fanout is not None:
            f = lv.fanout.name
            series.append((f"network {f}", [(lay["network_energy_pj"] or {}).get(f, 0.0)
                                            for lay in data["layers"]]))
    series.append(("MAC", [lay["mac_energy_pj"] or 0.0 for lay in data["layers"]]))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(names) + 2), 4.5))
    bottom = [0.0] * len(names)
    for label, values in series:
        ax.bar(range(len(names)), values, bottom=bottom, label=label)
        bottom = [b + v for b, v in zip(bottom, values)]
    for i, lay in enumerate(data["layers"]):
        if lay["mapping"] is None:
            ax.text(i, 0, lay["status"], rotation=90, ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("energy (pJ)")
    ax.set_title(f"{plan.workload.name} on {plan.arch.name}: energy per layer by level")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(plt, fig, path, dpi=120)


COLORS = {"cpsat": "tab:blue", "random": "tab:orange", "ga": "tab:green", "exhaustive": "tab:purple",
          "anneal": "tab:red"}


def plot_best_so_far(data: dict, path) -> bool:
    """Best-so-far cost against wall time per method, log-log, one panel per layer, with
    CP-SAT's certified lower bound dashed.  False (and a warning) without matplotlib."""
    plt = _pyplot("the plot was not drawn")
    if plt is None:
        return False
    layers = data["layers"]
    objective = data["settings"]["objective"]
    unit = {"energy": "energy (pJ)", "delay": "cycles", "edp": "EDP (pJ x cycles)"}[objective]
    n = max(1, len(layers))
    cols = min(3, n)
    nrows = math.ceil(n / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.6 * cols, 3.5 * nrows), squeeze=False)
    for k, lay in enumerate(layers):
        ax = axes[k // cols][k % cols]
        drawn = False
        for row in lay["methods"]:
            hist = row["history"]
            if hist:
                xs = [max(h[0], 1e-4) for h in hist]
                ys = [h[2] for h in hist]
                ax.step(xs, ys, where="post", color=COLORS.get(row["method"]), label=row["method"])
                ax.plot(xs[:1], ys[:1], "o", ms=3, color=COLORS.get(row["method"]))
                drawn = drawn or all(y > 0 for y in ys)
            else:
                ax.plot([], [], color=COLORS.get(row["method"]), label=f"{row['method']}: {row['status']}")
        if lay["lower_bound"] is not None and lay["lower_bound"] > 0:
            ax.axhline(lay["lower_bound"], color="black", ls="--", lw=0.8, label="cpsat bound")
        ax.set_xscale("log")
        if drawn:
            ax.set_yscale("log")
        ax.set_title(lay["name"], fontsize=9)
        ax.set_xlabel("wall time (s)", fontsize=8)
        ax.set_ylabel(f"best {unit}", fontsize=8)
        ax.tick_params(which="both", labelsize=7)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6)
    for k in range(len(layers), nrows * cols):
        axes[k // cols][k % cols].set_visible(False)
    s = data["settings"]
    fig.suptitle(f"{s['workload']} on {s['arch']}: best-so-far {objective} vs wall time", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / (3.5 * nrows)))  # room for the title
    _save(plt, fig, path, dpi=110)
    return True


def schedule_png(data: dict, path) -> bool:
    """A pipelined schedule (``pipeline.json``'s object) against time: one bar per layer and
    batch group in cycles, segments in alternating colours; False without matplotlib."""
    plt = _pyplot("schedule.png not written")
    if plt is None:
        return False
    rows = [lay["name"] for s in data["segments"] for lay in s["layer_results"]]
    fig, ax = plt.subplots(figsize=(9.0, max(2.5, 0.35 * len(rows) + 1.5)))
    t, y = 0, 0
    for k, s in enumerate(data["segments"]):
        color = ("tab:blue", "tab:orange", "tab:green", "tab:purple")[k % 4]
        lays = s["layer_results"]
        for g in range(s["groups"]):
            for j, lay in enumerate(lays):
                c = lay["cycles"] or 0
                ax.barh(y + j, c, left=t, color=color, edgecolor="black", linewidth=0.3)
                t += c
        for j, lay in enumerate(lays):
            where = ", ".join(f"{x}@{lv}" for x, lv in lay["resident"].items())
            ax.text(0, y + j, f" {where}" if where else "", va="center", fontsize=7)
        y += len(lays)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(rows, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("cycles (layers time-multiplexed on the whole array)")
    ax.set_title(f"{data['workload']} on {data['arch']}: {len(data['segments'])} segments, "
                 f"energy {data['total']['energy_pj'] or 0:,.4g} pJ")
    fig.tight_layout()
    _save(plt, fig, path, dpi=120)
    return True


def sweep_pareto_png(data: dict, proxies: list[float], path) -> bool:
    """Energy of every design point of a sweep against its on-chip capacity (or area),
    the Pareto front joined, the best-energy point marked.  False without matplotlib."""
    plt = _pyplot("pareto.png not written")
    if plt is None:
        return False
    pts = data["points"]
    front = set(data["pareto"])
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    xs = [x for x, p in zip(proxies, pts) if p["energy_pj"] is not None]
    ys = [p["energy_pj"] for p in pts if p["energy_pj"] is not None]
    ax.scatter(xs, ys, s=14, color="tab:gray", label="design points")
    fx = [(x, p["energy_pj"]) for x, p in zip(proxies, pts) if p["name"] in front]
    ax.step([x for x, _ in fx], [y for _, y in fx], where="post", color="tab:blue", marker="o", ms=4,
            label="Pareto front")
    best = data["best"].get("energy")
    for x, p in zip(proxies, pts):
        if p["name"] == best:
            ax.plot([x], [p["energy_pj"]], "*", ms=12, color="tab:red", label=f"least energy ({best})")
    proxy = data["settings"]["proxy"]
    ax.set_xlabel("area proxy (mm2)" if proxy == "area_mm2" else "on-chip capacity (bytes)")
    ax.set_ylabel("energy (pJ)")
    if xs and min(xs) > 0 and max(xs) / min(xs) > 20:
        ax.set_xscale("log")
    ax.set_title(f"{', '.join(data['settings']['workloads'])} on {data['settings']['arch']}: energy vs {proxy}",
                 fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(plt, fig, path, dpi=120)
    return True


def sweep_breakdown_png(data: dict, path) -> bool:
    """Stacked energy by level (network and MAC included) of the best point of each
    objective of a sweep.  False without matplotlib."""
    plt = _pyplot("breakdown.png not written")
    if plt is None:
        return False
    pts = {p["name"]: p for p in data["points"]}
    names = list(dict.fromkeys(data["best"].values()))
    labels = [f"{n}\n(best {', '.join(k for k, v in data['best'].items() if v == n)})" for n in names]
    parts: list[str] = []
    for n in names:
        parts += [k for k in pts[n]["energy_by_level"] if k not in parts]
    fig, ax = plt.subplots(figsize=(max(4.5, 1.6 * len(names) + 2), 4.5))
    bottom = [0.0] * len(names)
    for part in parts:
        values = [pts[n]["energy_by_level"].get(part, 0.0) for n in names]
        ax.bar(range(len(names)), values, bottom=bottom, label=part)
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylabel("energy (pJ)")
    ax.set_title("energy by level of the best design points", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    _save(plt, fig, path, dpi=120)
    return True
