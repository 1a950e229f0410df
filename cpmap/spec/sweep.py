"""Sweep files: a base architecture, the parameters to vary, the networks to map
(docs/sweep.md).  A sweep file's top-level key is ``sweep:``; it is loaded strictly like
every spec (unknown keys refused, every error names the file, the field and what was
expected, exit 2), and every design point's architecture is built and checked before
anything is solved (:mod:`cpmap.spec.sweep_grid`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any

from ..core.arch import Arch
from ..core.constraints import Constraints
from ..core.energy_table import TABLES, EnergyTable
from ..core.objectives import ENCODINGS, OBJECTIVES
from ..core.output import default_output
from ..core.workload import Layer, Workload
from .arch import load_arch
from .fields import (
    MAX_ENERGY_PJ,
    Invalid,
    at,
    check_keys,
    choice,
    energy_pj,
    expect,
    is_number,
    mapping_of,
    opt,
    pos_int,
    req,
    size_in_words,
    with_file,
)
from .loader import read_yaml
from .solve import (
    DEFAULT_TIME_LIMIT,
    SolvePlan,
    check_constraints,
    constraint_syntax,
    file_path,
    layer_names,
    load_workload_file,
    relative_to,
    resolve_file,
    seconds,
    seed_value,
    spec_layers,
)
from .sweep_grid import AreaModel, DesignPoint, Vary, build_points, parse_vary

SWEEP_KEYS = ("arch", "workloads", "vary", "energy_table", "area", "objective", "encoding", "time_limit",
              "work_limit", "workers", "seed", "output")
WORKLOAD_KEYS = ("workload", "batch", "layers", "constraints")
TABLE_KEYS = ("name", "word_bits", "rows")
AREA_KEYS = ("mm2_per_kib", "mm2_per_pe")
DEFAULT_WORKERS = 1
"""CP-SAT workers per layer solve in a sweep: many unique problems share the cores, and one
worker makes every answer reproducible on any engine (docs/batch.md, "Determinism")."""


@dataclass(frozen=True)
class Network:
    """One workload of a sweep: the layers to map and their constraints."""

    file: str
    workload: Workload
    layers: tuple[Layer, ...]
    batch: int | None = None
    constraints: Constraints = field(default_factory=Constraints)


@dataclass(frozen=True)
class SweepSpec:
    """A loaded sweep: every design point's architecture and the networks mapped on each."""

    file: str
    arch_file: str
    base: Arch
    networks: tuple[Network, ...]
    points: tuple[DesignPoint, ...]
    parameters: tuple[str, ...]
    """The varied parameters, in the order of each point's ``params``."""
    energy_table: EnergyTable | None
    area: AreaModel | None
    objective: str = "energy"
    encoding: str = "exact"
    time_limit: float = DEFAULT_TIME_LIMIT
    workers: int = DEFAULT_WORKERS
    seed: int = 0
    output: str = ""
    work_limit: float | None = None
    """CP-SAT deterministic seconds per layer (None: SolveOptions' default, 0.7 x the time limit)."""

    def plans(self, point: DesignPoint) -> tuple[SolvePlan, ...]:
        """One solve plan per network on ``point``'s architecture."""
        return tuple(SolvePlan(self.file, self.arch_file, n.file, point.arch, n.workload, n.layers, n.batch,
                               self.objective, self.encoding, self.time_limit, self.workers, self.seed, 1,
                               n.constraints, self.output, self.work_limit) for n in self.networks)

    def with_time_limit(self, time_limit: float) -> SweepSpec:
        """The same sweep with a shorter wall-clock limit (the pruning pass); a stated work
        limit shrinks with it so it never exceeds the new time limit."""
        work = None if self.work_limit is None else min(self.work_limit, float(time_limit))
        return replace(self, time_limit=float(time_limit), work_limit=work)


def load_sweep_spec(path: str, overrides: dict | None = None) -> SweepSpec:
    """Load a sweep file; ``overrides`` (time_limit, work_limit, workers, seed, output; None ignored)
    replace its fields, ``output`` relative to the current directory."""
    file = str(path)
    obj = read_yaml(file)
    body = with_file(file, _body, obj)
    base_dir = os.path.dirname(file)
    arch_file = resolve_file(file, "sweep.arch", with_file(file, req, body, "arch", file_path, "sweep"), base_dir,
                             "architecture")
    base = load_arch(arch_file)
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    settings = with_file(file, _settings, body)
    settings.update({k: given[k] for k in ("time_limit", "work_limit", "workers", "seed") if k in given})
    table = with_file(file, _energy_table, body, base)
    area = with_file(file, opt, body, "area", _area, "sweep")
    vary: Vary = with_file(file, req, body, "vary", parse_vary(base), "sweep")
    with_file(file, _check_area_levels, area, base, vary)
    points, parameters = with_file(file, build_points, base, vary, table, area)
    networks = _networks(file, body, base_dir, points)
    if "output" in given:
        output = str(given["output"])
    elif "output" in body:
        output = relative_to(base_dir, with_file(file, file_path, body["output"], "sweep.output"))
    else:
        output = default_output(file)
    return SweepSpec(file, arch_file, base, networks, points, parameters, table, area, output=output, **settings)


def _body(obj: Any) -> dict:
    if not isinstance(obj, dict) or "sweep" not in obj:
        raise Invalid("", "expected a mapping with top-level key 'sweep'")
    check_keys(obj, ("sweep",), "")
    return check_keys(obj["sweep"], SWEEP_KEYS, "sweep")


def _settings(body: dict) -> dict:
    p = "sweep"
    return {"objective": opt(body, "objective", choice(OBJECTIVES), p, "energy"),
            "encoding": opt(body, "encoding", choice(ENCODINGS), p, "exact"),
            "time_limit": opt(body, "time_limit", seconds, p, DEFAULT_TIME_LIMIT),
            "work_limit": opt(body, "work_limit", seconds, p),
            "workers": opt(body, "workers", pos_int, p, DEFAULT_WORKERS),
            "seed": opt(body, "seed", seed_value, p, 0)}


# --------------------------------------------------------------------------- energy table and area


def _energy_table(body: dict, base: Arch) -> EnergyTable | None:
    """``energy_table``: a bundled table's name (default ``interstellar``), ``none`` (sizes
    keep the base level's energies) or {name, word_bits, rows: [[size, pJ], ...]}."""
    path = "sweep.energy_table"
    v = body.get("energy_table", "interstellar")
    if v == "none":
        return None
    if isinstance(v, str):
        if v not in TABLES:
            raise expect(f"one of {' | '.join((*TABLES, 'none'))} or a table {{word_bits, rows}}")(v, path)
        table = TABLES[v]
    else:
        table = _own_table(v, path)
    if table.word_bits != base.word_bits:
        raise Invalid(path, f"expected a table for the architecture's {base.word_bits}-bit words; table "
                            f"{table.name} gives energies per {table.word_bits}-bit access (give the varied "
                            "sizes' energies explicitly, or energy_table: none)")
    return table


def _own_table(v: Any, path: str) -> EnergyTable:
    body = check_keys(v, TABLE_KEYS, path, "an energy table")
    word_bits = req(body, "word_bits", pos_int, path)
    if word_bits % 8:
        raise Invalid(at(path, "word_bits"), f"expected a multiple of 8 (table sizes are bytes), got {word_bits}")
    rows_path = at(path, "rows")
    rows = body.get("rows")
    if not isinstance(rows, list) or not rows:
        raise expect("a list of [size, pJ] rows like [[16 B, 0.03], [32 B, 0.06]]")(rows, rows_path)
    out = []
    for i, row in enumerate(rows):
        rp = f"{rows_path}[{i}]"
        if not isinstance(row, list) or len(row) != 2:
            raise expect("a row [size, pJ] like [16 B, 0.03]")(row, rp)
        words = size_in_words(word_bits)(row[0], f"{rp}[0]")
        pj = energy_pj(row[1], f"{rp}[1]")  # bounded like every energy: the solver scales it into int64
        if pj <= 0:
            raise expect(f"an energy in pJ > 0 and at most {MAX_ENERGY_PJ:.0e}")(row[1], f"{rp}[1]")
        size = words * word_bits // 8
        if out and size <= out[-1][0]:
            raise Invalid(f"{rp}[0]", "expected sizes in increasing order")
        out.append((size, float(pj)))
    name = opt(body, "name", lambda x, p: x if isinstance(x, str) and x else expect("a name")(x, p), path, "custom")
    return EnergyTable(name, word_bits, (tuple(out),))


MAX_MM2 = 1e6
"""Largest mm2 per KiB or per PE (a square metre): larger values are typos, and with up to
2**31 words on each of up to 2**31 instances a point's area must stay finite (sweep.json
has no Infinity)."""


def _mm2(v: Any, path: str) -> float:
    if not is_number(v) or not 0 <= v <= MAX_MM2:
        raise expect(f"an area in mm2 from 0 to {MAX_MM2:.0e}")(v, path)
    return float(v)


def _area(v: Any, path: str) -> AreaModel:
    body = check_keys(v, AREA_KEYS, path, "an area model")
    per_kib = req(body, "mm2_per_kib", mapping_of(_mm2, "a mapping level -> mm2 per KiB like {RF: 0.02}"), path)
    return AreaModel(tuple((k, float(x)) for k, x in per_kib), float(opt(body, "mm2_per_pe", _mm2, path, 0.0)))


def _check_area_levels(area: AreaModel | None, base: Arch, vary: Vary) -> None:
    """Every level the area model prices must exist on some point (a typo is an error)."""
    if area is None:
        return
    known = [*base.level_names[:-1], *([vary.extra_level.name] if vary.extra_level is not None else [])]
    for name, _ in area.mm2_per_kib:
        if name not in known:
            raise Invalid(f"sweep.area.mm2_per_kib.{name}", f"expected an on-chip level ({', '.join(known)})")


# --------------------------------------------------------------------------- workloads


def _networks(file: str, body: dict, base_dir: str, points: tuple[DesignPoint, ...]) -> tuple[Network, ...]:
    raw = body.get("workloads")
    if not isinstance(raw, list) or not raw:
        with_file(file, _raise, expect("a list of workloads like [{workload: model.yaml, batch: 16}]")(
            raw if "workloads" in body else [], "sweep.workloads"))
    out = []
    for i, item in enumerate(raw):
        p = f"sweep.workloads[{i}]"
        w = with_file(file, check_keys, item, WORKLOAD_KEYS, p, "a workload entry")
        wfile = resolve_file(file, at(p, "workload"), with_file(file, req, w, "workload", file_path, p), base_dir,
                             "workload")
        batch = with_file(file, opt, w, "batch", pos_int, p)
        workload = load_workload_file(wfile, batch)
        names = with_file(file, opt, w, "layers", layer_names, p)
        layers = with_file(file, spec_layers, names, workload, at(p, "layers"))
        constraints = with_file(file, opt, w, "constraints", constraint_syntax, p, Constraints())
        seen: set = set()
        for point in points:  # the names must fit every point (an extra level, other axes)
            if point.arch.level_names + _axes(point.arch) not in seen:
                seen.add(point.arch.level_names + _axes(point.arch))
                with_file(file, check_constraints, constraints, point.arch, workload, at(p, "constraints"))
        out.append(Network(wfile, workload, layers, batch, constraints))
    return tuple(out)


def _axes(arch: Arch) -> tuple:
    return tuple((lv.name, lv.fanout.axes) for lv in arch.levels if lv.fanout is not None)


def _raise(e: Invalid) -> None:
    raise e

