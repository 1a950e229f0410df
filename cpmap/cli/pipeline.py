"""``cpmap solve`` with a ``pipeline:`` other than ``none`` (docs/pipeline.md)."""

from __future__ import annotations

import argparse
import json
import sys

from ..core.errors import CpmapError
from .codes import EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK


def solve_pipeline(plan, args: argparse.Namespace) -> int:
    """Schedule the network with the segment ILP; print the segments and totals."""
    from ..network.cache import Cache
    from ..network.pipeline import run_pipeline
    from ..report.pipeline import format_pipeline, pipeline_json, write_pipeline_report

    if args.top not in (None, 1):
        raise CpmapError("--top does not apply with a pipeline (one mapping per layer problem)")
    result = run_pipeline(plan, plan.pipeline, jobs=args.jobs, cache=None if args.no_cache else Cache(),
                          progress=not args.quiet and sys.stderr.isatty())
    data = pipeline_json(result)
    try:
        files = write_pipeline_report(data, plan.output)
    except OSError as e:
        raise CpmapError(f"{plan.output}: cannot write the report directory: {e.strerror or e}") from None
    print(json.dumps(data, indent=1) if args.json else format_pipeline(data, files), end="")
    if result.batch.interrupted:
        print("cpmap: interrupted: finished layer problems are cached, re-run the same command to continue",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    if not result.schedule:
        failed = [c.variant.layers[0] for c in result.candidates
                  if len(c.variant.layers) == 1 and c.value is None]
        print(f"cpmap: no schedule: layers without a mapping: {', '.join(failed) or '-'}", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK
