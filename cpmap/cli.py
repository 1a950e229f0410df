"""The ``cpmap`` command line.

Exit codes: 0 success; 1 ``evaluate`` found the mapping invalid (the result and every
reason are still printed); 2 a user error -- a bad spec, a missing file, a bad command
line -- reported on one line of stderr as ``cpmap: error: <message>``, never a traceback.

Each subcommand is one ``_cmd_*`` function registered in :func:`build_parser`, so new
ones (``solve``) slot in beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from . import __version__
from .arch import Arch
from .errors import CpmapError
from .evaluator import evaluate
from .report import format_result
from .spec import MappingSpec, bind_mapping, load_any, load_arch, load_workload, parse_mapping, read_yaml
from .workload import Layer, Workload

EXIT_OK, EXIT_INVALID, EXIT_ERROR = 0, 1, 2


def _error(message: str) -> None:
    print(f"cpmap: error: {' '.join(str(message).split())}", file=sys.stderr)


def _warn(message: str) -> None:
    print(f"cpmap: warning: {message}", file=sys.stderr)


def pick_layer(workload: Workload, requested: str | None, from_mapping: str | None) -> Layer:
    """The layer to map: ``--layer``, else the mapping file's ``layer:``, else the
    workload's only layer."""
    if requested and from_mapping and requested != from_mapping:
        _warn(f"--layer {requested} overrides the mapping file's 'layer: {from_mapping}'")
    name = requested or from_mapping
    if name is not None:
        return workload.layer(name)
    if len(workload.layers) == 1:
        return workload.layers[0]
    raise CpmapError(f"workload {workload.name!r} has {len(workload.layers)} layers; choose one with "
                     f"--layer or 'layer:' in the mapping file: {', '.join(workload.layer_names)}")


def _load_mapping_for(path: str, workload: Workload, arch: Arch, layer: str | None):
    """(layer, mapping) of a mapping file, checked structurally against the layer."""
    spec: MappingSpec = parse_mapping(read_yaml(path), path)
    chosen = pick_layer(workload, layer, spec.layer)
    return chosen, bind_mapping(spec, chosen.problem, arch, path)


# --------------------------------------------------------------------------- evaluate


def _cmd_evaluate(args: argparse.Namespace) -> int:
    arch = load_arch(args.arch)
    workload = load_workload(args.workload)
    layer, mapping = _load_mapping_for(args.mapping, workload, arch, args.layer)
    result = evaluate(layer.problem, arch, mapping)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(format_result(result, layer.problem, arch), end="")
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
                    chosen = pick_layer(workload, args.layer, obj.layer)
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


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cpmap",
        description="Exact mapper for DNN accelerators: evaluate and check loop-nest mappings "
                    "described in YAML (see docs/specs.md for the file formats).",
        epilog="exit codes: 0 ok, 1 mapping invalid (evaluate), 2 user error (bad spec, missing file)",
    )
    parser.add_argument("--version", action="version", version=f"cpmap {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    _add_evaluate(sub)
    _add_check(sub)
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
    except BrokenPipeError:  # e.g. `cpmap evaluate ... | head`: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
