"""Layer-by-layer against inter-layer pipelining (the segment ILP, docs/pipeline.md) on whole
networks, each run from an empty cache, beside nn_dataflow 2.1's inter-layer pipelining.

    python bench/pipeline.py [--networks alexnet,vgg16] [--batch 16] [--runs RUN,...]
                             [--time-limit 10] [--max-degree 4] [--groups 1,2,4,8,16] [--regions all]
                             [--layers A,B,...] [--jobs N] [--nnd reuse|run|skip] [--nnd-python PY]
                             [--nnd-configs layer_by_layer,interlayer,save_writeback] [--nnd-processes 2]
                             [--out bench/results/pipeline.json]

**cpmap runs.**  ``--runs`` lists ``ARCH:MODE`` pairs (default :data:`RUNS`): ``ARCH`` a spec
under specs/ without ``.yaml``, ``MODE`` a ``pipeline:`` mode (none = layer by layer,
temporal, spatial, both).  Every pair is tried; one the code or the architecture refuses
(a mode not implemented, temporal residency on an architecture without a single-instance
buffer) is skipped with the refusal's message and recorded as skipped, so the list can name
modes that come with later work and they run as soon as the code accepts them.  Each run
starts from its own empty cache (a fresh directory), so its wall time and its count of
unique layer problems cover everything it needs, layer-by-layer problems included.  Per
run: network energy (pJ), delay (cycles), multi-layer segments, certified network gap,
candidates, unique problems, wall time, and the layers whose unproved bounds the network
bound rests on (``weak_bounds``: the candidates the bound ILP picks that hold a layer not
proved optimal, i.e. where the gap comes from).

**nn_dataflow 2.1 columns** (:data:`NND_CONFIGS`, on :data:`NND_HARDWARE`, the 4x4-node
array of specs/nnd-4x4.yaml): its own layer by layer, ``--interlayer-partition``, and
``--interlayer-partition --enable-save-writeback``, run as its command line
``nn_dataflow.tools.nn_dataflow_search`` with ``--nnd-python`` (a Python where
``pip install nn-dataflow==2.1 sympy==1.9`` was done, e.g. a venv of its own).  Its answers do
not depend on the machine's load, so they are kept in ``--nnd-results``
(bench/results/pipeline_nnd.json) with the wall time, the child's CPU seconds and the load
of the run that made them: ``--nnd reuse`` (default) takes the saved entries and runs only
missing ones (skipped when nn_dataflow cannot be imported), ``run`` runs all again, ``skip``
leaves them out.

Wall times depend on the machine's load: the load average is recorded with every run.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _machine import git_commit, loadavg, loadavg_text

from cpmap.core.errors import CpmapError
from cpmap.core.pipeline import PipelineOptions
from cpmap.network.cache import Cache
from cpmap.network.pipeline import run_pipeline, segment_ilp, solve_ilp
from cpmap.spec.solve import load_solve_spec

RUNS = ("nnd-4x4:none", "nnd-4x4:temporal", "nnd-4x4:spatial", "nnd-4x4:both", "eyeriss:none", "eyeriss:temporal")
"""cpmap's columns; those the code refuses today are skipped with the reason."""
NND_NETS = {"alexnet": "alex_net", "vgg16": "vgg_net"}
NND_HARDWARE = ("--nodes", "4", "4", "--array", "16", "16", "--regf", "512", "--gbuf", "131072",
                "--hop-cost", "10", "--hybrid-partition", "--batch-partition")
NND_CONFIGS = {"layer_by_layer": (), "interlayer": ("--interlayer-partition",),
               "save_writeback": ("--interlayer-partition", "--enable-save-writeback")}


# --------------------------------------------------------------------------- cpmap


def _weak_bounds(result, names) -> list[str]:
    """The candidates the bound ILP picks that hold a layer not proved optimal (labels with
    the layer statuses): where the network bound is below the schedule."""
    possible = [c for c in result.candidates if not c.infeasible]
    picked = solve_ilp(segment_ilp(names, [c.variant.layers for c in possible], [c.bound for c in possible]))
    out = []
    for v in picked or []:
        c = possible[v]
        statuses = [s.status if s is not None else "none" for s in c.solutions]
        if any(st != "OPTIMAL" for st in statuses):
            out.append(f"{c.variant.label} ({', '.join(statuses)})")
    return out


def run_cpmap(network: str, arch: str, mode: str, args, workdir: Path) -> dict:
    row = {"network": network, "batch": args.batch, "arch": arch, "mode": mode}
    spec = workdir / f"{network}-{arch}.yaml"
    spec.write_text(f"solve:\n  arch: {ROOT / 'specs' / f'{arch}.yaml'}\n"
                    f"  workload: {ROOT / 'models' / f'{network}.yaml'}\n  batch: {args.batch}\n")
    layers = args.layers.split(",") if args.layers else None
    plan = load_solve_spec(str(spec), {"time_limit": args.time_limit, "layers": layers})
    groups = tuple(int(g) for g in args.groups.split(","))
    try:
        opts = PipelineOptions(mode=mode, max_degree=args.max_degree, time_overhead=args.time_overhead,
                               batch_groups=groups, regions=args.regions)
    except ValueError as e:
        return row | {"skipped": str(e)}
    cache = Cache(workdir / f"cache-{network}-{arch}-{mode}")  # empty: a fresh directory per run
    load_before = loadavg()
    t0 = time.perf_counter()
    try:
        r = run_pipeline(plan, opts, jobs=args.jobs, cache=cache)
    except CpmapError as e:
        return row | {"skipped": str(e)}
    wall = time.perf_counter() - t0
    names = tuple(lay.name for lay in plan.layers)
    return row | {
        "layers": len(plan.layers), "energy_pj": r.energy_pj, "cycles": r.cycles, "lower_bound": r.bound,
        "gap": r.gap, "layer_by_layer_energy_pj": r.baseline_energy_pj, "layer_by_layer_cycles": r.baseline_cycles,
        "gain": r.gain, "regions": args.regions,
        "segments": [[list(c.variant.layers), c.variant.groups] + ([[[g.row, g.col, g.rows, g.cols]
                                                                     for g in c.variant.regions]]
                                                                   if c.variant.spatial else [])
                     for c in r.schedule],
        "spatial_candidates": sum(1 for c in r.candidates if c.variant.spatial),
        "multi_layer_segments": sum(1 for c in r.schedule if len(c.variant.layers) > 1),
        "candidates": len(r.candidates), "unique_problems": r.batch.unique, "solved": r.batch.solved,
        "weak_bounds": _weak_bounds(r, names), "wall_seconds": wall,
        "loadavg_before": load_before, "loadavg_after": loadavg(),
    }


# --------------------------------------------------------------------------- nn_dataflow


def nnd_available(python: str) -> str | None:
    """None when ``python`` can import nn_dataflow 2.1's search, else why not."""
    probe = subprocess.run([python, "-c", "from nn_dataflow.core import NNDataflow; import nn_dataflow.tools"],
                           capture_output=True, text=True)
    if probe.returncode == 0:
        return None
    last = (probe.stderr.strip().splitlines() or ["import failed"])[-1]
    return f"{python} cannot import nn_dataflow ({last}); pip install nn-dataflow==2.1 sympy==1.9"


def run_nnd(network: str, config: str, args) -> dict:
    """One nn_dataflow search through its command line; its JSON's totals, wall and CPU time."""
    cmd = [args.nnd_python, "-m", "nn_dataflow.tools.nn_dataflow_search", NND_NETS[network],
           "--batch", str(args.batch), *NND_HARDWARE, *NND_CONFIGS[config], "-p", str(args.nnd_processes)]
    load_before = loadavg()
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.nnd_timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {args.nnd_timeout:.0f} s", "argv": cmd[3:]}
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    row = {"argv": cmd[3:], "wall_seconds": wall,
           "cpu_seconds": (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime),
           "loadavg_before": load_before, "loadavg_after": loadavg()}
    if done.returncode != 0:
        return row | {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    data = json.loads(done.stdout)
    return row | {"energy": data["total_cost"], "cycles": data["total_time"], "segments": len(data["segment_time"]),
                  "search_seconds": data["elapsed"], "noc_hops": data["total_noc_hops"],
                  "accesses": data["total_accesses"]}


def nnd_columns(networks: list[str], args) -> dict:
    """{network: {config: entry}}, from the saved file and, as asked, fresh runs (saved back)."""
    path = Path(args.nnd_results)
    saved = json.loads(path.read_text()) if path.exists() else {"runs": {}}
    runs = saved.setdefault("runs", {})
    todo = [(n, c) for n in networks if n in NND_NETS for c in args.nnd_configs.split(",")
            if args.nnd == "run" or "energy" not in runs.get(f"{n}/b{args.batch}/{c}", {})]
    why = nnd_available(args.nnd_python) if todo else None
    for n, c in todo:
        key = f"{n}/b{args.batch}/{c}"
        if why:
            print(f"nn_dataflow {key}: skipped: {why}", file=sys.stderr)
            continue
        print(f"nn_dataflow {key}: searching ...", file=sys.stderr, flush=True)
        runs[key] = run_nnd(n, c, args)
        saved.update({"bench": "pipeline_nnd", "hardware": list(NND_HARDWARE)})
        path.write_text(json.dumps(saved, indent=1) + "\n")  # after each run: a long search is never lost
    return {n: {c: runs.get(f"{n}/b{args.batch}/{c}") for c in NND_CONFIGS} for n in networks if n in NND_NETS}


# --------------------------------------------------------------------------- table


def _pct(x):
    return "-" if x is None else f"{100 * x:.2f}%"


def _num(x, fmt="{:.4g}"):
    return "-" if x is None else fmt.format(x)


def print_table(rows: list[dict], nnd: dict) -> None:
    print(f"{'network':8} {'arch':8} {'mode':15} {'energy':>11} {'cycles':>11} {'segs':>4} {'gap':>7} "
          f"{'cands':>5} {'solves':>6} {'wall s':>8}")
    for r in rows:
        head = f"{r['network']:8} {r['arch']:8} {r['mode']:15}"
        if "skipped" in r:
            print(f"{head} skipped: {r['skipped']}")
            continue
        print(f"{head} {_num(r['energy_pj']):>11} {_num(r['cycles']):>11} {r['multi_layer_segments']:4} "
              f"{_pct(r['gap']):>7} {r['candidates']:5} {r['unique_problems']:6} {r['wall_seconds']:8.1f}")
    for net, configs in nnd.items():
        for c, e in configs.items():
            head = f"{net:8} {'4x4 nnd':8} {'nnd ' + c:15}"
            if e is None or "energy" not in e:
                print(f"{head} {'not run' if e is None else e.get('error')}")
                continue
            print(f"{head} {e['energy']:11.4g} {e['cycles']:11.4g} {e['segments']:4} {'-':>7} {'-':>5} {'-':>6} "
                  f"{e['wall_seconds']:8.1f}  (cpu {e['cpu_seconds']:.0f} s, load {e['loadavg_before'][0]:.1f})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", default="alexnet,vgg16")
    ap.add_argument("--runs", default=",".join(RUNS), help="ARCH:MODE pairs (ARCH: a spec under specs/)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--time-limit", type=float, default=10.0)
    ap.add_argument("--max-degree", type=int, default=4)
    ap.add_argument("--time-overhead", type=float, default=None)
    ap.add_argument("--groups", default="1,2,4,8,16")
    ap.add_argument("--regions", choices=("all", "balanced"), default="all",
                    help="spatial variants: every band split of the mesh, or per direction the MAC-balanced one")
    ap.add_argument("--layers", default=None, help="a subset of layers (e.g. to try the script quickly)")
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--nnd", choices=("reuse", "run", "skip"), default="reuse")
    ap.add_argument("--nnd-python", default=sys.executable, help="a Python with nn-dataflow 2.1 installed")
    ap.add_argument("--nnd-configs", default=",".join(NND_CONFIGS), help="which of them to run when missing")
    ap.add_argument("--nnd-processes", type=int, default=2)
    ap.add_argument("--nnd-timeout", type=float, default=3600.0)
    ap.add_argument("--nnd-results", default=str(ROOT / "bench" / "results" / "pipeline_nnd.json"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "pipeline.json"))
    args = ap.parse_args()
    networks = args.networks.split(",")
    runs = [tuple(r.split(":", 1)) for r in args.runs.split(",") if r]
    if set(args.nnd_configs.split(",")) - set(NND_CONFIGS):
        ap.error(f"--nnd-configs: expected some of {', '.join(NND_CONFIGS)}")
    if any(len(r) != 2 for r in runs):
        ap.error("--runs: expected ARCH:MODE pairs, e.g. eyeriss:temporal")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in networks:
            for arch, mode in runs:
                print(f"{name} {arch} {mode}: solving ...", file=sys.stderr, flush=True)
                rows.append(run_cpmap(name, arch, mode, args, Path(tmp)))
                if "skipped" in rows[-1]:
                    print(f"  skipped: {rows[-1]['skipped']}", file=sys.stderr)
    nnd = {} if args.nnd == "skip" else nnd_columns(networks, args)
    print_table(rows, nnd)
    out = {"bench": "pipeline", **git_commit(ROOT), "load": loadavg_text(), "args": vars(args), "rows": rows,
           "nn_dataflow": nnd}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
