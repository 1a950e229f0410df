"""``cpmap solve`` with a ``pipeline:``: the chosen segments (layers, where each intermediate
lives, batch groups), every layer's mapping, the network's energy, delay, certified bound
and gap, and the gain over layer-by-layer (text, ``pipeline.json``, ``schedule.png``)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from ..core.output import atomic_write_text
from ..core.residency import instances_above
from ..network.pipeline import Candidate, PipelineResult
from ..spec.mapping import mapping_to_obj
from .plots import schedule_png
from .tables import fmt_count, fmt_num, fmt_pct, table


def _layer_json(name: str, problem, sol, region=None) -> dict:
    best = sol.best if sol is not None else None
    return {"name": name, "region": asdict(region) if region is not None else None,
            "resident": {t: lv for t, lv in problem.resident}, "batch_share": problem.size.get("N"),
            "status": sol.status if sol is not None else "NOT_RUN",
            "reason": sol.reason if sol is not None else "",
            "energy_pj": best.result.energy_pj if best else None, "cycles": best.result.cycles if best else None,
            "lower_bound": sol.lower_bound if sol is not None else None,
            "gap": sol.gap if sol is not None else None,
            "mapping": {"layer": name, "mapping": mapping_to_obj(best.mapping)} if best else None}


def _segment_json(c: Candidate, arch) -> dict:
    v = c.variant
    regions = v.regions or (None,) * len(v.layers)
    inter = []
    for k, (a, b) in enumerate(zip(v.layers, v.layers[1:])):
        nodes = instances_above(v.arch_of(k, arch), arch.level_index(v.buffer))
        item = {"from": a, "to": b, "level": v.buffer, "instances": nodes}
        if v.spatial:  # forwarded from the producer's region to the consumer's
            item |= {"from_region": asdict(regions[k]), "to_region": asdict(regions[k + 1]),
                     "to_instances": instances_above(v.arch_of(k + 1, arch), arch.level_index(v.buffer))}
        inter.append(item)
    kind = "spatial" if v.spatial else "temporal" if len(v.layers) > 1 else "alone"
    return {"layers": list(v.layers), "kind": kind, "groups": v.groups,
            "regions": [asdict(r) for r in v.regions] if v.spatial else None, "intermediates": inter,
            "energy_pj": c.energy_pj, "exchange_pj": c.exchange_pj, "cycles": c.cycles, "lower_bound": c.bound,
            "layer_results": [_layer_json(n, p, s, r) for n, p, s, r in zip(v.layers, v.problems, c.solutions,
                                                                               regions)]}


def _mesh_shape(arch) -> list[int] | None:
    meshes = [lv.fanout.shape for lv in arch.levels if lv.fanout is not None and lv.fanout.mesh]
    return list(meshes[0]) if len(meshes) == 1 else None


def pipeline_json(r: PipelineResult) -> dict:
    o, b, plan = r.options, r.batch, r.batch.plan
    change = (None if r.cycles is None or not r.baseline_cycles else r.cycles / r.baseline_cycles - 1.0)
    return {
        "workload": plan.workload.name, "arch": plan.arch.name, "mesh": _mesh_shape(plan.arch),
        "objective": r.objective,
        "pipeline": {"mode": o.mode, "max_degree": o.max_degree, "time_overhead": o.time_overhead,
                     "batch_groups": list(o.batch_groups), "gap_target": o.gap_target,
                     "refine_rounds": o.refine_rounds},
        "segments": [_segment_json(c, plan.arch) for c in r.schedule],
        "total": {"energy_pj": r.energy_pj, "cycles": r.cycles, "value": r.value, "lower_bound": r.bound,
                  "gap": r.gap, "layer_by_layer": {"energy_pj": r.baseline_energy_pj, "cycles": r.baseline_cycles},
                  "energy_gain": r.gain, "delay_change": change, "candidates": len(r.candidates),
                  "unique_problems": b.unique, "solved": b.solved, "cached": b.cache_hits,
                  "interrupted": b.interrupted, "wall_seconds": b.wall_seconds,
                  "refinements": [asdict(x) for x in r.refinements]},
    }


def format_pipeline(data: dict, files: list[str] | None = None) -> str:
    p, t = data["pipeline"], data["total"]
    lines = [(f"{data['workload']} on {data['arch']}: {p['mode']} pipelining, max degree {p['max_degree']}, "
             f"batch groups {', '.join(map(str, p['batch_groups']))}, time overhead "
             f"{'no limit' if p['time_overhead'] is None else fmt_pct(p['time_overhead'])}; objective "
             f"{data['objective']}"),
             (f"{t['candidates']} candidate (segment, variant)s; {t['unique_problems']} unique layer problems "
             f"({t['solved']} solved now, {t['cached']} from the cache)"), ""]
    rows = []
    for k, s in enumerate(data["segments"], 1):
        rows.append([str(k), " -> ".join(s["layers"]), _regions(s), _where(s["intermediates"]), str(s["groups"]),
                     fmt_num(s["energy_pj"]), fmt_num(s["exchange_pj"]), fmt_count(s["cycles"]),
                     fmt_num(s["lower_bound"])])
    lines += table(["#", "layers", "regions", "intermediates", "groups", "energy pJ", "moves pJ", "cycles", "bound"],
                   rows, left=4)
    lines.append("")
    rows = [[lay["name"], " ".join(f"{x}@{lv}" for x, lv in lay["resident"].items()) or "-",
             str(lay["batch_share"] or "-"), lay["status"],
             fmt_num(lay["energy_pj"]), "-" if lay["cycles"] is None else fmt_count(lay["cycles"]),
             fmt_pct(lay["gap"])] for s in data["segments"] for lay in s["layer_results"]]
    lines += table(["layer", "resident", "N", "status", "energy pJ", "cycles", "gap"], rows, left=2)
    lb = t["layer_by_layer"]
    lines += ["", (f"network: energy {fmt_num(t['energy_pj'], ' pJ')}, delay "
              f"{'-' if t['cycles'] is None else fmt_count(t['cycles'])} cycles, lower bound "
              f"{fmt_num(t['lower_bound'])} ({data['objective']}), certified gap {fmt_pct(t['gap'])}"),
              (f"layer by layer: energy {fmt_num(lb['energy_pj'], ' pJ')}, delay "
              f"{'-' if lb['cycles'] is None else fmt_count(lb['cycles'])} cycles; gain: "
              f"{fmt_pct(t['energy_gain'])} less energy, delay {_signed(t['delay_change'])}")]
    lines += [_refinement_line(x) for x in t["refinements"]]
    if files:
        lines.append("report: " + ", ".join(files))
    return "\n".join(lines) + "\n"


def _refinement_line(x: dict) -> str:
    return (f"refinement {x['round']}: {x['problems']} unproved layer problem(s) solved again (limits up to "
            f"{x['factor']}x the first), {x['proved']} proved; certified gap {fmt_pct(x['gap_before'])} -> "
            f"{fmt_pct(x['gap_after'])}")


def _label(r: dict) -> str:
    return f"({r['row']},{r['col']}) {r['rows']}x{r['cols']}"


def _regions(s: dict) -> str:
    """A spatial segment's regions, layer by layer (first node, size); else the whole array."""
    return " | ".join(_label(r) for r in s["regions"]) if s.get("regions") else "whole array"


def _where(inter: list[dict]) -> str:
    """Where a segment's intermediates live (one buffer level per segment)."""
    if not inter:
        return "DRAM"
    pairs = ", ".join(f"{i['from']}->{i['to']}" for i in inter)
    if "from_region" in inter[0]:
        return f"{pairs} in {inter[0]['level']}, forwarded region to region"
    nodes = f" (each of {inter[0]['instances']} nodes its share)" if inter[0]["instances"] > 1 else ""
    return f"{pairs} in {inter[0]['level']}{nodes}"


def _signed(x: float | None) -> str:
    return "-" if x is None else f"{x:+.2%}"


def write_pipeline_report(data: dict, out_dir: str) -> list[str]:
    """``pipeline.json`` (the --json object) and ``schedule.png``; returns the paths."""
    root = Path(out_dir)
    atomic_write_text(root / "pipeline.json", json.dumps(data, indent=1) + "\n")
    png = root / "schedule.png"
    drawn = schedule_png(data, png)
    return [str(root / "pipeline.json")] + ([str(png)] if drawn else [])
