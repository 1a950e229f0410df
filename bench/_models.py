"""The bundled models' layers as the solve benchmarks pick them, and how those benchmarks
print their table and write their result (one definition for layers.py, dataflows.py and
mesh_solve.py)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from _machine import git_commit, loadavg_text

from cpmap.core.problem import Problem
from cpmap.core.workload import Workload
from cpmap.spec import read_yaml, workload_from_obj

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_model(model: str, batch: int | None = None) -> Workload:
    """models/<model>.yaml, at ``batch`` when given (else the file's batch)."""
    path = os.path.join(ROOT, "models", f"{model}.yaml")
    obj = read_yaml(path)
    if batch is not None:
        obj["workload"]["batch"] = batch
    return workload_from_obj(obj, path)


def layer_problems(entries: Iterable[tuple[str, str, str]], batch: int | None = None,
                   only: str = "") -> Iterator[tuple[str, Problem]]:
    """(label, problem) of each (label, model file, layer name) whose label contains ``only``;
    each model read once."""
    cache: dict[str, Workload] = {}
    for label, model, layer in entries:
        if only not in label:
            continue
        if model not in cache:
            cache[model] = load_model(model, batch)
        yield label, cache[model].layer(layer).problem


def print_header(header: str) -> None:
    print(header)
    print("-" * len(header))


def gap_text(gap: float | None, decimals: int = 2) -> str:
    """A certified gap as a percentage, '-' without one."""
    return "-" if gap is None else f"{100 * gap:.{decimals}f}%"


def finish(out: str, rows: list, **meta) -> None:
    """Print the load and commit and write {"meta": ..., "rows": rows} to ``out``; the meta
    holds ``meta``, the cores, the load at the end and the commit."""
    meta = {**meta, "cpu_count": os.cpu_count(), "loadavg_at_end": loadavg_text(), **git_commit(Path(ROOT))}
    print(f"\nload {meta['loadavg_at_end']}; commit {meta['commit'][:10]}")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
