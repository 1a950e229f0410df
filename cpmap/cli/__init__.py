"""The ``cpmap`` command line.

Exit codes: 0 success; 1 ``evaluate`` found the mapping invalid, or ``solve`` left some
layer without a mapping (the results and every reason are still printed); 2 a user error
-- a bad spec, a missing file, a bad command line -- reported on one line of stderr as
``cpmap: error: <message>``, never a traceback; 130 interrupted (Ctrl-C).

Each subcommand is one ``_cmd_*`` function registered in :func:`build_parser`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..core.errors import CpmapError
from ..core.output import default_output, warn
from ..core.version import __version__
from ..cost.evaluator import evaluate
from ..report.evaluation import format_result
from ..search.exhaustive import DEFAULT_LIMIT
from ..spec.arch import load_arch
from ..spec.kinds import load_any
from ..spec.mapping import bind_mapping, load_mapping_for, pick_layer
from ..spec.solve import load_solve_spec
from ..spec.workload import load_workload
from . import interop, sweep
from .codes import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK
from .flags import add_limit_flags, nonneg_int, positive, seed
from .pipeline import solve_pipeline


def _error(message: str) -> None:
    print(f"cpmap: error: {' '.join(str(message).split())}", file=sys.stderr)


# --------------------------------------------------------------------------- evaluate


def _cmd_evaluate(args: argparse.Namespace) -> int:
    arch = load_arch(args.arch)
    workload = load_workload(args.workload)
    layer, mapping = load_mapping_for(args.mapping, workload, arch, args.layer)
    if args.compat is not None and arch.beyond_flat:
        _error(f"{args.arch}: --compat {args.compat} counts as timeloop-model does, which has no mesh hops or "
               "static energy; evaluate without --compat")
        return EXIT_ERROR
    if args.png is not None and not any(lv.fanout is not None and lv.fanout.mesh for lv in arch.levels):
        _error(f"{args.arch}: --png draws the node array of a mesh fanout (topology: mesh); {arch.name} has none")
        return EXIT_ERROR
    result = evaluate(layer.problem, arch, mapping, compat=args.compat)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(format_result(result, layer.problem, arch, mapping), end="")
    if args.png is not None:
        from ..report.plots import partition_png  # matplotlib only when asked

        partition_png(layer.problem, arch, mapping, args.png)
    return EXIT_OK if result.valid else EXIT_INVALID


# --------------------------------------------------------------------------- check


def _cmd_check(args: argparse.Namespace) -> int:
    failed = False
    arch = workload = None
    try:  # the context for mapping files; its own failure is reported like any file's
        arch = load_arch(args.arch) if args.arch else None
        workload = load_workload(args.workload) if args.workload else None
    except CpmapError as e:
        _error(e)
        failed = True
    syntax_only = False
    for path in args.files:
        try:
            kind, obj = load_any(path)
            if kind == "mapping":
                if arch is not None and workload is not None:
                    chosen = pick_layer(workload, args.layer, obj.layer, path)
                    bind_mapping(obj, chosen.problem, arch, path)
                else:
                    syntax_only = True
            print(f"ok {path} ({kind})")
        except CpmapError as e:
            _error(e)
            failed = True
    if syntax_only:
        print("note: mapping files were checked for syntax only; give --arch and --workload "
              "to check them against a layer", file=sys.stderr)
    return EXIT_ERROR if failed else EXIT_OK


# --------------------------------------------------------------------------- solve


def _cmd_solve(args: argparse.Namespace) -> int:
    # imported here: `cpmap evaluate` and `check` need not load OR-Tools
    from ..network.batch import run_batch
    from ..network.cache import Cache
    from ..network.progress import Progress
    from ..report.solve import format_solve, solve_json, write_solve_report

    overrides = {"time_limit": args.time_limit, "work_limit": args.work_limit, "workers": args.workers,
                 "seed": args.seed, "objective": args.objective, "encoding": args.encoding, "top_k": args.top,
                 "batch": args.batch, "output": args.out,
                 "layers": args.layers.split(",") if args.layers is not None else None}
    plan = load_solve_spec(args.spec, overrides)
    if plan.objective == "pareto":
        return interop.solve_pareto(plan, args)
    if plan.pipeline.mode != "none":
        return solve_pipeline(plan, args)
    progress = Progress(len(plan.layers), enabled=not args.quiet and sys.stderr.isatty())
    batch = run_batch(plan, jobs=args.jobs, cache=None if args.no_cache else Cache(), progress=progress)
    data = solve_json(batch)
    files, report_error = {}, None
    try:
        files = write_solve_report(batch, data, plan.output)
    except OSError as e:
        report_error = f"{plan.output}: cannot write the report directory: {e.strerror or e}"
    if args.json:
        print(json.dumps(data, indent=1))
    else:
        print(format_solve(batch, data, files), end="")
        if report_error is None:
            print(f"\nreport: {plan.output}/ (summary.md, layers.csv, result.json, energy.png, mappings/, "
                  "evaluations/)")
    if report_error is not None:
        _error(report_error)
        return EXIT_ERROR
    total = data["total"]
    if batch.interrupted:
        print(f"cpmap: interrupted: {total['with_mapping']} of {total['layers']} layers have a mapping; "
              "finished layers are cached, re-run the same command to continue", file=sys.stderr)
        return EXIT_INTERRUPTED
    if batch.failed:
        reasons = "; ".join(f"{o.layer.name} ({o.status}: {o.solution.reason if o.solution else ''})"
                            for o in batch.failed[:5])
        more = f"; and {len(batch.failed) - 5} more" if len(batch.failed) > 5 else ""
        print(f"cpmap: {len(batch.failed)} of {len(batch.outcomes)} layers have no mapping: {reasons}{more}",
              file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK


# --------------------------------------------------------------------------- compare


def _cmd_compare(args: argparse.Namespace) -> int:
    # imported here: `cpmap evaluate` and `check` need not load OR-Tools
    from ..network.compare import Budgets, parse_methods, run_compare, with_workers
    from ..report.compare import compare_json, format_table, write_compare_report

    methods = parse_methods(args.methods)
    overrides = {"seed": args.seed, "objective": args.objective, "batch": args.batch, "workers": args.workers,
                 "work_limit": args.work_limit, "layers": args.layers.split(",") if args.layers is not None else None}
    plan = load_solve_spec(args.spec, overrides)
    if plan.objective == "pareto":
        raise CpmapError("compare: objective pareto is for cpmap solve; compare energy, delay or edp")
    if plan.pipeline.mode != "none":
        warn(f"compare: the spec's pipeline (mode {plan.pipeline.mode}) is ignored: compare maps each layer alone, "
             "its input and output in DRAM")
    budget = args.budget if args.budget is not None else plan.time_limit
    budgets = with_workers(Budgets(
        time_limit=args.time_limit or budget, budget=budget, samples=args.samples, population=args.population,
        generations=args.generations, steps=args.steps, exhaustive_limit=args.exhaustive_limit, seed=plan.seed,
        encoding=plan.encoding, work_limit=plan.work_limit), plan.workers)
    out_dir = args.out or default_output(args.spec, "compare-")
    run = run_compare(plan, methods, budgets, progress=not args.quiet and sys.stderr.isatty())
    data = compare_json(run)
    try:
        files = write_compare_report(data, out_dir)
    except OSError as e:
        _error(f"{out_dir}: cannot write the report directory: {e.strerror or e}")
        return EXIT_ERROR
    if args.json:
        print(json.dumps(data, indent=1))
    else:
        print(format_table(data), end="")
        print(f"\nreport: {', '.join(files)}")
    if run.interrupted:
        print(f"cpmap: interrupted: {len(run.layers)} of {len(plan.layers)} layers compared (the last one "
              "partly); the report holds what finished", file=sys.stderr)
        return EXIT_INTERRUPTED
    failed = [f"{lay['name']} {row['method']} ({row['status']}: {row['reason']})" for lay in data["layers"]
              for row in lay["methods"]
              if row["status"] == "error" or (row["method"] == "cpsat" and row["best_cost"] is None)]
    if failed:
        more = f"; and {len(failed) - 5} more" if len(failed) > 5 else ""
        print(f"cpmap: {len(failed)} runs failed or left cpsat without a mapping: {'; '.join(failed[:5])}{more}",
              file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cpmap",
        description="Exact mapper for DNN accelerators: solve, evaluate and check loop-nest mappings "
                    "described in YAML (see docs/specs.md for the file formats).",
        epilog="exit codes: 0 ok, 1 mapping invalid (evaluate) or a layer without a mapping (solve), "
               "2 user error (bad spec, missing file), 130 interrupted",
    )
    parser.add_argument("--version", action="version", version=f"cpmap {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    _add_solve(sub)
    _add_compare(sub)
    _add_evaluate(sub)
    _add_check(sub)
    interop.add_commands(sub)
    sweep.add_command(sub)
    return parser


def _add_evaluate(sub) -> None:
    p = sub.add_parser(
        "evaluate", help="cost one mapping of one layer (energy, accesses, cycles)",
        description="Evaluate a mapping with the exact analytical cost model (docs/cost-model.md) "
                    "and print energy by level and tensor, accesses, network traffic, cycles and "
                    "utilization.  Exit 0 if the mapping is valid, 1 if it breaks a resource "
                    "limit (all reasons are printed), 2 on a user error.",
        epilog="example: cpmap evaluate --arch specs/eyeriss.yaml "
               "--workload specs/examples/conv-small.yaml "
               "--mapping specs/examples/conv-small-mapping-eyeriss.yaml")
    p.add_argument("--arch", required=True, metavar="FILE", help="architecture spec (YAML)")
    p.add_argument("--workload", required=True, metavar="FILE", help="workload spec (YAML)")
    p.add_argument("--mapping", required=True, metavar="FILE", help="mapping spec (YAML)")
    p.add_argument("--layer", metavar="NAME",
                   help="workload layer to map (default: the mapping file's 'layer:', else the "
                        "workload's only layer)")
    p.add_argument("--json", action="store_true", help="print the result as JSON instead of tables")
    p.add_argument("--compat", choices=["timeloop"],
                   help="count as timeloop-model v3.0.x does: bounding-box window tiles, read-backs to every "
                        "child of a reduction group (docs/cost-model.md section 8; default: cpmap's model)")
    p.add_argument("--png", metavar="FILE", help="also draw the node array of the mesh fanout, each node "
                   "labelled with the loop indices it holds (docs/multinode.md)")
    p.set_defaults(run=_cmd_evaluate)


def _add_check(sub) -> None:
    p = sub.add_parser(
        "check", help="validate spec files (architecture, workload, mapping)",
        description="Validate each spec file, detecting its kind from its top-level key.  "
                    "Mapping files are checked against a layer only when --arch and --workload "
                    "are given.  Prints 'ok FILE (KIND)' per good file and one error line per bad "
                    "one; exit 2 if any failed.")
    p.add_argument("files", nargs="+", metavar="FILE", help="spec files to check")
    p.add_argument("--arch", metavar="FILE", help="architecture to check mapping files against")
    p.add_argument("--workload", metavar="FILE", help="workload to check mapping files against")
    p.add_argument("--layer", metavar="NAME", help="layer for mapping files without 'layer:'")
    p.set_defaults(run=_cmd_check)




def _add_solve(sub) -> None:
    p = sub.add_parser(
        "solve", help="find the best mapping of every layer of a solve spec, with a certified gap",
        description="Solve the layers named by a solve spec (docs/specs.md, 'Solve spec') with CP-SAT. "
                    "For each layer print the status (OPTIMAL, FEASIBLE, INFEASIBLE with the reason, "
                    "UNKNOWN), the best mapping as a mapping file, its evaluator result, the certified "
                    "lower bound and gap; write a report directory (summary.md, layers.csv, result.json, "
                    "energy.png, mappings/).  Identical layers are solved once, unique layers in parallel, "
                    "answers cached on disk (docs/batch.md).  Flags override the spec.  Exit 0 if every "
                    "layer got a mapping, 1 if some did not, 2 on a user error, 130 if interrupted "
                    "(finished layers are cached: re-run to continue).",
        epilog="example: cpmap solve specs/examples/conv-small-solve.yaml")
    p.add_argument("spec", metavar="SPEC", help="solve spec (YAML with top-level key 'solve:')")
    add_limit_flags(p, "spec", time_default="; default 10", workers_default="1")
    # objective and encoding are checked with the spec's fields (cpmap.spec.solve), so that
    # building the parser does not import OR-Tools
    p.add_argument("--objective", metavar="{energy,delay,edp,pareto}",
                   help="what to minimize (default energy); pareto: each layer's energy-delay front")
    p.add_argument("--pareto-points", type=positive(int), default=6, metavar="N",
                   help="pareto: cycle caps between the two optima (default 6; docs/solver.md)")
    p.add_argument("--encoding", metavar="{exact,pwl}", help="energy encoding of the model (default exact)")
    p.add_argument("--top", type=positive(int), metavar="K", help="report the K best distinct mappings per layer")
    p.add_argument("--layers", metavar="A,B", help="comma-separated layer names (default: the spec's 'layers:', "
                                                 "else every layer)")
    p.add_argument("--batch", type=positive(int), metavar="N", help="workload batch size (overrides the workload)")
    p.add_argument("--out", metavar="DIR", help="report directory (default: the spec's 'output:', else "
                                               "cpmap-out/<spec name>)")
    p.add_argument("--json", action="store_true", help='print one JSON object {"layers": [...], "total": {...}}')
    p.add_argument("--jobs", type=positive(int), metavar="N", help="layers solved in parallel (default: cores)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the on-disk cache")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_cmd_solve)


def _add_compare(sub) -> None:
    p = sub.add_parser(
        "compare", help="CP-SAT against random search, a genetic algorithm, annealing and exhaustive search",
        description="Map every selected layer of a solve spec with each method (same mapping space, same "
                    "constraints, same evaluator) and print per layer and method: the best energy, cycles "
                    "(and EDP), wall time, evaluator calls, the ratio to CP-SAT's best and to its certified "
                    "lower bound.  Writes compare.json, compare.csv and compare.png (best-so-far cost vs "
                    "wall time) into --out (docs/compare.md).  Exit 0 if every method ran (a refused "
                    "exhaustive search is a result), 1 if a method failed or CP-SAT found no mapping, 2 on "
                    "a user error, 130 if interrupted.",
        epilog="example: cpmap compare specs/examples/conv-small-solve.yaml --methods cpsat,random,ga --budget 5")
    p.add_argument("spec", metavar="SPEC", help="solve spec (YAML with top-level key 'solve:')")
    p.add_argument("--methods", default="cpsat,random,ga,exhaustive", metavar="M,M",
                   help="comma-separated, from cpsat, random, ga, exhaustive, anneal (default "
                        "cpsat,random,ga,exhaustive)")
    p.add_argument("--budget", type=positive(float), metavar="S",
                   help="wall seconds per layer for each method (default: the spec's time_limit)")
    p.add_argument("--time-limit", type=positive(float), metavar="S",
                   help="CP-SAT's wall-clock seconds per layer (default: the budget)")
    p.add_argument("--work-limit", type=positive(float), metavar="W",
                   help="CP-SAT's deterministic seconds per layer (default: the spec's, else half its time limit)")
    p.add_argument("--samples", type=nonneg_int, default=100_000, metavar="N",
                   help="random search: mappings drawn per layer, within the budget (default 100000; 0: "
                        "until the budget)")
    p.add_argument("--generations", type=nonneg_int, default=50, metavar="G",
                   help="genetic algorithm: generations, within the budget (default 50; 0: until the budget)")
    p.add_argument("--population", type=positive(int), default=100, metavar="P",
                   help="genetic algorithm: population (default 100)")
    p.add_argument("--steps", type=nonneg_int, default=20_000, metavar="N",
                   help="annealing: steps, within the budget (default 20000; 0: until the budget, which "
                        "then sets the cooling)")
    p.add_argument("--exhaustive-limit", type=positive(int), default=DEFAULT_LIMIT, metavar="N",
                   help=f"exhaustive search refuses spaces with more mappings (default {DEFAULT_LIMIT})")
    p.add_argument("--seed", type=seed, metavar="N", help="seed of every method (default: the spec's, else 0)")
    p.add_argument("--workers", type=positive(int), metavar="N",
                   help="CP-SAT workers (default: the spec's, else 1, like each searcher)")
    p.add_argument("--objective", metavar="{energy,delay,edp}", help="what to minimize (default: the spec's)")
    p.add_argument("--layers", metavar="A,B", help="comma-separated layer names (default: the spec's)")
    p.add_argument("--batch", type=positive(int), metavar="N", help="workload batch size (overrides the workload)")
    p.add_argument("--out", metavar="DIR", help="report directory (default cpmap-out/compare-<spec name>)")
    p.add_argument("--json", action="store_true", help="print the compare.json object instead of the table")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(run=_cmd_compare)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: usage errors (2), --help/--version (0)
        return e.code if isinstance(e.code, int) else EXIT_ERROR
    if not hasattr(args, "run"):
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    try:
        return args.run(args)
    except CpmapError as e:
        _error(e)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("cpmap: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `cpmap evaluate ... | head`: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
