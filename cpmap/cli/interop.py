"""The interop commands of ``cpmap`` (docs/interop.md): ``import`` (ONNX models, Timeloop
directories), ``export timeloop`` and ``bound``.  Parse, call, print, exit codes; user
mistakes raise :class:`~cpmap.core.errors.CpmapError`, which ``cpmap.cli.main`` prints on
one line with exit code 2."""

from __future__ import annotations

import argparse
import os
import sys

from ..core.errors import CpmapError
from ..core.output import DEFAULT_OUTPUT_ROOT, atomic_write_text, warn
from .codes import EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK
from .flags import add_limit_flags, positive


def add_commands(sub) -> None:
    _add_import(sub)
    _add_export(sub)
    _add_bound(sub)


# --------------------------------------------------------------------------- pareto


def solve_pareto(plan, args: argparse.Namespace) -> int:
    """``cpmap solve`` with objective pareto: each layer's front, pareto.json and PNGs."""
    import json

    from ..network.pareto import run_pareto
    from ..report.pareto import format_pareto, pareto_json, write_pareto_report

    if args.top not in (None, 1) or args.encoding not in (None, "exact"):
        raise CpmapError("--objective pareto: --top and --encoding pwl do not apply (each point is one exact solve)")
    run = run_pareto(plan, args.pareto_points, progress=not args.quiet and sys.stderr.isatty())
    try:
        files = write_pareto_report(run, plan.output)
    except OSError as e:
        raise CpmapError(f"{plan.output}: cannot write the report directory: {e.strerror or e}") from None
    print(json.dumps(pareto_json(run), indent=1) if args.json else format_pareto(run, files), end="")
    if run.interrupted:
        print(f"cpmap: interrupted: {len(run.fronts)} of {len(plan.layers)} layers have a front", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK if all(f.points for _, f in run.fronts) else EXIT_INVALID


# --------------------------------------------------------------------------- bound


def _cmd_bound(args: argparse.Namespace) -> int:
    import json

    from ..core.constraints import Constraints
    from ..network.bound import run_bounds
    from ..network.cache import Cache
    from ..report.bound import bounds_json, format_bounds
    from ..spec.claims import read_claims
    from ..spec.solve import load_solve_spec

    plan = load_solve_spec(args.spec, {"time_limit": args.time_limit, "work_limit": args.work_limit,
                                       "workers": args.workers})
    if plan.pipeline.mode != "none":
        warn(f"bound: the spec's pipeline (mode {plan.pipeline.mode}) is ignored: these bounds hold for layer-by-layer "
             "execution, and a pipelined schedule can go below them (cpmap solve reports its network bound)")
    claims = read_claims(args.claim, plan.workload.layer_names) if args.claim else {}
    report = run_bounds(plan, claims, jobs=args.jobs, cache=None if args.no_cache else Cache(),
                        quiet=args.quiet or not sys.stderr.isatty())
    print(json.dumps(bounds_json(report), indent=1) if args.json else format_bounds(report, plan.constraints != Constraints()), end="\n" if args.json else "")
    if report.interrupted:
        print("cpmap: interrupted: the bounds of unfinished layers are missing", file=sys.stderr)
        return EXIT_INTERRUPTED
    rows = (*report.layers, report.network)
    return EXIT_INVALID if any(r.energy.impossible or r.cycles.impossible for r in rows) else EXIT_OK


def _add_bound(sub) -> None:
    p = sub.add_parser(
        "bound", help="certified lower bounds of energy and cycles, and other tools' claims against them",
        description="For every layer of a solve spec and for the network: the compulsory-traffic floor (every "
                    "weight and input read from DRAM once, every output written once) beside the solver's "
                    "certified lower bounds of energy and cycles; with --claim, which claimed energies or "
                    "cycles (CSV: layer,energy_pj[,cycles]; layer 'network' for a total) are below the bound, "
                    "i.e. impossible under the cost model, and by how much (docs/interop.md).  Exit 0 ok, 1 a "
                    "claim is impossible, 2 a user error, 130 interrupted.",
        epilog="example: cpmap bound specs/examples/alexnet-eyeriss.yaml --claim claims.csv")
    p.add_argument("spec", metavar="SPEC", help="solve spec (YAML with top-level key 'solve:')")
    p.add_argument("--claim", metavar="FILE", help="claimed energies/cycles (CSV: layer,energy_pj[,cycles])")
    add_limit_flags(p, "spec", per="per layer and objective", with_seed=False)
    p.add_argument("--jobs", type=positive(int), metavar="N", help="layers solved in parallel (default: cores)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the on-disk cache")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_cmd_bound)


# --------------------------------------------------------------------------- import


def _cmd_import(args: argparse.Namespace) -> int:
    if args.source == "timeloop":
        return _import_timeloop(args)
    if args.directory is not None:
        raise CpmapError(f"import: unexpected argument {args.directory!r} after an ONNX model "
                         "(only `cpmap import timeloop DIR` takes a directory)")
    if not args.source.lower().endswith(".onnx"):
        raise CpmapError(f"import: expected an ONNX model (a .onnx file) or `timeloop DIR`, got {args.source!r}")
    from ..spec.onnx import load_onnx_workload_obj, workload_yaml
    from ..spec.workload import workload_from_obj

    obj, summary = load_onnx_workload_obj(args.source, args.batch)
    workload = workload_from_obj(obj, args.source)  # the same checks as a workload file gets
    out = args.out or os.path.join(DEFAULT_OUTPUT_ROOT, os.path.splitext(os.path.basename(args.source))[0] + ".yaml")
    text = workload_yaml(obj, args.source, summary)
    if out == "-":
        sys.stdout.write(text)
    else:
        _write(out, text)
        print(f"wrote {out}: workload {workload.name}, {len(workload.layers)} layers, "
              f"{workload.macs:,} ops at batch {obj['workload']['batch']}")
    print(summary.text(), file=sys.stderr if out == "-" else sys.stdout)
    return EXIT_OK


def _import_timeloop(args: argparse.Namespace) -> int:
    from ..cost.evaluator import evaluate
    from ..report.evaluation import format_result
    from ..spec.arch import arch_to_obj
    from ..spec.mapping import mapping_to_yaml
    from ..spec.timeloop_import import import_timeloop
    from ..spec.workload import layer_to_obj

    if args.directory is None:
        raise CpmapError("import timeloop: expected the directory to read: cpmap import timeloop DIR")
    if args.batch is not None:
        raise CpmapError("import timeloop: --batch applies to ONNX models only (the Timeloop problem gives N)")
    arch, problem, mapping = import_timeloop(args.directory)
    out = args.out or os.path.join(args.directory, "cpmap")
    import yaml

    layer = {"workload": {"name": problem.name, "layers": [layer_to_obj(problem.name, problem)]}}
    for name, text in (("arch.yaml", yaml.safe_dump(arch_to_obj(arch), sort_keys=False)),
                       ("workload.yaml", yaml.safe_dump(layer, sort_keys=False, default_flow_style=None)),
                       ("mapping.yaml", mapping_to_yaml(mapping, problem.name))):
        _write(os.path.join(out, name), text)
    result = evaluate(problem, arch, mapping)
    print(f"wrote {out}/arch.yaml, workload.yaml, mapping.yaml (layer {problem.name})\n")
    print(format_result(result, problem, arch), end="")
    return EXIT_OK if result.valid else EXIT_INVALID


# --------------------------------------------------------------------------- export


def _cmd_export(args: argparse.Namespace) -> int:
    from ..core.output import warn
    from ..spec.arch import load_arch
    from ..spec.mapping import load_mapping_for
    from ..spec.timeloop import export_timeloop
    from ..spec.workload import load_workload

    arch = load_arch(args.arch)
    workload = load_workload(args.workload)
    layer, mapping = load_mapping_for(args.mapping, workload, arch, args.layer)
    export = export_timeloop(arch, layer.problem, mapping)
    out = args.out or os.path.join(DEFAULT_OUTPUT_ROOT, f"timeloop-{layer.name}")
    for name, text in export.files.items():
        _write(os.path.join(out, name), text)
    for w in export.warnings:
        warn(w)
    print(f"wrote {out}/: {', '.join(export.files)} (layer {layer.name}; timeloop-model "
          f"{out}/arch.yaml {out}/problem.yaml {out}/mapping.yaml {out}/ERT.yaml)")
    from ..cost.evaluator import evaluate

    modes = (("cpmap", None), ("cpmap --compat timeloop", "timeloop"))
    if arch.beyond_flat:  # the compat mode has neither (docs/cost-model.md sections 8, 10)
        warn(f"{arch.name}: mesh NoC hops and static energy have no Timeloop equivalent: a mesh is exported "
             "as a plain fanout, and cpmap's energy below includes them (no --compat timeloop line)")
        modes = modes[:1]
    for label, compat in modes:
        r = evaluate(layer.problem, arch, mapping, compat=compat)
        network = sum(r.energy_breakdown["network"].values())
        print(f"{label}: {r.energy_pj:,.2f} pJ ({r.energy_pj - network:,.2f} pJ without the array network, which "
              f"timeloop-model models its own way), {r.cycles:,} cycles{'' if r.valid else ', INVALID'}")
    return EXIT_OK


def _add_export(sub) -> None:
    p = sub.add_parser(
        "export", help="write a mapping as Timeloop input files (timeloop-model v3.0.x)",
        description="`cpmap export timeloop --arch A --workload W [--layer L] --mapping M [-o DIR]` writes the "
                    "architecture (v0.3 tree), problem, mapping, ERT and bypass constraints that timeloop-model "
                    "reads, so it can score cpmap's answer; features without a Timeloop equivalent are warned "
                    "about (docs/interop.md).  Exit 0 ok, 2 a user error.",
        epilog="example: cpmap export timeloop --arch specs/eyeriss.yaml --workload specs/examples/conv-small.yaml "
               "--mapping specs/examples/conv-small-mapping-eyeriss.yaml -o cpmap-out/tl")
    p.add_argument("tool", choices=["timeloop"], help="the tool to export for (timeloop)")
    p.add_argument("--arch", required=True, metavar="FILE", help="architecture spec (YAML)")
    p.add_argument("--workload", required=True, metavar="FILE", help="workload spec (YAML or .onnx)")
    p.add_argument("--mapping", required=True, metavar="FILE", help="mapping spec (YAML)")
    p.add_argument("--layer", metavar="NAME", help="workload layer (default: the mapping file's 'layer:')")
    p.add_argument("-o", "--out", metavar="DIR", help="directory to write (default cpmap-out/timeloop-<layer>)")
    p.set_defaults(run=_cmd_export)


def _write(path: str, text: str) -> None:
    directory = os.path.dirname(path)
    if directory and os.path.exists(directory) and not os.path.isdir(directory):
        raise CpmapError(f"--out: expected a directory, got the file {directory}")
    try:
        atomic_write_text(path, text)
    except OSError as e:
        raise CpmapError(f"{path}: cannot write: {e.strerror or e}") from None


def _add_import(sub) -> None:
    p = sub.add_parser(
        "import", help="an ONNX model as a workload file, or a Timeloop directory as cpmap files",
        description="`cpmap import model.onnx [-o workload.yaml] [--batch N]` reads an ONNX graph (needs the "
                    "onnx extra: pip install -e '.[onnx]'), runs ONNX shape inference and writes a cpmap "
                    "workload: Conv, Gemm/MatMul, pools and Add become layers, MAC-free ops are skipped and "
                    "listed, an unsupported op with MACs is an error naming the node.  `cpmap import timeloop "
                    "DIR` reads a Timeloop architecture, problem and mapping (as `cpmap export timeloop` "
                    "writes them) back into cpmap files and evaluates them (docs/interop.md).  Exit 0 ok, "
                    "1 the imported mapping is invalid, 2 a user error.",
        epilog="examples: cpmap import model.onnx -o model.yaml --batch 16; cpmap import timeloop cpmap-out/tl")
    p.add_argument("source", metavar="MODEL.onnx|timeloop", help="an ONNX model, or the word 'timeloop'")
    p.add_argument("directory", nargs="?", metavar="DIR", help="with 'timeloop': the directory to read")
    p.add_argument("-o", "--out", metavar="PATH",
                   help="ONNX: the workload file to write ('-' for stdout; default cpmap-out/<model>.yaml); "
                        "timeloop: the directory for the cpmap files (default DIR/cpmap)")
    p.add_argument("--batch", type=positive(int), metavar="N", help="ONNX: the batch (default: the model's)")
    p.set_defaults(run=_cmd_import)

