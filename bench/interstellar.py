"""Interstellar's studies reproduced with ``cpmap sweep`` (issue 16, items 4-5;
docs/interstellar.md compares every number with the paper).

Yang et al., "DNN Dataflow Choice Is Overrated" (arXiv 1809.04070; ASPLOS'20 as
"Interstellar"), on the paper's 16 x 16 PE baseline (specs/interstellar.yaml), energies per
16-bit access from Table IV (the sweep's default energy table).  One command per study:

    python bench/interstellar.py dataflow [--quick]   # 21 two-loop dataflows, Observation 1
    python bench/interstellar.py sizing   [--quick]   # RF x buffer on AlexNet (+ item 5 figures)
    python bench/interstellar.py rf2      [--quick]   # a second register-file level
    python bench/interstellar.py suite    [--quick]   # optimizer (--prune) vs the C|K baseline
    python bench/interstellar.py all      [--quick]

Options: ``--time-limit S`` (wall seconds per layer solve, generous: the deterministic
``--work-limit W`` is meant to stop every solve, so answers are identical on any machine;
each layer's ``stopped_by`` is counted in the output), ``--jobs N`` (parallel solves,
default the cores), ``--rerun`` (sizing: solve again from the warm cache), ``--out DIR``
(default bench/results; ``--quick`` writes ``*-quick.json``).  Every run starts from an
empty cache (a temporary directory), records the commit and the load average, and prints a
table.  Wall-clock seconds mean something only on an idle machine; the CP-SAT
deterministic work (``work``, summed over the layer solves) does not depend on the load.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _machine import git_commit, loadavg

from cpmap.network.cache import Cache
from cpmap.network.sweep import run_sweep
from cpmap.report.tables import table
from cpmap.spec.sweep import load_sweep_spec

ARCH = str(ROOT / "specs" / "interstellar.yaml")
ALEXNET = str(ROOT / "models" / "alexnet.yaml")
MOBILENET = str(ROOT / "models" / "mobilenet_v1.yaml")
ALEXNET_MAC_LAYERS = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc1", "fc2", "fc3"]
"""The layers the paper's AlexNet energies count: CONV and FC (pooling carries no MACs and
is not part of its model)."""
CK = {"GBUF": "C|K"}
"""The Eyeriss-like C|K dataflow: input channels C on the array's Y axis, output channels K
on X, as a required dataflow (docs/specs.md, ``constraints.dataflow``)."""
PAPER_LOOPS = {"FX": "S", "FY": "R", "X": "Q", "Y": "P", "C": "C", "K": "K", "N": "N"}
"""The paper's seven conv loops (Halide names) and cpmap's dims: 7 choose 2 = 21 unordered
pairs, one loop per axis of the square array (the paper counts C|K and K|C once)."""
TABLE_VI = {"alexnet": 16, "vgg16": 16, "googlenet": 16, "mobilenet_v1": 16, "lstm_m": 128, "lstm_l": 128,
            "rhn": 128, "mlp_m": 128, "mlp_l": 128}


# --------------------------------------------------------------------------- running sweeps


def sweep(work: Path, name: str, workloads: list, vary: dict, args, **extra) -> dict:
    """Write a sweep file, run it from an empty cache, return its points as plain data."""
    body = {"arch": arch_file(work, args), "workloads": workloads, "vary": vary, "time_limit": args.time_limit,
            "work_limit": args.work_limit, "workers": 1, "seed": 0, "output": str(work / name / "out")}
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"sweep": body}, sort_keys=False))
    spec = load_sweep_spec(str(path))
    cache = Cache(Path(args.cache) / name if args.cache else work / name / "cache")
    load, t0, cpu0 = loadavg(), time.perf_counter(), cpu_seconds()
    result = run_sweep(spec, jobs=args.jobs, cache=cache, **extra)
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    rerun = None
    if getattr(args, "rerun", False) and not extra:
        t1 = time.perf_counter()
        again = run_sweep(spec, jobs=args.jobs, cache=cache)
        rerun = {"wall_seconds": time.perf_counter() - t1, "from_cache": again.cached, "solved": again.solved}
    return {"spec": spec, "result": result, "wall_seconds": wall, "cpu_seconds": cpu, "loadavg_before": load,
            "loadavg_after": loadavg(), "rerun": rerun}


def arch_file(work: Path, args) -> str:
    """specs/interstellar.yaml, or with ``--noc-pj`` a copy whose array network costs that
    many pJ per word delivered to a PE (the base file's 0.12 pJ is cpmap's choice, not the
    paper's: a sensitivity check)."""
    if args.noc_pj is None:
        return ARCH
    arch = yaml.safe_load(Path(ARCH).read_text())
    for level in arch["architecture"]["levels"]:
        if "fanout" in level:
            level["fanout"]["energy_pj_per_word"] = args.noc_pj
    path = work / "interstellar-noc.yaml"
    path.write_text(yaml.safe_dump(arch, sort_keys=False))
    return str(path)


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and its finished children (the pool's
    solver processes): unlike wall time, it hardly depends on the machine's load; divided by
    the cores it estimates the wall time of the same run on an idle machine."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def layer_rows(batch) -> list[dict]:
    out = []
    for o in batch.outcomes:
        s = o.solution
        best = s.best.result if s is not None and s.best is not None else None
        out.append({"layer": o.layer.name, "status": o.status, "energy_pj": best.energy_pj if best else None,
                    "cycles": best.cycles if best else None, "utilization": best.utilization if best else None,
                    "lower_bound_pj": s.lower_bound if s is not None else None,
                    "gap": s.gap if s is not None else None, "work": s.work if s is not None else 0.0,
                    "stopped_by": s.stopped_by if s is not None else "", "reason": s.reason if s else "",
                    "cached": o.cached})
    return out


def point_record(r) -> dict:
    return {"name": r.point.name, "params": list(r.point.params), "onchip_bytes": r.point.onchip_bytes,
            "state": r.state, "energy_pj": r.energy_pj, "cycles": r.cycles, "lower_bound_pj": r.lower_bound,
            "gap": r.gap, "worst_gap": r.worst_gap, "energy_by_level_pj": r.energy_by_level,
            "networks": [layer_rows(b) for b in r.batches]}


def run_record(name: str, run: dict, args) -> dict:
    res = run["result"]
    layers = [lr for r in res.points for b in r.batches for lr in layer_rows(b)]
    stops: dict = {}
    for lr in layers:
        if not lr["cached"]:
            stops[lr["stopped_by"]] = stops.get(lr["stopped_by"], 0) + 1
    return {"benchmark": f"interstellar-{name}", **git_commit(ROOT), "quick": args.quick, "noc_pj": args.noc_pj,
            "cache": args.cache,
            "time_limit": args.time_limit, "work_limit": args.work_limit, "jobs": args.jobs,
            "wall_seconds": run["wall_seconds"], "cpu_seconds": run["cpu_seconds"], "loadavg_before": run["loadavg_before"],
            "loadavg_after": run["loadavg_after"], "layer_problems": res.layer_solves, "unique_problems": res.unique,
            "solved": res.solved, "from_cache": res.cached, "rerun": run["rerun"],
            "work_seconds": sum(lr["work"] for lr in layers if not lr["cached"]), "stopped_by": stops,
            "points": [point_record(r) for r in res.points]}


def write(record: dict, args, name: str) -> None:
    tag = ("-quick" if args.quick else "") + ("" if args.noc_pj is None else f"-noc{args.noc_pj:g}")
    out = Path(args.out) / f"interstellar-{name}{tag}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1, default=str) + "\n")
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}\n")


def footer(rec: dict) -> str:
    return (f"{rec['layer_problems']} layer problems, {rec['unique_problems']} unique, work "
            f"{rec['work_seconds']:.1f} det. s, stopped by {rec['stopped_by']}, CPU {rec['cpu_seconds']:.1f} s, "
            f"wall {rec['wall_seconds']:.1f} s "
            f"(load {rec['loadavg_before']})")


def pj(x) -> str:
    return "-" if x is None else f"{x / 1e6:,.2f}"


def pct(x) -> str:
    return "-" if x is None else f"{x:.2%}"


# --------------------------------------------------------------------------- study 1: dataflows


def dataflows(dw: bool) -> list[tuple[str, str]]:
    """(paper label, cpmap dataflow string) of the 21 pairs; on a depthwise layer the
    paper's channel loop C is cpmap's group dim G (one channel per group) and K is 1."""
    dims = dict(PAPER_LOOPS, C="G") if dw else PAPER_LOOPS
    return [(f"{a}|{b}", f"{dims[a]}|{dims[b]}") for a, b in itertools.combinations(PAPER_LOOPS, 2)]


def dataflow_entries(args, variants) -> tuple[list, list]:
    """(sweep workload entries, what each is) of the dataflow study for ``variants``."""
    layers = [("AlexNet CONV3", ALEXNET, "conv3", False), ("MobileNet CONV14 (dw)", MOBILENET, "conv14", True),
              ("MobileNet CONV15 (pw)", MOBILENET, "conv15", False)]
    if args.quick:
        layers = layers[:1]
    entries, meta = [], []
    for label, file, layer, dw in layers:
        flows = [("free", None), *dataflows(dw)]
        if not dw:
            flows.append(("K|C", "K|C"))  # the orientation check: the square array is symmetric
        if args.quick:
            flows = [f for f in flows if f[0] in ("free", "C|K", "FX|FY", "K|C")]
        all_dims = sorted(set(PAPER_LOOPS.values()) | ({"G"} if dw else set()))
        for (variant, floor), (name, flow) in itertools.product(variants, flows):
            if name == "free" and variant == "replicated":
                continue  # the same problem as exact/free
            cons: dict = {"min_utilization": floor} if floor else {}
            if flow:
                cons["dataflow"] = {"GBUF": flow}
                if variant == "replicated":
                    cons["spatial"] = {"GBUF": {"Y": all_dims, "X": all_dims}}
            entries.append({"workload": file, "batch": 16, "layers": [layer], "constraints": cons})
            meta.append({"layer": label, "dataflow": name, "cpmap": flow or "-", "variant": variant,
                         "min_utilization": floor})
    return entries, meta


def study_dataflow(work: Path, args) -> dict:
    # (variant, utilization floor): "exact" unrolls only the two loops; "replicated" also lets
    # each axis unroll other loops besides its required one (Eyeriss-style replication)
    variants = [("exact", 0.75), ("replicated", 0.75)] + ([("exact", 0.0)] if args.no_floor else [])
    rows, recs = [], []
    for rf in ["512 B"] if args.quick else ["512 B", "64 B"]:
        # the 64 B RF: exact dataflows only unless --replicated-64 (the replicated spaces are
        # the slow ones; the 2-core machine under load could not fit both in the time we had)
        mine = variants if rf == "512 B" or args.replicated_64 else [v for v in variants if v[0] == "exact"]
        entries, meta = dataflow_entries(args, mine)
        run = sweep(work, f"dataflow-{rf.replace(' ', '')}", entries, {"capacity": {"RF": [rf],
                                                                                    "GBUF": ["128 KiB"]}}, args)
        rec = run_record("dataflow", run, args)
        recs.append(rec)
        for m, net in zip(meta, rec["points"][0]["networks"]):
            lr = net[0]
            rows.append({**m, "rf": rf, **{k: lr[k] for k in ("status", "energy_pj", "utilization", "gap", "reason",
                                                             "work", "stopped_by", "cached")}})
    rec = {**recs[0], "runs": [{k: r[k] for k in ("wall_seconds", "cpu_seconds", "loadavg_before", "loadavg_after",
                                                  "layer_problems", "unique_problems", "solved", "from_cache",
                                                  "work_seconds", "stopped_by")} for r in recs]}
    for k in ("layer_problems", "unique_problems", "solved", "from_cache", "work_seconds", "wall_seconds",
              "cpu_seconds"):
        rec[k] = sum(r[k] for r in recs)
    rec["stopped_by"] = {}
    for r in recs:
        for k, v in r["stopped_by"].items():
            rec["stopped_by"][k] = rec["stopped_by"].get(k, 0) + v
    rec["loadavg_after"] = recs[-1]["loadavg_after"]
    summary = []
    frees = {(r["rf"], r["layer"], r["min_utilization"]): r for r in rows if r["dataflow"] == "free"}
    for (rf_size, label, variant, floor), group in itertools.groupby(
            rows, key=lambda r: (r["rf"], r["layer"], r["variant"], r["min_utilization"])):
        group = list(group)
        free = frees[(rf_size, label, floor)]
        two = [r for r in group if r["dataflow"] not in ("free", "K|C") and r["energy_pj"] is not None]
        lo = min(two, key=lambda r: r["energy_pj"], default=None)
        hi = max(two, key=lambda r: r["energy_pj"], default=None)
        within = sum(1 for r in two if free["energy_pj"] and r["energy_pj"] <= 1.1 * free["energy_pj"])
        summary.append([rf_size, label, variant, f"{floor:.0%}", pj(free["energy_pj"]), f"{len(two)}/21",
                        f"{lo['dataflow']} {pj(lo['energy_pj'])}" if lo else "-",
                        f"{hi['dataflow']} {pj(hi['energy_pj'])}" if hi else "-",
                        f"{hi['energy_pj'] / lo['energy_pj']:.2f}x" if lo else "-",
                        f"{lo['energy_pj'] / free['energy_pj']:.3f}" if lo and free["energy_pj"] else "-",
                        str(within)])
    print("\n".join(table(["RF", "layer", "unrolls", "util >=", "free uJ", "feasible", "best 2-loop uJ", "worst uJ",
                           "spread", "best/free", "<=1.1x free"], summary, left=4)))
    print(footer(rec))
    rec["rows"] = rows
    rec["summary"] = summary
    rec.pop("points")  # every number is in rows
    return rec


# --------------------------------------------------------------------------- study 2: RF x buffer


def alexnet_entry(args, dataflow: dict | None = CK) -> dict:
    entry: dict = {"workload": ALEXNET, "batch": 16, "layers": ["conv3"] if args.quick else ALEXNET_MAC_LAYERS}
    if dataflow:
        entry["constraints"] = {"dataflow": dataflow}
    return entry


def study_sizing(work: Path, args) -> dict:
    rf = [16, 64, 512] if args.quick else [16, 32, 64, 128, 256, 512]
    buffers = [128, 256] if args.quick else [32, 64, 128, 256, 512]
    rf = [int(x) for x in args.rf.split(",")] if args.rf else rf
    buffers = [int(x) for x in args.buffer.split(",")] if args.buffer else buffers
    vary = {"capacity": {"RF": [f"{b} B" for b in rf], "GBUF": [f"{k} KiB" for k in buffers]}}
    run = sweep(work, "sizing", [alexnet_entry(args)], vary, args)
    rec = run_record("rf-buffer", run, args)
    pts = {tuple(p["params"]): p for p in rec["points"]}
    base = pts.get(("512 B", "128 KiB"), {}).get("energy_pj")
    rows = []
    for p in rec["points"]:
        e = p["energy_pj"]
        rows.append([p["name"], *p["params"], p["state"], pj(e), pct(p["gap"]),
                     f"{base / e:.2f}x" if base and e else "-"])
    print("\n".join(table(["point", "RF", "buffer", "state", "energy uJ", "gap", "gain vs 512 B/128 KB"], rows,
                          left=3)))
    best_per_buffer = []
    for k in buffers:
        cands = [pts[(f"{b} B", f"{k} KiB")] for b in rf if pts[(f"{b} B", f"{k} KiB")]["energy_pj"]]
        b = min(cands, key=lambda p: p["energy_pj"], default=None)
        best_per_buffer.append({"buffer": f"{k} KiB", "best_rf": b["params"][0] if b else None,
                                "energy_pj": b["energy_pj"] if b else None})
    print("best RF per buffer: " + ", ".join(f"{x['buffer']}: {x['best_rf']} {pj(x['energy_pj'])} uJ"
                                             for x in best_per_buffer))
    rec["gain_baseline_energy_pj"] = base
    rec["best_per_buffer"] = best_per_buffer
    dedupe = rec["layer_problems"] - rec["unique_problems"]
    cores = min(args.jobs or os.cpu_count() or 1, os.cpu_count() or 1)
    print(f"item 5: {len(rec['points'])} points, {rec['layer_problems']} layer problems, "
          f"{rec['unique_problems']} unique after dedupe (dedupe saved {dedupe} solves), "
          f"{rec['solved']} solved from an empty cache in {rec['wall_seconds']:.1f} s wall "
          f"(target: the 30-point grid in under 900 s: "
          f"{('met' if rec['wall_seconds'] < 900 else 'missed') if len(rec['points']) == 30 else 'not this grid'}; "
          f"jobs {args.jobs or 'all cores'}, load {rec['loadavg_before']} -> {rec['loadavg_after']}), "
          f"CP-SAT work {rec['work_seconds']:.1f} det. s, CPU {rec['cpu_seconds']:.1f} s (/ {cores} cores = "
          f"{rec['cpu_seconds'] / cores:.0f} s: the wall time of this run on an idle machine, roughly)")
    if rec["rerun"]:
        rr = rec["rerun"]
        print(f"item 5: re-run from the warm cache {rr['wall_seconds']:.1f} s ({rr['from_cache']} of "
              f"{rec['unique_problems']} answers from the cache, {rr['solved']} solved; the cache saved "
              f"{rec['wall_seconds'] - rr['wall_seconds']:.1f} s)")
    print(footer(rec))
    return rec


# --------------------------------------------------------------------------- study 3: two RF levels


def study_rf2(work: Path, args) -> dict:
    rf = [64, 128] if args.quick else [64, 128, 256]
    inner = [None, 16] if args.quick else [None, 16, 32]
    buffers = [int(x) for x in args.buffer.split(",")] if args.buffer else [256]  # the paper's best buffer
    vary = {"capacity": {"RF": [f"{b} B" for b in rf], "GBUF": [f"{k} KiB" for k in buffers]},
            "extra_level": {"name": "RF0", "inside": "RF", "sizes": [None if s is None else f"{s} B" for s in inner]}}
    run = sweep(work, "rf2", [alexnet_entry(args)], vary, args)
    rec = run_record("rf2", run, args)
    rows = []
    for p in rec["points"]:
        conv = sum(lr["energy_pj"] or 0 for lr in p["networks"][0] if lr["layer"].startswith("conv"))
        p["conv_energy_pj"] = conv
        rows.append([p["name"], *p["params"], p["state"], pj(p["energy_pj"]), pj(conv), pct(p["gap"])])
    print("\n".join(table(["point", "RF", "buffer", "RF0", "state", "total uJ", "CONV uJ", "gap"], rows, left=4)))
    done = [p for p in rec["points"] if p["energy_pj"]]
    one = [p for p in done if p["params"][2] == "none"]  # the sweep's label of a point without RF0
    two = [p for p in done if p not in one]
    for what in ("energy_pj", "conv_energy_pj"):
        b1 = min(one, key=lambda p: p[what], default=None)
        b2 = min(two, key=lambda p: p[what], default=None)
        if b1 and b2:
            rec[f"best_one_level_{what}"] = {"point": b1["params"], what: b1[what]}
            rec[f"best_two_level_{what}"] = {"point": b2["params"], what: b2[what]}
            print(f"{what}: best one level {b1['params']} {pj(b1[what])} uJ, best two levels {b2['params']} "
                  f"{pj(b2[what])} uJ: {1 - b2[what] / b1[what]:.1%} less")
    print(footer(rec))
    return rec


# --------------------------------------------------------------------------- study 4: the suite


def study_suite(work: Path, args) -> dict:
    nets = ["alexnet", "mlp_m"] if args.quick else args.networks.split(",")
    rf = ["32 B", "64 B"] if args.quick else ["16 B", "32 B", "64 B"]
    buffers = ["128 KiB"] if args.quick else ["128 KiB", "256 KiB"]
    rows, nets_out = [], []
    for net in nets:
        entry = {"workload": str(ROOT / "models" / f"{net}.yaml"), "batch": TABLE_VI[net]}
        if args.quick and net == "alexnet":
            entry["layers"] = ["conv3", "fc3"]
        base = sweep(work, f"{net}-baseline", [{**entry, "constraints": {"dataflow": CK}}],
                     {"capacity": {"RF": ["512 B"], "GBUF": ["128 KiB"]}}, args)
        opt = sweep(work, f"{net}-opt", [entry], {"capacity": {"RF": rf, "GBUF": buffers}}, args, prune=True)
        brec, orec = run_record(f"{net}-baseline", base, args), run_record(f"{net}-opt", opt, args)
        cert = opt["result"].certificate
        b = brec["points"][0]
        best = next((p for p in orec["points"] if p["name"] == cert.best), None) if cert else None
        gain = b["energy_pj"] / best["energy_pj"] if best and b["energy_pj"] else None
        rows.append([net, str(TABLE_VI[net]), b["state"], pj(b["energy_pj"]), pct(b["gap"]),
                     " / ".join(best["params"]) if best else "-", pj(best["energy_pj"]) if best else "-",
                     pct(cert.gap) if cert else "-", f"{cert.pruned}/{len(orec['points'])}" if cert else "-",
                     f"{gain:.2f}x" if gain else "-"])
        nets_out.append({"network": net, "batch": TABLE_VI[net], "baseline": brec, "optimizer": orec,
                         "certificate": None if cert is None else {
                             "best": cert.best, "best_energy_pj": cert.best_energy_pj,
                             "space_bound_pj": cert.space_bound_pj, "gap": cert.gap, "solved": cert.solved,
                             "pruned": cert.pruned, "bound_time_limit": cert.bound_time_limit},
                         "gain": gain})
        print(f"{net}: baseline {footer(brec)}; optimizer {footer(orec)}", flush=True)
        record = {"benchmark": "interstellar-suite", **git_commit(ROOT), "quick": args.quick, "rf": rf,
                  "buffers": buffers, "rows": rows, "networks": nets_out}
        write(record, args, "suite")  # after every network: a long run keeps what finished
    print("\n".join(table(["network", "batch", "baseline", "C|K 512 B/128 KB uJ", "gap", "best design",
                           "best uJ", "certified gap", "pruned", "gain"], rows, left=2)))
    return record


STUDIES = {"dataflow": study_dataflow, "sizing": study_sizing, "rf2": study_rf2, "suite": study_suite}
OUT_NAMES = {"dataflow": "dataflow", "sizing": "rf-buffer", "rf2": "rf2", "suite": "suite"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study", choices=[*STUDIES, "all"])
    ap.add_argument("--quick", action="store_true", help="a few points and layers: checks that it runs")
    ap.add_argument("--time-limit", type=float, default=900.0,
                    help="wall seconds per layer solve (default 900: generous, the work limit should stop first)")
    ap.add_argument("--work-limit", type=float, default=20.0,
                    help="CP-SAT deterministic seconds per layer solve (default 20)")
    ap.add_argument("--jobs", type=int, default=None, help="parallel solves (default: the cores)")
    ap.add_argument("--rerun", action="store_true", help="sizing: run again from the warm cache (item 5)")
    ap.add_argument("--networks", default=",".join(TABLE_VI), help="suite: comma-separated models/ names")
    ap.add_argument("--noc-pj", type=float, default=None,
                    help="pJ per word on the PE array network instead of the arch's 0.12 (sensitivity)")
    ap.add_argument("--no-floor", action="store_true",
                    help="dataflow: also solve each exact dataflow without the utilization floor")
    ap.add_argument("--replicated-64", action="store_true",
                    help="dataflow: the replicated variant on the 64 B RF too (slow)")
    ap.add_argument("--cache", default=None,
                    help="a cache directory to use instead of an empty one (resume an interrupted run)")
    ap.add_argument("--rf", default=None, help="sizing: RF sizes in bytes, e.g. 32,64,512")
    ap.add_argument("--buffer", default=None, help="sizing, rf2: buffer sizes in KiB, e.g. 128,256")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args()
    for name in STUDIES if args.study == "all" else [args.study]:
        print(f"== {name}", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            rec = STUDIES[name](Path(tmp), args)
        write(rec, args, OUT_NAMES[name])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
