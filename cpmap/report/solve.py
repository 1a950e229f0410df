"""The report of ``cpmap solve``: the JSON object, the text report and the report
directory (docs/batch.md), from a :class:`~cpmap.network.batch.BatchResult`."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import yaml

from ..core.arch import Arch
from ..core.objectives import objective_value
from ..core.output import atomic_write_text, remove_orphaned_temp_files
from ..network.batch import BatchResult, LayerOutcome
from ..spec.mapping import mapping_to_obj
from .evaluation import format_result, partition_text
from .plots import energy_png, partition_png
from .tables import fmt_num, fmt_pct, table


def _energy_parts(result, arch: Arch) -> tuple[dict, dict, float]:
    """({level: pJ} outer to inner, {fanout: pJ}, MAC pJ) of an evaluator result."""
    bd = result.energy_breakdown
    levels = {lv: sum(bd.get(lv, {}).values()) for lv in reversed(arch.level_names)}
    return levels, dict(bd.get("network", {})), bd.get("mac", 0.0)


def _mapping_doc(mapping, layer: str) -> dict:
    return {"layer": layer, "mapping": mapping_to_obj(mapping)}


def solve_layer_json(outcome: LayerOutcome, arch: Arch) -> dict:
    """One layer of ``cpmap solve --json``: the fields of docs/batch.md."""
    sol = outcome.solution
    name = outcome.layer.name
    out: dict = {"name": name, "type": outcome.layer.problem.kind, "status": outcome.status,
                 "reason": sol.reason if sol is not None else "not solved: the run was interrupted",
                 "objective": sol.objective if sol is not None else None,
                 "value": None, "lower_bound": None, "energy_pj": None, "lower_bound_pj": None, "gap": None,
                 "cycles": None, "utilization": None, "macs": outcome.layer.problem.macs,
                 "solve_seconds": sol.solve_seconds if sol is not None else None,
                 "stopped_by": (sol.stopped_by or None) if sol is not None else None,
                 "work": sol.work if sol is not None else None,
                 "cached": outcome.cached, "same_as": outcome.same_as, "interrupted": outcome.interrupted,
                 "energy_by_level": None, "network_energy_pj": None, "mac_energy_pj": None,
                 "mapping": None, "result": None, "top": []}
    if sol is None:
        return out
    out["lower_bound"] = sol.lower_bound
    out["lower_bound_pj"] = sol.lower_bound_pj
    if sol.best is None:
        return out
    res = sol.best.result
    levels, network, mac = _energy_parts(res, arch)
    out.update(value=sol.value, energy_pj=res.energy_pj, gap=sol.gap, cycles=res.cycles,
               utilization=res.utilization, energy_by_level=levels, network_energy_pj=network,
               mac_energy_pj=mac, mapping=_mapping_doc(sol.best.mapping, name), result=res.to_json())

    for rank, cand in enumerate(sol.alternatives or (sol.best,), 1):
        out["top"].append({"rank": rank, "value": objective_value(cand.result, sol.objective),
                           "energy_pj": cand.result.energy_pj, "cycles": cand.result.cycles,
                           "utilization": cand.result.utilization,
                           "mapping": _mapping_doc(cand.mapping, name)})
    return out


def solve_json(batch: BatchResult) -> dict:
    """The whole ``cpmap solve --json`` object: ``{"layers": [...], "total": {...}}``."""
    arch = batch.plan.arch
    layers = [solve_layer_json(o, arch) for o in batch.outcomes]
    return {"layers": layers, "total": solve_totals(batch, layers)}


def solve_totals(batch: BatchResult, layers: list[dict]) -> dict:
    """Network totals over the layers that have a mapping.  ``lower_bound_pj`` (the sum of
    the layers' certified bounds) and ``gap`` are given only when every layer has a bound."""
    plan = batch.plan
    mapped = [lay for lay in layers if lay["mapping"] is not None]
    energy = sum(lay["energy_pj"] for lay in mapped)
    bounds = [lay["lower_bound_pj"] for lay in layers]
    bound = sum(bounds) if bounds and all(b is not None for b in bounds) else None
    gaps = [lay["gap"] for lay in layers if lay["gap"] is not None]
    by_level: dict = {}
    network: dict = {}
    for lay in mapped:
        for k, v in lay["energy_by_level"].items():
            by_level[k] = by_level.get(k, 0.0) + v
        for k, v in lay["network_energy_pj"].items():
            network[k] = network.get(k, 0.0) + v
    statuses: dict = {}
    for lay in layers:
        statuses[lay["status"]] = statuses.get(lay["status"], 0) + 1
    seen: set = set()
    solve_seconds = 0.0
    for o in batch.outcomes:  # each unique problem once
        if o.solution is not None and o.key not in seen:
            seen.add(o.key)
            solve_seconds += o.solution.solve_seconds
    complete = len(mapped) == len(layers)
    return {
        "workload": plan.workload.name, "arch": plan.arch.name, "objective": plan.objective,
        "encoding": plan.encoding, "time_limit": plan.time_limit, "work_limit": _work_limit(batch),
        "seed": plan.seed,
        "jobs": batch.jobs, "workers": batch.workers,
        "layers": len(layers), "unique_problems": batch.unique, "solved": batch.solved,
        "cached": batch.cache_hits, "with_mapping": len(mapped), "complete": complete,
        "interrupted": batch.interrupted, "statuses": statuses,
        "energy_pj": energy, "lower_bound_pj": bound,
        "gap": (max(0.0, (energy - bound) / energy) if energy > 0 else 0.0) if complete and bound is not None
        else None,
        "worst_gap": max(gaps) if gaps else None,
        "cycles": sum(lay["cycles"] for lay in mapped),
        "macs": sum(lay["macs"] for lay in layers),
        "energy_by_level": by_level, "network_energy_pj": network,
        "mac_energy_pj": sum(lay["mac_energy_pj"] for lay in mapped),
        "solve_seconds": solve_seconds, "wall_seconds": batch.wall_seconds,
    }


def _work_limit(batch: BatchResult) -> float | None:
    """The work limit every layer had (deterministic seconds; None: unlimited)."""
    return batch.plan.options(max(1, batch.workers)).work


def _limits(plan, t: dict) -> str:
    work = "no work limit" if t["work_limit"] is None else f"work limit {t['work_limit']:g}"
    return f"time limit {plan.time_limit:g} s, {work} per layer"


def _status_text(lay: dict) -> str:
    extra = []
    if lay["stopped_by"] and lay["stopped_by"] not in ("optimal", "infeasible"):
        extra.append(f"stopped by {lay['stopped_by'].replace('_', ' ')}")
    if lay["cached"]:
        extra.append("cached")
    if lay["same_as"]:
        extra.append(f"same problem as {lay['same_as']}")
    if lay["interrupted"]:
        extra.append("interrupted: best so far, not cached")
    return lay["status"] + (f" ({', '.join(extra)})" if extra else "")


def format_solve(batch: BatchResult, data: dict, files: dict | None = None) -> str:
    """The text report of ``cpmap solve``: per layer its status, certified gap, evaluator
    result and best mapping (as mapping YAML), then the summary table and totals.
    ``files``: {layer name: [mapping file paths]} written by :func:`write_solve_report`."""

    plan = batch.plan
    out = [(f"{plan.workload.name} on {plan.arch.name}: {len(batch.outcomes)} layer(s), "
           f"{batch.unique} unique problem(s); objective {plan.objective}, encoding {plan.encoding}, "
           f"{_limits(plan, data['total'])}")]
    for lay in data["layers"]:
        out += ["", f"== {lay['name']} ({lay['type']}): {_status_text(lay)}"
                    + (f" in {lay['solve_seconds']:.2f} s" if lay["solve_seconds"] is not None else "")]
        if lay["mapping"] is None:
            out.append(f"  no mapping: {lay['reason'] or 'none found'}")
            if lay["lower_bound"] is not None:
                out.append(f"  lower bound {fmt_num(lay['lower_bound'])}")
            continue
        per_mac = lay["energy_pj"] / lay["macs"] if lay["macs"] else 0.0
        bound = (f"lower bound {fmt_num(lay['lower_bound_pj'], ' pJ')}" if lay["objective"] == "energy"
                 else f"{lay['objective']} {fmt_num(lay['value'])}, lower bound {fmt_num(lay['lower_bound'])}")
        out.append(f"  energy {fmt_num(lay['energy_pj'], ' pJ')} ({per_mac:,.3f} pJ/MAC)  {bound}  "
                   f"gap {fmt_pct(lay['gap'])}")
        out.append(f"  cycles {lay['cycles']:,}  utilization {lay['utilization']:.1%}  MACs {lay['macs']:,}")
        total = lay["energy_pj"] or 1.0
        parts = [f"{k} {v / total:.1%}" for k, v in lay["energy_by_level"].items()]
        parts += [f"network {k} {v / total:.1%}" for k, v in lay["network_energy_pj"].items()]
        parts.append(f"MAC {lay['mac_energy_pj'] / total:.1%}")
        out.append(f"  energy by level: {', '.join(parts)}")
        paths = (files or {}).get(lay["name"], [])
        where = f" ({paths[0]})" if paths else ""
        out.append(f"  mapping{where}:")
        text = yaml.safe_dump(lay["mapping"], sort_keys=False, default_flow_style=None)
        out += ["    " + line for line in text.rstrip("\n").split("\n")]
        for alt in lay["top"][1:]:
            worse = alt["value"] / lay["value"] - 1 if lay["value"] else 0.0
            alt_where = f"  {paths[alt['rank'] - 1]}" if len(paths) >= alt["rank"] else ""
            out.append(f"  #{alt['rank']}: energy {fmt_num(alt['energy_pj'], ' pJ')}, cycles {alt['cycles']:,}, "
                       f"utilization {alt['utilization']:.1%} ({worse:+.2%} {lay['objective']}){alt_where}")
    out += ["", "Summary", *_summary_table(data)]
    return "\n".join(out) + "\n"


def _summary_rows(data: dict) -> tuple[list[str], list[list[str]]]:
    header = ["layer", "type", "status", "stop", "energy (pJ)", "lower bound (pJ)", "gap", "cycles", "util",
              "seconds"]
    rows = []
    for lay in data["layers"]:
        status = lay["status"] + ("*" if lay["cached"] else "") + ("!" if lay["interrupted"] else "")
        rows.append([lay["name"], lay["type"], status, _stop_text(lay), fmt_num(lay["energy_pj"]), fmt_num(lay["lower_bound_pj"]),
                     fmt_pct(lay["gap"]), "-" if lay["cycles"] is None else f"{lay['cycles']:,}",
                     "-" if lay["utilization"] is None else f"{lay['utilization']:.1%}",
                     "-" if lay["solve_seconds"] is None else f"{lay['solve_seconds']:.2f}"])
    t = data["total"]
    rows.append(["total", "", f"{t['with_mapping']}/{t['layers']} mapped", "", fmt_num(t["energy_pj"]),
                 fmt_num(t["lower_bound_pj"]), fmt_pct(t["gap"]), f"{t['cycles']:,}", "",
                 f"{t['solve_seconds']:.2f}"])
    return header, rows


def _stop_text(lay: dict) -> str:
    """What stopped the layer's search; ``cached`` for an answer read from the cache."""
    if lay["cached"]:
        return "cached"
    return (lay["stopped_by"] or "-").replace("_", " ")


def _summary_table(data: dict) -> list[str]:
    header, rows = _summary_rows(data)
    t = data["total"]
    notes = [(f"  worst gap {fmt_pct(t['worst_gap'])}; {t['unique_problems']} unique problem(s): "
             f"{t['solved']} solved now, {t['cached']} from the cache (*); wall time {t['wall_seconds']:.1f} s "
             f"({t['jobs']} job(s) x {t['workers']} CP-SAT worker(s))")]
    if t["interrupted"]:
        notes.append("  interrupted (!: best so far when interrupted, not cached)")
    return [*table(header, rows), *notes]


def _markdown(batch: BatchResult, data: dict) -> str:
    plan = batch.plan
    t = data["total"]
    header, rows = _summary_rows(data)
    lines = [f"# cpmap solve: {plan.workload.name} on {plan.arch.name}", "",
             f"- spec: `{plan.file}` (architecture `{plan.arch_file}`, workload `{plan.workload_file}`)",
             (f"- objective {plan.objective}, encoding {plan.encoding}, {_limits(plan, t)}, "
             f"seed {plan.seed}, {t['jobs']} job(s) x {t['workers']} CP-SAT worker(s)"),
             (f"- {t['layers']} layer(s), {t['unique_problems']} unique problem(s): {t['solved']} solved in this "
             f"run, {t['cached']} from the cache; wall time {t['wall_seconds']:.1f} s"),
             (f"- total energy {fmt_num(t['energy_pj'], ' pJ')}, certified lower bound "
             f"{fmt_num(t['lower_bound_pj'], ' pJ')}, network gap {fmt_pct(t['gap'])}, worst layer gap "
             f"{fmt_pct(t['worst_gap'])}"),
             f"- total cycles {t['cycles']:,} (layers run one after another)",
             f"- statuses: {', '.join(f'{k} {v}' for k, v in t['statuses'].items())}"]
    if plan.constraints.to_obj():
        lines.append(f"- constraints: `{plan.constraints.to_obj()}`")
    if t["interrupted"]:
        lines.append("- **interrupted**: re-run the same command to continue from the cache")
    lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += _mesh_rows(batch, data)
    lines += ["", ("`*` from the cache, `!` best so far when interrupted. Energy by level: `layers.csv`; "
              "mappings: `mappings/`; evaluator reports: `evaluations/`; all numbers: `result.json`."), ""]
    if t["energy_by_level"]:
        lines += ["| energy by level | pJ | share |", "|---|---|---|"]
        total = t["energy_pj"] or 1.0
        items = list(t["energy_by_level"].items()) + [(f"network {k}", v) for k, v in t["network_energy_pj"].items()]
        items.append(("MAC", t["mac_energy_pj"]))
        lines += [f"| {k} | {v:,.2f} | {v / total:.1%} |" for k, v in items]
        lines.append("")
    return "\n".join(lines)


def _mesh_rows(batch: BatchResult, data: dict) -> list[str]:
    """summary.md's table of each layer's partition of the mesh fanouts: loops per axis
    and their schemes, nodes used, word-hops and hop energy, static energy."""
    arch = batch.plan.arch
    meshes = [lv for lv in arch.levels if lv.fanout is not None and lv.fanout.mesh]
    if not meshes:
        return []
    lines = ["", "| layer | mesh | partition | nodes used | word-hops | hops (pJ) | static (pJ) |",
             "|---|---|---|---|---|---|---|"]
    for outcome, lay in zip(batch.outcomes, data["layers"]):
        sol = outcome.solution
        if lay["mapping"] is None or sol is None or sol.best is None:
            continue
        res = sol.best.result
        for lv in meshes:
            noc = (res.noc or {}).get(lv.fanout.name, {})
            level_mapping = next(m for m in sol.best.mapping.levels if m.level == lv.name)
            lines.append(f"| {lay['name']} | {lv.fanout.name} | {partition_text(outcome.layer.problem, level_mapping)}"
                         f" | {noc.get('nodes_used', 1)} of {lv.fanout.size} | {sum(noc.get('hops', {}).values()):,}"
                         f" | {noc.get('energy_pj', 0.0):,.2f} | {res.static_pj:,.2f} |")
    return lines


def _csv(batch: BatchResult, data: dict) -> str:

    arch = batch.plan.arch
    levels = list(reversed(arch.level_names))
    fans = [lv.fanout.name for lv in reversed(arch.levels) if lv.fanout is not None]
    header = ["layer", "type", "status", "reason", "cached", "same_as", "interrupted", "objective", "value",
              "lower_bound", "energy_pj", "lower_bound_pj", "gap", "cycles", "utilization", "macs",
              "solve_seconds", "stopped_by", "work", *[f"energy_{lv}_pj" for lv in levels],
              *[f"energy_network_{f}_pj" for f in fans], "energy_mac_pj"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for lay in data["layers"]:
        by_level = lay["energy_by_level"] or {}
        net = lay["network_energy_pj"] or {}
        w.writerow([lay["name"], lay["type"], lay["status"], lay["reason"], lay["cached"], lay["same_as"] or "",
                    lay["interrupted"], lay["objective"] or "",
                    *("" if lay[k] is None else lay[k] for k in (
                        "value", "lower_bound", "energy_pj", "lower_bound_pj", "gap", "cycles", "utilization",
                        "macs", "solve_seconds", "stopped_by", "work")),
                    *("" if lay["mapping"] is None else by_level.get(lv, 0.0) for lv in levels),
                    *("" if lay["mapping"] is None else net.get(f, 0.0) for f in fans),
                    "" if lay["mac_energy_pj"] is None else lay["mac_energy_pj"]])
    return buf.getvalue()


def _safe_name(name: str, taken: set) -> str:

    base = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "layer"
    out, i = base, 2
    while out.lower() in taken:
        out, i = f"{base}-{i}", i + 1
    taken.add(out.lower())
    return out


def write_solve_report(batch: BatchResult, data: dict, out_dir: str) -> dict:
    """Write the report directory (docs/batch.md) and return {layer: [mapping files]}.

    ``mappings/<layer>.yaml`` (the best; ``<layer>.top<k>.yaml`` the k-th best) are mapping
    files ``cpmap evaluate --mapping`` accepts; ``evaluations/<layer>.txt`` the evaluator's
    report; ``layers.csv``, ``result.json`` (the --json object), ``summary.md`` and
    ``energy.png`` (skipped with a warning when matplotlib is missing); on an architecture
    with a mesh fanout, ``partitions/<layer>.png`` (:func:`partition_png`) too."""

    root = Path(out_dir)
    remove_orphaned_temp_files([root, root / "mappings", root / "evaluations", root / "partitions"])  # of a killed earlier run
    files: dict = {}
    taken: set = set()
    arch = batch.plan.arch
    for outcome, lay in zip(batch.outcomes, data["layers"]):
        if lay["mapping"] is None:
            continue
        safe = _safe_name(lay["name"], taken)
        paths = []
        for alt in lay["top"]:
            suffix = "" if alt["rank"] == 1 else f".top{alt['rank']}"
            path = root / "mappings" / f"{safe}{suffix}.yaml"
            head = (f"# {lay['name']} on {arch.name}: rank {alt['rank']}, {lay['objective']} {alt['value']:,.6g}"
                    f" (status {lay['status']}, certified gap of the best {fmt_pct(lay['gap'])})\n")
            if batch.plan.batch is not None:
                head += (f"# solved at batch {batch.plan.batch}: evaluate it against workload "
                         f"{batch.plan.workload.name} with batch: {batch.plan.batch}\n")
            atomic_write_text(path, head + yaml.safe_dump(alt["mapping"], sort_keys=False,
                                                          default_flow_style=None))
            paths.append(str(path))
        files[lay["name"]] = paths
        sol = outcome.solution
        text = (f"status {lay['status']}; lower bound {fmt_num(lay['lower_bound'])} ({lay['objective']}); "
                f"certified gap {fmt_pct(lay['gap'])}; solved in {lay['solve_seconds']:.2f} s\n\n"
                + format_result(sol.best.result, outcome.layer.problem, arch, sol.best.mapping))
        atomic_write_text(root / "evaluations" / f"{safe}.txt", text)
        if any(lv.fanout is not None and lv.fanout.mesh for lv in arch.levels):
            (root / "partitions").mkdir(parents=True, exist_ok=True)
            partition_png(outcome.layer.problem, arch, sol.best.mapping, root / "partitions" / f"{safe}.png")
    atomic_write_text(root / "layers.csv", _csv(batch, data))
    atomic_write_text(root / "result.json", json.dumps(data, indent=1) + "\n")
    atomic_write_text(root / "summary.md", _markdown(batch, data))
    energy_png(data, batch.plan, root / "energy.png")
    return files
