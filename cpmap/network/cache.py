"""The on-disk cache of solved layer problems, and the keys that identify a problem.

One JSON file per unique problem under :func:`default_cache_dir`, named by the sha256 of
a canonical JSON of everything that determines the answer's meaning
(:func:`problem_key`; equal keys also mean identical problems to dedupe).  Entries hold
the mappings, status, bound and seconds; on load the mappings are re-evaluated by the
evaluator (stored costs are never trusted) and an entry is reused only when it answers
the request (:meth:`Cache.load`).  Writes are atomic (temporary file + ``os.replace``), so
concurrent runs sharing the directory and runs killed mid-write leave only complete
entries; the temporary files of killed writers are removed by the next run that stores.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import fields, is_dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .. import solve as solve_pkg
from ..core.arch import Arch
from ..core.errors import CpmapError
from ..core.objectives import objective_value
from ..core.options import SolveOptions
from ..core.output import atomic_write_text, remove_orphaned_temp_files, warn
from ..core.problem import Problem
from ..core.version import __version__
from ..cost.evaluator import evaluate
from ..solve.layer import Candidate, LayerSolution
from ..spec.mapping import mapping_from_obj, mapping_to_obj

CACHE_ENV = "CPMAP_CACHE"
CACHE_FORMAT = 2
"""Bumped when the entry layout changes; part of the key and of the directory name."""
PROVEN = ("OPTIMAL", "INFEASIBLE")
"""Statuses that stay true whatever the time limit, seed or worker count."""


def default_cache_dir() -> Path:
    """``$CPMAP_CACHE``, else ``$XDG_CACHE_HOME/cpmap``, else ``~/.cache/cpmap``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "cpmap"



def _canon(obj: Any) -> Any:
    """A JSON-able canonical form: dataclasses as dicts of their fields, sets sorted."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _canon(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, dict):
        items = sorted(((json.dumps(_canon(k), sort_keys=True), _canon(v)) for k, v in obj.items()))
        return [[k, v] for k, v in items]
    if isinstance(obj, (set, frozenset)):
        return sorted(_canon(x) for x in obj)
    if isinstance(obj, (list, tuple)):
        return [_canon(x) for x in obj]
    if isinstance(obj, float) and obj.is_integer():
        return int(obj)  # 1.0 and 1 are the same energy
    return obj


def problem_obj(problem: Problem) -> dict:
    """Everything that defines a layer problem except its name."""
    obj = _canon(problem)
    del obj["name"]
    return obj


def _arch_obj(arch: Arch) -> dict:
    obj = _canon(arch)
    del obj["name"]  # the name changes no count; level names do (mappings name levels)
    for lv in obj["levels"]:  # a whole mesh keys as before regions existed (cache entries stay valid)
        mem = lv.get("memory")
        if mem is not None and mem["mesh_shape"] is None:
            del mem["mesh_shape"], mem["origin"]
    return obj


@lru_cache(maxsize=1)
def solver_fingerprint() -> str:
    """sha256 of the solver's source: a changed model may change statuses and bounds, so it
    invalidates cached answers (mappings are re-evaluated anyway)."""
    h = hashlib.sha256()
    for path in sorted(Path(solve_pkg.__file__).parent.glob("*.py")):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def key_material(problem: Problem, arch: Arch, options: SolveOptions) -> dict:
    """What a cached answer is keyed by.  Not in it: the layer name, and the time and work
    limits, seed, workers, search mode and top-k, which :meth:`Cache.load` compares
    instead (a proven answer is valid for any of them)."""
    return {
        "format": CACHE_FORMAT,
        "cpmap": __version__,
        "solver": solver_fingerprint(),
        "problem": problem_obj(problem),
        "arch": _arch_obj(arch),
        "objective": options.objective,
        "encoding": options.encoding,
        "constraints": _canon(options.constraints),
    }


def problem_key(problem: Problem, arch: Arch, options: SolveOptions) -> str:
    """sha256 (hex) of the canonical JSON of :func:`key_material`: equal keys are the same
    problem to solve (dedupe) and the same cache entry."""
    text = json.dumps(key_material(problem, arch, options), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class Cache:
    """Solved layer problems on disk, one JSON file per key (docs/batch.md)."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()
        self._write_failed = False
        self._swept = False

    def path(self, key: str) -> Path:
        return self.root / f"v{CACHE_FORMAT}" / key[:2] / f"{key}.json"

    def load(self, key: str, problem: Problem, arch: Arch, options: SolveOptions,
             name: str | None = None) -> LayerSolution | None:
        """The cached answer for ``key`` if it answers ``options``, re-evaluated; else None.

        Reused: OPTIMAL (with at least ``top_k`` mappings stored) and INFEASIBLE for any
        limits, seed and worker count; FEASIBLE and UNKNOWN only for the same seed, workers
        and search mode (``deterministic``) and time and work limits at least the requested
        ones (a fresh solve could not do better).  Unreadable or inconsistent entries are
        ignored (and overwritten later)."""
        path = self.path(key)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            warn(f"ignoring unreadable cache entry {path}: {e}")
            return None
        try:
            return self._answer(entry, key, problem, arch, options, name or problem.name)
        except (CpmapError, KeyError, TypeError, ValueError) as e:
            warn(f"ignoring inconsistent cache entry {path}: {' '.join(str(e).split())}")
            return None

    @staticmethod
    def _answer(entry: dict, key: str, problem: Problem, arch: Arch, options: SolveOptions,
                name: str) -> LayerSolution | None:
        if entry.get("format") != CACHE_FORMAT or entry.get("key") != key:
            return None
        status = entry["status"]
        if status == "OPTIMAL":
            if entry["top_k"] < options.top_k:
                return None
        elif status != "INFEASIBLE":
            same_run = (entry["seed"] == options.seed and entry["workers"] == options.workers
                        and entry["deterministic"] == options.deterministic)
            if (not same_run or not _covers(entry["time_limit"], options.time_limit)
                    or not _covers(entry["work_limit"], options.work) or entry["top_k"] < options.top_k):
                return None
        candidates = []
        for obj in entry["mappings"][: options.top_k]:
            mapping = mapping_from_obj(obj, problem, arch, "<cache>")
            result = evaluate(problem, arch, mapping)
            if not result.valid:
                raise ValueError(f"stored mapping is invalid: {'; '.join(result.errors)}")
            candidates.append(Candidate(mapping, result))
        if (status in ("OPTIMAL", "FEASIBLE")) != bool(candidates):
            raise ValueError(f"status {status} with {len(candidates)} mappings")
        bound = entry["lower_bound"]
        if bound is not None and candidates:
            value = objective_value(candidates[0].result, options.objective)
            if bound > value * (1 + 1e-9) + 1e-6:
                raise ValueError(f"stored lower bound {bound} exceeds the re-evaluated value {value}")
        return LayerSolution(name, status, candidates[0] if candidates else None, bound,
                             float(entry["solve_seconds"]), options.objective, entry.get("reason", ""),
                             tuple(candidates), stopped_by=entry["stopped_by"], work=float(entry["work"]))

    def store(self, key: str, options: SolveOptions, solution: LayerSolution) -> None:
        """Write the answer atomically (a temporary file in the same directory, then
        ``os.replace``); a failure to write is a warning, not an error.  An unproven
        answer records the limits it stands for: the work limit that stopped it with no
        time limit (None: a longer wall-clock limit would not change it), the time limit
        that stopped it (the one requested, even if the solve reported slightly less) with
        no work limit, and for any other stop (Ctrl-C reaching a
        worker whose parent ignores it) the seconds and work it actually took, so that it
        never passes for a full search."""
        seconds, work = options.time_limit, options.work
        if solution.status not in PROVEN:
            stop = solution.stopped_by
            # a wall-clock stop searched for the whole limit (honoured within 10%), so the
            # answer stands for it even when the clock read a little under it
            seconds = (None if stop == "work_limit" else seconds if stop == "time_limit"
                       else min(seconds, solution.solve_seconds))
            work = None if stop == "time_limit" else solution.work if stop != "work_limit" else work
        mappings = [mapping_to_obj(c.mapping) for c in (solution.alternatives or
                                                          ((solution.best,) if solution.best else ()))]
        entry = {
            "format": CACHE_FORMAT,
            "key": key,
            "cpmap": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "layer": solution.name,
            "status": solution.status,
            "reason": solution.reason,
            "objective": solution.objective,
            "lower_bound": solution.lower_bound,
            "solve_seconds": solution.solve_seconds,
            "stopped_by": solution.stopped_by,
            "work": solution.work,
            "time_limit": seconds,
            "work_limit": work,
            "seed": options.seed,
            "workers": options.workers,
            "deterministic": options.deterministic,
            "top_k": options.top_k,
            "mappings": mappings,
        }
        path = self.path(key)
        if not self._swept:  # once per run: temporary files of runs killed mid-write
            self._swept = True
            remove_orphaned_temp_files(self.root.glob(f"v{CACHE_FORMAT}/*/"))
        try:
            atomic_write_text(path, json.dumps(entry, indent=1) + "\n")
        except OSError as e:
            if not self._write_failed:
                warn(f"cannot write the cache under {self.root} ({e.strerror or e}); results are not cached")
            self._write_failed = True


def _covers(stored: float | None, requested: float | None) -> bool:
    """Whether an unproven answer searched within limit ``stored`` answers a request with
    limit ``requested`` (None: unlimited)."""
    return stored is None or (requested is not None and stored >= requested)
