"""The PNG plots of the reports (matplotlib, imported only when a plot is drawn; without
it the plot is skipped with a warning)."""

from __future__ import annotations

import contextlib
import itertools
import math
import os

from ..core.output import temp_path, warn
from ..spec.solve import SolvePlan
from .evaluation import partition_text


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
    """Stacked energy per layer by level (outer to inner), network, mesh hops, static and
    MAC, of a ``cpmap solve`` report; skipped with a warning without matplotlib."""
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
    for lv in reversed(arch.levels):
        if lv.fanout is not None and lv.fanout.mesh:
            f = lv.fanout.name
            series.append((f"hops {f}", [((lay["result"] or {}).get("noc") or {}).get(f, {}).get("energy_pj", 0.0)
                                         for lay in data["layers"]]))
    if arch.static_pj_per_cycle:
        series.append(("static", [(lay["result"] or {}).get("static_pj", 0.0) for lay in data["layers"]]))
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
    batch group in cycles, segments in alternating colours (with a spatial segment: the
    nodes of the mesh against time, :func:`_node_schedule`); False without matplotlib."""
    plt = _pyplot("schedule.png not written")
    if plt is None:
        return False
    if data.get("mesh") and any(s.get("regions") for s in data["segments"]):
        return _node_schedule(plt, data, path)
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


def _node_schedule(plt, data: dict, path) -> bool:
    """Layers against node regions and time: one row per node of the mesh (row-major), a
    bar per layer and batch group over the nodes of its region (the whole mesh for a
    temporal segment or a layer alone).  A spatial segment's group ``j`` enters stage ``k``
    at the sum of the earlier stages' times plus ``j`` x the slowest stage (the delay
    model of docs/pipeline.md)."""
    rows, cols = data["mesh"]
    whole = {"row": 0, "col": 0, "rows": rows, "cols": cols}
    fig, ax = plt.subplots(figsize=(10.0, max(3.0, 0.3 * rows * cols + 1.5)))
    t = 0
    for k, s in enumerate(data["segments"]):
        color = ("tab:blue", "tab:orange", "tab:green", "tab:purple")[k % 4]
        lays = s["layer_results"]
        cyc = [lay["cycles"] or 0 for lay in lays]
        bars = []  # (region, start, length, layer name)
        if s.get("regions"):
            for j in range(s["groups"]):
                bars += [(r, t + sum(cyc[:i]) + j * max(cyc), c, lay["name"])
                         for i, (r, c, lay) in enumerate(zip(s["regions"], cyc, lays))]
        else:
            start = t
            for _ in range(s["groups"]):
                for c, lay in zip(cyc, lays):
                    bars.append((whole, start, c, lay["name"]))
                    start += c
        for reg, start, length, name in bars:
            for r in range(reg["row"], reg["row"] + reg["rows"]):  # a band of columns: one bar per node row
                mid = r * cols + reg["col"] + (reg["cols"] - 1) / 2  # the row's nodes are consecutive
                ax.barh(mid, length, height=reg["cols"] - 0.1, left=start, color=color, edgecolor="black",
                        linewidth=0.3)
                if length:
                    ax.text(start + length / 2, mid, name, ha="center", va="center", fontsize=6)
        t += s["cycles"] or 0
    ax.set_yticks(range(rows * cols))
    ax.set_yticklabels([f"({r},{c})" for r in range(rows) for c in range(cols)], fontsize=7)
    ax.invert_yaxis()
    ax.set_ylabel("node (row, column)")
    ax.set_xlabel("cycles (spatial segments: layers on node regions at once; others: the whole mesh)")
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


def partition_png(problem, arch, mapping, path, level: str | None = None) -> bool:
    """The node array of a mesh fanout (the first, or the one below ``level``) under
    ``mapping``: one square per node at its (row, column), labelled with the loop indices
    it holds (docs/cost-model.md section 10: mixed radix, the first loop listed on an axis
    the outer digit), coloured by them (nodes holding the same row loops share a hue, the
    column loops shade it), idle nodes grey, memory channels marked.  False (and a
    warning) without matplotlib or without a mesh."""
    from ..cost.noc import node_of  # the one definition of which node holds which index

    lv = next((x for x in arch.levels if x.fanout is not None and x.fanout.mesh
               and (level is None or x.name == level)), None)
    if lv is None:
        warn(f"{arch.name} has no mesh fanout{'' if level is None else ' below ' + level}; no partition plot")
        return False
    plt = _pyplot(f"{path} not written")
    if plt is None:
        return False
    fanout = lv.fanout
    rows, cols = fanout.shape
    spatial = next((m.spatial for m in mapping.levels if m.level == lv.name), ())
    loops = [(axis, d, f) for axis, ls in spatial for d, f in ls]
    held = {}
    for index in itertools.product(*(range(f) for _, _, f in loops)):
        held[node_of(fanout, spatial, index)] = index
    row_axis = fanout.axes[0][0]
    n_row = math.prod(f for axis, _, f in loops if axis == row_axis)
    n_col = math.prod(f for axis, _, f in loops if axis != row_axis)
    cmap = plt.get_cmap("tab10" if n_row <= 10 else "hsv")
    fig, ax = plt.subplots(figsize=(1.3 * cols + 1.5, 1.1 * rows + 1.4))
    for r in range(rows):
        for c in range(cols):
            index = held.get((r, c))
            if index is None:
                color, label = "0.88", "idle"
            else:
                base = cmap(r / n_row if n_row > 10 else r)
                shade = 0.35 + 0.65 * (1 - (c % n_col) / n_col)
                color = tuple(1 - shade * (1 - x) for x in base[:3])
                label = _index_label(loops, index, row_axis)
            ax.add_patch(plt.Rectangle((c + 0.04, r + 0.04), 0.92, 0.92, facecolor=color, edgecolor="0.3"))
            ax.text(c + 0.5, r + 0.5, label, ha="center", va="center", fontsize=8)
    for k, (r, c) in enumerate(lv.memory.coordinates(rows, cols) if lv.memory is not None else ()):
        ax.plot(c + 0.14, r + 0.16, marker="s", color="black", markersize=6)
        if k == 0:
            ax.plot([], [], "s", color="black", label=f"memory channel ({lv.memory.placement})")
    ax.set_xlim(0, cols)
    ax.set_ylim(rows, 0)
    ax.set_aspect("equal")
    ax.set_xticks([c + 0.5 for c in range(cols)], [str(c) for c in range(cols)])
    ax.set_yticks([r + 0.5 for r in range(rows)], [str(r) for r in range(rows)])
    axes = partition_text(problem, next((m for m in mapping.levels if m.level == lv.name), None) or mapping.levels[-1])
    ax.set_xlabel(f"{fanout.axes[1][0]} (columns)")
    ax.set_ylabel(f"{fanout.axes[0][0]} (rows)")
    used = math.prod(f for _, _, f in loops)
    ax.set_title(f"{problem.name} ({problem.kind}) on {arch.name}, {fanout.name} below {lv.name}\n"
                 f"{axes}; {used} of {fanout.size} nodes used",
                 fontsize=9)
    if lv.memory is not None:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize=7, frameon=False)
    fig.tight_layout()
    _save(plt, fig, path, dpi=120)
    return True


def _index_label(loops, index, row_axis: str) -> str:
    """``K1 C0`` on one line per axis: the loop indices a node holds."""
    parts = {True: [], False: []}
    for (axis, d, _), i in zip(loops, index):
        parts[axis == row_axis].append(f"{d}{i}")
    return "\n".join(" ".join(p) for p in (parts[True], parts[False]) if p)
