"""Layer-by-layer against inter-layer pipelining (the segment ILP, docs/pipeline.md) on whole
networks, each run from an empty cache, beside nn_dataflow 2.1's inter-layer pipelining.

    python bench/pipeline.py [--networks alexnet,vgg16] [--batch 16] [--runs RUN,...]
                             [--time-limit 10] [--work-limit W] [--max-degree 4] [--groups 1,2,4,8,16]
                             [--regions all] [--gap-target 0.01] [--refine-rounds 2]
                             [--layers A,B,...] [--jobs N] [--nnd reuse|run|skip] [--nnd-python PY]
                             [--nnd-configs layer_by_layer,interlayer,save_writeback] [--nnd-processes 2]
                             [--nnd-timeout 1800] [--out bench/results/pipeline.json]

**cpmap runs.**  ``--runs`` lists ``ARCH:MODE`` pairs (default :data:`RUNS`): ``ARCH`` a spec
under specs/ without ``.yaml``, ``MODE`` a ``pipeline:`` mode (none = layer by layer,
temporal, spatial, both).  Every pair is tried; one the code or the architecture refuses
(a mode not implemented, temporal residency on an architecture without a single-instance
buffer) is skipped with the refusal's message and recorded as skipped, so the list can name
modes that come with later work and they run as soon as the code accepts them.  Each run
starts from its own empty cache (a fresh directory), so its wall time and its count of
unique layer problems cover everything it needs, layer-by-layer problems included.  Per
run: network energy (pJ), delay (cycles), multi-layer segments, certified network gap,
candidates, unique problems, wall time, CPU seconds (this process and its solver workers:
with one CP-SAT worker per job they are about what the wall time would be on an idle
machine, times the jobs), the lazy bound refinement's rounds (``--gap-target``,
``--refine-rounds``; docs/pipeline.md), the intermediates' moves between node partitions
in the schedule (``moves_pj``: the part of the gap the network bound cannot see), and the
layers whose unproved bounds the network bound rests on (``weak_bounds``: the candidates
the bound ILP picks that hold a layer not proved optimal).

**nn_dataflow 2.1 columns** (:data:`NND_CONFIGS`, on :data:`NND_HARDWARE`, the 4x4-node
array of specs/nnd-4x4.yaml): its own layer by layer, ``--interlayer-partition``, and
``--interlayer-partition --enable-save-writeback``, run as its command line
``nn_dataflow.tools.nn_dataflow_search`` with ``--nnd-python`` (a Python where
``pip install nn-dataflow==2.1 sympy==1.9`` was done; default as bench/multinode.py: $CPMAP_NND_PYTHON,
else the tests' venv, tests/nn_dataflow_env.py).  Each search gets ``--nnd-timeout``
seconds; one that does not finish is killed with its worker processes and recorded as
``"status": "timeout"`` with the limit (kept like an answer: ``reuse`` runs it again only
with a longer ``--nnd-timeout``).  Its answers do
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
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _machine import git_commit, loadavg, loadavg_text
from multinode import nnd_python

from cpmap.core.errors import CpmapError
from cpmap.core.pipeline import PipelineOptions
from cpmap.network.cache import Cache
from cpmap.network.pipeline import run_pipeline
from cpmap.spec.solve import load_solve_spec

RUNS = ("nnd-4x4:none", "nnd-4x4:temporal", "nnd-4x4:spatial", "nnd-4x4:both", "eyeriss:none", "eyeriss:temporal")
"""cpmap's columns; those the code refuses today are skipped with the reason."""
NND_NETS = {"alexnet": "alex_net", "vgg16": "vgg_net"}
NND_HARDWARE = ("--nodes", "4", "4", "--array", "16", "16", "--regf", "512", "--gbuf", "131072",
                "--hop-cost", "10", "--hybrid-partition", "--batch-partition")
NND_CONFIGS = {"layer_by_layer": (), "interlayer": ("--interlayer-partition",),
               "save_writeback": ("--interlayer-partition", "--enable-save-writeback")}


# --------------------------------------------------------------------------- cpmap


def _weak_bounds(result) -> list[str]:
    """The candidates the bound ILP picks that hold a layer not proved optimal (labels with
    the layer statuses): where the network bound is below the schedule."""
    out = []
    for c in result.bound_selection:
        statuses = [s.status if s is not None else "none" for s in c.solutions]
        if any(st != "OPTIMAL" for st in statuses):
            out.append(f"{c.variant.label} ({', '.join(statuses)})")
    return out


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the solver pool's workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run_cpmap(network: str, arch: str, mode: str, args, workdir: Path) -> dict:
    row = {"network": network, "batch": args.batch, "arch": arch, "mode": mode}
    spec = workdir / f"{network}-{arch}.yaml"
    spec.write_text(f"solve:\n  arch: {ROOT / 'specs' / f'{arch}.yaml'}\n"
                    f"  workload: {ROOT / 'models' / f'{network}.yaml'}\n  batch: {args.batch}\n")
    layers = args.layers.split(",") if args.layers else None
    plan = load_solve_spec(str(spec), {"time_limit": args.time_limit, "work_limit": args.work_limit,
                                       "layers": layers})
    groups = tuple(int(g) for g in args.groups.split(","))
    try:
        opts = PipelineOptions(mode=mode, max_degree=args.max_degree, time_overhead=args.time_overhead,
                               batch_groups=groups, gap_target=args.gap_target, refine_rounds=args.refine_rounds,
                               regions=args.regions)
    except ValueError as e:
        return row | {"skipped": str(e)}
    cache = Cache(workdir / f"cache-{network}-{arch}-{mode}")  # empty: a fresh directory per run
    load_before = loadavg()
    cpu0, t0 = _cpu(), time.perf_counter()
    try:
        r = run_pipeline(plan, opts, jobs=args.jobs, cache=cache)
    except CpmapError as e:
        return row | {"skipped": str(e)}
    wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
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
        "moves_pj": sum(c.exchange_pj for c in r.schedule),
        "refinements": [{"problems": x.problems, "proved": x.proved, "factor": x.factor,
                         "gap_before": x.gap_before, "gap_after": x.gap_after} for x in r.refinements],
        "first_gap": r.refinements[0].gap_before if r.refinements else r.gap,
        "weak_bounds": _weak_bounds(r), "wall_seconds": wall, "cpu_seconds": cpu, "jobs": r.batch.jobs,
        "workers": r.batch.workers, "loadavg_before": load_before, "loadavg_after": loadavg(),
    }


# --------------------------------------------------------------------------- nn_dataflow


def run_nnd(network: str, config: str, args) -> dict:
    """One nn_dataflow search through its command line; its JSON's totals, wall and CPU time.
    Past ``--nnd-timeout`` seconds the search and its worker processes (its own process
    group) are killed and the entry says ``"status": "timeout"``."""
    cmd = [args.nnd_python, "-m", "nn_dataflow.tools.nn_dataflow_search", NND_NETS[network],
           "--batch", str(args.batch), *NND_HARDWARE, *NND_CONFIGS[config], "-p", str(args.nnd_processes)]
    load_before = loadavg()
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = child.communicate(timeout=args.nnd_timeout)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)  # the search's pool workers too
        child.communicate()
        out = err = None
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    row = {"argv": cmd[3:], "wall_seconds": wall,
           "cpu_seconds": (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime),
           "loadavg_before": load_before, "loadavg_after": loadavg()}
    if out is None:
        return row | {"status": "timeout", "timeout_seconds": args.nnd_timeout}
    if child.returncode != 0:
        return row | {"status": "error", "error": (err.strip().splitlines() or ["failed"])[-1]}
    data = json.loads(out)
    return row | {"status": "done", "energy": data["total_cost"], "cycles": data["total_time"],
                  "segments": len(data["segment_time"]), "search_seconds": data["elapsed"],
                  "noc_hops": data["total_noc_hops"], "accesses": data["total_accesses"]}


def _settled(entry: dict | None, args) -> bool:
    """Whether a saved entry answers this run: an answer, or a timeout at least as long."""
    if entry is None:
        return False
    return "energy" in entry or (entry.get("status") == "timeout" and entry["timeout_seconds"] >= args.nnd_timeout)


def nnd_columns(networks: list[str], args) -> dict:
    """{network: {config: entry}}, from the saved file and, as asked, fresh runs (saved back)."""
    path = Path(args.nnd_results)
    saved = json.loads(path.read_text()) if path.exists() else {"runs": {}}
    runs = saved.setdefault("runs", {})
    todo = [(n, c) for n in networks if n in NND_NETS for c in args.nnd_configs.split(",")
            if args.nnd == "run" or not _settled(runs.get(f"{n}/b{args.batch}/{c}"), args)]
    args.nnd_python = nnd_python(args.nnd_python) if todo else args.nnd_python
    for n, c in todo:
        key = f"{n}/b{args.batch}/{c}"
        if args.nnd_python is None:
            print(f"nn_dataflow {key}: skipped: no Python imports nn_dataflow 2.1 (pip install nn-dataflow==2.1 "
                  "sympy==1.9 in a venv; --nnd-python or $CPMAP_NND_PYTHON)", file=sys.stderr)
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
          f"{'cands':>5} {'solves':>6} {'wall s':>8} {'cpu s':>7} {'refined':>7} {'1st gap':>7}")
    for r in rows:
        head = f"{r['network']:8} {r['arch']:8} {r['mode']:15}"
        if "skipped" in r:
            print(f"{head} skipped: {r['skipped']}")
            continue
        print(f"{head} {_num(r['energy_pj']):>11} {_num(r['cycles']):>11} {r['multi_layer_segments']:4} "
              f"{_pct(r['gap']):>7} {r['candidates']:5} {r['unique_problems']:6} {r['wall_seconds']:8.1f} "
              f"{r['cpu_seconds']:7.1f} {sum(x['problems'] for x in r['refinements']):7} {_pct(r['first_gap']):>7}")
    for net, configs in nnd.items():
        for c, e in configs.items():
            head = f"{net:8} {'4x4 nnd':8} {'nnd ' + c:15}"
            if e is None or "energy" not in e:
                why = ("not run" if e is None else f"timeout ({e['timeout_seconds']:.0f} s, load "
                       f"{e['loadavg_before'][0]:.1f})" if e.get("status") == "timeout" else e.get("error"))
                print(f"{head} {why}")
                continue
            print(f"{head} {e['energy']:11.4g} {e['cycles']:11.4g} {e['segments']:4} {'-':>7} {'-':>5} {'-':>6} "
                  f"{e['wall_seconds']:8.1f}  (cpu {e['cpu_seconds']:.0f} s, load {e['loadavg_before'][0]:.1f})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", default="alexnet,vgg16")
    ap.add_argument("--runs", default=",".join(RUNS), help="ARCH:MODE pairs (ARCH: a spec under specs/)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--time-limit", type=float, default=10.0)
    ap.add_argument("--work-limit", type=float, default=None, help="det-s per layer (default: half the time limit)")
    ap.add_argument("--gap-target", type=float, default=PipelineOptions.gap_target)
    ap.add_argument("--refine-rounds", type=int, default=PipelineOptions.refine_rounds)
    ap.add_argument("--max-degree", type=int, default=4)
    ap.add_argument("--time-overhead", type=float, default=None)
    ap.add_argument("--groups", default="1,2,4,8,16")
    ap.add_argument("--regions", choices=("all", "balanced"), default="all",
                    help="spatial variants: every band split of the mesh, or per direction the MAC-balanced one")
    ap.add_argument("--layers", default=None, help="a subset of layers (e.g. to try the script quickly)")
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--nnd", choices=("reuse", "run", "skip"), default="reuse")
    ap.add_argument("--nnd-python", default=None, help="a Python with nn-dataflow 2.1 installed")
    ap.add_argument("--nnd-configs", default=",".join(NND_CONFIGS), help="which of them to run when missing")
    ap.add_argument("--nnd-processes", type=int, default=2)
    ap.add_argument("--nnd-timeout", type=float, default=1800.0, help="seconds per nn_dataflow search")
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
