"""``cpmap sweep SWEEP.yaml``: hardware design-space exploration (docs/sweep.md).  Parse,
call, print, exit codes; user mistakes raise :class:`~cpmap.core.errors.CpmapError`,
which ``cpmap.cli.main`` prints on one line with exit code 2."""

from __future__ import annotations

import argparse
import json
import sys

from ..core.errors import CpmapError
from .codes import EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK
from .flags import add_limit_flags, positive


def _cmd_sweep(args: argparse.Namespace) -> int:
    # imported here: `cpmap evaluate` and `check` need not load OR-Tools
    from ..network.cache import Cache
    from ..network.engine import make_engine
    from ..network.sweep import run_sweep
    from ..report.sweep import format_sweep, sweep_json, write_sweep_report
    from ..spec.sweep import load_sweep_spec

    spec = load_sweep_spec(args.spec, {"time_limit": args.time_limit, "work_limit": args.work_limit,
                                       "workers": args.workers, "seed": args.seed, "output": args.out})
    if args.prune and spec.objective != "energy":
        raise CpmapError(f"--prune: certifies the best design for energy; {args.spec} has objective {spec.objective}")
    for flag, value in (("--bound-time-limit", args.bound_time_limit), ("--prune-round", args.prune_round)):
        if value is not None and not args.prune:
            raise CpmapError(f"{flag}: expected only with --prune")
    engine = make_engine(args.engine, args.engine_address)
    run = run_sweep(spec, jobs=args.jobs, cache=None if args.no_cache else Cache(), engine=engine,
                    progress=not args.quiet and sys.stderr.isatty(), prune=args.prune,
                    bound_time_limit=args.bound_time_limit, prune_round=args.prune_round or 1)
    data = sweep_json(run)
    try:
        files = write_sweep_report(run, data, spec.output)
    except OSError as e:
        raise CpmapError(f"{spec.output}: cannot write the report directory: {e.strerror or e}") from None
    if args.json:
        print(json.dumps(data, indent=1))
    else:
        print(format_sweep(data), end="")
        print(f"\nreport: {spec.output}/ ({', '.join(files)})")
    if run.interrupted:
        done = sum(1 for r in run.points if r.state in ("solved", "pruned"))
        print(f"cpmap: interrupted: {done} of {len(run.points)} points finished; finished layers are cached, "
              "re-run the same command to continue", file=sys.stderr)
        return EXIT_INTERRUPTED
    bad = [r for r in run.points if r.state == "incomplete"]
    if bad:
        names = ", ".join(r.point.name for r in bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        print(f"cpmap: {len(bad)} of {len(run.points)} points have a layer without a mapping: {names} "
              "(sweep.json gives each layer's status and reason)", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK


def add_command(sub) -> None:
    p = sub.add_parser(
        "sweep", help="hardware design-space exploration: every network solved on every design point",
        description="Solve every network of a sweep file (docs/sweep.md) on every design point (capacities, "
                    "PE array shapes, node counts, an extra register-file level; energies per access from "
                    "Interstellar's Table IV or given) and report per point the total energy, cycles and EDP "
                    "with the certified gap, the best point per objective, the Pareto front of energy against "
                    "on-chip capacity (or area) and the energy by level of the best points.  --prune certifies "
                    "the best design for energy without solving every point at the full time limit.  Exit 0 "
                    "every point mapped, 1 some point has a layer without a mapping, 2 on a user error, 130 "
                    "if interrupted (finished layers are cached: re-run to continue).",
        epilog="example: cpmap sweep specs/examples/sweep-small.yaml --prune")
    p.add_argument("spec", metavar="SWEEP", help="sweep file (YAML with top-level key 'sweep:')")
    add_limit_flags(p, "sweep", workers_default="1")
    p.add_argument("--prune", action="store_true",
                   help="certify the best design for energy: solve points in order of their lower bounds and "
                        "skip those whose bound exceeds the best energy found")
    p.add_argument("--bound-time-limit", type=positive(float), metavar="S",
                   help="--prune: seconds per layer of the first, bounding pass (default: time limit / 10)")
    p.add_argument("--prune-round", type=positive(int), metavar="N",
                   help="--prune: points solved at the full time limit together (default 1; more keeps parallel "
                        "jobs or a cluster busy, at the risk of solving a point a smaller round would prune)")
    p.add_argument("--engine", default="local", metavar="{local,dask}",
                   help="where the layer solves run: local worker processes (default) or a dask cluster")
    p.add_argument("--engine-address", metavar="ADDR", help="--engine dask: the scheduler, e.g. tcp://127.0.0.1:8786")
    p.add_argument("--jobs", type=positive(int), metavar="N", help="local engine: parallel solves (default: cores)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the on-disk cache")
    p.add_argument("--out", metavar="DIR", help="report directory (default: the sweep's 'output:', else "
                                               "cpmap-out/<sweep name>)")
    p.add_argument("--json", action="store_true", help="print the sweep.json object")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_cmd_sweep)
