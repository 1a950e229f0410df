"""AlexNet batch 16 on a 4x4 mesh of Eyeriss-like nodes: cpmap beside nn_dataflow 2.1.

cpmap side, per layer, energy objective, 1 worker, ``--time-limit`` seconds per layer:

* ``mesh``: specs/nnd-4x4.yaml (nn_dataflow's CLI chip: 4x4 nodes, 2D memory at the corners,
  hop 10 pJ per word per hop, static 0);
* ``unicast``: the same with the mesh's multicast off (each node reads its own copy of a
  shared tile from DRAM and gets it by its own route, as nn_dataflow without access
  forwarding; with multicast, cpmap reads a tile several nodes share once and sends it
  down one tree, which is what nn_dataflow's access forwarding does to DRAM reads);
* ``all16``: ``mesh`` with ``min_nodes: 16`` (nn_dataflow's partitions always use every
  node: its search space's node count, not cpmap's);
* ``nnd_space``: ``all16`` without input partitioning (``partition:`` batch, fmap and output
  on both axes): nn_dataflow's command line above has no ``--ifmaps-partition``, so C is
  never split across its nodes, while cpmap's unrestricted optima split C on most convs;
* ``single``: specs/eyeriss-nnd.yaml, one node of nnd-4x4 with its DRAM beside it (no NoC),
  for the target "the whole network within 2x cpmap's single-node time on the same layers".

Each row: status, certified gap, energy, NoC share, nodes used, CP-SAT deterministic work
and wall seconds.  ``--forwarding`` turns cpmap's access forwarding on in the mesh variants
(:func:`forwarding_arch`).

nn_dataflow side: ``nn_dataflow_search.py alex_net --batch 16 --nodes 4 4 --array 16 16
--regf 512 --gbuf 131072 --hop-cost 10 --hybrid-partition --batch-partition
--solve-loopblocking -p 1`` (2D memory, costs 200/6/2/1, MAC 1, static 0: the defaults),
once without and once with ``--enable-access-forwarding``, run by bench/_nnd_search.py in a
venv of its own (nn_dataflow 2.1 needs sympy 1.9): ``--nnd-python`` or $CPMAP_NND_PYTHON,
else the tests' venv (tests/nn_dataflow_env.py, ~/.cache/cpmap-tests/...).  Skipped, exit 0,
when none has nn_dataflow.  ``--reuse-nnd [FILE]`` takes its results from FILE (default: the
``--out`` file) of an earlier run instead (its energies do not depend on the load; its seconds do).

    python bench/multinode.py [--layers conv1,fc1] [--time-limit 30] [--reuse-nnd [FILE]]
                              [--variants mesh,unicast,all16,nnd_space,single] [--forwarding] [--out bench/results/multinode.json]

Layer correspondence: bench/_alexnet.py.  Modelling differences: docs/multinode.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _alexnet import BATCH, INSTALL_HINT, ROOT, alexnet_problems, halves_by_layer, solve_row
from _machine import git_commit, loadavg

sys.path.insert(0, str(ROOT))

NND_FLAGS = ("alex_net", "--batch", str(BATCH), "--nodes", "4", "4", "--array", "16", "16", "--regf", "512",
             "--gbuf", "131072", "--hop-cost", "10", "--hybrid-partition", "--batch-partition",
             "--solve-loopblocking", "-p", "1")
NND_RUNS = {"plain": (), "forwarding": ("--enable-access-forwarding",)}
TESTS_VENV = Path.home() / ".cache" / "cpmap-tests" / "nn_dataflow-2.1-sympy-1.9" / "bin" / "python"
NND_SPACE = {"DRAM": {"NY": ["batch", "fmap", "output"], "NX": ["batch", "fmap", "output"]}}
VARIANTS = {"mesh": ("nnd-4x4.yaml", None, True, None), "unicast": ("nnd-4x4.yaml", None, False, None),
            "all16": ("nnd-4x4.yaml", 16, True, None), "nnd_space": ("nnd-4x4.yaml", 16, True, NND_SPACE),
            "single": ("eyeriss-nnd.yaml", None, True, None)}
"""{variant: (spec, min_nodes, NoC multicast, partition constraint)} (module docstring)."""


# --------------------------------------------------------------------------- nn_dataflow


def nnd_python(given: str | None) -> str | None:
    """A Python that imports nn_dataflow 2.1, or None."""
    cache = os.environ.get("CPMAP_TEST_CACHE")
    candidates = [given, os.environ.get("CPMAP_NND_PYTHON"),
                  str(Path(cache) / "nn_dataflow-2.1-sympy-1.9" / "bin" / "python") if cache else None,
                  str(TESTS_VENV), sys.executable]
    for py in filter(None, candidates):
        try:
            ok = subprocess.run([py, "-c", "import nn_dataflow.core"], capture_output=True, check=False)
        except OSError:  # no such interpreter
            continue
        if ok.returncode == 0:
            return py
    return None


def run_nnd(python: str, extra: tuple[str, ...]) -> dict:
    """One nn_dataflow search (bench/_nnd_search.py), with its wall seconds and the load."""
    load_before = loadavg()
    t0 = time.perf_counter()
    proc = subprocess.run([python, str(ROOT / "bench" / "_nnd_search.py"), *NND_FLAGS, *extra],
                          capture_output=True, text=True, check=False, timeout=3600)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"nn_dataflow failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    out = json.loads(proc.stdout)
    out.update(wall_seconds=wall, loadavg_before=load_before, loadavg_after=loadavg(), python=python)
    return out


# --------------------------------------------------------------------------- cpmap


def forwarding_arch(arch):
    """``arch`` with access forwarding on every mesh fanout: the hook for cpmap's own
    option (issue 12 item 3), which lives on the mesh fanout as a boolean field
    ``forwarding``; exits 2 while this cpmap has no such field."""
    from cpmap.core.arch import Fanout

    if "forwarding" not in {f.name for f in dataclasses.fields(Fanout)}:
        print("--forwarding: this cpmap has no access forwarding (Fanout has no field 'forwarding')", file=sys.stderr)
        raise SystemExit(2)
    return with_mesh_fanouts(arch, forwarding=True)


def unicast_arch(arch):
    """``arch`` with multicast off on every mesh fanout: each node fetches its own copy of
    a shared tile from memory, as nn_dataflow without access forwarding does."""
    return with_mesh_fanouts(arch, multicast=False)


def with_mesh_fanouts(arch, **changes):
    """``arch`` with ``changes`` (Fanout fields) made to every mesh fanout."""
    levels = tuple(dataclasses.replace(lv, fanout=dataclasses.replace(lv.fanout, **changes))
                   if lv.fanout is not None and lv.fanout.mesh else lv for lv in arch.levels)
    return dataclasses.replace(arch, levels=levels)


def run_cpmap(variant: str, names: list[str] | None, args) -> dict:
    from cpmap.core.constraints import Constraints
    from cpmap.core.options import SolveOptions
    from cpmap.spec import load_arch

    spec, min_nodes, multicast, partition = VARIANTS[variant]
    arch = load_arch(str(ROOT / "specs" / spec))
    if not multicast:
        arch = unicast_arch(arch)
    if args.forwarding and variant != "single":
        arch = forwarding_arch(arch)
    options = SolveOptions(time_limit=args.time_limit, workers=args.workers, seed=args.seed,
                           constraints=Constraints.of(min_nodes=min_nodes, partition=partition))
    load_before = loadavg()
    rows = []
    for name, problem in alexnet_problems(names):
        rows.append(solve_row(name, problem, arch, options))
        r = rows[-1]
        print(f"  {variant:<6} {name:<6} {r['status']:<9} {r['energy_pj'] or 0:16,.0f} "
              f"{r['nodes_used']:>3} nodes {r['work']:7.2f} work {r['seconds']:7.2f} s", flush=True)
    return {"arch": f"specs/{spec}", "min_nodes": min_nodes, "mesh_multicast": multicast, "partition": partition, "forwarding": bool(args.forwarding and variant != "single"),
            "loadavg_before": load_before, "loadavg_after": loadavg(), "rows": rows}


# --------------------------------------------------------------------------- side by side


def compare(nnd: dict, cp: dict) -> list[dict]:
    """One row per cpmap layer: nn_dataflow's halves summed beside each cpmap variant."""
    halves = {run: halves_by_layer(res["layers"]) for run, res in nnd.items()}
    names = [r["layer"] for r in next(iter(cp.values()))["rows"]] if cp else list(next(iter(halves.values())))
    rows = []
    for name in names:
        row = {"layer": name}
        for run, groups in halves.items():
            hs = groups.get(name, [])
            row[f"nnd_{run}"] = {"layers": [h["name"] for h in hs], "energy_pj": sum(h["total_cost"] for h in hs),
                                 "noc_pj": sum(h["cost_noc"] for h in hs),
                                 "nodes": max((h["num_nodes"] for h in hs), default=0),
                                 "seconds": sum(h["search_seconds"] or 0.0 for h in hs)}
        for variant, res in cp.items():
            r = next(x for x in res["rows"] if x["layer"] == name)
            row[variant] = {k: r[k] for k in ("status", "gap", "energy_pj", "noc_pj", "nodes_used", "work", "seconds")}
        rows.append(row)
    return rows


def _cell(x: dict | None, key: str, fmt: str) -> str:
    v = None if x is None else x.get(key)
    return "-" if v is None else format(v, fmt)


def print_table(rows: list[dict], variants: list[str], runs: list[str]) -> None:
    cols = [(f"nnd_{r}", "energy_pj", ".4g") for r in runs] + [(v, "energy_pj", ".4g") for v in variants]
    head = " ".join(f"{c:>11}" for c, _, _ in cols)
    extra = " ".join(f"{v + '_s':>9}" for v in variants) + " " + " ".join(f"{'nnd_' + r + '_s':>9}" for r in runs)
    print(f"\n{'layer':<6} {head} {'mesh/nnd':>8} {'noc%':>5} {'nodes':>5} {'gap':>7} {extra}")
    totals: dict = {}
    for row in rows:
        cells = " ".join(f"{_cell(row.get(c), k, f):>11}" for c, k, f in cols)
        for c, k, _ in cols:
            totals[c] = totals.get(c, 0.0) + ((row.get(c) or {}).get(k) or 0.0)
        m, n = row.get("mesh"), row.get("nnd_plain")
        ratio = f"{m['energy_pj'] / n['energy_pj']:.3f}" if m and n and m["energy_pj"] and n["energy_pj"] else "-"
        noc = f"{100 * m['noc_pj'] / m['energy_pj']:.1f}" if m and m["energy_pj"] else "-"
        gap = f"{100 * m['gap']:.2f}%" if m and m["gap"] is not None else "-"
        secs = " ".join(f"{_cell(row.get(v), 'seconds', '.1f'):>9}" for v in variants)
        secs += " " + " ".join(f"{_cell(row.get(f'nnd_{r}'), 'seconds', '.1f'):>9}" for r in runs)
        print(f"{row['layer']:<6} {cells} {ratio:>8} {noc:>5} {_cell(m, 'nodes_used', 'd'):>5} {gap:>7} {secs}")
    print(f"{'total':<6} " + " ".join(f"{totals[c]:>11.4g}" for c, _, _ in cols))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", default=None, help="comma-separated AlexNet layers for cpmap (default: all)")
    ap.add_argument("--variants", default="mesh,unicast,all16,nnd_space,single",
                    help="cpmap runs (mesh, unicast, all16, nnd_space, single)")
    ap.add_argument("--time-limit", type=float, default=30.0, help="cpmap seconds per layer (default 30)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--forwarding", action="store_true", help="cpmap's access forwarding on the mesh")
    ap.add_argument("--nnd-python", default=None, help="a Python with nn_dataflow 2.1 (default: see above)")
    ap.add_argument("--reuse-nnd", nargs="?", const="", default=None, metavar="FILE",
                    help="nn_dataflow's results from FILE (default: --out), not a new run")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "multinode.json"))
    args = ap.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    bad = [v for v in variants if v not in VARIANTS]
    if bad:
        ap.error(f"--variants: unknown {', '.join(bad)} (have {', '.join(VARIANTS)})")

    if args.forwarding:  # fail before any search when this cpmap has no forwarding
        from cpmap.spec import load_arch
        forwarding_arch(load_arch(str(ROOT / "specs" / "nnd-4x4.yaml")))
    if args.reuse_nnd is not None:
        source = args.reuse_nnd or args.out
        try:
            nnd = json.loads(Path(source).read_text())["nn_dataflow"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            print(f"--reuse-nnd: {source}: expected an earlier bench/multinode.py result with 'nn_dataflow' "
                  f"({type(e).__name__}: {e})", file=sys.stderr)
            return 2
        print(f"nn_dataflow: reusing {source} (run at load {nnd['plain'].get('loadavg_before')})")
    else:
        python = nnd_python(args.nnd_python)
        if python is None:
            print(f"skipped: no Python with nn_dataflow 2.1 (make a venv: python3 -m venv V && "
                  f"V/bin/{INSTALL_HINT}; pass --nnd-python V/bin/python)")
            return 0
        nnd = {}
        for run, extra in NND_RUNS.items():
            print(f"nn_dataflow {run} ...", flush=True)
            nnd[run] = run_nnd(python, extra)
            print(f"  {nnd[run]['wall_seconds']:.1f} s, total {nnd[run]['total_cost']:.6g}", flush=True)

    names = args.layers.split(",") if args.layers else None
    cp = {}
    for variant in variants:
        print(f"cpmap {variant} ...", flush=True)
        cp[variant] = run_cpmap(variant, names, args)
    rows = compare(nnd, cp)
    print_table(rows, variants, list(nnd))
    totals = {v: {"energy_pj": sum(r["energy_pj"] or 0.0 for r in res["rows"]),
                  "seconds": sum(r["seconds"] for r in res["rows"]), "work": sum(r["work"] for r in res["rows"]),
                  "all_optimal": all(r["status"] == "OPTIMAL" for r in res["rows"]),
                  "slowest_seconds": max((r["seconds"] for r in res["rows"]), default=None)}
              for v, res in cp.items()}
    for v, t in totals.items():
        print(f"cpmap {v}: {t['energy_pj']:.6g} pJ, {t['seconds']:.1f} s ({t['work']:.1f} work), "
              f"slowest layer {t['slowest_seconds']} s, all OPTIMAL: {t['all_optimal']}")
    if "mesh" in totals and "single" in totals and totals["single"]["seconds"]:
        print(f"mesh / single-node seconds: {totals['mesh']['seconds'] / totals['single']['seconds']:.2f} (target <= 2)")
    meta = {"layers": names or "all", "time_limit": args.time_limit, "workers": args.workers, "seed": args.seed,
            "cpu_count": os.cpu_count(), "loadavg_at_end": loadavg(), "nn_dataflow_flags": list(NND_FLAGS),
            "nn_dataflow_reused": args.reuse_nnd is not None, **git_commit(ROOT)}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"meta": meta, "nn_dataflow": nnd, "cpmap": cp, "cpmap_totals": totals, "comparison": rows},
                  f, indent=1)
        f.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
